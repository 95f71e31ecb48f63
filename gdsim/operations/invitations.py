"""Member-side operations: invitations, the administrator relationship, and leaving it."""

from __future__ import annotations

from typing import Any

from .. import relationships
from ..findings import paginate
from .registry import Context, handles


@handles("ListInvitations")
def list_invitations(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Pending invitations received in this region."""
    invitations = sorted(context.scope.invitations.values(), key=lambda invitation: invitation.invited_at)
    page, token = paginate(invitations, params.get("MaxResults"), params.get("NextToken"), scope="invitations")
    result: dict[str, Any] = {"Invitations": [
        {"AccountId": invitation.account_id, "InvitationId": invitation.invitation_id,
         "RelationshipStatus": "Invited", "InvitedAt": invitation.invited_at}
        for invitation in page
    ]}
    if token:
        result["NextToken"] = token
    return result


@handles("GetInvitationsCount")
def get_invitations_count(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """How many invitations are pending (the accepted one is no longer pending)."""
    return {"InvitationsCount": len(context.scope.invitations)}


@handles("AcceptAdministratorInvitation", "AcceptInvitation")
def accept_invitation(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Join an administrator (AcceptInvitation names it MasterId)."""
    context.detector(params["DetectorId"])
    administrator_id = params.get("AdministratorId") or params["MasterId"]
    relationships.accept_invitation(context.state, context.account_id, context.region, administrator_id,
                                    params["InvitationId"])
    return {}


@handles("DeclineInvitations", "DeleteInvitations")
def remove_invitations(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Decline or delete pending invitations from the given administrators."""
    return {"UnprocessedAccounts": relationships.remove_invitations(
        context.state, context.account_id, context.region, params["AccountIds"])}


@handles("GetAdministratorAccount", "GetMasterAccount")
def get_administrator(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The administrator relationship, or an empty Administrator when there is none."""
    context.detector(params["DetectorId"])
    link = context.scope.administrator
    view: dict[str, Any] = {}
    if link is not None:
        view = {"AccountId": link.account_id, "InvitationId": link.invitation_id,
                "RelationshipStatus": link.relationship_status, "InvitedAt": link.invited_at}
    key = "Master" if context.operation == "GetMasterAccount" else "Administrator"
    return {key: view}


@handles("DisassociateFromAdministratorAccount", "DisassociateFromMasterAccount")
def disassociate_from_administrator(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Leave the administrator: Resigned on both sides, and an alert finding for the administrator."""
    context.detector(params["DetectorId"])
    relationships.disassociate_from_administrator(context.state, context.account_id, context.region)
    return {}
