"""Inviting accounts: CreateMembers then InviteMembers, 50 per call, per-account results, failures kept."""

import pytest

from accounts import operations
from accounts.models import MemberOperation, MemberOperationResult, Membership, MembershipStatusChange
from gdsim import relationships
from guardwatch.core.models import AuditEntry

from .helpers import ADMIN, accounts_make, detectors, member_id

pytestmark = pytest.mark.django_db

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]


@pytest.fixture
def regions(settings):
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    return REGIONS


def invite(accounts, regions, actor, **options):
    operation = operations.member_operation_start(action="invite", accounts=accounts, regions=regions, actor=actor, **options)
    return operations.member_operation_run(operation_id=operation.pk)


def test_inviting_1000_accounts_into_4_regions_makes_only_the_minimum_member_calls(simulator, regions, admin):
    accounts = accounts_make(1000, simulator=simulator)
    detectors(simulator, regions)
    simulator.call_counts.reset()

    operation = invite(accounts, regions, admin, message="Welcome to GuardDuty")

    assert operation.status == MemberOperation.Status.SUCCEEDED
    assert operation.done == 4000 and operation.failed == 0
    for region in regions:
        assert simulator.call_counts[("CreateMembers", ADMIN, region)] == 20  # ⌈1000/50⌉
        assert simulator.call_counts[("InviteMembers", ADMIN, region)] == 20
        # GetMembers reads where each invitation stands (GuardDuty verifies the email before sending it).
        assert simulator.call_counts[("GetMembers", ADMIN, region)] == 20
    # Besides those, one ListDetectors per region to find the administrator's detector, nothing else.
    assert simulator.call_counts.total == 4 * (20 + 20 + 20) + 4
    assert simulator.member_status(ADMIN, member_id(1000), "ap-southeast-2") == "Invited"
    assert Membership.objects.filter(relationship_status="Invited").count() == 4000


REGIONS_17 = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
              "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1",
              "ap-southeast-2", "sa-east-1", "me-south-1"]  # fmt: skip


def test_inviting_120_accounts_into_17_regions_batches_each_region_on_its_own(simulator, settings, admin):
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS_17)
    accounts = accounts_make(120, simulator=simulator)
    detectors(simulator, REGIONS_17)
    simulator.call_counts.reset()

    operation = invite(accounts, REGIONS_17, admin)

    assert operation.status == MemberOperation.Status.SUCCEEDED and operation.done == 120 * 17
    for region in REGIONS_17:  # ⌈120/50⌉ = 3 of each per region (50 + 50 + 20), whatever the number of regions
        assert simulator.call_counts[("CreateMembers", ADMIN, region)] == 3
        assert simulator.call_counts[("InviteMembers", ADMIN, region)] == 3
        assert simulator.call_counts[("GetMembers", ADMIN, region)] == 3
        assert simulator.call_counts[("ListDetectors", ADMIN, region)] == 1
    assert simulator.call_counts.total == 17 * (3 + 3 + 3 + 1)
    assert Membership.objects.filter(relationship_status="Invited").count() == 120 * 17


def test_invite_message_and_email_switch_reach_guardduty(simulator, regions, admin):
    accounts = accounts_make(2, simulator=simulator)
    detectors(simulator, regions[:1])

    invite(accounts, regions[:1], admin, message="Please accept <today>")

    sent = [mail for mail in simulator.outbox if mail["region"] == "us-east-1"]
    assert {mail["account_id"] for mail in sent} == {a.account_id for a in accounts}
    assert {mail["message"] for mail in sent} == {"Please accept <today>"}


def test_disable_email_notification_sends_no_email(simulator, regions, admin):
    accounts = accounts_make(1, simulator=simulator)
    detectors(simulator, regions[:1])

    invite(accounts, regions[:1], admin, disable_email_notification=True)

    assert simulator.outbox == []
    assert simulator.member_status(ADMIN, accounts[0].account_id, "us-east-1") == "Invited"


def test_unprocessed_accounts_are_reported_per_account_and_the_rest_is_invited(simulator, regions, admin):
    accounts = accounts_make(3, simulator=simulator)
    rival = "999999999999"  # accounts[1] already has another administrator in us-east-1
    simulator.ensure_detector(rival, "us-east-1")
    relationships.create_members(simulator, rival, "us-east-1", [{"AccountId": accounts[1].account_id,
                                                                  "Email": accounts[1].email}])
    relationships.invite_members(simulator, rival, "us-east-1", [accounts[1].account_id])
    simulator.accept_invitation(accounts[1].account_id, "us-east-1", rival)
    detectors(simulator, regions[:1])

    operation = invite(accounts, regions[:1], admin)

    assert operation.status == MemberOperation.Status.PARTIAL
    failed = MemberOperationResult.objects.get(operation=operation, outcome="failed")
    assert failed.account == accounts[1]
    assert failed.result == f"InviteMembers: {relationships.OTHER_ADMINISTRATOR}"
    membership = Membership.objects.get(account=accounts[1], region="us-east-1")
    assert membership.relationship_status == "Created"  # as GetMembers reports it, not guessed from the text
    assert "another administrator" in membership.last_error
    assert Membership.objects.filter(relationship_status="Invited").count() == 2


def test_a_region_without_administrator_detector_fails_with_an_actionable_message(simulator, regions, admin):
    accounts = accounts_make(2, simulator=simulator)
    detectors(simulator, ["us-east-1"])  # none in us-west-2

    operation = invite(accounts, ["us-east-1", "us-west-2"], admin)

    assert operation.status == MemberOperation.Status.PARTIAL
    failed = MemberOperationResult.objects.filter(operation=operation, outcome="failed")
    assert {r.region for r in failed} == {"us-west-2"}
    assert "no detector" in failed[0].result and "Create the administrator" in failed[0].result
    assert simulator.detector_id(ADMIN, "us-west-2") is None


def test_confirmed_detector_creation_enables_guardduty_for_the_administrator_and_invites(simulator, regions, admin):
    accounts = accounts_make(2, simulator=simulator)

    operation = invite(accounts, ["us-west-2"], admin, create_detectors=True)

    assert operation.status == MemberOperation.Status.SUCCEEDED
    assert simulator.detector_id(ADMIN, "us-west-2") is not None
    assert AuditEntry.objects.filter(verb="detector.create").count() == 1


def test_throttling_after_retries_fails_that_region_only_and_retry_finishes_it(simulator, regions, admin, settings):
    settings.GUARDWATCH_AWS_MAX_ATTEMPTS = 2
    from guardwatch.aws import reset_clients

    reset_clients()
    accounts = accounts_make(3, simulator=simulator)
    detectors(simulator, regions[:2])
    simulator.faults.add("throttle", operation="CreateMembers", region="us-west-2")

    operation = invite(accounts, regions[:2], admin)

    assert operation.status == MemberOperation.Status.PARTIAL
    failed = MemberOperationResult.objects.filter(operation=operation, outcome="failed")
    assert {r.region for r in failed} == {"us-west-2"} and failed.count() == 3
    assert "throttling" in failed[0].result and "retry" in failed[0].result.lower()
    assert "throttling" in Membership.objects.get(account=accounts[0], region="us-west-2").last_error

    simulator.faults.clear()
    assert operations.member_operation_retry(operation=operation, actor=admin) == 3
    operation = operations.member_operation_run(operation_id=operation.pk)

    assert operation.status == MemberOperation.Status.SUCCEEDED
    assert operation.done == 6 and operation.failed == 0
    assert Membership.objects.get(account=accounts[0], region="us-west-2").last_error == ""


def test_a_redelivered_task_does_nothing_twice(simulator, regions, admin):
    accounts = accounts_make(2, simulator=simulator)
    detectors(simulator, regions[:1])
    operation = invite(accounts, regions[:1], admin)
    simulator.call_counts.reset()

    again = operations.member_operation_run(operation_id=operation.pk)

    assert again is None
    assert simulator.call_counts.total == 0


def test_invite_is_audited_and_each_status_change_goes_to_history(simulator, regions, admin):
    accounts = accounts_make(1, simulator=simulator)
    detectors(simulator, regions[:1])

    operation = invite(accounts, regions[:1], admin)

    change = MembershipStatusChange.objects.get(membership__account=accounts[0])
    assert (change.from_status, change.to_status, change.source) == ("", "Invited", "action")
    entry = AuditEntry.objects.get(verb="member.invite", target_id=str(operation.pk))
    assert entry.actor_name == "admin" and entry.details["accounts"] == [accounts[0].account_id]


# CreateDetector without Features turns every optional paid plan on (GUARDDUTY.md, "CreateDetector without
# Features"): GuardWatch names every plan, ENABLED only where the admin chose it.


def plans(simulator, account: str, region: str) -> dict[str, str]:
    from accounts.models import DETECTOR_FEATURES

    features = simulator.scope(account, region).detector.features
    return {name: features.get(name, "DISABLED") for name in DETECTOR_FEATURES}


def test_a_detector_guardwatch_creates_has_only_the_plans_the_admin_chose(simulator, regions, admin):
    accounts = accounts_make(1, simulator=simulator)
    invite(accounts, ["us-west-2"], admin, create_detectors=True,
           detector_features=["S3_DATA_EVENTS", "RUNTIME_MONITORING"])  # fmt: skip
    chosen = plans(simulator, ADMIN, "us-west-2")
    assert {name for name, status in chosen.items() if status == "ENABLED"} == {"S3_DATA_EVENTS", "RUNTIME_MONITORING"}
    assert AuditEntry.objects.get(verb="detector.create").details["features_enabled"] == [
        "RUNTIME_MONITORING", "S3_DATA_EVENTS"
    ]


def test_with_no_plan_chosen_every_paid_plan_is_sent_disabled(simulator, regions, admin):
    accounts = accounts_make(1, simulator=simulator)
    invite(accounts, ["eu-west-1"], admin, create_detectors=True)
    assert set(plans(simulator, ADMIN, "eu-west-1").values()) == {"DISABLED"}


def test_the_invite_form_offers_the_plans_and_keeps_the_choice(simulator, regions, admin, client_for):
    accounts_make(1, simulator=simulator)  # never invited: the form's "accounts not yet members"
    client = client_for("admin")
    page = client.get("/accounts/invite/?scope=new").content.decode()
    assert "Protection plans to enable in detectors GuardWatch creates" in page and "AI Protection" in page
    response = client.post(
        "/accounts/invite/",
        {"scope": "new", "regions": ["us-east-1"], "create_detectors": "on", "detector_features": ["AI_PROTECTION"]},
    )
    assert response.status_code == 302
    assert MemberOperation.objects.get().detector_features == ["AI_PROTECTION"]
