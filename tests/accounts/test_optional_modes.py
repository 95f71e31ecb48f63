"""Auto-accept through the member role, and AWS Organizations mode (delegated administrator)."""

import pytest

from accounts import operations
from accounts.models import DETECTOR_FEATURES, MemberAccount, MemberOperation, Membership
from guardwatch.core.models import AuditEntry

from .helpers import ADMIN, accounts_make, detectors

pytestmark = pytest.mark.django_db
MANAGEMENT = "999999999999"


@pytest.fixture
def regions(settings):
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1", "eu-west-1"]
    return settings.GUARDWATCH_AWS_REGIONS


def run(action, accounts, regions, actor):
    operation = operations.member_operation_start(action=action, accounts=accounts, regions=regions, actor=actor)
    return operations.member_operation_run(operation_id=operation.pk)


def test_invite_accepts_on_the_members_behalf_when_auto_accept_is_on(simulator, regions, admin, settings):
    settings.GUARDWATCH_MEMBER_ROLE_NAME = "GuardWatchMember"
    accounts = accounts_make(2, simulator=simulator)
    MemberAccount.objects.filter(pk=accounts[0].pk).update(auto_accept=True)
    accounts[0].auto_accept = True
    detectors(simulator, regions)

    operation = run("invite", accounts, ["us-east-1"], admin)

    # Once Invited, accepting runs as an operation of its own (test_invite_verification.py has the details).
    assert operation.status == MemberOperation.Status.SUCCEEDED
    accept = MemberOperation.objects.get(action="accept")
    assert operations.member_operation_run(operation_id=accept.pk).status == MemberOperation.Status.SUCCEEDED
    assert simulator.member_status(ADMIN, accounts[0].account_id, "us-east-1") == "Enabled"
    assert simulator.detector_id(accounts[0].account_id, "us-east-1") is not None  # created for it
    member_plans = simulator.scope(accounts[0].account_id, "us-east-1").detector.features
    assert {member_plans.get(name) for name in DETECTOR_FEATURES} == {"DISABLED"}  # no paid plan switched on
    assert simulator.member_status(ADMIN, accounts[1].account_id, "us-east-1") == "Invited"
    assert Membership.objects.get(account=accounts[0]).relationship_status == "Enabled"


def test_accept_action_without_a_member_role_says_what_to_configure(simulator, regions, admin, settings):
    settings.GUARDWATCH_MEMBER_ROLE_NAME = ""
    accounts = accounts_make(1, simulator=simulator)
    detectors(simulator, regions)
    run("invite", accounts, ["us-east-1"], admin)

    operation = run("accept", accounts, ["us-east-1"], admin)

    assert operation.status == MemberOperation.Status.FAILED
    assert "GUARDWATCH_MEMBER_ROLE_NAME" in operation.results.get().result


def test_recreate_fixes_an_email_verification_failure(simulator, regions, admin):
    account = accounts_make(1, simulator=simulator)[0]
    simulator.register_account(account.account_id, "real-root@example.com")
    detectors(simulator, regions)
    run("invite", [account], ["us-east-1"], admin)
    assert Membership.objects.get(account=account).relationship_status == "EmailVerificationFailed"

    operation = operations.member_recreate(account=account, email="real-root@example.com", regions=["us-east-1"], actor=admin)
    operation = operations.member_operation_run(operation_id=operation.pk)

    assert operation.status == MemberOperation.Status.SUCCEEDED
    assert simulator.member_status(ADMIN, account.account_id, "us-east-1") == "Invited"
    assert Membership.objects.get(account=account).relationship_status == "Invited"
    assert AuditEntry.objects.filter(verb="member.email_change").exists()


def test_start_stop_resend_and_delete_reach_guardduty(simulator, regions, admin):
    account = accounts_make(1, simulator=simulator)[0]
    detectors(simulator, regions)
    run("invite", [account], ["us-east-1"], admin)
    assert run("resend", [account], ["us-east-1"], admin).status == MemberOperation.Status.SUCCEEDED  # a new one
    assert len(simulator.outbox) == 2
    simulator.accept_invitation(account.account_id, "us-east-1", ADMIN)

    run("stop", [account], ["us-east-1"], admin)
    assert simulator.member_status(ADMIN, account.account_id, "us-east-1") == "Disabled"
    run("start", [account], ["us-east-1"], admin)
    assert simulator.member_status(ADMIN, account.account_id, "us-east-1") == "Enabled"
    run("delete", [account], ["us-east-1"], admin)
    assert simulator.member_status(ADMIN, account.account_id, "us-east-1") is None
    assert Membership.objects.get(account=account).relationship_status == ""
