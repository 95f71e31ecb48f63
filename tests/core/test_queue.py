"""Services queue background work by task name (guardwatch.core.queue): every name they use is a real task."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from celery import current_app

from guardwatch.core.queue import task_get, task_send_on_commit

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("guardwatch", "accounts", "findings", "triage", "reports", "notifications")
SENT = re.compile(r"task_send(?:_on_commit)?\(\s*\"([\w.]+)\"")


def names_sent_by_product_code() -> set[str]:
    names = set()
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            names.update(SENT.findall(path.read_text()))
    return names


def test_every_task_name_the_product_sends_is_registered():
    names = names_sent_by_product_code()
    assert len(names) >= 8  # member operations and syncs, findings sync, bulk, write-back, reports, deliveries
    missing = sorted(name for name in names if name not in current_app.tasks and not task_get(name))
    assert missing == []


def test_an_unknown_task_name_fails_in_the_callers_transaction(django_capture_on_commit_callbacks, db):
    with pytest.raises(KeyError), django_capture_on_commit_callbacks() as callbacks:
        task_send_on_commit("accounts.tasks.no_such_task", 1)
    assert callbacks == []  # nothing was left to fail after the commit


def test_sending_on_commit_queues_nothing_until_the_transaction_commits(django_capture_on_commit_callbacks, db,
                                                                         monkeypatch):  # fmt: skip
    sent = []
    monkeypatch.setattr(task_get("accounts.tasks.member_operation_run"), "delay", lambda *a: sent.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        task_send_on_commit("accounts.tasks.member_operation_run", 42)
        assert sent == []
    assert sent == [(42,)]
