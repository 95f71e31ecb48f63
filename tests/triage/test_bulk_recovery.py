"""A worker killed mid bulk action: the watchdog queues it again and it resumes after its last chunk."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from findings.models import Finding, FindingEvent
from guardwatch.core.db.locks import advisory_lock
from tests.conftest import ROOT, TEST_OUTPUT, _worker_env
from tests.findings.test_sync_resilience import wait_for
from tests.triage.support import store_findings
from triage import bulk
from triage.bulk import (
    BULK_LOCK_CLASS,
    BulkRequest,
    bulk_action_run,
    bulk_actions_recover,
    findings_bulk_apply,
)
from triage.models import BulkAction

BODY = "Ticket SEC-4711: reviewed with the account owner"

# The worker process applies the action in chunks of 100, each taking at least 0.2 s longer (injected
# latency, as the simulator's latency faults do for API calls), so the test can kill it between chunks.
SLOW_WORKER = """
import django, time
django.setup()
from triage import bulk
bulk.BULK_CHUNK = 100
execute = bulk._bulk_execute
def slow(**kwargs):
    time.sleep(0.2)
    return execute(**kwargs)
bulk._bulk_execute = slow
bulk.bulk_action_run(bulk_id={pk})
"""


@pytest.fixture
def queued(monkeypatch):
    sent = []
    monkeypatch.setattr(bulk, "task_send_on_commit", lambda name, *args, **kw: sent.append((name, *args)))
    return sent


def comment_bulk(admin, count: int, queued: list) -> BulkAction:
    store_findings(count, seed=9)
    total, action = findings_bulk_apply(
        request=BulkRequest("comment", {"comment": BODY}, None, "status=new"), actor=admin
    )
    assert total == count and action is not None  # above the async threshold: queued for a task
    assert queued == [("findings.tasks.bulk_action_run", action.pk)]
    queued.clear()  # the message a worker takes (or, below, loses)
    return action


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_bulk_comment_is_resumed_without_a_duplicate(admin, queued, monkeypatch):
    action = comment_bulk(admin, 1200, queued)
    TEST_OUTPUT.mkdir(exist_ok=True)
    with (TEST_OUTPUT / "bulk-killed.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", SLOW_WORKER.format(pk=action.pk)],
            cwd=ROOT, env=_worker_env(), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: BulkAction.objects.get(pk=action.pk).done >= 300, timeout=60, what="3 committed chunks")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    killed = BulkAction.objects.get(pk=action.pk)
    assert killed.status == BulkAction.Status.RUNNING and 300 <= killed.done < 1200
    assert FindingEvent.objects.filter(kind="comment", body=BODY).count() == killed.done

    # Postgres ends the dead worker's session (and its lock) once it sees the closed socket.
    assert wait_for(lambda: bulk_actions_recover(), timeout=15, what="the lock to be free") == [action.pk]
    assert queued == [("findings.tasks.bulk_action_run", action.pk)]
    monkeypatch.setattr(bulk, "BULK_CHUNK", 100)
    resumed = bulk_action_run(bulk_id=action.pk)

    assert resumed.status == BulkAction.Status.DONE and resumed.done == resumed.total == 1200
    per_finding = FindingEvent.objects.filter(kind="comment", body=BODY).values_list("finding_id", flat=True)
    assert sorted(per_finding) == sorted(Finding.objects.values_list("pk", flat=True))  # each exactly once


@pytest.mark.django_db(transaction=True)
def test_a_live_run_is_left_alone_and_a_duplicate_message_does_nothing(admin, queued):
    action = comment_bulk(admin, 600, queued)
    BulkAction.objects.filter(pk=action.pk).update(status=BulkAction.Status.RUNNING, done=200)
    with advisory_lock(BULK_LOCK_CLASS, action.pk) as held:  # as the live worker holds it
        assert held
        assert bulk_actions_recover() == []
        assert bulk_action_run(bulk_id=action.pk) is None
    assert queued == []
    assert BulkAction.objects.get(pk=action.pk).done == 200


@pytest.mark.django_db(transaction=True)
def test_a_queued_action_whose_message_was_lost_is_queued_again(admin, queued):
    action = comment_bulk(admin, 600, queued)
    assert bulk_actions_recover() == []  # just queued: its message is on its way
    later = timezone.now() + timedelta(seconds=bulk.BULK_QUEUED_GRACE_SECONDS + 1)
    assert bulk_actions_recover(now=later) == [action.pk]
    bulk_action_run(bulk_id=action.pk)
    assert bulk_action_run(bulk_id=action.pk) is None  # the original message arrives late: a no-op
    assert FindingEvent.objects.filter(kind="comment", body=BODY).count() == 600
