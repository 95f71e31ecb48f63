"""GuardDuty Investigation from a finding's page: the button, the quota, the polling and the report in the timeline.

AWS's side is the simulator (gdsim/operations/investigations.py, with its documentation sources).
"""

from __future__ import annotations

import pytest

from findings import gateway
from findings.models import Finding, FindingEvent
from findings.sync import findings_sync_region
from tests.findings.simulated import ADMIN, MEMBERS, estate, members_monitored
from triage import investigations
from triage.models import Investigation

pytestmark = pytest.mark.django_db
REGION = "us-east-1"
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def _no_listing_read():
    """GuardDuty's listing, as another test left it in the shared cache, is forgotten."""
    from django.core.cache import cache

    cache.delete(investigations.LISTED_KEY)


@pytest.fixture
def synced(simulator):
    """The simulated estate's findings in GuardWatch; GuardDuty takes 60 s per investigation."""
    estate(simulator, [REGION], per_region=6)
    findings_sync_region(region=REGION)
    simulator.investigation_seconds = 60
    return simulator


@pytest.fixture
def finding(synced) -> Finding:
    return Finding.objects.exclude(account_id=ADMIN).order_by("pk").first()


def _investigate(client, finding: Finding):
    return client.post(f"/findings/{finding.pk}/investigate/", follow=True)


def _poll(investigation: Investigation) -> Investigation:
    """What the Celery task does (the worker path is tested below)."""
    investigations.investigation_advance(investigation_id=investigation.pk)
    investigation.refresh_from_db()
    return investigation


def test_an_analyst_starts_an_investigation_and_reads_its_report_in_the_timeline(synced, finding, client_for, analyst):
    client = client_for("analyst")
    page = _investigate(client, finding).content.decode()
    assert "GuardDuty is investigating this finding" in page

    investigation = Investigation.objects.get(finding=finding)
    assert investigation.status == "running" and investigation.aws_id
    assert investigation.requested_by == analyst
    run = synced.scope(ADMIN, REGION).investigations[investigation.aws_id]
    assert run.prompt == f"Investigate finding {finding.finding_id} in account {finding.account_id}"
    assert run.client_token == investigation.client_token

    assert _poll(investigation).status == "running"  # GuardDuty is still at it
    assert investigation.next_poll_at is not None
    synced.advance_clock(60)
    investigation = _poll(investigation)
    assert investigation.status == "completed"
    assert investigation.report["records"][0]["type"] == "UPDATE"
    assert finding.type in investigation.summary

    _poll(investigation)  # a redelivered task: nothing more
    events = FindingEvent.objects.filter(finding=finding, kind="investigation")
    assert events.count() == 1
    detail = client.get(f"/findings/{finding.pk}/").content.decode()
    assert 'data-testid="investigation-report"' in detail
    assert "Recommended actions" in detail


def test_the_panel_shows_the_quota_left(synced, finding, client_for, analyst):
    client = client_for("analyst")
    panel = client.get(f"/findings/{finding.pk}/investigation/").content.decode()
    assert "10 of 10 left in the last 24 hours, 100 of 100 in all" in panel
    _investigate(client, finding)
    panel = client.get(f"/findings/{finding.pk}/investigation/").content.decode()
    assert "9 of 10 left in the last 24 hours, 99 of 100 in all" in panel
    assert "GuardDuty is analysing" in panel


def test_a_guardduty_refusal_is_shown_and_uses_no_quota(synced, finding, client_for, analyst):
    synced.scope(ADMIN, REGION).detector.features["AI_ANALYST"] = "DISABLED"
    page = _investigate(client_for("analyst"), finding).content.decode()
    assert "GuardDuty refused to start the investigation: BadRequestException" in page
    assert "AI_ANALYST" in page
    assert Investigation.objects.get(finding=finding).status == "refused"
    assert investigations.investigation_quota().left_today == 10


def test_the_daily_quota_spent_refuses_before_calling_guardduty(synced, finding, client_for, analyst):
    others = list(Finding.objects.exclude(pk=finding.pk)[:5])
    client = client_for("analyst")
    for other in others:
        _investigate(client, other)
    for investigation in Investigation.objects.all():  # end them so more can start on the same findings
        investigation.status = "completed"
        investigation.save()
    for other in others:
        _investigate(client, other)
    assert Investigation.objects.count() == 10
    synced.call_counts.reset()

    panel = client.get(f"/findings/{finding.pk}/investigation/").content.decode()
    assert "0 of 10 left in the last 24 hours" in panel and "disabled" in panel
    page = _investigate(client, finding).content.decode()
    assert "allows 10 investigations per account a day" in page
    assert synced.call_counts["CreateInvestigation"] == 0
    assert not Investigation.objects.filter(finding=finding).exists()


def test_investigations_started_outside_guardwatch_count_against_the_quota(synced, finding, client_for, analyst):
    from django.utils import timezone

    synced.set_clock(timezone.now())  # GuardDuty's StartTime and GuardWatch's "last 24 hours" on one clock
    console = gateway.aws.guardduty(REGION)  # someone in the GuardDuty console, as the administrator
    detector = synced.detector_id(ADMIN, REGION)
    for _ in range(10):
        console.create_investigation(DetectorId=detector, TriggerPrompt="Analyze findings in my organization")
    client = client_for("analyst")
    page = _investigate(client, finding).content.decode()
    assert "allows 10 investigations per account a day, and that many were started in the last 24 hours" in page
    assert not Investigation.objects.exists()
    panel = client.get(f"/findings/{finding.pk}/investigation/").content.decode()
    assert "0 of 10 left in the last 24 hours, 90 of 100 in all" in panel and "GuardDuty's list read" in panel


def test_a_second_click_while_one_runs_starts_nothing(synced, finding, client_for, analyst):
    client = client_for("analyst")
    _investigate(client, finding)
    page = _investigate(client, finding).content.decode()
    assert "already running" in page
    assert Investigation.objects.filter(finding=finding).count() == 1
    assert synced.call_counts["CreateInvestigation"] == 1


def test_a_guardduty_server_error_on_start_is_retried_with_the_same_client_token(
        synced, finding, client_for, analyst, settings):
    from guardwatch.aws import reset_clients

    settings.GUARDWATCH_AWS_MAX_ATTEMPTS = 1  # botocore: one retry of its own (max_attempts counts retries)
    reset_clients()
    synced.faults.configure([{"kind": "server_error", "operation": "CreateInvestigation", "times": 2}])
    page = _investigate(client_for("analyst"), finding).content.decode()
    assert "GuardWatch could not reach GuardDuty yet (InternalServerErrorException" in page
    investigation = Investigation.objects.get(finding=finding)
    assert investigation.status == "pending" and investigation.next_poll_at is not None

    assert _poll(investigation).status == "running"
    assert list(synced.scope(ADMIN, REGION).investigations) == [investigation.aws_id]


def test_a_failed_investigation_says_why_in_the_timeline_escaped(synced, finding, client_for, analyst):
    synced.investigation_failure = f"model unavailable {SCRIPT}"
    client = client_for("analyst")
    _investigate(client, finding)
    synced.advance_clock(60)
    investigation = _poll(Investigation.objects.get(finding=finding))
    assert investigation.status == "failed"
    detail = client.get(f"/findings/{finding.pk}/").content.decode()
    assert "GuardDuty investigation failed" in detail
    assert SCRIPT not in detail and "&lt;script&gt;alert(1)&lt;/script&gt;" in detail


def test_a_hostile_finding_type_in_the_report_is_rendered_escaped(synced, finding, client_for, analyst):
    synced.region_findings(REGION).get(finding.finding_id).data["Type"] = SCRIPT
    client = client_for("analyst")
    _investigate(client, finding)
    synced.advance_clock(60)
    assert _poll(Investigation.objects.get(finding=finding)).status == "completed"
    detail = client.get(f"/findings/{finding.pk}/").content.decode()
    assert 'data-testid="investigation-summary"' in detail
    assert SCRIPT not in detail and "&lt;script&gt;" in detail


def test_a_finding_outside_the_ten_regions_offers_no_button(synced, finding, client_for, analyst):
    Finding.objects.filter(pk=finding.pk).update(region="sa-east-1")
    client = client_for("analyst")
    panel = client.get(f"/findings/{finding.pk}/investigation/").content.decode()
    assert "this finding is in sa-east-1" in panel and 'data-testid="investigate"' not in panel
    assert "available in 10 Regions only" in _investigate(client, finding).content.decode()


def test_a_manager_may_not_start_an_investigation(synced, finding, client_for, manager):
    assert client_for("manager").post(f"/findings/{finding.pk}/investigate/").status_code == 403
    assert not Investigation.objects.exists()


def test_the_gateway_pages_through_every_record(synced, finding, client_for, analyst, monkeypatch):
    synced.investigation_seconds = 0
    _investigate(client_for("analyst"), finding)
    investigation = Investigation.objects.get(finding=finding)
    monkeypatch.setattr(gateway, "RECORDS_PAGE", 3)
    records, calls = gateway.investigation_records(region=REGION, detector_id=synced.detector_id(ADMIN, REGION),
                                                   investigation_id=investigation.aws_id)
    assert len(records) == 10 and calls == 4
    assert [r.record_id for r in records] == sorted(r.record_id for r in records)


def test_the_watchdog_polls_an_investigation_whose_message_was_lost(synced, finding, client_for, analyst):
    synced.investigation_seconds = 0
    _investigate(client_for("analyst"), finding)
    Investigation.objects.update(next_poll_at=Investigation.objects.get().created_at.replace(year=2020))
    assert investigations.investigations_poll_due() == [Investigation.objects.get().pk]
    assert Investigation.objects.get().status == "completed"


def test_an_analyst_investigates_an_account_in_one_of_its_regions_and_reads_the_report_on_its_page(
        synced, client_for, analyst):
    members_monitored([REGION, "sa-east-1"])
    client = client_for("analyst")
    panel = client.get(f"/findings/investigations/account/{MEMBERS[0]}/").content.decode()
    assert f'<option value="{REGION}">' in panel and "sa-east-1" not in panel  # outside the 10 Regions
    page = client.post(f"/findings/investigations/account/{MEMBERS[0]}/start/", {"region": REGION}, follow=True)
    assert f"GuardDuty is investigating this account in {REGION}" in page.content.decode()

    investigation = Investigation.objects.get()
    assert (investigation.kind, investigation.finding, investigation.status) == ("account", None, "running")
    run = synced.scope(ADMIN, REGION).investigations[investigation.aws_id]
    assert run.prompt == f"Analyze findings in account with id {MEMBERS[0]}"
    assert "already running" in client.post(f"/findings/investigations/account/{MEMBERS[0]}/start/",
                                            {"region": REGION}, follow=True).content.decode()
    synced.advance_clock(60)
    assert _poll(investigation).status == "completed"
    panel = client.get(f"/findings/investigations/account/{MEMBERS[0]}/").content.decode()
    assert 'data-testid="investigation-report"' in panel and f"account {MEMBERS[0]}" in panel
    assert not FindingEvent.objects.filter(kind="investigation").exists()


def test_an_account_investigation_in_a_region_the_account_is_not_in_is_refused(synced, client_for, analyst):
    members_monitored([REGION])
    page = client_for("analyst").post(f"/findings/investigations/account/{MEMBERS[0]}/start/",
                                      {"region": "eu-west-1"}, follow=True).content.decode()
    assert "Choose one of this account&#x27;s Regions where GuardDuty Investigation is available (us-east-1)" in page
    assert not Investigation.objects.exists()


def test_the_worker_polls_the_investigation_and_saves_its_report_once(
    simulator, celery_worker_process, transactional_db, client_for, analyst
):
    from guardwatch.core.queue import task_send
    from tests.support.waiting import wait_for

    estate(simulator, [REGION], per_region=3)
    findings_sync_region(region=REGION)
    simulator.investigation_seconds = 0
    finding = Finding.objects.exclude(account_id=ADMIN).order_by("pk").first()
    _investigate(client_for("analyst"), finding)
    investigation = Investigation.objects.get(finding=finding)
    assert investigation.status == "running"

    # The poll the start queued waits FIRST_POLL seconds; this one is what a redelivery or the watchdog sends.
    task_send("triage.tasks.investigation_poll", investigation.pk)
    task_send("triage.tasks.investigation_poll", investigation.pk)
    wait_for(lambda: Investigation.objects.filter(pk=investigation.pk, status="completed").exists(), timeout=60,
             what="the worker to poll GuardDuty and save the report")  # fmt: skip
    assert FindingEvent.objects.filter(finding=finding, kind="investigation").count() == 1
