"""Auto-accept through the member role, and AWS Organizations mode (delegated administrator)."""

import pytest

from accounts import aws_organizations, operations
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


@pytest.fixture
def organization(simulator, regions):
    """The administrator is the organization's delegated GuardDuty administrator in both regions."""
    simulator.set_organization(MANAGEMENT, [ADMIN, "222222222222", "333333333333"])
    for region in regions:
        simulator.delegated_admins[region] = ADMIN
        simulator.ensure_detector(ADMIN, region)
    return simulator


def test_organization_accounts_not_yet_members_are_listed_with_each_regions_configuration(organization):
    view = aws_organizations.organization_view_load()

    assert view.error == ""
    assert sorted(a.account_id for a in view.candidates) == ["222222222222", "333333333333", MANAGEMENT]
    config = view.configurations["us-east-1"]
    assert config.auto_enable_members == "NONE" and config.member_account_limit_reached is False


def test_organization_accounts_become_members_without_invitation(organization, admin, regions):
    view = aws_organizations.organization_view_load()
    chosen = [a for a in view.candidates if a.account_id == "222222222222"]

    operation = aws_organizations.organization_members_add(accounts=chosen, regions=regions, actor=admin)
    operation = operations.member_operation_run(operation_id=operation.pk)

    assert operation.status == MemberOperation.Status.SUCCEEDED
    assert organization.member_status(ADMIN, "222222222222", "eu-west-1") == "Enabled"
    account = MemberAccount.objects.get(account_id="222222222222")
    assert account.source == MemberAccount.Source.ORGANIZATIONS
    assert set(account.memberships.values_list("relationship_status", flat=True)) == {"Enabled"}
    assert organization.outbox == []


def test_admin_changes_auto_enable_and_the_limit_is_shown(organization, admin, client_for, monkeypatch):
    aws_organizations.organization_auto_enable_set(region="eu-west-1", value="ALL", actor=admin)
    monkeypatch.setattr(organization, "member_account_limit", 1)

    html = client_for("admin").get("/accounts/organization/").content.decode()

    assert organization.scope(ADMIN, "eu-west-1").organization.auto_enable_members == "ALL"
    row = html.split('<tr data-region="eu-west-1">')[1].split("</tr>")[0]
    assert "<strong>ALL</strong>" in row and "Limit reached" in row
    assert AuditEntry.objects.filter(verb="organization.auto_enable").exists()


def test_without_an_organization_the_page_says_so(simulator, regions, client_for):
    detectors(simulator, regions)

    html = client_for("analyst").get("/accounts/organization/").content.decode()

    assert "not a member of an organization" in html
