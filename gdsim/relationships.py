"""Administrator/member relationships: the transitions GuardDuty's member operations make.

Created -> Invited (InviteMembers, after the root email checks out; EmailVerificationFailed when
it does not) -> Enabled (the member accepts) <-> Disabled (Stop/StartMonitoringMembers);
Removed when the administrator disassociates, Resigned when the member does. Organization
accounts added by the delegated administrator go straight to Enabled.

Per-account failures of batch calls come back as UnprocessedAccounts entries, never exceptions.
A member that resigns shows `Resigned` in the administrator's ListMembers/GetMembers; GuardDuty raises no
finding for it (no finding type for it exists in the User Guide's finding-type list), so the administrator's
signal is the relationship status, which GuardWatch's member sync reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import BadRequest
from .records import ASSOCIATED, AdministratorLink, Invitation, Member, iso

if TYPE_CHECKING:
    from .state import SimulatorState

NOT_ASSOCIATED = ("The request is rejected because the given account ID is not an associated member of account "
                  "the current account.")
NOT_A_MEMBER = "The request is rejected because the given account ID is not a member of the current account."
ALREADY_MEMBER = ("The request is rejected because the given account ID is already a member or associated member "
                  "of the current account.")
ALREADY_INVITED = ("The request is rejected because the current account has already invited or is already the "
                   "GuardDuty master of the given member account ID.")
OTHER_ADMINISTRATOR = ("The request is rejected because the given account ID is already associated with another "
                       "administrator account.")
EMAIL_MISMATCH = ("The request is rejected because the email address provided does not match the root email "
                  "address of the given account ID.")
SELF_MEMBER = "The request is rejected because the current account cannot be a member of itself."
MEMBER_LIMIT = "The request is rejected because the current account has reached its limit of member accounts."
NO_INVITATION = "The request is rejected because the given account ID has not invited the current account."


def _unprocessed(account_id: str, result: str) -> dict[str, str]:
    return {"AccountId": account_id, "Result": result}


def _other_administrator(state: SimulatorState, member_id: str, region: str, administrator_id: str) -> bool:
    current = state.administrator_of(member_id, region)
    return current is not None and current != administrator_id


def _is_delegated_admin(state: SimulatorState, account_id: str, region: str) -> bool:
    return state.delegated_admins.get(region) == account_id


def create_members(state: SimulatorState, administrator_id: str, region: str,
                   details: list[dict[str, str]]) -> list[dict[str, str]]:
    """CreateMembers: add accounts as Created (organization accounts of a delegated admin: Enabled)."""
    scope = state.scope(administrator_id, region)
    unprocessed = []
    stamp = iso(state.now())
    for detail in details:
        account_id, email = detail["AccountId"], detail["Email"]
        if account_id == administrator_id:
            unprocessed.append(_unprocessed(account_id, SELF_MEMBER))
        elif account_id in scope.members:
            unprocessed.append(_unprocessed(account_id, ALREADY_MEMBER))
        elif len(scope.members) >= state.member_account_limit:
            unprocessed.append(_unprocessed(account_id, MEMBER_LIMIT))
        elif _is_delegated_admin(state, administrator_id, region) and _in_organization(state, account_id):
            if _other_administrator(state, account_id, region, administrator_id):
                unprocessed.append(_unprocessed(account_id, OTHER_ADMINISTRATOR))
            else:
                enable_organization_member(state, administrator_id, region, account_id, email=email)
        else:
            scope.members[account_id] = Member(account_id=account_id, email=email, relationship_status="Created",
                                               updated_at=stamp)
    return unprocessed


def _in_organization(state: SimulatorState, account_id: str) -> bool:
    account = state.accounts.get(account_id)
    return bool(account and account.in_organization)


def enable_organization_member(state: SimulatorState, administrator_id: str, region: str, account_id: str, *,
                               email: str | None = None) -> Member:
    """Make an organization account an Enabled member, enabling GuardDuty for it as AWS does."""
    scope = state.scope(administrator_id, region)
    stamp = iso(state.now())
    account = state.accounts.get(account_id)
    detector_id = state.ensure_detector(account_id, region)
    invitation_id = f"{state.rng.getrandbits(128):032x}"
    member = Member(account_id=account_id, email=email or (account and account.email) or f"{account_id}@example.com",
                    relationship_status="Enabled", updated_at=stamp, invited_at=stamp, detector_id=detector_id,
                    invitation_id=invitation_id, via_organization=True)
    scope.members[account_id] = member
    state.scope(account_id, region).administrator = AdministratorLink(
        account_id=administrator_id, invitation_id=invitation_id, relationship_status="Enabled", invited_at=stamp)
    return member


def auto_enable_new_account(state: SimulatorState, account_id: str) -> None:
    """An account just joined the organization: delegated admins set to NEW or ALL add it."""
    for region, administrator_id in state.delegated_admins.items():
        configuration = state.scope(administrator_id, region).organization
        members = state.scope(administrator_id, region).members
        if (configuration.auto_enable_members in ("NEW", "ALL") and account_id != administrator_id
                and account_id not in members and state.administrator_of(account_id, region) is None):
            enable_organization_member(state, administrator_id, region, account_id)


def enable_all_organization_accounts(state: SimulatorState, administrator_id: str, region: str) -> None:
    """AutoEnableOrganizationMembers=ALL: every organization account becomes an Enabled member."""
    members = state.scope(administrator_id, region).members
    for account in state.organization_accounts():
        existing = members.get(account.account_id)
        if account.account_id == administrator_id or (existing and existing.relationship_status == "Enabled"):
            continue
        if state.administrator_of(account.account_id, region) is None:
            enable_organization_member(state, administrator_id, region, account.account_id)


def invite_members(state: SimulatorState, administrator_id: str, region: str, account_ids: list[str], *,
                   message: str = "", disable_email: bool = False) -> list[dict[str, str]]:
    """InviteMembers: check the root email, then send the invitation (Invited)."""
    scope = state.scope(administrator_id, region)
    unprocessed = []
    stamp = iso(state.now())
    for account_id in account_ids:
        member = scope.members.get(account_id)
        if member is None:
            unprocessed.append(_unprocessed(account_id, NOT_A_MEMBER))
            continue
        if member.relationship_status in ("Invited", "Enabled", "Disabled"):
            unprocessed.append(_unprocessed(account_id, ALREADY_INVITED))
            continue
        if _other_administrator(state, account_id, region, administrator_id):
            unprocessed.append(_unprocessed(account_id, OTHER_ADMINISTRATOR))
            continue
        account = state.accounts.get(account_id)
        if account and account.email and account.email.lower() != member.email.lower():
            member.relationship_status = "EmailVerificationFailed"
            member.updated_at = stamp
            unprocessed.append(_unprocessed(account_id, EMAIL_MISMATCH))
            continue
        invitation_id = f"{state.rng.getrandbits(128):032x}"
        member.relationship_status = "Invited"
        member.invited_at = member.updated_at = stamp
        member.invitation_id = invitation_id
        state.scope(account_id, region).invitations[administrator_id] = Invitation(
            account_id=administrator_id, invitation_id=invitation_id, invited_at=stamp, message=message)
        if not disable_email:
            state.outbox.append({"to": member.email, "account_id": account_id, "administrator_id": administrator_id,
                                 "region": region, "message": message, "sent_at": stamp})
    return unprocessed


def accept_invitation(state: SimulatorState, member_id: str, region: str, administrator_id: str,
                      invitation_id: str) -> None:
    """AcceptAdministratorInvitation: the member joins (Enabled). Raises BadRequest when it cannot."""
    scope = state.scope(member_id, region)
    invitation = scope.invitations.get(administrator_id)
    if invitation is None or invitation.invitation_id != invitation_id:
        raise BadRequest("The request is rejected because the input invitationId is not valid for the given "
                         "administrator account ID.")
    if _other_administrator(state, member_id, region, administrator_id):
        raise BadRequest("The request is rejected because the current account already has an administrator "
                         "account; an account can have only one administrator.")
    member = state.scope(administrator_id, region).members.get(member_id)
    if member is None or member.relationship_status != "Invited":
        raise BadRequest("The request is rejected because the invitation is no longer valid.")
    stamp = iso(state.now())
    member.relationship_status = "Enabled"
    member.updated_at = stamp
    member.detector_id = scope.detector.detector_id if scope.detector else None
    scope.administrator = AdministratorLink(account_id=administrator_id, invitation_id=invitation_id,
                                            relationship_status="Enabled", invited_at=invitation.invited_at)
    del scope.invitations[administrator_id]
    _follow_publishing_frequency(state, administrator_id, member_id, region)


def _follow_publishing_frequency(state: SimulatorState, administrator_id: str, member_id: str, region: str) -> None:
    """Members publish findings at the frequency their administrator set."""
    administrator = state.scope(administrator_id, region).detector
    member = state.scope(member_id, region).detector
    if administrator and member:
        member.finding_publishing_frequency = administrator.finding_publishing_frequency


def remove_invitations(state: SimulatorState, member_id: str, region: str,
                       administrator_ids: list[str]) -> list[dict[str, str]]:
    """DeclineInvitations / DeleteInvitations: forget pending invitations."""
    scope = state.scope(member_id, region)
    unprocessed = []
    for administrator_id in administrator_ids:
        if scope.invitations.pop(administrator_id, None) is None:
            unprocessed.append(_unprocessed(administrator_id, NO_INVITATION))
    return unprocessed


def disassociate_members(state: SimulatorState, administrator_id: str, region: str,
                         account_ids: list[str]) -> list[dict[str, str]]:
    """DisassociateMembers: the administrator ends relationships (Removed)."""
    scope = state.scope(administrator_id, region)
    unprocessed = []
    stamp = iso(state.now())
    for account_id in account_ids:
        member = scope.members.get(account_id)
        if member is None or member.relationship_status not in (*ASSOCIATED, "Invited"):
            unprocessed.append(_unprocessed(account_id, NOT_ASSOCIATED))
            continue
        _end_relationship(state, administrator_id, account_id, region, "Removed")
        member.relationship_status = "Removed"
        member.updated_at = stamp
    return unprocessed


def _end_relationship(state: SimulatorState, administrator_id: str, member_id: str, region: str, status: str) -> None:
    member_scope = state.scope(member_id, region)
    member_scope.invitations.pop(administrator_id, None)
    link = member_scope.administrator
    if link is not None and link.account_id == administrator_id:
        link.relationship_status = status


def delete_members(state: SimulatorState, administrator_id: str, region: str,
                   account_ids: list[str]) -> list[dict[str, str]]:
    """DeleteMembers: drop members from the list (disassociating them first)."""
    scope = state.scope(administrator_id, region)
    unprocessed = []
    for account_id in account_ids:
        if account_id not in scope.members:
            unprocessed.append(_unprocessed(account_id, NOT_A_MEMBER))
            continue
        _end_relationship(state, administrator_id, account_id, region, "Removed")
        member_scope = state.scope(account_id, region)
        if member_scope.administrator and member_scope.administrator.account_id == administrator_id:
            member_scope.administrator = None
        del scope.members[account_id]
    return unprocessed


def set_monitoring(state: SimulatorState, administrator_id: str, region: str, account_ids: list[str], *,
                   enabled: bool) -> list[dict[str, str]]:
    """Start/StopMonitoringMembers: Enabled <-> Disabled."""
    scope = state.scope(administrator_id, region)
    unprocessed = []
    stamp = iso(state.now())
    status = "Enabled" if enabled else "Disabled"
    for account_id in account_ids:
        member = scope.members.get(account_id)
        if member is None or member.relationship_status not in ASSOCIATED:
            unprocessed.append(_unprocessed(account_id, NOT_ASSOCIATED))
            continue
        if member.relationship_status != status:
            member.relationship_status = status
            member.updated_at = stamp
            _end_relationship(state, administrator_id, account_id, region, status)
    return unprocessed


def disassociate_from_administrator(state: SimulatorState, member_id: str, region: str) -> None:
    """The member leaves: Resigned on both sides (API reference, DisassociateFromAdministratorAccount; the
    administrator's Member.RelationshipStatus). No finding is raised."""
    scope = state.scope(member_id, region)
    link = scope.administrator
    if link is None or link.relationship_status not in ASSOCIATED:
        raise BadRequest("The request is rejected because the current account is not associated with an "
                         "administrator account.")
    administrator_id = link.account_id
    link.relationship_status = "Resigned"
    member = state.scope(administrator_id, region).members.get(member_id)
    if member is not None:
        member.relationship_status = "Resigned"
        member.updated_at = iso(state.now())
