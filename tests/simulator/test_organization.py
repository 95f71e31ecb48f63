"""Organizations mode: delegated administrator, auto-enable, and the minimal Organizations API."""

import pytest

from .world import ADMIN, MEMBER, OTHER_MEMBER, OUTSIDER, REGION

MANAGEMENT = "999999999999"


@pytest.fixture
def organization(state):
    """An organization run by MANAGEMENT holding ADMIN and MEMBER."""
    state.register_account(MANAGEMENT, "root@example.com", name="management")
    state.register_account(MEMBER, "member@example.com", name="workload")
    state.set_organization(MANAGEMENT, [ADMIN, MEMBER])


@pytest.fixture
def delegated_admin(gd_client, organization) -> str:
    """ADMIN is the delegated administrator in REGION; returns its detector id."""
    gd_client(MANAGEMENT).enable_organization_admin_account(AdminAccountId=ADMIN)
    return gd_client(ADMIN).list_detectors()["DetectorIds"][0]


def test_management_account_designates_and_lists_the_delegated_admin(gd_client, delegated_admin):
    admins = gd_client(MANAGEMENT).list_organization_admin_accounts()["AdminAccounts"]
    assert admins == [{"AdminAccountId": ADMIN, "AdminStatus": "ENABLED"}]


def test_only_the_management_account_designates_an_admin(gd_client, organization):
    client = gd_client(MEMBER)
    with pytest.raises(client.exceptions.BadRequestException, match="not the management account"):
        client.enable_organization_admin_account(AdminAccountId=ADMIN)


def test_disabling_the_delegated_admin_clears_it(gd_client, delegated_admin):
    management = gd_client(MANAGEMENT)
    management.disable_organization_admin_account(AdminAccountId=ADMIN)
    assert management.list_organization_admin_accounts()["AdminAccounts"] == []


def test_delegated_admin_adds_organization_accounts_as_enabled_members(state, gd_client, delegated_admin):
    client = gd_client(ADMIN)
    client.create_members(DetectorId=delegated_admin, AccountDetails=[{"AccountId": MEMBER,
                                                                       "Email": "member@example.com"}])
    member = client.get_members(DetectorId=delegated_admin, AccountIds=[MEMBER])["Members"][0]
    assert member["RelationshipStatus"] == "Enabled"
    assert state.detector_id(MEMBER, REGION) == member["DetectorId"]


def test_organization_configuration_starts_with_nothing_auto_enabled(gd_client, delegated_admin):
    configuration = gd_client(ADMIN).describe_organization_configuration(DetectorId=delegated_admin)
    assert configuration["AutoEnableOrganizationMembers"] == "NONE"
    assert configuration["MemberAccountLimitReached"] is False


def test_new_setting_enables_accounts_that_join_later(state, gd_client, delegated_admin):
    client = gd_client(ADMIN)
    client.update_organization_configuration(DetectorId=delegated_admin, AutoEnableOrganizationMembers="NEW")
    state.register_account(OTHER_MEMBER, "other@example.com", organization=True)
    members = client.list_members(DetectorId=delegated_admin)["Members"]
    assert [(m["AccountId"], m["RelationshipStatus"]) for m in members] == [(OTHER_MEMBER, "Enabled")]


def test_all_setting_enables_existing_accounts_too(gd_client, delegated_admin):
    client = gd_client(ADMIN)
    client.update_organization_configuration(DetectorId=delegated_admin, AutoEnableOrganizationMembers="ALL")
    members = client.list_members(DetectorId=delegated_admin)["Members"]
    assert {m["AccountId"] for m in members} == {MANAGEMENT, MEMBER}


def test_member_account_limit_is_reported(state, gd_client, delegated_admin):
    state.member_account_limit = 1
    client = gd_client(ADMIN)
    client.create_members(DetectorId=delegated_admin, AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    assert client.describe_organization_configuration(DetectorId=delegated_admin)["MemberAccountLimitReached"]


def test_only_the_delegated_admin_reads_the_organization_configuration(gd_client, organization):
    client = gd_client(MEMBER)
    detector_id = client.create_detector(Enable=True)["DetectorId"]
    with pytest.raises(client.exceptions.BadRequestException, match="delegated administrator"):
        client.describe_organization_configuration(DetectorId=detector_id)


def test_organizations_api_lists_the_accounts_and_describes_the_organization(aws_client, organization):
    client = aws_client("organizations", ADMIN)
    accounts = client.list_accounts()["Accounts"]
    assert {account["Id"] for account in accounts} == {MANAGEMENT, ADMIN, MEMBER}
    assert client.describe_organization()["Organization"]["MasterAccountId"] == MANAGEMENT


def test_organizations_api_refuses_accounts_outside_the_organization(aws_client, organization):
    client = aws_client("organizations", OUTSIDER)
    with pytest.raises(client.exceptions.AWSOrganizationsNotInUseException):
        client.list_accounts()
