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
    """The administrator relationship; GetAdministratorAccount says nothing when there is none.

    API reference (https://docs.aws.amazon.com/guardduty/latest/APIReference/API_GetAdministratorAccount.html,
    same text in botocore's guardduty service-2.json): "When the GuardDuty administrator account runs
    this API, it will return success (HTTP 200) but no content." and "When an individual account (not
    associated with an organization) runs this API, it will return success (HTTP 200) but no
    content." So an account without an administrator gets `{}`: no `Administrator` key, although
    the model marks it required (protocol.DOCUMENTED_ABSENT). The deprecated GetMasterAccount's
    page documents no such case; it keeps answering an empty `Master`.
    """
    context.detector(params["DetectorId"])
    link = context.scope.administrator
    if context.operation == "GetAdministratorAccount":
        if link is None:
            return {}
        return {"Administrator": {"AccountId": link.account_id, "InvitationId": link.invitation_id,
                                  "RelationshipStatus": link.relationship_status, "InvitedAt": link.invited_at}}
    view: dict[str, Any] = {}
    if link is not None:
        view = {"AccountId": link.account_id, "InvitationId": link.invitation_id,
                "RelationshipStatus": link.relationship_status, "InvitedAt": link.invited_at}
    return {"Master": view}


@handles("DisassociateFromAdministratorAccount", "DisassociateFromMasterAccount")
def disassociate_from_administrator(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Leave the administrator: Resigned on both sides, and an alert finding for the administrator."""
    context.detector(params["DetectorId"])
    relationships.disassociate_from_administrator(context.state, context.account_id, context.region)
    return {}
