"""Archive, unarchive and feedback done in the GuardDuty console reach GuardWatch through the reconciliation.

The console's changes do not move a finding's updatedAt (GuardDuty's and the simulator's behaviour),
so the incremental pull sync does not see them; `findings_reconcile_region` does, at a counted cost.
"""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from django.utils import timezone

from findings.models import Finding, SyncState
from findings.services import findings_reconcile_region
from findings.sync import findings_sync_region
from gdsim import credentials_for

from .simulated import ADMIN, MEMBERS, estate

pytestmark = pytest.mark.django_db

REGION = "us-east-1"


@pytest.fixture
def console(simulator, simulator_server):
    """What a person in the GuardDuty console does: plain boto3 calls as the administrator, straight
    at the simulator, outside GuardWatch."""

    class Console:
        def __init__(self):
            self.client = boto3.client(
                "guardduty", region_name=REGION, endpoint_url=simulator_server.endpoint_url,
                **credentials_for(ADMIN),
            )  # fmt: skip
            self.detector = simulator.detector_id(ADMIN, REGION)

        def archive(self, ids):
            self.client.archive_findings(DetectorId=self.detector, FindingIds=ids)

        def unarchive(self, ids):
            self.client.unarchive_findings(DetectorId=self.detector, FindingIds=ids)

        def feedback(self, ids, value):
            self.client.update_findings_feedback(DetectorId=self.detector, FindingIds=ids, Feedback=value)

    return Console


@pytest.fixture
def synced(simulator, console):
    """120 open findings of the administrator and two members, synced; and the console."""
    estate(simulator, [REGION], per_region=120)
    simulator.advance_clock(3600)  # nothing updated within the sync's lag allowance: a quiet estate
    assert findings_sync_region(region=REGION).status == "succeeded"
    assert Finding.objects.filter(archived=True).count() == 0
    return console()


def picked(count: int, *, account: str | None = None) -> list[str]:
    findings = Finding.objects.order_by("arn")
    if account:
        findings = findings.filter(account_id=account)
    return list(findings.values_list("finding_id", flat=True)[:count])


def test_a_finding_archived_in_the_console_shows_archived_after_the_reconcile(simulator, synced):
    ids = picked(2) + picked(1, account=MEMBERS[0])
    Finding.objects.filter(finding_id=ids[0]).update(status="acknowledged")  # local triage state
    synced.archive(ids)
    simulator.call_counts.reset()

    # The normal incremental sync cannot see it: updatedAt did not move. It costs its one call.
    findings_sync_region(region=REGION)
    assert simulator.call_counts["ListFindings"] == 1 and simulator.call_counts["GetFindings"] == 0
    assert Finding.objects.filter(archived=True).count() == 0

    simulator.call_counts.reset()
    result = findings_reconcile_region(region=REGION)

    assert result.error == "" and result.archived == 3 and result.unarchived == 0
    assert set(Finding.objects.filter(archived=True).values_list("finding_id", flat=True)) == set(ids)
    assert Finding.objects.get(finding_id=ids[0]).status == "acknowledged"  # triage state untouched
    # One listing of GuardDuty's archived findings; GetFindings for the 3 plus the 117 open swept.
    assert (result.list_calls, result.get_calls, result.detector_calls) == (1, 3, 0)
    assert simulator.call_counts["ListFindings"] == 1 and simulator.call_counts["GetFindings"] == 3


def test_a_finding_unarchived_in_the_console_shows_unarchived_after_the_reconcile(synced):
    ids = picked(4)
    synced.archive(ids)
    findings_reconcile_region(region=REGION)
    assert Finding.objects.filter(archived=True).count() == 4

    synced.unarchive(ids[:3])
    result = findings_reconcile_region(region=REGION)

    assert result.unarchived == 3 and result.archived == 0
    assert list(Finding.objects.filter(archived=True).values_list("finding_id", flat=True)) == ids[3:]
    # Fetched: the 3 archived here but not there, and the 116 open ones swept (not the one archived
    # on both sides).
    assert result.get_calls == 3 and result.fetched == 119


def test_feedback_given_in_the_console_shows_after_the_reconcile(synced):
    useless, useful = picked(2), picked(1, account=MEMBERS[1])
    synced.feedback(useless, "NOT_USEFUL")
    synced.feedback(useful, "USEFUL")

    result = findings_reconcile_region(region=REGION)

    assert result.feedback == 3
    assert set(Finding.objects.filter(feedback="NOT_USEFUL").values_list("finding_id", flat=True)) == set(
        useless
    )
    assert list(Finding.objects.filter(feedback="USEFUL").values_list("finding_id", flat=True)) == useful


def test_a_reconcile_with_nothing_changed_changes_nothing_and_records_no_occurrence(synced):
    occurrences = Finding.objects.values_list("occurrences__id", flat=True).count()

    result = findings_reconcile_region(region=REGION)

    assert (result.archived, result.unarchived, result.feedback) == (0, 0, 0)
    assert result.fetched == 120 and result.list_calls == 1
    assert Finding.objects.values_list("occurrences__id", flat=True).count() == occurrences


def test_a_large_region_is_swept_for_feedback_over_several_runs_within_the_call_budget(synced, settings):
    settings.GUARDWATCH_FINDINGS_RECONCILE_MAX_CALLS = 1  # 50 open findings per run: 120 take 3 runs
    ids = picked(120)[::40]
    synced.feedback(ids, "NOT_USEFUL")
    start = timezone.now()
    interval = timedelta(minutes=settings.GUARDWATCH_FINDINGS_RECONCILE_MINUTES)

    runs = [findings_reconcile_region(region=REGION, now=start + n * interval) for n in range(3)]

    assert [r.get_calls for r in runs] == [1, 1, 1]
    assert sum(r.fetched for r in runs) == 120  # every open finding checked exactly once
    assert set(Finding.objects.filter(feedback="NOT_USEFUL").values_list("finding_id", flat=True)) == set(ids)


def test_a_failing_guardduty_is_reported_not_raised(simulator, synced, settings):
    settings.GUARDWATCH_AWS_MAX_ATTEMPTS = 1
    simulator.faults.add("server_error", operation="ListFindings")

    result = findings_reconcile_region(region=REGION)

    assert "ListFindings" in result.error and result.get_calls == 0
    assert SyncState.objects.get(region=REGION).detector_id  # the sync's cached detector was reused


def test_beat_reconciles_every_region_on_its_own_interval(settings, monkeypatch):
    from guardwatch.celery import _install_beat_schedule
    from guardwatch.celery import app as celery_app

    settings.GUARDWATCH_FINDINGS_RECONCILE_MINUTES = 45
    _install_beat_schedule(celery_app)
    entry = celery_app.conf.beat_schedule["findings-reconcile"]
    assert entry["task"] == "findings.tasks.findings_reconcile_all_regions"
    assert entry["schedule"].run_every == timedelta(minutes=45)

    from findings import tasks

    queued = []
    monkeypatch.setattr(tasks.findings_reconcile_region, "delay", queued.append)
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1", "eu-west-1"]
    assert tasks.findings_reconcile_all_regions() == queued == ["us-east-1", "eu-west-1"]
