"""The member's side: invitations, accepting one administrator, and leaving."""

import pytest

from .world import ADMIN, MEMBER, OUTSIDER, REGION


@pytest.fixture
def invited(state, gd_client, admin_detector) -> str:
    """ADMIN has invited MEMBER, which has a detector; returns the member's detector id."""
    admin = gd_client(ADMIN)
    admin.create_members(DetectorId=admin_detector, AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    admin.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])
    return gd_client(MEMBER).create_detector(Enable=True)["DetectorId"]


def test_member_sees_and_counts_its_pending_invitation(gd_client, invited):
    member = gd_client(MEMBER)
    invitations = member.list_invitations()["Invitations"]
    assert [(i["AccountId"], i["RelationshipStatus"]) for i in invitations] == [(ADMIN, "Invited")]
    assert member.get_invitations_count()["InvitationsCount"] == 1


def test_invitations_are_per_region(gd_client, invited):
    assert gd_client(MEMBER, "eu-west-1").list_invitations()["Invitations"] == []


def test_legacy_accept_invitation_enables_the_member(gd_client, admin_detector, invited):
    member = gd_client(MEMBER)
    invitation_id = member.list_invitations()["Invitations"][0]["InvitationId"]
    member.accept_invitation(DetectorId=invited, MasterId=ADMIN, InvitationId=invitation_id)
    assert member.get_master_account(DetectorId=invited)["Master"]["AccountId"] == ADMIN
    assert member.get_invitations_count()["InvitationsCount"] == 0


def test_accepting_with_a_wrong_invitation_id_is_refused(gd_client, invited):
    member = gd_client(MEMBER)
    with pytest.raises(member.exceptions.BadRequestException, match="invitationId is not valid"):
        member.accept_administrator_invitation(DetectorId=invited, AdministratorId=ADMIN, InvitationId="f" * 32)


def test_an_account_accepts_only_one_administrator(gd_client, invited):
    member = gd_client(MEMBER)
    rival = gd_client(OUTSIDER)
    rival_detector = rival.create_detector(Enable=True)["DetectorId"]
    rival.create_members(DetectorId=rival_detector, AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    rival.invite_members(DetectorId=rival_detector, AccountIds=[MEMBER])
    invitations = {i["AccountId"]: i["InvitationId"] for i in member.list_invitations()["Invitations"]}
    member.accept_administrator_invitation(DetectorId=invited, AdministratorId=ADMIN, InvitationId=invitations[ADMIN])
    with pytest.raises(member.exceptions.BadRequestException, match="only one administrator"):
        member.accept_administrator_invitation(DetectorId=invited, AdministratorId=OUTSIDER,
                                               InvitationId=invitations[OUTSIDER])


def test_member_without_an_administrator_gets_an_empty_answer(gd_client):
    member = gd_client(MEMBER)
    detector_id = member.create_detector(Enable=True)["DetectorId"]
    # API_GetAdministratorAccount: an individual account gets "success (HTTP 200) but no content".
    assert "Administrator" not in member.get_administrator_account(DetectorId=detector_id)


def test_declining_removes_the_invitation(gd_client, invited):
    member = gd_client(MEMBER)
    assert member.decline_invitations(AccountIds=[ADMIN])["UnprocessedAccounts"] == []
    assert member.list_invitations()["Invitations"] == []


def test_deleting_an_invitation_nobody_sent_is_unprocessed(gd_client, invited):
    member = gd_client(MEMBER)
    answer = member.delete_invitations(AccountIds=[ADMIN, OUTSIDER])
    assert [entry["AccountId"] for entry in answer["UnprocessedAccounts"]] == [OUTSIDER]
    assert member.get_invitations_count()["InvitationsCount"] == 0


def test_legacy_disassociate_from_master_resigns(gd_client, admin_detector, enabled_member):
    gd_client(MEMBER).disassociate_from_master_account(DetectorId=enabled_member)
    member = gd_client(ADMIN).get_members(DetectorId=admin_detector, AccountIds=[MEMBER])["Members"][0]
    assert member["RelationshipStatus"] == "Resigned"


def test_leaving_without_an_administrator_is_refused(gd_client):
    member = gd_client(MEMBER)
    detector_id = member.create_detector(Enable=True)["DetectorId"]
    with pytest.raises(member.exceptions.BadRequestException, match="not associated with an administrator"):
        member.disassociate_from_administrator_account(DetectorId=detector_id)


def test_state_api_accepts_on_the_members_behalf_creating_its_detector(state, gd_client, admin_detector):
    admin = gd_client(ADMIN)
    admin.create_members(DetectorId=admin_detector, AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    admin.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])
    state.accept_invitation(MEMBER, REGION)
    assert state.member_status(ADMIN, MEMBER, REGION) == "Enabled"
    assert state.detector_id(MEMBER, REGION) is not None
