"""A real Celery worker process on the real Redis runs GuardWatch's tasks (no eager mode)."""

import uuid

import pytest
from django.conf import settings

from guardwatch.core.tasks import worker_probe

pytestmark = pytest.mark.worker


def test_celery_is_not_eager():
    assert not getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
    assert settings.CELERY_BROKER_URL.startswith("redis://")


def test_real_worker_completes_a_task_against_the_test_database(celery_worker_process, transactional_db, admin):
    token = uuid.uuid4().hex
    result = worker_probe.delay(token).get(timeout=30)
    assert result["token"] == token
    # The worker counted the persona this test committed: it reads the same Postgres database.
    assert result["users"] == 1
    assert celery_worker_process.poll() is None


def test_every_beat_entry_names_a_task_the_worker_registers():
    from guardwatch.celery import BEAT_SCHEDULE, app

    app.loader.import_default_modules()  # what a worker does at start-up (autodiscovery included)
    app.finalize()

    assert {"members-status-sync", "findings-pull-sync"} <= set(BEAT_SCHEDULE)
    assert sorted(e["task"] for e in BEAT_SCHEDULE.values() if e["task"] not in app.tasks) == []
