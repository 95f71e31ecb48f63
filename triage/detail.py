"""A finding's page, explained: the console link, its raw GuardDuty JSON flattened, and what it means."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from findings import attack
from findings.models import Finding

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


def console_url(finding: Finding) -> str | None:
    """The finding in the GuardDuty console; None unless region and partition are ones we can link."""
    if finding.partition != "aws" or not _REGION.match(finding.region):
        return None
    region = finding.region
    return (
        f"https://{region}.console.aws.amazon.com/guardduty/home?region={region}"
        f"#/findings?fId={quote(finding.finding_id, safe='')}"
    )


def _key(node: Any, name: str) -> Any:
    """A key of a finding dict in either spelling (PascalCase from boto3, camelCase from EventBridge)."""
    if not isinstance(node, dict):
        return None
    wanted = name.lower()
    for key, value in node.items():
        if key.lower() == wanted:
            return value
    return None


def dig(node: Any, *path: str) -> Any:
    for name in path:
        node = _key(node, name)
        if node is None:
            return None
    return node


def flatten(node: Any, prefix: str = "", limit: int = 80) -> list[tuple[str, str]]:
    """Scalar leaves of a nested dict as (dotted path, text) pairs, for a readable key/value list."""
    out: list[tuple[str, str]] = []

    def walk(value: Any, path: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for index, child in enumerate(value[:10]):
                walk(child, f"{path}[{index}]")
        elif value not in (None, ""):
            out.append((path, str(value)))

    walk(node, prefix)
    return out


# The threat purposes GuardDuty names finding types with, spelled as it spells them (GuardDuty User Guide,
# "GuardDuty finding format", Threat purposes): PenTest, not Pentest; Object for Malware Protection for S3.
PURPOSES = {
    "Backdoor": "a resource was compromised and can contact its attacker's command and control",
    "Behavior": "activity unlike the resource's established baseline",
    "CryptoCurrency": "software associated with cryptocurrency mining or theft",
    "DefenseEvasion": "an attempt to avoid detection",
    "Discovery": "an attempt to learn about the account or its resources",
    "Execution": "attacker code run on a resource",
    "Exfiltration": "data being moved out of the environment",
    "Impact": "an attempt to manipulate, interrupt or destroy data or systems",
    "InitialAccess": "an attempt to gain a foothold",
    "PenTest": "tools commonly used for penetration testing",
    "Persistence": "an attempt to keep access",
    "Policy": "behaviour against security best practice",
    "PrivilegeEscalation": "an attempt to gain higher permissions",
    "Recon": "reconnaissance before an attack (probing, scanning)",
    "Stealth": "an attempt to hide activity or tracks",
    "Trojan": "a trojan program active on a resource",
    "UnauthorizedAccess": "suspicious or unauthorised access",
    "CredentialAccess": "an attempt to steal credentials",
    "AttackSequence": "several signals GuardDuty correlated into one attack",
    "DefenseImpairment": "an attempt to weaken or switch off the account's defences",
    "Object": "a malicious object (file) found by Malware Protection",
}
MECHANISMS = {
    "A": "the first variant of the detection",
    "B": "a variant of the detection",
    "Custom": "your own threat list",
    "DNS": "DNS logs",
    "Reputation": "threat intelligence reputation",
}


def finding_explained(finding: Finding) -> dict[str, Any]:
    """What the detail page shows beyond the columns: type explained, action, runtime, evidence."""
    raw = finding.raw or {}
    service = _key(raw, "Service") or {}
    action = _key(service, "Action") or {}
    mechanism = finding.detection_mechanism or ""
    return {
        "purpose_text": PURPOSES.get(finding.threat_purpose, ""),
        "mechanism_text": MECHANISMS.get(mechanism, MECHANISMS.get(mechanism.rstrip("0123456789"), "")),
        "action_pairs": flatten({k: v for k, v in action.items() if k.lower() != "actiontype"})
        if action
        else [],
        "runtime_pairs": flatten(_key(service, "RuntimeDetails")),
        "evidence_pairs": flatten(_key(service, "Evidence")),
        "additional_pairs": flatten(_additional(service)),
        "resource_summary": resource_summary(raw),
        "custom_rule": _scalar(_key(raw, "CustomDetectionRuleName")),
        "resource_pairs": flatten(_key(raw, "Resource"), limit=60),
        "raw_pretty": json.dumps(raw, indent=2, sort_keys=True, ensure_ascii=False, default=str),
        "attack": attack.mapping_for(finding.type),
        "sequence_tactics": sequence_tactics(raw),
    }


def sequence_tactics(raw: dict) -> list[str]:
    """The tactics GuardDuty itself names for an attack sequence (its ATTACK_TACTIC indicator), as sent."""
    values: list[str] = []
    for indicator in _items(dig(raw, "Service", "Detection", "Sequence", "SequenceIndicators")):
        listed = _key(indicator, "Values")
        if _key(indicator, "Key") == "ATTACK_TACTIC" and isinstance(listed, list):
            values.extend(text for text in (_scalar(value) for value in listed[:_LIST_LIMIT]) if text)
    return values


def _additional(service: dict) -> Any:
    info = _key(service, "AdditionalInfo")
    if isinstance(info, dict) and isinstance(_key(info, "Value"), str):
        try:
            return json.loads(_key(info, "Value"))
        except ValueError:
            return info
    return info


# --- the affected resource, summarised --------------------------------------------------------------------
# One line per block of botocore's `Resource` shape (and the resources of an attack sequence), named as the
# GuardDuty console names them. Every value comes from the finding, so from a possible attacker: the
# template escapes it.
_LIST_LIMIT = 10


def _scalar(value: Any) -> str | None:
    """A leaf worth showing as text: strings and numbers; None for anything else or empty."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return text or None


def _items(value: Any) -> list[dict]:
    return [item for item in value[:_LIST_LIMIT] if isinstance(item, dict)] if isinstance(value, list) else []


def _joined(*parts: Any, between: str = " ") -> str | None:
    texts = [text for text in (_scalar(part) for part in parts) if text]
    return between.join(texts) or None


def _within(main: Any, context: Any) -> str | None:
    """`main (context)`, or whichever of the two there is."""
    main, context = _scalar(main), _scalar(context)
    if main and context:
        return f"{main} ({context})"
    return main or context


def _name_tag(details: dict) -> Any:
    for tag in _items(_key(details, "Tags")):
        if _key(tag, "Key") == "Name":
            return _key(tag, "Value")
    return None


def resource_summary(raw: dict) -> list[tuple[str, str]]:
    """(label, text) lines naming everything the finding says was affected, in either key spelling."""
    resource = _key(raw, "Resource")
    lines: list[tuple[str, str | None]] = []
    if isinstance(resource, dict):
        _resource_lines(resource, lines)
    sequence = dig(raw, "Service", "Detection", "Sequence")
    for item in _items(_key(sequence, "Resources")):
        lines.append(("Attack sequence resource", _joined(
            _key(item, "ResourceType"), _within(_key(item, "Name"), _key(item, "Uid")), _key(item, "Region"))))
    return [(label, text) for label, text in lines if text]


def _resource_lines(resource: dict, lines: list[tuple[str, str | None]]) -> None:
    instance = _key(resource, "InstanceDetails")
    if isinstance(instance, dict):
        lines.append(("EC2 instance", _within(_key(instance, "InstanceId"), _name_tag(instance))))
    key = _key(resource, "AccessKeyDetails")
    if isinstance(key, dict):
        lines.append(("Access key", _scalar(_key(key, "AccessKeyId"))))
        lines.append(("Principal", _within(_key(key, "UserName"), _key(key, "UserType"))))
    for bucket in _items(_key(resource, "S3BucketDetails")):
        lines.append(("S3 bucket", _scalar(_key(bucket, "Name")) or _scalar(_key(bucket, "Arn"))))
        for s3_object in _items(_key(bucket, "S3ObjectDetails")):
            lines.append(("S3 object", _within(_key(s3_object, "Key"), _key(s3_object, "VersionId"))))
    eks = _key(resource, "EksClusterDetails")
    if isinstance(eks, dict):
        lines.append(("EKS cluster", _within(_key(eks, "Name"), _key(eks, "Arn"))))
    workload = dig(resource, "KubernetesDetails", "KubernetesWorkloadDetails")
    if isinstance(workload, dict):
        lines.append(("Kubernetes workload", _within(
            _joined(_key(workload, "Namespace"), _key(workload, "Name"), between="/"), _key(workload, "Type"))))
    ecs = _key(resource, "EcsClusterDetails")
    if isinstance(ecs, dict):
        lines.append(("ECS cluster", _within(_key(ecs, "Name"), _key(ecs, "Arn"))))
        task = _key(ecs, "TaskDetails")
        if isinstance(task, dict):
            lines.append(("ECS task", _within(_key(task, "Arn"), _key(task, "LaunchType"))))
            lines.append(("Task definition", _scalar(_key(task, "DefinitionArn"))))
    container = _key(resource, "ContainerDetails")
    if isinstance(container, dict):
        lines.append(("Container", _within(_key(container, "Name") or _key(container, "Id"), _key(container, "Image"))))
    rds = _key(resource, "RdsDbInstanceDetails")
    if isinstance(rds, dict):
        lines.append(("RDS DB instance", _within(_key(rds, "DbInstanceIdentifier"), _key(rds, "DbClusterIdentifier"))))
    limitless = _key(resource, "RdsLimitlessDbDetails")
    if isinstance(limitless, dict):
        lines.append(("RDS Limitless DB shard group", _within(
            _key(limitless, "DbShardGroupIdentifier"), _key(limitless, "DbClusterIdentifier"))))
        lines.append(("Database engine", _joined(_key(limitless, "Engine"), _key(limitless, "EngineVersion"))))
    db_user = _key(resource, "RdsDbUserDetails")
    if isinstance(db_user, dict):
        lines.append(("Database user", _within(
            _joined(_key(db_user, "User"), _key(db_user, "Database"), between=" @ "), _key(db_user, "Application"))))
    function = _key(resource, "LambdaDetails")
    if isinstance(function, dict):
        lines.append(("Lambda function", _within(_key(function, "FunctionName"), _key(function, "FunctionVersion"))))
    for volume in _items(_key(_key(resource, "EbsVolumeDetails"), "ScannedVolumeDetails")):
        lines.append(("Scanned EBS volume", _scalar(_key(volume, "VolumeArn"))))
    snapshot = _key(resource, "EbsSnapshotDetails")
    if isinstance(snapshot, dict):
        lines.append(("EBS snapshot", _scalar(_key(snapshot, "SnapshotArn"))))
    image = _key(resource, "Ec2ImageDetails")
    if isinstance(image, dict):
        lines.append(("EC2 image", _scalar(_key(image, "ImageArn"))))
    point = _key(resource, "RecoveryPointDetails")
    if isinstance(point, dict):
        lines.append(("Recovery point", _scalar(_key(point, "RecoveryPointArn"))))
        lines.append(("Backup vault", _scalar(_key(point, "BackupVaultName"))))
    models = [_scalar(_key(model, "ModelId")) for model in _items(_key(resource, "ModelDetails"))]
    lines.append(("AI models", ", ".join(model for model in models if model)))
    guardrail = _key(resource, "BedrockGuardrailDetails")
    if isinstance(guardrail, dict):
        listed = [_within(_key(item, "Arn"), _key(item, "Version")) for item in _items(_key(guardrail, "Guardrails"))]
        listed = [item for item in listed if item] or [_within(
            _key(guardrail, "GuardrailArn"), _key(guardrail, "GuardrailVersion"))]
        for item in listed:
            lines.append(("Bedrock guardrail", item))
        lines.append(("Guardrail action", _joined(
            _key(guardrail, "GuardrailAction"), _joined("on", _key(guardrail, "GuardrailSource"))
            if _key(guardrail, "GuardrailSource") else None)))
        for content in _items(_key(guardrail, "ContentPolicyFilters")):
            lines.append(("Content filter", _joined(
                _key(content, "Type"), _key(content, "Confidence"), _key(content, "Action"), between=" · ")))
