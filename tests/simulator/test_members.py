"""The administrator's member list: every relationship status and the per-account failures."""

import botocore.exceptions
import pytest

from gdsim.relationships import (
    ALREADY_INVITED,
    ALREADY_MEMBER,
    NOT_A_MEMBER,
    NOT_ASSOCIATED,
    OTHER_ADMINISTRATOR,
)

from .world import ADMIN, MEMBER, OTHER_MEMBER, OTHER_REGION, OUTSIDER, REGION


def _statuses(client, detector_id: str) -> dict[str, str]:
    members = client.list_members(DetectorId=detector_id, OnlyAssociated="false")["Members"]
    return {member["AccountId"]: member["RelationshipStatus"] for member in members}


def _add(client, detector_id: str, account_id: str, email: str = "member@example.com") -> dict:
    return client.create_members(DetectorId=detector_id, AccountDetails=[{"AccountId": account_id, "Email": email}])


def test_created_member_waits_for_an_invitation(gd_client, admin_detector):
    client = gd_client(ADMIN)
    assert _add(client, admin_detector, MEMBER)["UnprocessedAccounts"] == []
    member = client.get_members(DetectorId=admin_detector, AccountIds=[MEMBER])["Members"][0]
    assert member["RelationshipStatus"] == "Created"
    assert member["MasterId"] == member["AdministratorId"] == ADMIN
    assert member["Email"] == "member@example.com"


def test_adding_the_same_member_twice_is_unprocessed(gd_client, admin_detector):
    client = gd_client(ADMIN)
    _add(client, admin_detector, MEMBER)
    assert _add(client, admin_detector, MEMBER)["UnprocessedAccounts"] == [
        {"AccountId": MEMBER, "Result": ALREADY_MEMBER}]


def test_invitation_with_the_root_email_marks_the_member_invited(state, gd_client, admin_detector):
    state.register_account(MEMBER, "member@example.com")
    client = gd_client(ADMIN)
    _add(client, admin_detector, MEMBER)
    assert client.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    assert _statuses(client, admin_detector) == {MEMBER: "Invited"}


def test_invitation_with_another_email_fails_verification(state, gd_client, admin_detector):
    # Verification is asynchronous (test_email_verification.py): the failure is a status, not UnprocessedAccounts.
    state.register_account(MEMBER, "root@workload.example.com")
    client = gd_client(ADMIN)
    _add(client, admin_detector, MEMBER, email="someone-else@example.com")
    assert client.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    assert _statuses(client, admin_detector) == {MEMBER: "EmailVerificationFailed"}


def test_unknown_accounts_accept_any_email(gd_client, admin_detector):
    client = gd_client(ADMIN)
    _add(client, admin_detector, OUTSIDER, email="whoever@example.com")
    assert client.invite_members(DetectorId=admin_detector, AccountIds=[OUTSIDER])["UnprocessedAccounts"] == []


def test_invitation_email_carries_the_message_unless_disabled(state, gd_client, admin_detector):
    client = gd_client(ADMIN)
    _add(client, admin_detector, MEMBER)
    _add(client, admin_detector, OTHER_MEMBER)
    client.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER], Message="Welcome aboard")
    client.invite_members(DetectorId=admin_detector, AccountIds=[OTHER_MEMBER], DisableEmailNotification=True)
    assert [(email["account_id"], email["message"]) for email in state.outbox] == [(MEMBER, "Welcome aboard")]


def test_inviting_a_non_member_or_an_invited_member_is_unprocessed(gd_client, admin_detector):
    client = gd_client(ADMIN)
    _add(client, admin_detector, MEMBER)
    client.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])
    unprocessed = client.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER, OUTSIDER])["UnprocessedAccounts"]
    assert unprocessed == [{"AccountId": MEMBER, "Result": ALREADY_INVITED},
                           {"AccountId": OUTSIDER, "Result": NOT_A_MEMBER}]


def test_member_of_another_administrator_cannot_be_invited(state, gd_client, admin_detector, enabled_member):
    rival = gd_client(OUTSIDER)
    rival_detector = rival.create_detector(Enable=True)["DetectorId"]
    _add(rival, rival_detector, MEMBER)
    unprocessed = rival.invite_members(DetectorId=rival_detector, AccountIds=[MEMBER])["UnprocessedAccounts"]
    assert unprocessed == [{"AccountId": MEMBER, "Result": OTHER_ADMINISTRATOR}]


def test_accepted_member_is_enabled_with_its_detector(gd_client, admin_detector, enabled_member):
    member = gd_client(ADMIN).get_members(DetectorId=admin_detector, AccountIds=[MEMBER])["Members"][0]
    assert member["RelationshipStatus"] == "Enabled"
    assert member["DetectorId"] == enabled_member


def test_list_members_shows_only_associated_members_by_default(gd_client, admin_detector, enabled_member):
    client = gd_client(ADMIN)
    _add(client, admin_detector, OTHER_MEMBER)
    assert [m["AccountId"] for m in client.list_members(DetectorId=admin_detector)["Members"]] == [MEMBER]
    assert _statuses(client, admin_detector) == {MEMBER: "Enabled", OTHER_MEMBER: "Created"}


def test_list_members_pages_through_many_members(gd_client, admin_detector):
    client = gd_client(ADMIN)
    accounts = [f"{600000000000 + index:012d}" for index in range(120)]
    for start in range(0, 120, 50):
        client.create_members(DetectorId=admin_detector, AccountDetails=[
            {"AccountId": account, "Email": f"{account}@example.com"} for account in accounts[start:start + 50]])
    pages = list(client.get_paginator("list_members").paginate(
        DetectorId=admin_detector, OnlyAssociated="false", PaginationConfig={"PageSize": 50}))
    assert [len(page["Members"]) for page in pages] == [50, 50, 20]
    assert [m["AccountId"] for page in pages for m in page["Members"]] == accounts


def test_members_are_per_region(gd_client, admin_detector):
    _add(gd_client(ADMIN), admin_detector, MEMBER)
    other_detector = gd_client(ADMIN, OTHER_REGION).create_detector(Enable=True)["DetectorId"]
    assert _statuses(gd_client(ADMIN, OTHER_REGION), other_detector) == {}


def test_get_members_reports_unknown_accounts_as_unprocessed(gd_client, admin_detector, enabled_member):
    answer = gd_client(ADMIN).get_members(DetectorId=admin_detector, AccountIds=[MEMBER, OUTSIDER])
    assert [m["AccountId"] for m in answer["Members"]] == [MEMBER]
    assert answer["UnprocessedAccounts"] == [{"AccountId": OUTSIDER, "Result": NOT_A_MEMBER}]


def test_stopping_monitoring_disables_the_member_and_starting_enables_it(gd_client, admin_detector,
                                                                         enabled_member):
    client = gd_client(ADMIN)
    client.stop_monitoring_members(DetectorId=admin_detector, AccountIds=[MEMBER])
    assert _statuses(client, admin_detector) == {MEMBER: "Disabled"}
    client.start_monitoring_members(DetectorId=admin_detector, AccountIds=[MEMBER])
    assert _statuses(client, admin_detector) == {MEMBER: "Enabled"}


def test_monitoring_a_member_that_never_joined_is_unprocessed(gd_client, admin_detector):
    client = gd_client(ADMIN)
    _add(client, admin_detector, MEMBER)
    unprocessed = client.stop_monitoring_members(DetectorId=admin_detector, AccountIds=[MEMBER])
    assert unprocessed["UnprocessedAccounts"] == [{"AccountId": MEMBER, "Result": NOT_ASSOCIATED}]


def test_disassociating_a_member_marks_it_removed_on_both_sides(gd_client, admin_detector, enabled_member):
    client = gd_client(ADMIN)
    assert client.disassociate_members(DetectorId=admin_detector, AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    assert _statuses(client, admin_detector) == {MEMBER: "Removed"}
    link = gd_client(MEMBER).get_administrator_account(DetectorId=enabled_member)["Administrator"]
    assert link["RelationshipStatus"] == "Removed"


def test_removed_member_can_be_invited_again(state, gd_client, admin_detector, enabled_member):
    client = gd_client(ADMIN)
    client.disassociate_members(DetectorId=admin_detector, AccountIds=[MEMBER])
    assert client.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    assert _statuses(client, admin_detector) == {MEMBER: "Invited"}


def test_deleting_a_member_drops_it_from_the_list(gd_client, admin_detector, enabled_member):
    client = gd_client(ADMIN)
    answer = client.delete_members(DetectorId=admin_detector, AccountIds=[MEMBER, OUTSIDER])
    assert answer["UnprocessedAccounts"] == [{"AccountId": OUTSIDER, "Result": NOT_A_MEMBER}]
    assert _statuses(client, admin_detector) == {}
    # API_GetAdministratorAccount: an account with no administrator gets "success (HTTP 200) but no content".
    assert "Administrator" not in gd_client(MEMBER).get_administrator_account(DetectorId=enabled_member)


def test_member_detectors_show_each_members_own_plans(state, gd_client, admin_detector, enabled_member):
    member = gd_client(MEMBER)
    member.update_detector(DetectorId=enabled_member, Features=[{"Name": "RDS_LOGIN_EVENTS", "Status": "DISABLED"},
                                                                {"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}])
    answer = gd_client(ADMIN).get_member_detectors(DetectorId=admin_detector, AccountIds=[MEMBER, OUTSIDER])
    configuration = answer["MemberDataSourceConfigurations"][0]
    features = {feature["Name"]: feature["Status"] for feature in configuration["Features"]}
    assert features["RDS_LOGIN_EVENTS"] == "DISABLED"
    assert configuration["DataSources"]["S3Logs"]["Status"] == "ENABLED"
    assert [entry["AccountId"] for entry in answer["UnprocessedAccounts"]] == [OUTSIDER]


def test_new_detectors_leave_some_plans_off_depending_on_the_account(state):
    plans = [state.create_detector(f"{700000000000 + index:012d}", REGION).features for index in range(20)]
    assert any("DISABLED" in detector.values() for detector in plans)
    assert all("ENABLED" in detector.values() for detector in plans)


def test_update_member_detectors_switches_a_members_plans_and_agents(gd_client, admin_detector, enabled_member):
    client = gd_client(ADMIN)
    answer = client.update_member_detectors(DetectorId=admin_detector, AccountIds=[MEMBER, OUTSIDER], Features=[
        {"Name": "RDS_LOGIN_EVENTS", "Status": "DISABLED"},
        {"Name": "RUNTIME_MONITORING", "Status": "ENABLED",
         "AdditionalConfiguration": [{"Name": "EKS_ADDON_MANAGEMENT", "Status": "ENABLED"}]}])  # fmt: skip

    assert answer["UnprocessedAccounts"] == [{"AccountId": OUTSIDER, "Result": NOT_A_MEMBER}]
    described = client.get_member_detectors(DetectorId=admin_detector, AccountIds=[MEMBER])
    features = {f["Name"]: f for f in described["MemberDataSourceConfigurations"][0]["Features"]}
    assert features["RDS_LOGIN_EVENTS"]["Status"] == "DISABLED"
    assert features["RUNTIME_MONITORING"]["Status"] == "ENABLED"
    assert {"Name": "EKS_ADDON_MANAGEMENT", "Status": "ENABLED"}.items() <= features["RUNTIME_MONITORING"][
        "AdditionalConfiguration"][0].items()  # fmt: skip


def test_update_member_detectors_takes_at_most_50_accounts_and_not_both_runtimes(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(botocore.exceptions.ClientError, match="BadRequest"):
        client.update_member_detectors(DetectorId=admin_detector, AccountIds=[f"{i:012d}" for i in range(51)],
                                       Features=[{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}])  # fmt: skip
    with pytest.raises(botocore.exceptions.ClientError, match="cannot both be specified"):
        client.update_member_detectors(DetectorId=admin_detector, AccountIds=[MEMBER], Features=[
            {"Name": "RUNTIME_MONITORING", "Status": "ENABLED"}, {"Name": "EKS_RUNTIME_MONITORING", "Status": "ENABLED"}])  # fmt: skip
