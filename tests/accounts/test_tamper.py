"""Tamper alarms: CloudTrail's records of GuardDuty calls that weaken monitoring, pushed by EventBridge."""

from __future__ import annotations

import json
import time
import urllib.request

import botocore.session
import pytest
from django.test import Client

from accounts import services as account_services
from accounts.tamper import WATCHED
from findings.services import ingest_key_create
from gdsim.cloudtrail import cloudtrail_event
from guardwatch.core.models import Alert, AuditEntry

ADMIN = "111111111111"
MEMBER = "222222222222"
REGION = "us-east-1"
URL = "/ingest/eventbridge/"
MALLORY = f"arn:aws:sts::{MEMBER}:assumed-role/OrganizationAccountAccessRole/mallory"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def administrator(simulator, monkeypatch):
    """GuardWatch's administrator credentials, against the simulator (whose caller is user/simulator)."""
    simulator.register_account(ADMIN, "root@example.com")
    simulator.register_account(MEMBER, "member@example.com")
    monkeypatch.setattr(account_services, "_ADMIN_PRINCIPAL", [])
    return simulator


@pytest.fixture
def key(admin):
    return ingest_key_create(name="EventBridge tamper", actor=admin)[1]


def event(name: str, *, principal: str = MALLORY, account: str = MEMBER, **parameters) -> dict:
    from datetime import UTC, datetime

    return cloudtrail_event(event_name=name, account_id=account, region=REGION, moment=datetime.now(UTC),
                            request_parameters=parameters, principal_arn=principal, source_ip="203.0.113.9")  # fmt: skip


def push(events, key):
    return Client().post(URL, data=json.dumps(events), content_type="application/json",
                         headers={"X-GuardWatch-Key": key})  # fmt: skip


def test_stopping_a_member_outside_guardwatch_alerts_naming_who_where_and_what(key):
    response = push(event("StopMonitoringMembers", account=ADMIN, DetectorId="d1", AccountIds=[MEMBER]), key)

    assert response.status_code == 202 and response.json()["alerts"] == 1
    alert = Alert.objects.get(kind="accounts.tamper")
    assert alert.severity == "high" and alert.target_id == MEMBER
    assert "StopMonitoringMembers" in alert.title and MALLORY in alert.title and REGION in alert.title
    assert "203.0.113.9" in alert.message and "stopped monitoring member accounts" in alert.message


def test_a_member_leaving_its_administrator_alerts_on_that_member(key):
    response = push(event("DisassociateFromAdministratorAccount", DetectorId="d2"), key)

    assert response.json() == {"received": 1, "alerts": 1, "recorded": 0, "ignored": 0}
    assert Alert.objects.get(kind="accounts.tamper").target_id == MEMBER


def test_guardwatchs_own_call_is_recorded_not_alarmed(key):
    own = f"arn:aws:iam::{ADMIN}:user/simulator"  # what GetCallerIdentity names for GuardWatch's credentials

    response = push(event("DeleteMembers", principal=own, account=ADMIN, DetectorId="d1", AccountIds=[MEMBER]), key)

    assert response.json()["recorded"] == 1
    assert not Alert.objects.exists()
    assert AuditEntry.objects.filter(verb="tamper.own_call").exists()


def test_a_detector_update_that_turns_nothing_off_is_ignored_and_one_that_does_alerts(key):
    turned_on = event("UpdateDetector", DetectorId="d2", Features=[{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}])
    turned_off = event("UpdateDetector", DetectorId="d2", Features=[{"Name": "RUNTIME_MONITORING", "Status": "DISABLED"}])
    disabled = event("UpdateDetector", DetectorId="d2", Enable=False)

    assert push(turned_on, key).json()["ignored"] == 1
    assert push([turned_off, disabled], key).json()["alerts"] == 2


def test_a_failed_attempt_still_alerts_at_medium(key):
    attempt = event("DeleteDetector", DetectorId="d2")
    attempt["detail"]["errorCode"] = "AccessDenied"

    push(attempt, key)

    alert = Alert.objects.get(kind="accounts.tamper")
    assert alert.severity == "medium" and "attempted: AccessDenied" in alert.title


def test_an_unreadable_event_is_refused_whole_and_nothing_recorded(key):
    good = event("DeleteDetector", DetectorId="d2")
    other_service = event("DeleteDetector", DetectorId="d2")
    other_service["detail"]["eventSource"] = "s3.amazonaws.com"

    response = push([good, other_service], key)

    assert response.status_code == 400
    assert response.json()["errors"] == [{"index": 1, "reason": 'detail.eventSource must be "guardduty.amazonaws.com": '
                                                               "only GuardDuty calls are watched."}]
    assert not Alert.objects.exists()


def test_findings_and_cloudtrail_events_in_one_request_are_refused(key):
    from gdsim.catalogue import to_eventbridge_event
    from tests.findings.factories import raw_finding

    response = push([event("DeleteDetector", DetectorId="d2"), to_eventbridge_event(raw_finding())], key)

    assert response.status_code == 400 and "separate requests" in response.json()["error"]


def test_a_key_scoped_to_another_region_is_refused_with_403(admin):
    scoped = ingest_key_create(name="eu only", actor=admin, regions=["eu-west-1"])[1]

    response = push(event("DeleteDetector", DetectorId="d2"), scoped)

    assert response.status_code == 403 and not Alert.objects.exists()


def test_every_watched_call_is_a_guardduty_operation():
    operations = set(botocore.session.get_session().get_service_model("guardduty").operation_names)
    assert set(WATCHED) <= operations


@pytest.mark.django_db(transaction=True)
def test_the_simulator_delivers_a_members_stop_monitoring_and_the_alert_appears_within_5_s(live_server, administrator,
                                                                                             admin):
    """The simulator stands for CloudTrail + EventBridge (an API destination posting to the ingest URL)."""
    key = ingest_key_create(name="EventBridge", actor=admin)[1]
    control = administrator_control(live_server, key)
    started = time.monotonic()

    control("/_sim/cloudtrail", {"event_name": "StopMonitoringMembers", "account_id": ADMIN, "region": REGION,
                                 "principal_arn": MALLORY,
                                 "request_parameters": {"DetectorId": "d1", "AccountIds": [MEMBER]}})  # fmt: skip

    while not Alert.objects.filter(kind="accounts.tamper").exists():
        assert time.monotonic() - started < 5, "no tamper alert within 5 s"
        time.sleep(0.05)  # polling the database for the delivery (a deadline, not a sleep to pass)
    assert Alert.objects.get(kind="accounts.tamper").target_id == MEMBER


@pytest.mark.django_db(transaction=True)
def test_guardwatchs_own_calls_come_back_through_the_simulator_as_recorded_not_alarmed(live_server, administrator,
                                                                                        admin):
    from guardwatch.aws import guardduty

    key = ingest_key_create(name="EventBridge", actor=admin)[1]
    administrator_control(live_server, key)
    administrator.ensure_detector(ADMIN, REGION)
    detector = administrator.detector_id(ADMIN, REGION)

    guardduty(REGION).create_filter(DetectorId=detector, Name="guardwatch-rule", Action="ARCHIVE",
                                    FindingCriteria={"Criterion": {"severity": {"Gte": 1}}})  # fmt: skip

    deadline = time.monotonic() + 10
    while not AuditEntry.objects.filter(verb="tamper.own_call").exists():
        assert time.monotonic() < deadline, f"not delivered: {administrator.event_target.describe()}"
        time.sleep(0.05)
    assert not Alert.objects.filter(kind="accounts.tamper").exists()


def administrator_control(live_server, key):
    """Point the simulator's EventBridge stand-in at this test's live server; return a control-API poster."""
    from django.conf import settings

    def control(path: str, payload: dict) -> dict:
        request = urllib.request.Request(settings.GUARDWATCH_AWS_ENDPOINT_URL.rstrip("/") + path, method="POST",
                                         data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    control("/_sim/eventbridge", {"url": live_server.url + URL, "headers": {"X-GuardWatch-Key": key}})
    return control
