"""Organizations mode as AWS documents it: what AutoEnableOrganizationMembers=ALL refuses, deleting only
disassociated organization members, re-adding them with CreateMembers, the management account, account State."""

import pytest

from gdsim import relationships

from . import test_organization
from .world import ADMIN, MEMBER, REGION

MANAGEMENT = test_organization.MANAGEMENT
organization = test_organization.organization
delegated_admin = test_organization.delegated_admin


@pytest.fixture
def org_member(gd_client, delegated_admin) -> str:
    """MEMBER added by the delegated administrator (Enabled, via the organization)."""
    gd_client(ADMIN).create_members(DetectorId=delegated_admin,
                                    AccountDetails=[{"AccountId": MEMBER, "Email": "member@example.com"}])
    return delegated_admin


def _status(client, detector_id: str) -> str:
    return client.get_members(DetectorId=detector_id, AccountIds=[MEMBER])["Members"][0]["RelationshipStatus"]


@pytest.mark.parametrize("call", ["disassociate_members", "stop_monitoring_members", "delete_members"])
def test_under_all_an_organization_member_cannot_be_let_go(gd_client, org_member, call):
    client = gd_client(ADMIN)
    client.update_organization_configuration(DetectorId=org_member, AutoEnableOrganizationMembers="ALL")

    answer = getattr(client, call)(DetectorId=org_member, AccountIds=[MEMBER])

    assert answer["UnprocessedAccounts"] == [{"AccountId": MEMBER, "Result": relationships.AUTO_ENABLE_ALL}]
    assert _status(client, org_member) == "Enabled"


def test_under_new_an_organization_member_can_be_disassociated(gd_client, org_member):
    client = gd_client(ADMIN)
    client.update_organization_configuration(DetectorId=org_member, AutoEnableOrganizationMembers="NEW")

    assert client.disassociate_members(DetectorId=org_member, AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    assert _status(client, org_member) == "Removed"


def test_an_associated_organization_member_is_deleted_only_once_disassociated(gd_client, org_member):
    client = gd_client(ADMIN)

    refused = client.delete_members(DetectorId=org_member, AccountIds=[MEMBER])["UnprocessedAccounts"]
    assert refused == [{"AccountId": MEMBER, "Result": relationships.DISASSOCIATE_FIRST}]
    client.disassociate_members(DetectorId=org_member, AccountIds=[MEMBER])

    assert client.delete_members(DetectorId=org_member, AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    assert client.get_members(DetectorId=org_member, AccountIds=[MEMBER])["Members"] == []


def test_a_disassociated_organization_member_is_added_again_with_create_members_not_invited(gd_client, org_member):
    client = gd_client(ADMIN)
    client.disassociate_members(DetectorId=org_member, AccountIds=[MEMBER])

    invited = client.invite_members(DetectorId=org_member, AccountIds=[MEMBER])["UnprocessedAccounts"]
    assert invited == [{"AccountId": MEMBER, "Result": relationships.ORGANIZATION_NOT_INVITED}]
    assert _status(client, org_member) == "Removed"

    created = client.create_members(DetectorId=org_member,
                                    AccountDetails=[{"AccountId": MEMBER, "Email": "member@example.com"}])
    assert created["UnprocessedAccounts"] == []
    assert _status(client, org_member) == "Enabled"


def test_the_management_account_must_enable_guardduty_before_it_is_added(state, gd_client, delegated_admin):
    client = gd_client(ADMIN)
    details = [{"AccountId": MANAGEMENT, "Email": "root@example.com"}]

    refused = client.create_members(DetectorId=delegated_admin, AccountDetails=details)["UnprocessedAccounts"]
    assert refused == [{"AccountId": MANAGEMENT, "Result": relationships.MANAGEMENT_FIRST}]
    state.ensure_detector(MANAGEMENT, REGION)

    assert client.create_members(DetectorId=delegated_admin, AccountDetails=details)["UnprocessedAccounts"] == []


def test_list_accounts_reports_each_accounts_state(state, aws_client, organization):
    state.accounts[MEMBER].state = "SUSPENDED"
    state.accounts[ADMIN].state = "CLOSED"

    accounts = {a["Id"]: a for a in aws_client("organizations", ADMIN).list_accounts()["Accounts"]}

    assert (accounts[MEMBER]["State"], accounts[MEMBER]["Status"]) == ("SUSPENDED", "SUSPENDED")
    assert accounts[ADMIN]["State"] == "CLOSED" and "Status" not in accounts[ADMIN]  # no such Status value
    assert accounts[MANAGEMENT]["State"] == "ACTIVE"
