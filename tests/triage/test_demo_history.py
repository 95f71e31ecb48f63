"""The demo's month of triage: the demo analyst's past work, walked through the real triage services."""

from __future__ import annotations

import pytest

from findings.models import Finding, FindingEvent
from findings.sync import findings_sync_region
from guardwatch.core.models import AuditEntry
from tests.findings.simulated import SIM_START, estate
from triage.demo_history import demo_first_sync_done, demo_history_seed
from triage.models import WriteBack

pytestmark = pytest.mark.django_db
REGION = "us-east-1"


@pytest.fixture
def synced(simulator, settings, analyst):
    settings.DEMO = True  # the simulator fixture points the AWS endpoint at the local simulator
    settings.GUARDWATCH_AWS_REGIONS = [REGION]
    estate(simulator, [REGION], per_region=80)
    assert not demo_first_sync_done()  # nothing to triage before the first sync
    assert demo_history_seed(now=SIM_START).waiting
    findings_sync_region(region=REGION)
    assert demo_first_sync_done()
    return simulator


def test_the_demo_analyst_acknowledges_and_closes_findings_at_past_times(synced):
    result = demo_history_seed(now=SIM_START)

    assert result.acknowledged > 0 and result.closed > 0 and not result.skipped
    assert Finding.objects.filter(status="new").exists()  # a backlog is left
    for finding in Finding.objects.exclude(status="new"):
        moves = list(finding.events.filter(kind=FindingEvent.Kind.STATUS).order_by("created_at", "id"))
        assert moves[0].to_status == "acknowledged"
        assert finding.created_at < moves[0].created_at < SIM_START
        assert finding.acknowledged_at == moves[0].created_at  # what the report's response times read
        assert finding.assignee.username == "analyst"
        if finding.status in ("resolved", "false_positive"):
            assert finding.resolved_at == moves[-1].created_at and moves[-1].created_at > moves[0].created_at
    resolved = Finding.objects.filter(status="resolved")
    assert WriteBack.objects.filter(operation="archive").count() == resolved.count() > 0
    assert AuditEntry.objects.filter(verb="demo.history").count() == 1


def test_it_runs_once(synced):
    first = demo_history_seed(now=SIM_START)
    events = FindingEvent.objects.count()
    again = demo_history_seed(now=SIM_START)
    assert first.acknowledged > 0
    assert again.acknowledged == 0 and "already" in again.skipped
    assert FindingEvent.objects.count() == events


def test_the_task_does_nothing_outside_the_demo(settings):
    from triage.tasks import demo_history_seed as task

    settings.DEMO = False
    assert task.apply().get() == {"acknowledged": 0, "closed": 0, "skipped": "demo mode only"}
    assert not FindingEvent.objects.exists()


def test_the_task_never_triages_against_a_real_guardduty(settings):
    from triage.tasks import demo_history_seed as task

    settings.DEMO = True
    settings.GUARDWATCH_AWS_ENDPOINT_URL = ""  # AWS itself
    assert task.apply().get() == {"acknowledged": 0, "closed": 0, "skipped": "only against the local GuardDuty simulator"}
    assert not FindingEvent.objects.exists()
