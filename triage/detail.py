"""A finding's page, explained: the console link, its raw GuardDuty JSON flattened, and what it means."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

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
        "resource_pairs": flatten(_key(raw, "Resource"), limit=60),
        "raw_pretty": json.dumps(raw, indent=2, sort_keys=True, ensure_ascii=False, default=str),
    }


def _additional(service: dict) -> Any:
    info = _key(service, "AdditionalInfo")
    if isinstance(info, dict) and isinstance(_key(info, "Value"), str):
        try:
            return json.loads(_key(info, "Value"))
        except ValueError:
            return info
    return info
