"""The affected resource of every kind of finding GuardDuty's current model describes, in both spellings.

Each sample's resource block uses the member names of botocore's GuardDuty model (shape `Resource` and the
shapes it points to); the rest of the finding comes from the simulator's catalogue.
"""

from __future__ import annotations

import copy
import json
import random

import botocore.session
import pytest

from findings.parsing import parse_finding
from gdsim.catalogue import build_finding, to_camel_case
from tests.findings.factories import DETECTOR, MEMBER, NOW

SHARD_GROUP_ARN = f"arn:aws:rds:us-east-1:{MEMBER}:shard-group:shardgroup-0123456789abcdef0"
SNAPSHOT_ARN = f"arn:aws:ec2:us-east-1:{MEMBER}:snapshot/snap-0123456789abcdef0"
IMAGE_ARN = "arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0"
RECOVERY_POINT_ARN = "arn:aws:backup:us-east-1:111122223333:recovery-point:a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
GUARDRAIL_ARN = f"arn:aws:bedrock:us-east-1:{MEMBER}:guardrail/abcd1234efgh"
ACCESS_KEY = {"AccessKeyId": "ASIAEXAMPLEKEY000001", "PrincipalId": "AROAEXAMPLE:session", "UserName": "ml-app",
              "UserType": "AssumedRole"}

# (ResourceType, Resource members, expected resource_id, expected resource_name)
SAMPLES = {
    "rds_limitless": ("RDSLimitlessDB", {"RdsLimitlessDbDetails": {
        "DbShardGroupIdentifier": "orders-shards", "DbShardGroupResourceId": "shardgroup-0123456789abcdef0",
        "DbShardGroupArn": SHARD_GROUP_ARN, "Engine": "aurora-postgresql", "EngineVersion": "16.4-limitless",
        "DbClusterIdentifier": "orders-limitless", "Tags": [{"Key": "Name", "Value": "orders"}]},
        "RdsDbUserDetails": {"User": "app_rw", "Application": "psql", "Database": "orders", "Ssl": "true",
                             "AuthMethod": "PASSWORD"}},
        "orders-shards", "orders-limitless"),
    # Malware Protection for Backup: AWS documents no ResourceType value for these; found by their block.
    "ebs_snapshot": ("EBSSnapshot", {"EbsSnapshotDetails": {"SnapshotArn": SNAPSHOT_ARN}}, SNAPSHOT_ARN, None),
    "ec2_image": ("EC2Image", {"Ec2ImageDetails": {"ImageArn": IMAGE_ARN}}, IMAGE_ARN, None),
    "recovery_point": ("RecoveryPoint", {"RecoveryPointDetails": {
        "RecoveryPointArn": RECOVERY_POINT_ARN, "BackupVaultName": "prod-vault"}}, RECOVERY_POINT_ARN, "prod-vault"),
    # AI Protection: "The Resource type for these findings is AccessKey" (findings-ai-protection).
    "ai_models": ("AccessKey", {"AccessKeyDetails": ACCESS_KEY, "ModelDetails": [
        {"ModelId": "anthropic.claude-3-5-sonnet-20240620-v1:0"}, {"ModelId": "amazon.titan-text-express-v1"}]},
        "ASIAEXAMPLEKEY000001", "ml-app"),
    "bedrock_guardrail": ("AccessKey", {"AccessKeyDetails": ACCESS_KEY, "BedrockGuardrailDetails": {
        "Guardrails": [{"Arn": GUARDRAIL_ARN, "Version": "3"}], "GuardrailAction": "GUARDRAIL_INTERVENED",
        "GuardrailSource": "INPUT", "ContentPolicyFilters": [
            {"Type": "PROMPT_ATTACK", "Confidence": "HIGH", "Action": "BLOCKED"}]}},
        "ASIAEXAMPLEKEY000001", "ml-app"),
    "models_without_a_key": ("AccessKey", {"ModelDetails": [{"ModelId": "amazon.titan-text-express-v1"}]},
                             "amazon.titan-text-express-v1", None),
    "guardrail_deprecated_members": ("AccessKey", {"BedrockGuardrailDetails": {
        "GuardrailArn": GUARDRAIL_ARN, "GuardrailVersion": "DRAFT"}}, GUARDRAIL_ARN, "DRAFT"),
    "ecs_task": ("ECSCluster", {"EcsClusterDetails": {
        "Name": "prod-services", "Arn": f"arn:aws:ecs:us-east-1:{MEMBER}:cluster/prod-services", "Status": "ACTIVE",
        "TaskDetails": {"Arn": f"arn:aws:ecs:us-east-1:{MEMBER}:task/prod-services/0123abcd",
                        "DefinitionArn": f"arn:aws:ecs:us-east-1:{MEMBER}:task-definition/api:7",
                        "LaunchType": "FARGATE"}},
        "ContainerDetails": {"Id": "0123abcd", "Name": "api", "Image": "registry.example.com/api:1"}},
        "prod-services", "api"),
    "ecs_task_without_container": ("ECSCluster", {"EcsClusterDetails": {
        "Name": "batch-jobs", "TaskDetails": {"Arn": f"arn:aws:ecs:us-east-1:{MEMBER}:task/batch-jobs/0456cdef",
                                              "LaunchType": "EC2"}}},
        "batch-jobs", f"arn:aws:ecs:us-east-1:{MEMBER}:task/batch-jobs/0456cdef"),
}


def finding_with(resource_type: str, members: dict) -> dict:
    finding = build_finding(random.Random(5), finding_type="Recon:IAMUser/MaliciousIPCaller", account_id=MEMBER,
                            region="us-east-1", detector_id=DETECTOR, now=NOW)
    finding["Resource"] = {"ResourceType": resource_type, **copy.deepcopy(members)}
    return finding


def _model_valid(finding: dict) -> None:
    """The sample is a Finding botocore would accept member for member (no invented members)."""
    model = botocore.session.get_session().get_service_model("guardduty")
    shape = model.shape_for("Resource")

    def walk(value, shape, path):
        if shape.type_name == "structure":
            assert isinstance(value, dict), path
            for key, item in value.items():
                assert key in shape.members, f"{path}.{key} is not in botocore's model"
                walk(item, shape.members[key], f"{path}.{key}")
        elif shape.type_name == "list":
            for index, item in enumerate(value):
                walk(item, shape.member, f"{path}[{index}]")

    walk(finding["Resource"], shape, "Resource")


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_the_affected_resource_of_every_current_resource_kind_is_read_in_both_spellings(sample):
    resource_type, members, resource_id, resource_name = SAMPLES[sample]
    finding = finding_with(resource_type, members)
    _model_valid(finding)

    pascal = parse_finding(finding)
    camel = parse_finding(json.loads(json.dumps(to_camel_case(finding))))

    assert (pascal.resource_type, pascal.resource_id, pascal.resource_name) == (
        resource_type, resource_id, resource_name)
    assert camel == pascal


def test_a_known_resource_type_without_its_block_still_finds_the_block_that_came():
    finding = finding_with("Instance", {"RecoveryPointDetails": {"RecoveryPointArn": RECOVERY_POINT_ARN}})

    assert parse_finding(finding).resource_id == RECOVERY_POINT_ARN


def test_a_hostile_vault_name_arrives_verbatim_for_the_template_to_escape():
    finding = finding_with("RecoveryPoint", {"RecoveryPointDetails": {
        "RecoveryPointArn": RECOVERY_POINT_ARN, "BackupVaultName": "<script>alert(1)</script>"}})

    assert parse_finding(finding).resource_name == "<script>alert(1)</script>"


def test_a_guardrail_list_that_is_not_a_list_is_refused_with_its_path():
    finding = finding_with("AccessKey", {"BedrockGuardrailDetails": {"Guardrails": {"Arn": GUARDRAIL_ARN}}})

    with pytest.raises(ValueError, match="Resource.BedrockGuardrailDetails.Guardrails must be a list"):
        parse_finding(finding)


# Members of Resource that describe something else than the affected resource itself: the caller, the
# Kubernetes user and workload next to the cluster, the DB user next to the database, scanned volumes.
_CONTEXT_MEMBERS = {"ResourceType", "KubernetesDetails", "RdsDbUserDetails", "EbsVolumeDetails"}


def test_every_resource_block_of_botocores_model_names_an_affected_resource():
    """A block GuardDuty adds to `Resource` fails here until an extractor (or the list above) takes it."""
    from findings.parsing import _MEMBERS
    from findings.resources import _FALLBACK_EXTRACTORS

    model = botocore.session.get_session().get_service_model("guardduty")
    extractor_names = {extractor.__name__ for extractor in _FALLBACK_EXTRACTORS}
    read = set(_MEMBERS.values())
    missing = [name for name in model.shape_for("Resource").members if name not in read | _CONTEXT_MEMBERS]
    assert missing == []
    assert len(extractor_names) == len(_FALLBACK_EXTRACTORS)
