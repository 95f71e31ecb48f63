"""A finding's page names its affected resource, whatever kind GuardDuty's current model describes, escaped."""

from __future__ import annotations

import random
import re

import pytest

from findings.models import Finding
from findings.parsing import parse_finding
from findings.services import findings_upsert
from gdsim.catalogue import to_camel_case
from tests.findings.factories import raw_finding
from tests.triage.support import store

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _plant(path: tuple, raw: dict) -> dict:
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = f"{node[path[-1]]}{SCRIPT}"
    return raw


# (finding type, the attacker-reachable member given a payload, the label its line carries)
CASES = {
    "rds_limitless": ("CredentialAccess:RDS/MaliciousIPCaller.FailedLogin",
                      ("Resource", "RdsLimitlessDbDetails", "DbShardGroupIdentifier"), "RDS Limitless DB shard group"),
    "ebs_snapshot": ("Execution:EC2/MaliciousFile!Snapshot", ("Resource", "EbsSnapshotDetails", "SnapshotArn"),
                     "EBS snapshot"),
    "ec2_image": ("Execution:EC2/MaliciousFile!AMI", ("Resource", "Ec2ImageDetails", "ImageArn"), "EC2 image"),
    "ec2_recovery_point": ("Execution:EC2/MaliciousFile!RecoveryPoint",
                           ("Resource", "RecoveryPointDetails", "BackupVaultName"), "Backup vault"),
    "s3_recovery_point": ("Execution:S3/MaliciousFile!RecoveryPoint",
                          ("Resource", "RecoveryPointDetails", "RecoveryPointArn"), "Recovery point"),
    "ai_models": ("Impact:IAMUser/AnomalousModelInvocation", ("Resource", "ModelDetails", 0, "ModelId"), "AI models"),
    "bedrock_guardrail": ("Impact:IAMUser/PromptInjection.Direct",
                          ("Resource", "BedrockGuardrailDetails", "Guardrails", 0, "Arn"), "Bedrock guardrail"),
    "lambda": ("Backdoor:Lambda/C&CActivity.B", ("Resource", "LambdaDetails", "FunctionName"), "Lambda function"),
    "ecs_task": ("Execution:Runtime/NewLibraryLoaded", ("Resource", "EcsClusterDetails", "TaskDetails", "Arn"),
                 "ECS task"),
    "eks_cluster": ("Execution:Kubernetes/ExecInKubeSystemPod", ("Resource", "EksClusterDetails", "Name"),
                    "EKS cluster"),
    "container": ("Execution:Runtime/NewBinaryExecuted", ("Resource", "ContainerDetails", "Image"), "Container"),
    "attack_sequence": ("AttackSequence:S3/CompromisedData",
                        ("Service", "Detection", "Sequence", "Resources", 0, "Name"), "Attack sequence resource"),
}


def _summary(html: str) -> dict[str, list[str]]:
    block = re.search(r'<dl class="kv-list" data-testid="resource-summary">(.*?)</dl>', html, re.S)
    assert block, "no resource summary on the page"
    lines: dict[str, list[str]] = {}
    for label, text in re.findall(r"<dt>(.*?)</dt><dd[^>]*>(.*?)</dd>", block.group(1), re.S):
        lines.setdefault(label, []).append(text)
    return lines


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("spelling", ["boto3", "eventbridge"])
def test_the_affected_resource_is_summarised_and_escaped_on_the_finding_page(client_for, case, spelling):
    finding_type, path, label = CASES[case]
    raw = _plant(path, raw_finding(random.Random(8), finding_type=finding_type))
    if spelling == "eventbridge":
        raw = to_camel_case(raw)  # the same finding in GuardDuty's own JSON (EventBridge, S3 exports)
    parsed = parse_finding(raw)
    findings_upsert(findings=[parsed], source="pull")
    finding = Finding.objects.get(arn=parsed.arn)

    html = client_for("analyst").get(f"/findings/{finding.pk}/").content.decode()

    lines = _summary(html)
    assert label in lines, lines
    assert any(ESCAPED in text for text in lines[label])
    assert SCRIPT not in html


def test_a_custom_detection_rule_finding_names_its_rule(client_for):
    (finding,) = store([raw_finding(random.Random(8), finding_type="DefenseImpairment:EC2/DisableOrModifyTools")])

    html = client_for("analyst").get(f"/findings/{finding.pk}/").content.decode()

    assert re.search(r'data-testid="custom-rule">VPCFlowLogsDeleted<', html)
    assert "VPC flow logs were deleted" in html
