"""Routing: which events reach which destination, filtered, throttled or digested — and their sources."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from findings.models import Finding, SyncState
from findings.sla import sla_due
from findings.sync import _RunProgress, _sync_failed
from findings.upsert import findings_upsert
from guardwatch.core.services import alert_raise
from notifications.events import Event, event_for_finding, events_publish, overdue_findings_publish
from notifications.models import Delivery, DigestEntry
from notifications.services import digests_send

from .conftest import parsed_finding, rule_make, webhook_make

pytestmark = pytest.mark.django_db

HIGH = "Backdoor:EC2/C&CActivity.B!DNS"  # severity 8.0
LOW = "Recon:EC2/Portscan"  # medium: below the high minimum


@pytest.fixture
def hook(fast_notify):
    return webhook_make("http://127.0.0.1:9/hook")


def stored(**kwargs) -> Finding:
    parsed = parsed_finding(**kwargs)
    findings_upsert(findings=[parsed], source="pull")
    return Finding.objects.get(arn=parsed.arn)


def test_a_new_high_finding_from_a_sync_is_routed_to_the_high_severity_rule(
    hook, django_capture_on_commit_callbacks
):
    rule_make(hook, min_band="high")
    with django_capture_on_commit_callbacks() as callbacks:
        finding = stored()

    [delivery] = Delivery.objects.all()
    assert (delivery.kind, delivery.finding, delivery.rule.name) == ("new_finding", finding, "rule")
    assert delivery.payload["events"][0]["title"] == finding.title
    assert len(callbacks) == 1  # the send is enqueued only once the sync's transaction commits


def test_low_findings_do_not_pass_a_high_minimum(hook):
    rule_make(hook, min_band="high")
    stored(finding_type=LOW)
    assert not Delivery.objects.exists()


def test_type_prefix_account_and_region_filters_all_apply(hook):
    rule_make(hook, type_prefix="Backdoor:,CryptoCurrency:", accounts=["222222222222"], regions=["eu-west-1"])
    stored(region="us-east-1", seed=1)
    stored(region="eu-west-1", account="333333333333", seed=2)
    stored(region="eu-west-1", finding_type=LOW, seed=3)
    match = stored(region="eu-west-1", seed=4)
    assert list(Delivery.objects.values_list("subject", flat=True)) == [match.arn]


def test_a_repeat_occurrence_notifies_only_from_the_rule_count(hook):
    rule_make(hook, kinds=("repeat_occurrence",), min_count=3)
    first = parsed_finding()
    findings_upsert(findings=[first], source="pull")
    later = first.updated_at + timedelta(minutes=5)
    findings_upsert(findings=[replace(first, count=2, updated_at=later)], source="pull")
    assert not Delivery.objects.exists()
    findings_upsert(
        findings=[replace(first, count=3, updated_at=later + timedelta(minutes=5))], source="pull"
    )
    [delivery] = Delivery.objects.all()
    assert delivery.kind == "repeat_occurrence" and delivery.payload["events"][0]["count"] == 3


def test_a_severity_raised_into_a_higher_band_is_its_own_event(hook):
    rule_make(hook, kinds=("severity_raised",))
    first = parsed_finding(finding_type=LOW)
    findings_upsert(findings=[first], source="pull")
    raised = replace(
        first, severity=7.5, severity_band="high", updated_at=first.updated_at + timedelta(hours=1)
    )
    findings_upsert(findings=[raised], source="pull")
    [delivery] = Delivery.objects.all()
    assert first.severity_band in ("low", "medium")
    assert delivery.payload["events"][0]["previous_band"] == first.severity_band
    assert delivery.payload["events"][0]["band"] == "high"


def test_an_unchanged_finding_seen_again_notifies_nobody(hook):
    rule_make(hook, kinds=("new_finding", "repeat_occurrence", "severity_raised"))
    finding = parsed_finding()
    findings_upsert(findings=[finding], source="pull")
    findings_upsert(findings=[finding], source="push")
    assert Delivery.objects.count() == 1


def test_a_batch_of_fifty_findings_and_five_rules_costs_a_fixed_number_of_queries(hook):
    for index in range(5):
        rule_make(hook, name=f"rule {index}", min_band="medium", throttle="window" if index else "none")
    batch = [parsed_finding(seed=seed) for seed in range(50)]
    with CaptureQueriesContext(connection) as queries:
        findings_upsert(findings=batch, source="pull")
    notification_queries = [q for q in queries.captured_queries if "notifications_" in q["sql"]]
    # rules (twice: watch + publish), throttle lookup, bulk insert of 250 deliveries
    assert len(notification_queries) <= 5, [q["sql"][:80] for q in notification_queries]
    assert Delivery.objects.count() == 250


def test_window_throttle_sends_one_message_per_finding_per_window(hook):
    rule_make(hook, kinds=("repeat_occurrence",), throttle="window", throttle_minutes=60)
    finding = stored()
    now = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    for minutes in (0, 10, 59):
        finding.count += 1
        events_publish(events=[event_for_finding(kind="repeat_occurrence", finding=finding)],
                       now=now + timedelta(minutes=minutes))  # fmt: skip
    assert Delivery.objects.count() == 1
    finding.count += 1
    events_publish(events=[event_for_finding(kind="repeat_occurrence", finding=finding)],
                   now=now + timedelta(minutes=61))  # fmt: skip
    assert Delivery.objects.count() == 2


def test_digest_rule_holds_events_and_sends_one_message_per_window(hook):
    rule = rule_make(hook, throttle="digest", throttle_minutes=60)
    for seed in range(3):
        stored(seed=seed)
    assert not Delivery.objects.exists() and DigestEntry.objects.count() == 3

    assert digests_send(now=rule.created_at + timedelta(minutes=30)) == 0  # the window has not passed
    assert digests_send(now=rule.created_at + timedelta(minutes=61)) == 1
    [digest] = Delivery.objects.all()
    assert digest.kind == "digest" and digest.payload["digest"] and len(digest.payload["events"]) == 3
    assert digests_send(now=rule.created_at + timedelta(minutes=200)) == 0  # nothing new held


def test_a_coverage_alert_from_the_member_sync_is_routed(hook, django_capture_on_commit_callbacks):
    rule_make(hook, kinds=("coverage_alert",))
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(kind="member.Resigned", title="Member 222222222222 is Resigned in us-east-1",
                    target=("accounts.memberaccount", "222222222222", "222222222222 in us-east-1"),
                    dedupe_key="membership:222222222222:us-east-1:Resigned", severity="high")  # fmt: skip
    [delivery] = Delivery.objects.all()
    event = delivery.payload["events"][0]
    assert (delivery.kind, event["account"], event["region"], event["alert_kind"]) == (
        "coverage_alert",
        "222222222222",
        "us-east-1",
        "member.Resigned",
    )


def test_a_failed_sync_run_publishes_sync_failing_for_its_region(hook):
    from findings.models import SyncRun

    rule_make(hook, kinds=("sync_failing",), regions=["eu-west-1"])
    state = SyncState.objects.create(region="eu-west-1")
    run = SyncRun.objects.create(region="eu-west-1", started_at=datetime(2026, 11, 28, tzinfo=UTC))
    _sync_failed(state, _RunProgress(run), "ListFindings: AccessDeniedException: nope")
    [delivery] = Delivery.objects.all()
    assert delivery.payload["events"][0]["error"] == "ListFindings: AccessDeniedException: nope"


def test_disabled_rules_and_other_event_kinds_route_nothing(hook):
    rule_make(hook, kinds=("coverage_alert",))
    rule_make(hook, enabled=False)
    events_publish(events=[Event(kind="new_finding", subject="x", key="x", snapshot={"band": "high"})])
    assert not Delivery.objects.exists()


def beat_ticks(start, *, minutes: int = 60, every: int = 5):
    """What beat does: `overdue_findings_publish` every 5 minutes from `start` for `minutes`."""
    return sum(
        overdue_findings_publish(now=start + timedelta(minutes=m)) for m in range(0, minutes + 1, every)
    )


def test_an_overdue_finding_is_announced_once_not_on_every_beat_tick(hook, settings):
    settings.GUARDWATCH_SLA_HOURS = {"critical": 4, "high": 24, "medium": 168, "low": 720}
    rule_make(hook, kinds=("finding_overdue",), name="Overdue to the SOC")
    finding = stored(finding_type=HIGH)
    due = finding.created_at + timedelta(hours=24)
    assert sla_due(finding) == due  # the moment the finding page starts saying "Overdue"

    assert beat_ticks(due - timedelta(minutes=30), minutes=25) == 0  # not overdue yet

    assert beat_ticks(due, minutes=60) == 1
    [delivery] = Delivery.objects.all()
    assert (delivery.kind, delivery.finding, delivery.subject) == ("finding_overdue", finding, finding.arn)
    assert delivery.payload["events"][0]["due_at"] == due.isoformat()


def test_an_overdue_finding_is_held_once_for_a_digest_rule(hook, settings):
    settings.GUARDWATCH_SLA_HOURS = {"critical": 4, "high": 24, "medium": 168, "low": 720}
    rule_make(hook, kinds=("finding_overdue",), throttle="digest", throttle_minutes=60)
    finding = stored(finding_type=HIGH)

    beat_ticks(finding.created_at + timedelta(hours=24), minutes=60)
    assert DigestEntry.objects.filter(kind="finding_overdue", subject=finding.arn).count() == 1
    assert not Delivery.objects.exists()


def test_a_finding_closed_before_its_sla_ran_out_is_not_overdue(hook, settings):
    settings.GUARDWATCH_SLA_HOURS = {"critical": 4, "high": 24, "medium": 168, "low": 720}
    rule_make(hook, kinds=("finding_overdue",))
    finding = stored(finding_type=HIGH)
    Finding.objects.filter(pk=finding.pk).update(status="resolved")

    assert beat_ticks(finding.created_at + timedelta(hours=24), minutes=30) == 0
    assert not Delivery.objects.exists()


def test_beat_checks_overdue_findings_more_often_than_the_lookback_so_none_is_missed():
    from guardwatch.celery import app

    app.finalize()  # installs the beat schedule
    [entry] = [
        e
        for e in app.conf.beat_schedule.values()
        if e["task"] == "notifications.tasks.overdue_findings_publish"
    ]
    assert entry["schedule"].run_every <= timedelta(minutes=30)  # overdue_findings_publish's lookback
