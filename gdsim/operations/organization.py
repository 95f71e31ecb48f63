"""Organizations mode: the delegated administrator and the organization configuration."""

from __future__ import annotations

from typing import Any

from .. import relationships
from ..errors import BadRequest, invalid_parameter
from ..findings import paginate
from ..records import OPTIONAL_FEATURES, iso
from .registry import Context, handles


def _require_management(context: Context) -> None:
    if context.state.management_account_id != context.account_id:
        raise BadRequest("The request is rejected because the current account is not the management account of "
                         "an organization.")


def _require_delegated_admin(context: Context) -> None:
    if context.state.delegated_admins.get(context.region) != context.account_id:
        raise BadRequest("The request is rejected because the current account is not the GuardDuty delegated "
                         "administrator account of the organization.")


@handles("EnableOrganizationAdminAccount")
def enable_admin(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Designate the delegated administrator in this region (GuardDuty is enabled for it)."""
    _require_management(context)
    admin_id = params["AdminAccountId"]
    account = context.state.accounts.get(admin_id)
    if account is None or not account.in_organization:
        raise invalid_parameter("adminAccountId", "The account is not a member of the organization.")
    current = context.state.delegated_admins.get(context.region)
    if current not in (None, admin_id):
        raise BadRequest("The request is rejected because the organization already has a delegated administrator "
                         f"account ({current}).")
    context.state.delegated_admins[context.region] = admin_id
    context.state.ensure_detector(admin_id, context.region)
    return {}


@handles("DisableOrganizationAdminAccount")
def disable_admin(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Remove the delegated administrator; its organization members are disassociated."""
    _require_management(context)
    admin_id = params["AdminAccountId"]
    if context.state.delegated_admins.get(context.region) != admin_id:
        raise invalid_parameter("adminAccountId", "The account is not the delegated administrator.")
    del context.state.delegated_admins[context.region]
    members = context.state.scope(admin_id, context.region).members
    organization_members = [member.account_id for member in members.values() if member.via_organization]
    if organization_members:
        relationships.disassociate_members(context.state, admin_id, context.region, organization_members)
    return {}


@handles("ListOrganizationAdminAccounts")
def list_admins(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The delegated administrator of this region, if any."""
    _require_management(context)
    admin_id = context.state.delegated_admins.get(context.region)
    admins = [{"AdminAccountId": admin_id, "AdminStatus": "ENABLED"}] if admin_id else []
    page, token = paginate(admins, params.get("MaxResults"), params.get("NextToken"), scope="admins")
    result: dict[str, Any] = {"AdminAccounts": page}
    if token:
        result["NextToken"] = token
    return result


@handles("DescribeOrganizationConfiguration")
def describe_configuration(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Auto-enable settings and whether the member limit is reached."""
    context.detector(params["DetectorId"])
    _require_delegated_admin(context)
    configuration = context.scope.organization
    features = {name: configuration.features.get(name, "NONE") for name in OPTIONAL_FEATURES}
    members = context.scope.members
    return {
        "AutoEnable": configuration.auto_enable_members != "NONE",
        "AutoEnableOrganizationMembers": configuration.auto_enable_members,
        "MemberAccountLimitReached": len(members) >= context.state.member_account_limit,
        "DataSources": {
            "S3Logs": {"AutoEnable": features["S3_DATA_EVENTS"] != "NONE"},
            "Kubernetes": {"AuditLogs": {"AutoEnable": features["EKS_AUDIT_LOGS"] != "NONE"}},
            "MalwareProtection": {"ScanEc2InstanceWithFindings": {
                "EbsVolumes": {"AutoEnable": features["EBS_MALWARE_PROTECTION"] != "NONE"}}},
        },
        "Features": [{"Name": name, "AutoEnable": status} for name, status in features.items()],
    }


# API_UpdateOrganizationConfiguration (and the operation's text in botocore's guardduty service-2.json):
# "You must provide a value for either autoEnableOrganizationMembers or autoEnable, but not both."
# botocore marks AutoEnable deprecated ("This field is deprecated, use AutoEnableOrganizationMembers
# instead"). AWS publishes no wording for the refusal; this one follows its "The request is rejected
# because ..." messages.
BOTH_AUTO_ENABLE = ("The request is rejected because autoEnable and autoEnableOrganizationMembers cannot be "
                    "provided together. Provide only autoEnableOrganizationMembers; autoEnable is deprecated.")


@handles("UpdateOrganizationConfiguration")
def update_configuration(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Set auto-enable for members (NEW, ALL, NONE) and for protection plans."""
    context.detector(params["DetectorId"])
    if "AutoEnable" in params and "AutoEnableOrganizationMembers" in params:
        raise BadRequest(BOTH_AUTO_ENABLE)  # the whole request is refused: nothing below changes
    _require_delegated_admin(context)
    configuration = context.scope.organization
    if "AutoEnableOrganizationMembers" in params:
        configuration.auto_enable_members = params["AutoEnableOrganizationMembers"]
    elif "AutoEnable" in params:
        # The deprecated boolean means NEW (true) or NONE (false).
        configuration.auto_enable_members = "NEW" if params["AutoEnable"] else "NONE"
    sources = params.get("DataSources") or {}
    if "S3Logs" in sources:
        configuration.features["S3_DATA_EVENTS"] = "NEW" if sources["S3Logs"]["AutoEnable"] else "NONE"
    if "Kubernetes" in sources:
        configuration.features["EKS_AUDIT_LOGS"] = "NEW" if sources["Kubernetes"]["AuditLogs"]["AutoEnable"] else "NONE"
    ebs = sources.get("MalwareProtection", {}).get("ScanEc2InstanceWithFindings", {}).get("EbsVolumes", {})
    if "AutoEnable" in ebs:
        configuration.features["EBS_MALWARE_PROTECTION"] = "NEW" if ebs["AutoEnable"] else "NONE"
    for feature in params.get("Features") or []:
        if "Name" in feature and "AutoEnable" in feature:
            configuration.features[feature["Name"]] = feature["AutoEnable"]
    if configuration.auto_enable_members == "ALL":
        relationships.enable_all_organization_accounts(context.state, context.account_id, context.region)
    context.scope.detector.updated_at = iso(context.state.now())
    return {}
