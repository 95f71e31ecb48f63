"""Turn one GuardDuty finding, in either key spelling, into the fields GuardWatch stores.

Findings reach us as boto3 dicts from `GetFindings` (PascalCase: `AccountId`, `Service.Count`) and
as GuardDuty's own JSON in EventBridge events, S3 exports and console downloads (camelCase:
`accountId`, `service.count`). `parse_finding` accepts both and returns the same `ParsedFinding`
for the same finding; `parse_eventbridge_event` unwraps an event first.

Everything in a finding may come from an attacker (user agents, domains, tag values, process
names), so the parser never trusts it: wrong types raise `FindingParseError` naming the field,
and every stored string is cut to a documented bound and stripped of what PostgreSQL cannot
store (NUL characters, lone surrogates). The parser sits on the ingest hot path, so it reads only
the members it needs and compiles nothing per call.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from findings.entities import finding_entities
from findings.readers import (
    _EMPTY,
    ARN_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    NAME_MAX_LENGTH,
    RESOURCE_ID_MAX_LENGTH,
    SHORT_TEXT_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    TYPE_MAX_LENGTH,
    FindingParseError,
    _first,
    _identifier,
    _object,
    _preview,
    _text,
    _timestamp,
)
from findings.resources import _resource_identity
from guardwatch.core.metrics import FINDINGS_REFUSED

logger = logging.getLogger(__name__)

__all__ = [
    "ARN_MAX_LENGTH",
    "DESCRIPTION_MAX_LENGTH",
    "FindingParseError",
    "findings_parse_skipping",
    "NAME_MAX_LENGTH",
    "FindingArn",
    "ParsedFinding",
    "RESOURCE_ID_MAX_LENGTH",
    "SHORT_TEXT_MAX_LENGTH",
    "TITLE_MAX_LENGTH",
    "TYPE_MAX_LENGTH",
    "finding_arn_parts",
    "parse_eventbridge_event",
    "parse_finding",
    "severity_band",
]

COUNT_MAX = 2**31 - 1  # Service.Count is a 32-bit integer in the model and in our column
SEVERITY_MIN = 0.0
SEVERITY_MAX = 10.0
FEEDBACK_VALUES = frozenset({"USEFUL", "NOT_USEFUL"})
SAMPLE_TITLE_MARKER = "[SAMPLE]"

# Action types GuardWatch derives for findings without `Service.Action`, in the order checked.
RUNTIME = "RUNTIME"
MALWARE_SCAN = "MALWARE_SCAN"
ATTACK_SEQUENCE = "ATTACK_SEQUENCE"

EVENT_SOURCE = "aws.guardduty"
EVENT_DETAIL_TYPE = "GuardDuty Finding"

_FINDING_ARN = re.compile(
    r"arn:(aws[a-z-]*):guardduty:([a-z0-9-]+):([0-9]{12}):detector/([A-Za-z0-9]+)/finding/([A-Za-z0-9]+)",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class FindingArn:
    """The parts of a finding ARN: `arn:<partition>:guardduty:<region>:<account>:detector/<detector>/finding/<id>`."""

    partition: str
    region: str
    account_id: str
    detector_id: str
    finding_id: str


def finding_arn_parts(arn: str) -> FindingArn | None:
    """The parts of a GuardDuty finding ARN, or None when `arn` is not one."""
    match = _FINDING_ARN.fullmatch(arn) if type(arn) is str and len(arn) <= ARN_MAX_LENGTH else None
    return FindingArn(*match.groups()) if match else None


@dataclass(frozen=True, slots=True)
class ParsedFinding:
    """A finding's normalized fields. Optional values GuardDuty did not send are None.

    `raw` is the dict as received, kept for storage; it takes no part in equality, so the two
    spellings of one finding compare equal.
    """

    arn: str
    finding_id: str
    detector_id: str
    account_id: str
    region: str
    partition: str
    type: str
    threat_purpose: str
    resource_type_affected: str
    threat_family: str
    detection_mechanism: str | None
    artifact: str | None
    severity: float
    severity_band: str
    title: str
    description: str
    resource_type: str | None
    resource_id: str | None
    resource_name: str | None
    action_type: str | None
    # The attack sequence this finding is a signal of (GuardDuty Extended Threat Detection): botocore's
    # guardduty model, Finding.AssociatedAttackSequenceArn, "Amazon Resource Name (ARN) associated with
    # the attack sequence finding". Kept in a column so a sequence's signals are one index lookup.
    attack_sequence_arn: str | None
    remote_ip: str | None
    remote_country: str | None
    remote_country_code: str | None
    remote_asn: str | None
    remote_org: str | None
    created_at: datetime
    updated_at: datetime
    first_seen: datetime
    last_seen: datetime
    count: int
    archived: bool
    feedback: str | None
    sample: bool
    raw: dict = field(compare=False, repr=False)
    # (kind, value) of every entity the finding is about (findings.entities), kept in FindingEntity.
    entities: tuple[tuple[str, str], ...] = ()


def severity_band(severity: float) -> str:
    """'low' below 4.0, 'medium' below 7.0, 'high' below 9.0, else 'critical' (GuardDuty's bands)."""
    if severity < 4.0:
        return "low"
    if severity < 7.0:
        return "medium"
    if severity < 9.0:
        return "high"
    return "critical"


# The members the parser reads, by attribute name, in boto3 spelling. GuardDuty's JSON names for
# all of them are plain lowerCamel (the few renamed members of the model are not among them).
_MEMBERS = {
    "account_id": "AccountId", "arn": "Arn", "created_at": "CreatedAt", "description": "Description",
    "id": "Id", "partition": "Partition", "region": "Region", "resource": "Resource",
    "schema_version": "SchemaVersion", "service": "Service", "severity": "Severity", "title": "Title",
    "type": "Type", "updated_at": "UpdatedAt",
    "resource_type": "ResourceType", "instance_details": "InstanceDetails", "instance_id": "InstanceId",
    "tags": "Tags", "key": "Key", "value": "Value", "access_key_details": "AccessKeyDetails",
    "access_key_id": "AccessKeyId", "user_name": "UserName", "s3_bucket_details": "S3BucketDetails",
    "name": "Name", "s3_object_details": "S3ObjectDetails", "eks_cluster_details": "EksClusterDetails",
    "kubernetes_details": "KubernetesDetails", "kubernetes_workload_details": "KubernetesWorkloadDetails",
    "ecs_cluster_details": "EcsClusterDetails", "container_details": "ContainerDetails",
    "task_details": "TaskDetails",
    "rds_db_instance_details": "RdsDbInstanceDetails", "db_instance_identifier": "DbInstanceIdentifier",
    "db_cluster_identifier": "DbClusterIdentifier", "lambda_details": "LambdaDetails",
    "function_name": "FunctionName",
    "rds_limitless_db_details": "RdsLimitlessDbDetails", "db_shard_group_identifier": "DbShardGroupIdentifier",
    "ebs_snapshot_details": "EbsSnapshotDetails", "snapshot_arn": "SnapshotArn",
    "ec2_image_details": "Ec2ImageDetails", "image_arn": "ImageArn",
    "recovery_point_details": "RecoveryPointDetails", "recovery_point_arn": "RecoveryPointArn",
    "backup_vault_name": "BackupVaultName", "model_details": "ModelDetails", "model_id": "ModelId",
    "bedrock_guardrail_details": "BedrockGuardrailDetails", "guardrails": "Guardrails",
    "guardrail_arn": "GuardrailArn", "guardrail_version": "GuardrailVersion", "version": "Version",
    "action": "Action", "action_type": "ActionType", "network_connection_action": "NetworkConnectionAction",
    "aws_api_call_action": "AwsApiCallAction", "kubernetes_api_call_action": "KubernetesApiCallAction",
    "rds_login_attempt_action": "RdsLoginAttemptAction", "port_probe_action": "PortProbeAction",
    "port_probe_details": "PortProbeDetails", "remote_ip_details": "RemoteIpDetails",
    "ip_address_v4": "IpAddressV4", "ip_address_v6": "IpAddressV6", "country": "Country",
    "country_name": "CountryName", "country_code": "CountryCode", "organization": "Organization",
    "asn": "Asn", "asn_org": "AsnOrg", "org": "Org", "isp": "Isp",
    "runtime_details": "RuntimeDetails", "ebs_volume_scan_details": "EbsVolumeScanDetails",
    "malware_scan_details": "MalwareScanDetails", "detection": "Detection", "sequence": "Sequence",
    "archived": "Archived", "count": "Count", "detector_id": "DetectorId", "event_first_seen": "EventFirstSeen",
    "event_last_seen": "EventLastSeen", "user_feedback": "UserFeedback", "additional_info": "AdditionalInfo",
    "sample": "Sample", "associated_attack_sequence_arn": "AssociatedAttackSequenceArn",
}
_REQUIRED = ("account_id", "arn", "created_at", "id", "region", "resource", "schema_version", "severity",
             "type", "updated_at")
_PASCAL = SimpleNamespace(**_MEMBERS)
_CAMEL = SimpleNamespace(**{attribute: name[:1].lower() + name[1:] for attribute, name in _MEMBERS.items()})
for _spelling in (_PASCAL, _CAMEL):
    _spelling.actions_with_remote_ip = (
        _spelling.network_connection_action, _spelling.aws_api_call_action,
        _spelling.kubernetes_api_call_action, _spelling.rds_login_attempt_action)
    _spelling.required = tuple(getattr(_spelling, attribute) for attribute in _REQUIRED)
del _spelling


def parse_eventbridge_event(event: Any) -> ParsedFinding:
    """The finding in a GuardDuty EventBridge event, after checking the event is one."""
    if not isinstance(event, dict):
        raise FindingParseError("event must be a JSON object")
    source = event.get("source")
    if source != EVENT_SOURCE:
        raise FindingParseError(f"event source must be {EVENT_SOURCE!r}, got {_preview(source)}")
    detail_type = event.get("detail-type")
    if detail_type != EVENT_DETAIL_TYPE:
        raise FindingParseError(f"event detail-type must be {EVENT_DETAIL_TYPE!r}, got {_preview(detail_type)}")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise FindingParseError("event detail must be a JSON object holding the finding")
    return parse_finding(detail)


def parse_finding(raw: Any, *, raw_as: Callable[[dict], Any] | None = None) -> ParsedFinding:
    """Normalize one finding in boto3 PascalCase or GuardDuty JSON camelCase.

    A whole EventBridge event is unwrapped through `parse_eventbridge_event`. Raises
    `FindingParseError` for anything that is not a storable finding. `raw_as` turns the received
    dict into what `raw` holds (the sync passes its JSON encoder: building the finding a second
    time to swap `raw`, with `dataclasses.replace`, cost more than parsing it).
    """
    if not isinstance(raw, dict):
        raise FindingParseError("finding must be a JSON object")
    if "AccountId" in raw:
        k = _PASCAL
    elif "accountId" in raw:
        k = _CAMEL
    elif "detail-type" in raw or "detail" in raw:
        return parse_eventbridge_event(raw)
    else:
        k = _CAMEL if ("arn" in raw or "id" in raw or "type" in raw) else _PASCAL
    for name in k.required:
        if name not in raw:
            raise FindingParseError(f"missing required field {name}")

    account_id = raw[k.account_id]
    if not (type(account_id) is str and len(account_id) == 12 and account_id.isascii() and account_id.isdigit()):
        raise FindingParseError(f"{k.account_id} must be 12 digits, got {_preview(account_id)}")

    arn = raw[k.arn]
    if type(arn) is not str or len(arn) > ARN_MAX_LENGTH:
        raise FindingParseError(f"{k.arn} is not a GuardDuty finding ARN: {_preview(arn)}")
    arn_match = _FINDING_ARN.fullmatch(arn)
    if arn_match is None:
        raise FindingParseError(f"{k.arn} is not a GuardDuty finding ARN: {_preview(arn)}")

    finding_id = _identifier(raw[k.id], k.id)
    if not _text(raw[k.region], SHORT_TEXT_MAX_LENGTH, k.region):
        raise FindingParseError(f"{k.region} must be a non-empty string")
    # The finding's home: the region of its ARN, where its detector lives and where archive, feedback and
    # the console link must go. `Region` may differ (botocore's guardduty model, Finding.Region: "For
    # findings generated from Global Service Events, the Region value in the finding might differ from the
    # Region where GuardDuty identifies the potential threat").
    region = arn_match.group(2)
    partition = _text(raw.get(k.partition), SHORT_TEXT_MAX_LENGTH, k.partition) or arn_match.group(1)
    if type(raw[k.schema_version]) is not str:
        raise FindingParseError(f"{k.schema_version} must be a string")

    severity = raw[k.severity]
    if type(severity) is not float and type(severity) is not int:  # bool is an int subclass: excluded
        raise FindingParseError(f"{k.severity} must be a number, got {_preview(severity)}")
    if not SEVERITY_MIN <= severity <= SEVERITY_MAX:  # also rejects NaN
        raise FindingParseError(f"{k.severity} must be between 0 and 10, got {_preview(severity)}")
    severity = float(severity)

    finding_type = raw[k.type]
    if type(finding_type) is not str or not finding_type:
        raise FindingParseError(f"{k.type} must be a non-empty string")
    if len(finding_type) > TYPE_MAX_LENGTH:
        raise FindingParseError(f"{k.type} is longer than {TYPE_MAX_LENGTH} characters")
    purpose, colon, rest = finding_type.partition(":")
    affected, slash, family = rest.partition("/")
    if not (colon and slash and purpose and affected and family):
        raise FindingParseError(
            f"{k.type} {_preview(finding_type)} does not follow ThreatPurpose:ResourceTypeAffected/ThreatFamilyName")
    family, _, artifact = family.partition("!")
    family, _, mechanism = family.partition(".")

    created_at = _timestamp(raw[k.created_at], k.created_at)
    updated_at = _timestamp(raw[k.updated_at], k.updated_at)
    title = _text(raw.get(k.title), TITLE_MAX_LENGTH, k.title) or ""
    description = _text(raw.get(k.description), DESCRIPTION_MAX_LENGTH, k.description) or ""

    resource = raw[k.resource]
    if type(resource) is not dict:
        raise FindingParseError(f"{k.resource} must be an object")
    resource_type = _text(resource.get(k.resource_type), SHORT_TEXT_MAX_LENGTH, k.resource, k.resource_type)
    resource_id, resource_name = _resource_identity(resource, resource_type, k)

    service = _object(raw, k.service)
    detector_id = service.get(k.detector_id)
    if detector_id is None:
        detector_id = arn_match.group(4)
    else:
        detector_id = _identifier(detector_id, f"{k.service}.{k.detector_id}")
    action = _object(service, k.action, k.service)
    action_type = _text(action.get(k.action_type), SHORT_TEXT_MAX_LENGTH, k.service, k.action, k.action_type)
    if action_type is None:
        if service.get(k.runtime_details):
            action_type = RUNTIME
        elif service.get(k.ebs_volume_scan_details) or service.get(k.malware_scan_details):
            action_type = MALWARE_SCAN
        elif type(service.get(k.detection)) is dict and service[k.detection].get(k.sequence):
            action_type = ATTACK_SEQUENCE
    attack_sequence_arn = _text(raw.get(k.associated_attack_sequence_arn), ARN_MAX_LENGTH,
                                k.associated_attack_sequence_arn)
    remote = _remote_ip_details(action, k) if action else _EMPTY
    if remote:
        remote_ip = _ip(remote.get(k.ip_address_v4), remote.get(k.ip_address_v6), k)
        country = _object(remote, k.country, k.remote_ip_details)
        remote_country = _text(country.get(k.country_name), NAME_MAX_LENGTH, k.country, k.country_name)
        remote_country_code = _text(country.get(k.country_code), SHORT_TEXT_MAX_LENGTH, k.country, k.country_code)
        organization = _object(remote, k.organization, k.remote_ip_details)
        remote_asn = _text(organization.get(k.asn), SHORT_TEXT_MAX_LENGTH, k.organization, k.asn)
        remote_org = _text(organization.get(k.asn_org) or organization.get(k.org) or organization.get(k.isp),
                           NAME_MAX_LENGTH, k.organization, k.asn_org)
    else:
        remote_ip = remote_country = remote_country_code = remote_asn = remote_org = None

    first_seen = service.get(k.event_first_seen)
    first_seen = created_at if first_seen is None else _timestamp(first_seen, f"{k.service}.{k.event_first_seen}")
    last_seen = service.get(k.event_last_seen)
    last_seen = updated_at if last_seen is None else _timestamp(last_seen, f"{k.service}.{k.event_last_seen}")

    count = service.get(k.count, 1)
    if type(count) is not int or not 0 <= count <= COUNT_MAX:
        raise FindingParseError(
            f"{k.service}.{k.count} must be an integer from 0 to {COUNT_MAX}, got {_preview(count)}")
    archived = service.get(k.archived, False)
    if type(archived) is not bool:
        raise FindingParseError(f"{k.service}.{k.archived} must be true or false, got {_preview(archived)}")
    feedback = service.get(k.user_feedback)
    if feedback is not None and (type(feedback) is not str or feedback not in FEEDBACK_VALUES):
        raise FindingParseError(
            f"{k.service}.{k.user_feedback} must be USEFUL or NOT_USEFUL, got {_preview(feedback)}")

    sample = title.startswith(SAMPLE_TITLE_MARKER) or _is_sample(service.get(k.additional_info), k)

    return ParsedFinding(
        arn=arn,
        finding_id=finding_id,
        detector_id=detector_id,
        account_id=account_id,
        region=region,
        partition=partition,
        type=finding_type,
        threat_purpose=purpose,
        resource_type_affected=affected,
        threat_family=family,
        detection_mechanism=mechanism or None,
        artifact=artifact or None,
        severity=severity,
        severity_band=severity_band(severity),
        title=title,
        description=description,
        resource_type=resource_type,
        resource_id=resource_id,
        resource_name=resource_name,
        action_type=action_type,
        attack_sequence_arn=attack_sequence_arn,
        remote_ip=remote_ip,
        remote_country=remote_country,
        remote_country_code=remote_country_code,
        remote_asn=remote_asn,
        remote_org=remote_org,
        created_at=created_at,
        updated_at=updated_at,
        first_seen=first_seen,
        last_seen=last_seen,
        count=count,
        archived=archived,
        feedback=feedback,
        sample=sample,
        raw=raw if raw_as is None else raw_as(raw),
        entities=finding_entities(raw),
    )


def findings_parse_skipping(raws: Iterable[Any], *, what: str) -> list[ParsedFinding]:
    """Parse GuardDuty's findings, logging and leaving out any that is not storable (`what` names the caller)."""
    parsed = []
    for raw in raws:
        try:
            parsed.append(parse_finding(raw))
        except FindingParseError as error:
            logger.warning("%s skipped a finding: %s", what, error)
            FINDINGS_REFUSED.labels(source="pull", reason="unparseable").inc()
    return parsed


def _remote_ip_details(action: dict, k: SimpleNamespace) -> dict:
    """The remote actor of the action, whichever kind of action it is."""
    for member in k.actions_with_remote_ip:
        if action.get(member) is not None:
            detail = _object(action, member, k.service, k.action)
            remote = _object(detail, k.remote_ip_details, k.service, k.action, member)
            if remote:
                return remote
    probe = _object(action, k.port_probe_action, k.service, k.action)
    if probe:
        first = _first(probe, k.port_probe_details, k.service, k.action, k.port_probe_action)
        return _object(first, k.remote_ip_details, k.service, k.action, k.port_probe_action, k.port_probe_details)
    return _EMPTY


def _ip(v4: Any, v6: Any, k: SimpleNamespace) -> str | None:
    """The remote address as sent, or None when it is not an IP address (it may be hostile)."""
    for value, family in ((v4, socket.AF_INET), (v6, socket.AF_INET6)):
        if value is None:
            continue
        if type(value) is not str:
            raise FindingParseError(f"{k.remote_ip_details} address must be a string, got {type(value).__name__}")
        try:
            socket.inet_pton(family, value)
        except (OSError, ValueError):  # ValueError: embedded NUL
            continue
        return value
    return None


def _is_sample(info: Any, k: SimpleNamespace) -> bool:
    """GuardDuty's sample marker in Service.AdditionalInfo, in any of the forms it has used.

    Current findings: {"Value": "{\"sample\":true}", "Type": "default"} (camel: value/type);
    older JSON: {"sample": true}; the value may also arrive already decoded as an object.
    """
    if type(info) is not dict:
        return False
    if info.get("sample") is True or info.get(k.sample) is True:
        return True
    value = info.get(k.value)
    if type(value) is dict:
        return value.get("sample") is True
    if type(value) is str and '"sample"' in value:
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            return False
        return type(decoded) is dict and decoded.get("sample") is True
    return False
