"""Administrator-side member operations: create, invite, list, get, disassociate, delete, monitor."""

from __future__ import annotations

from typing import Any

from .. import relationships
from ..errors import BadRequest, invalid_parameter
from ..findings import paginate
from ..records import ASSOCIATED, FOUNDATIONAL_FEATURES, Detector, Member, iso
from .detectors import BOTH_RUNTIMES, data_sources, detector_features, requested_features
from .registry import Context, handles


def member_view(administrator_id: str, member: Member) -> dict[str, Any]:
    """One Member as ListMembers/GetMembers return it."""
    view: dict[str, Any] = {
        "AccountId": member.account_id,
        "MasterId": administrator_id,
        "AdministratorId": administrator_id,
        "Email": member.email,
        "RelationshipStatus": member.relationship_status,
        "UpdatedAt": member.updated_at,
    }
    if member.detector_id:
        view["DetectorId"] = member.detector_id
    if member.invited_at:
        view["InvitedAt"] = member.invited_at
    return view


@handles("CreateMembers")
def create_members(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Add member accounts (Created; organization accounts of a delegated admin become Enabled)."""
    context.detector(params["DetectorId"])
    unprocessed = relationships.create_members(context.state, context.account_id, context.region,
                                               params["AccountDetails"])
    return {"UnprocessedAccounts": unprocessed}


@handles("InviteMembers")
def invite_members(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Invite members (email verified against the account's root email)."""
    context.detector(params["DetectorId"])
    unprocessed = relationships.invite_members(
        context.state, context.account_id, context.region, params["AccountIds"],
        message=params.get("Message", ""), disable_email=params.get("DisableEmailNotification", False))
    return {"UnprocessedAccounts": unprocessed}


@handles("ListMembers")
def list_members(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Members by account id; only Enabled/Disabled ones unless OnlyAssociated is "false"."""
    context.detector(params["DetectorId"])
    only_associated = params.get("OnlyAssociated", "true").lower()
    if only_associated not in ("true", "false"):
        raise invalid_parameter("onlyAssociated", "Valid values are: true, false.")
    # By account id; a member still hidden from reads counts one down (relationships.listed). Sorting the keys and
    # calling listed() only for hidden members keeps a page of 50,000 members cheap to serve.
    by_id = context.scope.members
    members = [member for member in map(by_id.__getitem__, sorted(by_id))
               if member.hidden_reads <= 0 or relationships.listed(member)]
    if only_associated == "true":
        members = [member for member in members if member.relationship_status in ASSOCIATED]
    page, token = paginate(members, params.get("MaxResults"), params.get("NextToken"),
                           scope=f"members:{only_associated}")
    result: dict[str, Any] = {"Members": [member_view(context.account_id, member) for member in page]}
    if token:
        result["NextToken"] = token
    return result


@handles("GetMembers")
def get_members(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The named members; unknown accounts come back unprocessed."""
    context.detector(params["DetectorId"])
    members, unprocessed = [], []
    for account_id in params["AccountIds"]:
        member = context.scope.members.get(account_id)
        if not relationships.listed(member):
            unprocessed.append({"AccountId": account_id, "Result": relationships.NOT_A_MEMBER})
        else:
            members.append(member_view(context.account_id, member))
    return {"Members": members, "UnprocessedAccounts": unprocessed}


@handles("DisassociateMembers")
def disassociate_members(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """End relationships from the administrator's side (Removed)."""
    context.detector(params["DetectorId"])
    return {"UnprocessedAccounts": relationships.disassociate_members(
        context.state, context.account_id, context.region, params["AccountIds"])}


@handles("DeleteMembers")
def delete_members(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Remove members from the list."""
    context.detector(params["DetectorId"])
    return {"UnprocessedAccounts": relationships.delete_members(
        context.state, context.account_id, context.region, params["AccountIds"])}


@handles("StartMonitoringMembers")
def start_monitoring(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Disabled -> Enabled."""
    context.detector(params["DetectorId"])
    return {"UnprocessedAccounts": relationships.set_monitoring(
        context.state, context.account_id, context.region, params["AccountIds"], enabled=True)}


@handles("StopMonitoringMembers")
def stop_monitoring(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Enabled -> Disabled."""
    context.detector(params["DetectorId"])
    return {"UnprocessedAccounts": relationships.set_monitoring(
        context.state, context.account_id, context.region, params["AccountIds"], enabled=False)}


@handles("GetMemberDetectors")
def get_member_detectors(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Each member's protection plans, as its own detector has them."""
    context.detector(params["DetectorId"])
    configurations, unprocessed = [], []
    for account_id in params["AccountIds"]:
        member = context.scope.members.get(account_id)
        member_detector = context.state.scope(account_id, context.region).detector
        if member is None:
            unprocessed.append({"AccountId": account_id, "Result": relationships.NOT_A_MEMBER})
        elif member_detector is None:
            unprocessed.append({"AccountId": account_id, "Result": "The request is rejected because the given "
                                "account ID does not have a detector in this Region."})
        else:
            configurations.append({
                "AccountId": account_id,
                "DataSources": data_sources(member_detector, account_id),
                "Features": member_features(member_detector),
            })
    return {"MemberDataSourceConfigurations": configurations, "UnprocessedAccounts": unprocessed}


def member_features(detector: Detector) -> list[dict[str, Any]]:
    """GetMemberDetectors' per-member Features (protection plans only: the model's OrgFeature names)."""
    return [feature for feature in detector_features(detector) if feature["Name"] not in FOUNDATIONAL_FEATURES]


# botocore model, UpdateMemberDetectors: "Contains information on member accounts to be updated" (AccountIds 1..50,
# Features of OrgFeature names with AdditionalConfiguration), and "Specifying both EKS Runtime Monitoring
# (EKS_RUNTIME_MONITORING) and Runtime Monitoring (RUNTIME_MONITORING) will cause an error." The administrator
# changes the plans of members it holds (GuardDuty User Guide, "Configuring protection plans for member
# accounts"): a member that is not associated, or has no detector, comes back in UnprocessedAccounts.
@handles("UpdateMemberDetectors")
def update_member_detectors(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Switch protection plans (and Runtime Monitoring's agent management) in members' detectors."""
    context.detector(params["DetectorId"])
    named = {feature.get("Name") for feature in params.get("Features") or []}
    if {"EKS_RUNTIME_MONITORING", "RUNTIME_MONITORING"} <= named:
        raise BadRequest(BOTH_RUNTIMES)
    chosen, additional = requested_features(params)
    unprocessed = []
    for account_id in params["AccountIds"]:
        member = context.scope.members.get(account_id)
        member_detector = context.state.scope(account_id, context.region).detector
        if member is None or member.relationship_status not in ASSOCIATED:
            unprocessed.append({"AccountId": account_id, "Result": relationships.NOT_A_MEMBER})
        elif member_detector is None:
            unprocessed.append({"AccountId": account_id, "Result": "The request is rejected because the given "
                                "account ID does not have a detector in this Region."})
        else:
            member_detector.features.update(chosen)
            member_detector.additional.update(additional)
            member_detector.updated_at = iso(context.state.now())
    return {"UnprocessedAccounts": unprocessed}
