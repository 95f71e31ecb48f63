"""Workflow status, assignment, comments, timeline, and the write-back to GuardDuty (the simulator)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from findings.models import Finding, FindingEvent
from findings.sync import findings_sync_region
from guardwatch.core.models import AuditEntry
from tests.findings.simulated import ADMIN, estate
from triage.models import WriteBack
from triage.services import TriageError, finding_status_change, findings_accepted_risk_reopen
from triage.writeback import writebacks_flush

pytestmark = pytest.mark.django_db
REGION = "us-east-1"


@pytest.fixture
def synced(simulator):
    """The simulated estate's findings, brought into GuardWatch by the findings sync."""
    estate(simulator, [REGION], per_region=12)
    findings_sync_region(region=REGION)
    assert Finding.objects.count() == 12
    return simulator


def in_simulator(simulator, finding: Finding) -> dict:
    return simulator.region_findings(finding.region).get(finding.finding_id).data


def flush_now():
    """What the Celery task does (tests of the worker path are in tests/e2e)."""
    return writebacks_flush(now=timezone.now() + timedelta(seconds=1))


def test_resolving_a_finding_archives_it_in_guardduty_and_says_so_in_the_timeline(
    synced, client_for, analyst
):
    finding = Finding.objects.first()
    client = client_for("analyst")
    client.post(f"/findings/{finding.pk}/status/", {"status": "resolved", "comment": "Patched the host."})
    assert WriteBack.objects.get(finding=finding).operation == "archive"
    assert in_simulator(synced, finding)["Service"]["Archived"] is False
    result = flush_now()
    assert result.sent == 1
    assert in_simulator(synced, finding)["Service"]["Archived"] is True
    html = client.get(f"/findings/{finding.pk}/").content.decode()
    assert "ArchiveFindings sent to GuardDuty" in html
    assert "Patched the host." in html
    assert "Resolved" in html


def test_marking_false_positive_sends_not_useful_feedback(synced, analyst):
    finding = Finding.objects.first()
    finding_status_change(finding=finding, status="false_positive", actor=analyst, reason="Scanner we run")
    flush_now()
    assert in_simulator(synced, finding)["Service"].get("UserFeedback") == "NOT_USEFUL"
    assert Finding.objects.get(pk=finding.pk).feedback == "NOT_USEFUL"


def test_marking_useful_sends_useful_feedback(synced, client_for):
    finding = Finding.objects.first()
    client_for("analyst").post(f"/findings/{finding.pk}/feedback/", {"feedback": "useful"})
    flush_now()
    assert in_simulator(synced, finding)["Service"].get("UserFeedback") == "USEFUL"


def test_reopening_a_resolved_finding_unarchives_it(synced, analyst):
    finding = Finding.objects.first()
    finding_status_change(finding=finding, status="resolved", actor=analyst)
    flush_now()
    finding_status_change(finding=finding, status="in_progress", actor=analyst, reason="It came back")
    flush_now()
    assert in_simulator(synced, finding)["Service"]["Archived"] is False
    assert list(WriteBack.objects.filter(finding=finding).values_list("operation", "status")) == [
        ("archive", "sent"),
        ("unarchive", "sent"),
    ]


def test_a_change_undone_before_sending_is_superseded_not_sent_twice(synced, analyst):
    finding = Finding.objects.first()
    finding_status_change(finding=finding, status="resolved", actor=analyst)
    finding_status_change(finding=finding, status="new", actor=analyst)
    flush_now()
    statuses = dict(WriteBack.objects.filter(finding=finding).values_list("operation", "status"))
    assert statuses == {"archive": "superseded", "unarchive": "sent"}
    assert in_simulator(synced, finding)["Service"]["Archived"] is False


def test_write_backs_are_batched_fifty_per_call(synced, analyst):
    synced.advance_clock(60)
    synced.generate_findings(ADMIN, REGION, 108)
    findings_sync_region(region=REGION)
    # Every finding GuardDuty holds in the region is stored (an attack sequence drawn among the new ones
    # stores its signals within the count, so the total is the simulator's, not 12 + 108), and over two calls' worth.
    assert Finding.objects.count() == len(synced.region_findings(REGION).by_id) > 100
    from triage.services import findings_status_set

    synced.call_counts.reset()
    moved = findings_status_set(findings=Finding.objects.all(), status="resolved", actor=analyst)
    result = flush_now()
    assert result.sent == moved
    assert synced.call_counts["ArchiveFindings"] == -(-moved // 50)


def test_a_failed_write_back_keeps_its_error_and_is_retried(synced, analyst, client_for):
    finding = Finding.objects.first()
    finding_status_change(finding=finding, status="resolved", actor=analyst)
    synced.findings.clear()  # the simulator forgets the region: GuardDuty answers with an error
    detector = synced.detector_id(ADMIN, REGION)
    synced.scope(ADMIN, REGION).detector = None
    result = flush_now()
    assert result.failed == 1
    row = WriteBack.objects.get(finding=finding)
    assert row.status == "failed" and row.attempts == 1 and row.error
    assert row.next_attempt_at > timezone.now()
    assert "failed (attempt 1)" in client_for("analyst").get(f"/findings/{finding.pk}/").content.decode()
    assert "1 failed" in client_for("analyst").get("/findings/suppression/").content.decode()
    assert detector


def test_accepted_risk_needs_a_reason_and_a_future_expiry(synced, analyst):
    finding = Finding.objects.first()
    with pytest.raises(TriageError, match="reason"):
        finding_status_change(
            finding=finding,
            status="accepted_risk",
            actor=analyst,
            accepted_until=timezone.now() + timedelta(days=3),
        )
    with pytest.raises(TriageError, match="expiry"):
        finding_status_change(finding=finding, status="accepted_risk", actor=analyst, reason="Legacy host")
    assert Finding.objects.get(pk=finding.pk).status == "new"


def test_an_expired_accepted_risk_reopens(synced, analyst):
    finding = Finding.objects.first()
    finding_status_change(
        finding=finding,
        status="accepted_risk",
        actor=analyst,
        reason="Legacy host",
        accepted_until=timezone.now() + timedelta(days=1),
    )
    assert findings_accepted_risk_reopen() == 0
    assert findings_accepted_risk_reopen(now=timezone.now() + timedelta(days=2)) == 1
    finding.refresh_from_db()
    assert finding.status == "new"
    assert FindingEvent.objects.filter(
        finding=finding, to_status="new", body="Accepted risk expired."
    ).exists()


def test_assigning_and_commenting_show_in_the_timeline_and_the_audit_log(synced, client_for):
    finding = Finding.objects.first()
    client = client_for("analyst")
    client.post(f"/findings/{finding.pk}/assign/", {"assignee": "analyst"})
    client.post(f"/findings/{finding.pk}/comment/", {"body": "Looking at <b>this</b> now"})
    html = client.get(f"/findings/{finding.pk}/").content.decode()
    assert "Assigned to analyst" in html
    assert "Looking at &lt;b&gt;this&lt;/b&gt; now" in html
    assert AuditEntry.objects.filter(verb="findings.assign").exists()
    assert AuditEntry.objects.filter(verb="findings.comment").exists()


def test_the_timeline_includes_guardduty_occurrences(synced, client_for):
    finding = Finding.objects.first()
    synced.repeat_finding(REGION, finding.finding_id)
    synced.advance_clock(60)
    findings_sync_region(region=REGION)
    html = client_for("analyst").get(f"/findings/{finding.pk}/").content.decode()
    assert "Seen again: count" in html


def test_managers_read_but_cannot_act(synced, client_for):
    finding = Finding.objects.first()
    client = client_for("manager")
    list_html = client.get("/findings/?all=1").content.decode()  # every finding, not just the default view's
    detail_html = client.get(f"/findings/{finding.pk}/").content.decode()
    assert 'data-finding="' in list_html
    assert 'id="bulk"' not in list_html and 'name="ids"' not in list_html
    assert "Set status" not in detail_html and "Add a comment" not in detail_html
    for url, data in (
        (f"/findings/{finding.pk}/status/", {"status": "resolved"}),
        (f"/findings/{finding.pk}/assign/", {"assignee": ""}),
        (f"/findings/{finding.pk}/comment/", {"body": "hi"}),
        (f"/findings/{finding.pk}/feedback/", {"feedback": "useful"}),
        ("/findings/bulk/", {"action": "status", "status": "resolved", "scope": "all", "confirmed": "yes"}),
        ("/findings/suppression/new/", {"name": "x-rule", "reason": "r", "query": "band=low"}),
    ):
        assert client.post(url, data).status_code == 403, url
    assert Finding.objects.get(pk=finding.pk).status == "new"
    assert not WriteBack.objects.exists()


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("/findings/suppression/?tab=queue", "/findings/suppression/?tab=queue"),
        ("https://evil.example/", "/findings/suppression/"),
        ("//evil.example/", "/findings/suppression/"),
    ],
)
def test_retrying_a_write_back_returns_to_this_site_only(synced, client_for, target, landing):
    finding = Finding.objects.first()
    client = client_for("analyst")
    client.post(f"/findings/{finding.pk}/status/", {"status": "resolved", "comment": "Patched."})
    writeback = WriteBack.objects.get(finding=finding)

    response = client.post(f"/findings/writebacks/{writeback.pk}/retry/", {"next": target})

    assert response.status_code == 302 and response["Location"] == landing


def test_one_transaction_schedules_one_write_back_flush_however_many_it_queues(
    synced, analyst, django_capture_on_commit_callbacks
):
    from django.db import transaction

    from triage import writeback
    from triage.services import findings_status_set

    ids = list(Finding.objects.order_by("id").values_list("id", flat=True)[:4])
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        findings_status_set(findings=Finding.objects.filter(pk__in=ids[:2]), status="resolved", actor=analyst)
        findings_status_set(findings=Finding.objects.filter(pk__in=ids[2:]), status="false_positive", actor=analyst)
    assert WriteBack.objects.filter(finding_id__in=ids).count() == 4  # 2 archives, 2 NOT_USEFUL
    assert [c for c in callbacks if c is writeback._schedule_flush] == [writeback._schedule_flush]


def test_a_global_service_finding_is_archived_in_the_region_it_lives_in(simulator, analyst):
    """Its `Region` says us-east-1 (where IAM's calls are logged); its ARN, detector and GuardDuty's copy
    are in eu-west-1, where the write-back must go (botocore's model, Finding.Region)."""
    estate(simulator, ["eu-west-1"], per_region=0)
    simulator.generate_findings(ADMIN, "eu-west-1", 1, finding_types=["Persistence:IAMUser/AnomalousBehavior"])
    findings_sync_region(region="eu-west-1")
    finding = Finding.objects.get()
    assert finding.region == "eu-west-1"
    assert in_simulator(simulator, finding)["Region"] == "us-east-1"
    finding_status_change(finding=finding, status="resolved", actor=analyst, reason="Rotated the key.")
    assert flush_now().sent == 1
    assert in_simulator(simulator, finding)["Service"]["Archived"] is True
