"""The simulator's catalogue covers GuardDuty's current finding families, with the blocks AWS documents for each."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from gdsim.catalogue import FINDING_TYPES, build_finding, to_camel_case

ACCOUNT = "111122223333"
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

# Type names as the GuardDuty User Guide lists them, one page per family.
FAMILIES = {
    # findings-ai-protection.html
    "AI Protection": {"Impact:IAMUser/AnomalousModelInvocation", "Impact:IAMUser/CostHarvesting",
                      "Impact:IAMUser/PromptInjection.Direct"},
    # gdu-malware-protection-s3-finding-types.html
    "Malware Protection for S3": {"Object:S3/MaliciousFile"},
    # findings-malware-protection-backup.html
    "Malware Protection for Backup": {"Execution:EC2/MaliciousFile!Snapshot", "Execution:EC2/MaliciousFile!AMI",
                                      "Execution:EC2/MaliciousFile!RecoveryPoint",
                                      "Execution:S3/MaliciousFile!RecoveryPoint"},
    # findings-custom-detection-rules.html
    "Custom Detection Rules": {"DefenseImpairment:EC2/DisableOrModifyTools",
                               "CredentialAccess:EC2/UnsecuredCredentials"},
    # guardduty-attack-sequence-finding-types.html
    "Extended Threat Detection": {"AttackSequence:IAM/CompromisedCredentials", "AttackSequence:S3/CompromisedData",
                                  "AttackSequence:EKS/CompromisedCluster", "AttackSequence:ECS/CompromisedCluster",
                                  "AttackSequence:EC2/CompromisedInstanceGroup"},
}


def finding_of(finding_type: str, **options) -> dict:
    return build_finding(random.Random(4), finding_type=finding_type, account_id=ACCOUNT, region="eu-west-1",
                         detector_id="12abc34d567e8fa901bc2d34e56789f0", now=NOW, **options)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_catalogue_has_every_documented_type_of_the_family(family):
    assert FAMILIES[family] <= set(FINDING_TYPES)


@pytest.mark.parametrize("finding_type", sorted(FAMILIES["AI Protection"]))
def test_ai_protection_findings_name_the_caller_and_the_models_or_guardrail(finding_type):
    resource = finding_of(finding_type)["Resource"]

    assert resource["ResourceType"] == "AccessKey" and resource["AccessKeyDetails"]["AccessKeyId"]
    if finding_type.endswith("PromptInjection.Direct"):
        guardrail = resource["BedrockGuardrailDetails"]
        assert guardrail["GuardrailAction"] == "GUARDRAIL_INTERVENED"
        assert guardrail["Guardrails"][0]["Arn"].startswith(f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:guardrail/")
    else:
        assert [model["ModelId"] for model in resource["ModelDetails"]]


@pytest.mark.parametrize("finding_type", sorted(FAMILIES["Malware Protection for Backup"]))
def test_backup_malware_findings_carry_the_scanned_backup_and_a_backup_initiated_scan(finding_type):
    finding = finding_of(finding_type)
    block = {"Snapshot": "EbsSnapshotDetails", "AMI": "Ec2ImageDetails",
             "RecoveryPoint": "RecoveryPointDetails"}[finding_type.rsplit("!", 1)[1]]

    assert block in finding["Resource"]
    scan = finding["Service"]["MalwareScanDetails"]
    assert scan["ScanType"] == "BACKUP_INITIATED" and scan["ScanConfiguration"] == {"TriggerType": "BACKUP"}
    assert scan["Threats"][0]["ItemPaths"]


@pytest.mark.parametrize("finding_type", sorted(FAMILIES["Custom Detection Rules"]))
def test_custom_detection_rule_findings_name_their_rule_in_both_spellings(finding_type):
    finding = finding_of(finding_type)
    rule = FINDING_TYPES[finding_type].params["rule"]

    assert finding["CustomDetectionRuleName"] == rule
    assert to_camel_case(finding)["customDetectionRuleName"] == rule
    assert rule in finding["Description"]


def test_a_limitless_database_finding_names_its_shard_group_and_the_db_user():
    resource = finding_of("CredentialAccess:RDS/MaliciousIPCaller.FailedLogin")["Resource"]

    assert resource["ResourceType"] == "RDSLimitlessDB"
    assert resource["RdsLimitlessDbDetails"]["DbShardGroupArn"].startswith("arn:aws:rds:eu-west-1:")
    assert resource["RdsDbUserDetails"]["User"]

