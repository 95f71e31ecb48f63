"""Administrator/member relationships: the transitions GuardDuty's member operations make.

Created -> EmailVerificationInProgress (InviteMembers) -> Invited once GuardDuty has checked the
root email, or EmailVerificationFailed when it does not match -> Enabled (the member accepts) <->
Disabled (Stop/StartMonitoringMembers); Removed when the administrator disassociates, Resigned when
the member does. Organization accounts added by the delegated administrator go straight to Enabled.

Email verification is asynchronous, as in GuardDuty: InviteMembers answers at once and the member
shows EmailVerificationInProgress until the check ends `SimulatorState.email_verification_seconds`
later (see `invite_members` for the sources). The simulator's verification rule: an email fails
when the account's registered root email differs (case-insensitively), and any address in the
reserved `.invalid` top-level domain (RFC 2606, RFC 6761: "guaranteed to be invalid") always fails,
so a demo user can provoke EmailVerificationFailed for an account the simulator does not know.

Per-account failures of batch calls come back as UnprocessedAccounts entries, never exceptions.
A member that resigns shows `Resigned` in the administrator's ListMembers/GetMembers; GuardDuty raises no
finding for it (no finding type for it exists in the User Guide's finding-type list), so the administrator's
signal is the relationship status, which GuardWatch's member sync reads.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from .errors import BadRequest
from .records import ASSOCIATED, AdministratorLink, Invitation, Member, iso, parse_iso

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
SELF_MEMBER = "The request is rejected because the current account cannot be a member of itself."
MEMBER_LIMIT = "The request is rejected because the current account has reached its limit of member accounts."
NO_INVITATION = "The request is rejected because the given account ID has not invited the current account."

# Organizations mode. AWS documents each refusal but publishes no wording; the texts follow its "The request is
# rejected because ..." messages, and each comes back per account in UnprocessedAccounts like every other
# per-account refusal of these batch calls.
# botocore guardduty service-2.json, DisassociateMembers / StopMonitoringMembers / DeleteMembers: "With
# autoEnableOrganizationMembers configuration for your organization set to ALL, you'll receive an error if you
# attempt to disassociate a member account before removing them from your organization" (…"stop monitoring the
# member accounts in your organization", …"disable GuardDuty for a member account in your organization").
AUTO_ENABLE_ALL = ("The request is rejected because autoEnableOrganizationMembers is ALL: an account of the "
                   "organization stays a member until it leaves the organization or the setting changes.")
# GuardDuty User Guide, "Deleting member accounts from GuardDuty organization"
# (https://docs.aws.amazon.com/guardduty/latest/ug/delete-member-accounts-guardduty-organization.html): "after you
# have disassociated a member account ... you can delete that member account"; the console deletes only accounts
# of Type "Via Organizations" whose Status is "Removed (disassociated)".
DISASSOCIATE_FIRST = ("The request is rejected because the given account ID was added through the organization "
                      "and is still associated: disassociate it before deleting it.")
# botocore guardduty service-2.json, DisassociateMembers: "When the member accounts added through Organizations are
# later disassociated, you (administrator) can't invite them by calling the InviteMembers API. You can create an
# association with these member accounts again only by calling the CreateMembers API."
ORGANIZATION_NOT_INVITED = ("The request is rejected because the given account ID was added through the "
                            "organization: add it again with CreateMembers instead of inviting it.")
# The organization's management account is not enabled by CreateMembers: the real message, quoted in
# cloudposse/terraform-aws-components#822 ("error designating guardduty administrator account members").
MANAGEMENT_FIRST = ("Operation failed because your organization master must first enable GuardDuty to be added "
                    "as a member")


def listed(member: Member | None) -> bool:
    """Whether a read of the member list shows `member` yet; each read that leaves it out counts down."""
    if member is None:
        return False
    if member.hidden_reads > 0:
        member.hidden_reads -= 1
        return False
    return True


def _unprocessed(account_id: str, result: str) -> dict[str, str]:
    return {"AccountId": account_id, "Result": result}


def _other_administrator(state: SimulatorState, member_id: str, region: str, administrator_id: str) -> bool:
    current = state.administrator_of(member_id, region)
    return current is not None and current != administrator_id


def _is_delegated_admin(state: SimulatorState, account_id: str, region: str) -> bool:
    return state.delegated_admins.get(region) == account_id


def _held_by_all(state: SimulatorState, administrator_id: str, region: str, account_id: str) -> bool:
    """AutoEnableOrganizationMembers=ALL keeps every organization account a member of the delegated admin."""
    return (_is_delegated_admin(state, administrator_id, region) and _in_organization(state, account_id)
            and state.scope(administrator_id, region).organization.auto_enable_members == "ALL")


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
        elif account_id in scope.members and not _organization_member_removed(state, administrator_id, region,
                                                                               scope.members[account_id]):
            unprocessed.append(_unprocessed(account_id, ALREADY_MEMBER))
        elif account_id not in scope.members and len(scope.members) >= state.member_account_limit:
            unprocessed.append(_unprocessed(account_id, MEMBER_LIMIT))
        elif _is_delegated_admin(state, administrator_id, region) and _in_organization(state, account_id):
            if _other_administrator(state, account_id, region, administrator_id):
                unprocessed.append(_unprocessed(account_id, OTHER_ADMINISTRATOR))
            elif account_id == state.management_account_id and state.detector_id(account_id, region) is None:
                unprocessed.append(_unprocessed(account_id, MANAGEMENT_FIRST))
            else:
                enable_organization_member(state, administrator_id, region, account_id, email=email)
        else:
            scope.members[account_id] = Member(account_id=account_id, email=email, relationship_status="Created",
                                               updated_at=stamp, hidden_reads=state.new_member_hidden_reads)
    return unprocessed


def _in_organization(state: SimulatorState, account_id: str) -> bool:
    account = state.accounts.get(account_id)
    return bool(account and account.in_organization)


def _organization_member_removed(state: SimulatorState, administrator_id: str, region: str, member: Member) -> bool:
    """A disassociated organization member, which CreateMembers (only) associates again."""
    return (member.via_organization and member.relationship_status == "Removed"
            and _is_delegated_admin(state, administrator_id, region) and _in_organization(state, member.account_id))


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
                    invitation_id=invitation_id, via_organization=True, hidden_reads=state.new_member_hidden_reads)
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


# InviteMembers on a member in one of these statuses is refused "already invited": for Invited the
# text is GuardDuty's own, quoted from a real response in terraform-provider-aws
# (internal/service/guardduty/member.go, resourceMemberUpdate: {"unprocessedAccounts":[{"result":"The
# request is rejected because the current account has already invited or is already the GuardDuty
# master of the given member account ID."...}]}); Enabled and Disabled members are associated already.
# EmailVerificationInProgress is an invitation under way: no source says otherwise, so it is refused
# the same way (terraform-provider-aws counts it as invited: member.go resourceMemberRead sets
# invite=true for "Disabled", "Enabled", "Invited", "EmailVerificationInProgress").
ALREADY_INVITED_STATUSES = ("Invited", "EmailVerificationInProgress", "Enabled", "Disabled")
# The reserved top-level domain whose addresses never verify (RFC 2606 section 2, RFC 6761 section 6.4).
INVALID_DOMAIN = ".invalid"


def invite_members(state: SimulatorState, administrator_id: str, region: str, account_ids: list[str], *,
                   message: str = "", disable_email: bool = False) -> list[dict[str, str]]:
    """InviteMembers: start the email verification (EmailVerificationInProgress); the invitation follows it.

    GuardDuty verifies the member's email asynchronously before it sends the invitation: the member
    goes Created -> EmailVerificationInProgress -> Invited, or EmailVerificationFailed, and callers poll
    GetMembers for the outcome (terraform-provider-aws internal/service/guardduty/member.go,
    inviteMemberWaiter: "wait until e-mail verification finishes", retrying while the status is
    "Created" or "EmailVerificationInProgress"; GUARDDUTY.md: verification runs in us-east-1). So
    InviteMembers itself reports no email mismatch in UnprocessedAccounts: the status does.

    Which statuses may be invited again:
    - Removed: yes. API reference, InviteMembers: after DisassociateMembers "the details of the member
      account obtained by invoking CreateMembers, including the associated email addresses, will be
      retained. This is done so that you can invoke InviteMembers without the need to invoke
      CreateMembers again." (https://docs.aws.amazon.com/guardduty/latest/APIReference/API_InviteMembers.html)
    - Resigned: yes. Tools run against GuardDuty invite Resigned members again
      (mozilla/guardduty-multi-account-manager, lambda_functions/invitation_manager.py:
      `invite_members` for get_members('CREATED', 'RESIGNED')).
    - EmailVerificationFailed: the call is taken, but the verification runs again on the email the
      member was created with, so it fails again: the error is "persistent, where we have to delete the
      member" (cloud-custodian/cloud-custodian#2344); AWS's own script disassociates, deletes and
      creates the member again (aws-samples/amazon-guardduty-multiaccount-scripts, enableguardduty.py:
      "Check if Verification Was failed before, delete and add it again").
    - Invited, EmailVerificationInProgress, Enabled, Disabled: refused (ALREADY_INVITED_STATUSES).
    """
    scope = state.scope(administrator_id, region)
    unprocessed = []
    now = state.now()
    stamp = iso(now)
    due = iso(now + timedelta(seconds=state.email_verification_seconds))
    for account_id in account_ids:
        member = scope.members.get(account_id)
        if member is None:
            unprocessed.append(_unprocessed(account_id, NOT_A_MEMBER))
            continue
        if member.relationship_status in ALREADY_INVITED_STATUSES:
            unprocessed.append(_unprocessed(account_id, ALREADY_INVITED))
            continue
        if member.via_organization:
            unprocessed.append(_unprocessed(account_id, ORGANIZATION_NOT_INVITED))
            continue
        if _other_administrator(state, account_id, region, administrator_id):
            unprocessed.append(_unprocessed(account_id, OTHER_ADMINISTRATOR))
            continue
        member.relationship_status = "EmailVerificationInProgress"
        member.updated_at = stamp
        member.verification_due = due
        member.invitation_message = message
        member.invitation_email = not disable_email
        state.verifying.add((administrator_id, region, account_id))
    state.settle_invitations()  # a zero delay ends the check now; InviteMembers still answered first
    return unprocessed


def email_verifies(state: SimulatorState, account_id: str, email: str) -> bool:
    """The simulator's verification rule: the registered root email if known; never a `.invalid` address."""
    if email.strip().lower().endswith(INVALID_DOMAIN):
        return False
    account = state.accounts.get(account_id)
    return not (account and account.email and account.email.lower() != email.lower())


def settle_invitations(state: SimulatorState) -> int:
    """End every email verification that is due: send the invitation (Invited) or fail it; returns how many.

    Each member is stamped with the moment its check ended (never after now), not with the moment
    a later request happened to notice it.
    """
    if not state.verifying:
        return 0
    now = state.now()
    due = []
    for key in list(state.verifying):
        administrator_id, region, account_id = key
        member = state.scope(administrator_id, region).members.get(account_id)
        if member is None or member.relationship_status != "EmailVerificationInProgress" or not member.verification_due:
            state.verifying.discard(key)  # deleted or moved on meanwhile
            continue
        if parse_iso(member.verification_due) <= now:
            due.append((member.verification_due, administrator_id, region, member))
    for _at, administrator_id, region, member in sorted(due, key=lambda item: (item[0], item[1], item[2],
                                                                               item[3].account_id)):
        _verification_ends(state, administrator_id, region, member)
        state.verifying.discard((administrator_id, region, member.account_id))
    return len(due)


def _verification_ends(state: SimulatorState, administrator_id: str, region: str, member: Member) -> None:
    stamp, member.verification_due = member.verification_due, None
    member.updated_at = stamp
    if not email_verifies(state, member.account_id, member.email):
        member.relationship_status = "EmailVerificationFailed"
        return
    invitation_id = f"{state.rng.getrandbits(128):032x}"
    member.relationship_status = "Invited"
    member.invited_at = stamp
    member.invitation_id = invitation_id
    state.scope(member.account_id, region).invitations[administrator_id] = Invitation(
        account_id=administrator_id, invitation_id=invitation_id, invited_at=stamp, message=member.invitation_message)
    if member.invitation_email:
        state.outbox.append({"to": member.email, "account_id": member.account_id, "administrator_id": administrator_id,
                             "region": region, "message": member.invitation_message, "sent_at": stamp})


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
        if _held_by_all(state, administrator_id, region, account_id):
            unprocessed.append(_unprocessed(account_id, AUTO_ENABLE_ALL))
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
        member = scope.members.get(account_id)
        if member is None:
            unprocessed.append(_unprocessed(account_id, NOT_A_MEMBER))
            continue
        if _held_by_all(state, administrator_id, region, account_id):
            unprocessed.append(_unprocessed(account_id, AUTO_ENABLE_ALL))
            continue
        if member.via_organization and member.relationship_status != "Removed":
            unprocessed.append(_unprocessed(account_id, DISASSOCIATE_FIRST))
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
        if not enabled and _held_by_all(state, administrator_id, region, account_id):
            unprocessed.append(_unprocessed(account_id, AUTO_ENABLE_ALL))
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
