"""Detector operations: CreateDetector, GetDetector, ListDetectors, UpdateDetector, DeleteDetector."""

from __future__ import annotations

from typing import Any

from ..errors import BadRequest
from ..findings import paginate
from ..records import ASSOCIATED, FOUNDATIONAL_FEATURES, OPTIONAL_FEATURES, Detector, iso, parse_iso
from .registry import Context, handles

SERVICE_ROLE = "arn:aws:iam::{account}:role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty"
_DATA_SOURCE_RESULT_NAMES = {"CLOUD_TRAIL": "CloudTrail", "DNS_LOGS": "DNSLogs", "FLOW_LOGS": "FlowLogs"}


def _status(enabled: bool) -> str:
    return "ENABLED" if enabled else "DISABLED"


def requested_features(params: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Protection plans and runtime add-ons asked for via DataSources (legacy) or Features."""
    data_sources = params.get("DataSources")
    features = params.get("Features")
    if data_sources and features:
        raise BadRequest("The request is rejected because both data sources and features are specified. "
                         "Use features only.")
    chosen: dict[str, str] = {}
    additional: dict[str, str] = {}
    if data_sources:
        if "S3Logs" in data_sources:
            chosen["S3_DATA_EVENTS"] = _status(data_sources["S3Logs"]["Enable"])
        if "Kubernetes" in data_sources:
            chosen["EKS_AUDIT_LOGS"] = _status(data_sources["Kubernetes"]["AuditLogs"]["Enable"])
        ebs = data_sources.get("MalwareProtection", {}).get("ScanEc2InstanceWithFindings", {}).get("EbsVolumes")
        if ebs is not None:
            chosen["EBS_MALWARE_PROTECTION"] = _status(ebs)
    for feature in features or []:
        if "Name" not in feature:
            raise BadRequest("The request is rejected because the parameter features.name is missing.")
        if "Status" in feature:
            chosen[feature["Name"]] = feature["Status"]
        for extra in feature.get("AdditionalConfiguration", []):
            if "Name" in extra and "Status" in extra:
                additional[extra["Name"]] = extra["Status"]
    return chosen, additional


def detector_features(detector: Detector) -> list[dict[str, Any]]:
    """GetDetector's Features list: foundational sources, then the protection plans."""
    updated = parse_iso(detector.updated_at)
    result: list[dict[str, Any]] = [{"Name": name, "Status": "ENABLED", "UpdatedAt": updated}
                                    for name in FOUNDATIONAL_FEATURES]
    for name in OPTIONAL_FEATURES:
        entry: dict[str, Any] = {"Name": name, "Status": detector.features.get(name, "DISABLED"), "UpdatedAt": updated}
        if name == "RUNTIME_MONITORING":
            entry["AdditionalConfiguration"] = [
                {"Name": extra, "Status": status, "UpdatedAt": updated} for extra, status in detector.additional.items()
            ]
        result.append(entry)
    return result


def data_sources(detector: Detector, account_id: str) -> dict[str, Any]:
    """The legacy DataSources view of a detector's plans."""
    result: dict[str, Any] = {
        label: {"Status": "ENABLED"} for label in _DATA_SOURCE_RESULT_NAMES.values()
    }
    result["S3Logs"] = {"Status": detector.features.get("S3_DATA_EVENTS", "DISABLED")}
    result["Kubernetes"] = {"AuditLogs": {"Status": detector.features.get("EKS_AUDIT_LOGS", "DISABLED")}}
    result["MalwareProtection"] = {
        "ScanEc2InstanceWithFindings": {"EbsVolumes": {"Status": detector.features.get("EBS_MALWARE_PROTECTION",
                                                                                         "DISABLED")}},
        "ServiceRole": SERVICE_ROLE.format(account=account_id),
    }
    return result


# botocore model, CreateDetector: "When you don't specify any features, with an exception to RUNTIME_MONITORING,
# all the optional features are enabled by default. When you specify some of the features, any feature that is
# not specified in the API call gets enabled by default, with an exception to RUNTIME_MONITORING." The legacy
# DataSources map onto the same features (S3Logs, Kubernetes audit logs, EBS malware protection), so what they
# leave out is enabled too.
CREATE_DEFAULTS = {name: "DISABLED" if name == "RUNTIME_MONITORING" else "ENABLED" for name in OPTIONAL_FEATURES}
# Same text: "Specifying both EKS Runtime Monitoring (EKS_RUNTIME_MONITORING) and Runtime Monitoring
# (RUNTIME_MONITORING) will cause an error." The message is the simulator's (AWS documents none).
BOTH_RUNTIMES = ("The request is rejected because EKS_RUNTIME_MONITORING and RUNTIME_MONITORING cannot both be "
                 "specified: Runtime Monitoring already includes the threat detection for Amazon EKS resources.")
# GuardDuty User Guide, "Exporting generated findings" (guardduty_exportfindings.html): updated findings are
# published every six hours unless the administrator sets another frequency.
DEFAULT_PUBLISHING_FREQUENCY = "SIX_HOURS"


@handles("CreateDetector")
def create_detector(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """One detector per account and region, with the plans AWS documents for what the request leaves out."""
    if context.scope.detector is not None:
        raise BadRequest("The request is rejected because a detector already exists for the current account.")
    named = {feature.get("Name") for feature in params.get("Features") or []}
    if {"EKS_RUNTIME_MONITORING", "RUNTIME_MONITORING"} <= named:
        raise BadRequest(BOTH_RUNTIMES)
    chosen, additional = requested_features(params)
    detector = context.state.create_detector(
        context.account_id, context.region, features={**CREATE_DEFAULTS, **chosen}, enable=params["Enable"],
        finding_publishing_frequency=params.get("FindingPublishingFrequency", DEFAULT_PUBLISHING_FREQUENCY),
        tags=params.get("Tags"))
    detector.additional.update(additional)
    return {"DetectorId": detector.detector_id}


@handles("GetDetector")
def get_detector(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The detector's status, frequency and plans."""
    detector = context.detector(params["DetectorId"])
    result: dict[str, Any] = {
        "CreatedAt": detector.created_at,
        "FindingPublishingFrequency": detector.finding_publishing_frequency,
        "ServiceRole": SERVICE_ROLE.format(account=context.account_id),
        "Status": detector.status,
        "UpdatedAt": detector.updated_at,
        "DataSources": data_sources(detector, context.account_id),
        "Features": detector_features(detector),
    }
    if detector.tags:
        result["Tags"] = dict(detector.tags)
    return result


@handles("ListDetectors")
def list_detectors(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The caller's detector in this region (zero or one)."""
    detector = context.scope.detector
    ids = [detector.detector_id] if detector else []
    page, token = paginate(ids, params.get("MaxResults"), params.get("NextToken"), scope="detectors")
    result: dict[str, Any] = {"DetectorIds": page}
    if token:
        result["NextToken"] = token
    return result


@handles("UpdateDetector")
def update_detector(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Switch the detector, its plans or (for an administrator, members too) the publishing frequency."""
    detector = context.detector(params["DetectorId"])
    chosen, additional = requested_features(params)
    if "Enable" in params:
        detector.status = _status(params["Enable"])
    detector.features.update(chosen)
    detector.additional.update(additional)
    if "FindingPublishingFrequency" in params:
        detector.finding_publishing_frequency = params["FindingPublishingFrequency"]
        # The administrator's frequency applies to its members.
        for member in context.scope.members.values():
            if member.relationship_status in ASSOCIATED:
                member_detector = context.state.scope(member.account_id, context.region).detector
                if member_detector is not None:
                    member_detector.finding_publishing_frequency = params["FindingPublishingFrequency"]
    detector.updated_at = iso(context.state.now())
    return {}


@handles("DeleteDetector")
def delete_detector(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete the detector and the account's findings in this region."""
    context.detector(params["DetectorId"])
    scope = context.scope
    if any(member.relationship_status in ASSOCIATED for member in scope.members.values()):
        raise BadRequest("The request is rejected because the detector has associated member accounts. "
                         "Disassociate them before deleting the detector.")
    if context.state.administrator_of(context.account_id, context.region) is not None:
        raise BadRequest("The request is rejected because the current account is a member account. "
                         "Disassociate from the administrator account before deleting the detector.")
    scope.detector = None
    store = context.state.region_findings(context.region)
    for stored in store.account_findings(context.account_id):
        store.remove(stored.id)
    return {}
