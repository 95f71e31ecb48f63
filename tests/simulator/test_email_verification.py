"""Invitations are asynchronous: GuardDuty verifies the member's root email before it sends the invitation.

Sources (quoted where the simulator implements them, gdsim/relationships.py `invite_members`):
- terraform-provider-aws, internal/service/guardduty/member.go, `inviteMemberWaiter`: after InviteMembers it
  polls GetMembers "until e-mail verification finishes", retrying while RelationshipStatus is "Created" or
  "EmailVerificationInProgress"; its `resourceMemberUpdate` quotes GuardDuty refusing an invited member:
  "The request is rejected because the current account has already invited or is already the GuardDuty
  master of the given member account ID."
- GuardDuty API reference, InviteMembers: a disassociated member's details are "retained ... so that you
  can invoke InviteMembers without the need to invoke CreateMembers again".
- mozilla/guardduty-multi-account-manager (invitation_manager.py) invites Created and Resigned members again;
  cloud-custodian#2344 and aws-samples/amazon-guardduty-multiaccount-scripts (enableguardduty.py): a failed
  verification persists until the member is deleted and created again with the right email.
- The simulator's own rule for failing: a root email that differs from the registered one, or any address
  in the reserved `.invalid` domain (RFC 2606 section 2).
"""

import pytest

from gdsim import SimulatorServer, SimulatorState
from gdsim.__main__ import parser
from gdsim.relationships import ALREADY_INVITED

from .world import ADMIN, MEMBER, OUTSIDER, REGION, START

DELAY = 30


@pytest.fixture
def slow(state):
    """GuardDuty takes DELAY seconds to verify an email (the clock stays frozen until a test moves it)."""
    state.email_verification_seconds = DELAY
    return state


def _member(client, detector_id: str, account_id: str = MEMBER) -> dict:
    return client.get_members(DetectorId=detector_id, AccountIds=[account_id])["Members"][0]


def _create_and_invite(client, detector_id: str, account_id: str = MEMBER, email: str = "member@example.com",
                       **options) -> list[dict]:
    client.create_members(DetectorId=detector_id, AccountDetails=[{"AccountId": account_id, "Email": email}])
    return client.invite_members(DetectorId=detector_id, AccountIds=[account_id], **options)["UnprocessedAccounts"]


def test_an_invited_member_is_verifying_its_email_until_guardduty_has_checked_it(slow, gd_client, admin_detector):
    slow.register_account(MEMBER, "member@example.com")
    admin, member = gd_client(ADMIN), gd_client(MEMBER)

    assert _create_and_invite(admin, admin_detector, Message="Welcome") == []

    verifying = _member(admin, admin_detector)
    assert verifying["RelationshipStatus"] == "EmailVerificationInProgress"
    assert "InvitedAt" not in verifying  # "The timestamp when the invitation was sent": not sent yet
    assert member.list_invitations()["Invitations"] == []
    assert slow.outbox == []

    slow.advance_clock(DELAY - 1)
    assert _member(admin, admin_detector)["RelationshipStatus"] == "EmailVerificationInProgress"
    slow.advance_clock(2)

    invited = _member(admin, admin_detector)
    assert invited["RelationshipStatus"] == "Invited"
    assert invited["InvitedAt"] == invited["UpdatedAt"] == "2025-06-01T12:00:30.000Z"  # when the check ended
    assert [i["AccountId"] for i in member.list_invitations()["Invitations"]] == [ADMIN]
    assert [(mail["to"], mail["message"]) for mail in slow.outbox] == [("member@example.com", "Welcome")]


def test_a_wrong_root_email_ends_in_email_verification_failed_not_in_unprocessed_accounts(slow, gd_client,
                                                                                           admin_detector):
    slow.register_account(MEMBER, "root@workload.example.com")
    admin = gd_client(ADMIN)

    assert _create_and_invite(admin, admin_detector, email="someone-else@example.com") == []
    assert _member(admin, admin_detector)["RelationshipStatus"] == "EmailVerificationInProgress"
    slow.advance_clock(DELAY)

    assert _member(admin, admin_detector)["RelationshipStatus"] == "EmailVerificationFailed"
    assert gd_client(MEMBER).list_invitations()["Invitations"] == []
    assert slow.outbox == []


def test_an_address_in_the_reserved_invalid_domain_never_verifies(slow, gd_client, admin_detector):
    admin = gd_client(ADMIN)
    _create_and_invite(admin, admin_detector, account_id=OUTSIDER, email="security@corp.invalid")
    slow.advance_clock(DELAY)
    assert _member(admin, admin_detector, OUTSIDER)["RelationshipStatus"] == "EmailVerificationFailed"


def test_accepting_is_impossible_while_the_email_is_being_verified(slow, gd_client, admin_detector):
    admin, member = gd_client(ADMIN), gd_client(MEMBER)
    member_detector = member.create_detector(Enable=True)["DetectorId"]
    _create_and_invite(admin, admin_detector)

    assert member.get_invitations_count()["InvitationsCount"] == 0
    with pytest.raises(ValueError, match="no pending invitation"):
        slow.accept_invitation(MEMBER, REGION)
    slow.advance_clock(DELAY)
    invitation = member.list_invitations()["Invitations"][0]
    member.accept_administrator_invitation(DetectorId=member_detector, AdministratorId=ADMIN,
                                           InvitationId=invitation["InvitationId"])
    assert _member(admin, admin_detector)["RelationshipStatus"] == "Enabled"


def test_inviting_again_during_verification_or_once_invited_is_refused_as_already_invited(slow, gd_client,
                                                                                          admin_detector):
    admin = gd_client(ADMIN)
    _create_and_invite(admin, admin_detector)
    again = admin.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])["UnprocessedAccounts"]
    assert again == [{"AccountId": MEMBER, "Result": ALREADY_INVITED}]

    slow.advance_clock(DELAY)
    again = admin.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])["UnprocessedAccounts"]
    assert again == [{"AccountId": MEMBER, "Result": ALREADY_INVITED}]
    assert len(slow.outbox) == 1


def test_a_failed_verification_persists_until_the_member_is_deleted_and_created_with_the_right_email(
        slow, gd_client, admin_detector):
    slow.register_account(MEMBER, "root@workload.example.com")
    admin = gd_client(ADMIN)
    _create_and_invite(admin, admin_detector, email="typo@workload.example.com")
    slow.advance_clock(DELAY)

    # InviteMembers is taken, but it checks the email the member was created with: it fails again.
    assert admin.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    assert _member(admin, admin_detector)["RelationshipStatus"] == "EmailVerificationInProgress"
    slow.advance_clock(DELAY)
    assert _member(admin, admin_detector)["RelationshipStatus"] == "EmailVerificationFailed"

    admin.delete_members(DetectorId=admin_detector, AccountIds=[MEMBER])
    assert _create_and_invite(admin, admin_detector, email="root@workload.example.com") == []
    slow.advance_clock(DELAY)
    assert _member(admin, admin_detector)["RelationshipStatus"] == "Invited"


def test_disassociating_an_invited_member_then_inviting_it_sends_a_new_invitation(slow, gd_client, admin_detector):
    admin, member = gd_client(ADMIN), gd_client(MEMBER)
    _create_and_invite(admin, admin_detector)
    slow.advance_clock(DELAY)
    first = member.list_invitations()["Invitations"][0]["InvitationId"]

    assert admin.disassociate_members(DetectorId=admin_detector, AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    assert _member(admin, admin_detector)["RelationshipStatus"] == "Removed"
    assert member.list_invitations()["Invitations"] == []
    # No CreateMembers needed: the member's details were retained.
    assert admin.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    slow.advance_clock(DELAY)

    assert _member(admin, admin_detector)["RelationshipStatus"] == "Invited"
    assert [i["InvitationId"] for i in member.list_invitations()["Invitations"]] != [first]
    assert len(slow.outbox) == 2


def test_a_resigned_member_can_be_invited_again(state, gd_client, admin_detector, enabled_member):
    admin = gd_client(ADMIN)
    state.resign(MEMBER, REGION)
    assert _member(admin, admin_detector)["RelationshipStatus"] == "Resigned"

    assert admin.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    assert _member(admin, admin_detector)["RelationshipStatus"] == "Invited"  # no delay set in this test


def test_the_control_api_sets_the_verification_delay(control, state, gd_client, admin_detector):
    assert control("POST", "/_sim/invitations/verification", {"seconds": 45})[1] == {"seconds": 45.0, "verifying": 0}
    _create_and_invite(gd_client(ADMIN), admin_detector)
    assert control("GET", "/_sim/invitations/verification")[1] == {"seconds": 45.0, "verifying": 1}
    control("POST", "/_sim/clock", {"advance_seconds": 45})
    assert control("GET", "/_sim/invitations/verification")[1] == {"seconds": 45.0, "verifying": 0}
    assert state.member_status(ADMIN, MEMBER, REGION) == "Invited"

    status, body = control("POST", "/_sim/invitations/verification", {"seconds": -1})
    assert status == 400 and "between 0 and 86400" in body["error"]
    control("POST", "/_sim/reset", {})
    assert state.email_verification_seconds == 0


def test_python_m_gdsim_verifies_emails_in_a_few_seconds_unless_told_otherwise():
    assert parser().parse_args([]).email_verification_seconds == 5.0
    assert parser().parse_args(["--email-verification-seconds", "0"]).email_verification_seconds == 0.0
    with pytest.raises(SystemExit):
        parser().parse_args(["--email-verification-seconds", "-3"])


def test_a_verification_under_way_survives_a_restart(tmp_path):
    path = tmp_path / "gdsim.sqlite3"
    first = SimulatorState(persist_path=path, now=START, email_verification_seconds=DELAY)
    first.ensure_detector(ADMIN, REGION)
    from gdsim import relationships

    relationships.create_members(first, ADMIN, REGION, [{"AccountId": MEMBER, "Email": "m@example.com"}])
    relationships.invite_members(first, ADMIN, REGION, [MEMBER])
    first.close()

    second = SimulatorState(persist_path=path)
    with SimulatorServer(second):
        assert second.member_status(ADMIN, MEMBER, REGION) == "EmailVerificationInProgress"
        second.advance_clock(DELAY)
        assert second.member_status(ADMIN, MEMBER, REGION) == "Invited"
    second.close()
