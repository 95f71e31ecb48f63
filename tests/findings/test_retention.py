"""Retention: findings are kept forever by default, or purged once last seen too long ago."""

from datetime import timedelta

import pytest

from findings.models import Finding, FindingOccurrence
from findings.services import findings_retention_purge
from findings.upsert import findings_upsert
from guardwatch.celery import app
from guardwatch.core.models import AuditEntry

from .factories import NOW, parsed, raw_findings

pytestmark = pytest.mark.django_db


@pytest.fixture
def old_and_recent():
    old = raw_findings(3, seed=1, now=NOW - timedelta(days=400))
    recent = raw_findings(2, seed=2, now=NOW - timedelta(days=5))
    findings_upsert(findings=[parsed(r) for r in old + recent], source="pull")
    return old, recent


def test_by_default_findings_are_kept_forever(old_and_recent, settings):
    assert settings.GUARDWATCH_FINDINGS_RETENTION_DAYS == 0

    deleted = findings_retention_purge(now=NOW)

    assert deleted == 0
    assert Finding.objects.count() == 5


def test_findings_last_seen_before_the_retention_window_are_deleted_with_their_history(old_and_recent, settings):
    settings.GUARDWATCH_FINDINGS_RETENTION_DAYS = 365
    _old, recent = old_and_recent

    deleted = findings_retention_purge(now=NOW)

    assert deleted == 3
    assert set(Finding.objects.values_list("arn", flat=True)) == {r["Arn"] for r in recent}
    assert FindingOccurrence.objects.count() == 2
    entry = AuditEntry.objects.get(verb="findings.retention_purge")
    assert entry.details["deleted"] == 3 and entry.actor_name == "system"


def test_retention_runs_daily_from_beat():
    import findings.tasks  # noqa: F401  (registers the task, as the worker's autodiscovery does)
    from guardwatch.celery import _install_beat_schedule

    _install_beat_schedule(app)

    entry = app.conf.beat_schedule["findings-retention"]
    assert entry["task"] == "findings.tasks.findings_retention_purge"
    assert entry["schedule"].run_every == timedelta(days=1)
