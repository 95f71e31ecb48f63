"""Runtime Monitoring coverage: ListCoverage and GetCoverageStatistics.

Each account with a detector has a fixed (hash-derived) handful of EKS clusters, ECS clusters and
EC2 instances. With the RUNTIME_MONITORING plan off everything is UNHEALTHY. With it on, a resource
type whose automated agent management is ENABLED (EKS_ADDON_MANAGEMENT, ECS_FARGATE_AGENT_MANAGEMENT,
EC2_AGENT_MANAGEMENT) is AUTO_MANAGED and HEALTHY: "Managing the security agent automatically means
that you permit GuardDuty to install and update the security agent on your behalf" (GuardDuty User
Guide, "GuardDuty Runtime Monitoring"; "Managing GuardDuty security agents"). Otherwise it is MANUAL,
and an occasional one is UNHEALTHY with "No Agent Reporting": nobody deployed the agent there
("Reviewing runtime coverage statistics and troubleshooting issues": coverage is Unhealthy when the
security agent was not deployed).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from ..findings import paginate
from ..records import Detector, parse_iso
from .registry import Context, handles

_SORT_FIELDS = {
    "ACCOUNT_ID": lambda resource: resource["AccountId"],
    "COVERAGE_STATUS": lambda resource: resource["CoverageStatus"],
    "ISSUE": lambda resource: resource.get("Issue", ""),
    "UPDATED_AT": lambda resource: resource["UpdatedAt"],
    "ADDON_VERSION": lambda resource: _values(resource, "ADDON_VERSION")[:1] or [""],
    "CLUSTER_NAME": lambda resource: _values(resource, "CLUSTER_NAME")[:1] or [""],
    "EKS_CLUSTER_NAME": lambda resource: _values(resource, "EKS_CLUSTER_NAME")[:1] or [""],
    "ECS_CLUSTER_NAME": lambda resource: _values(resource, "ECS_CLUSTER_NAME")[:1] or [""],
    "INSTANCE_ID": lambda resource: _values(resource, "INSTANCE_ID")[:1] or [""],
}


def _digest(*parts: str) -> int:
    return int(hashlib.sha256(":".join(parts).encode()).hexdigest(), 16)


def account_resources(account_id: str, region: str, detector: Detector) -> list[dict[str, Any]]:
    """The coverage resources of one account in one region."""
    digest = _digest(account_id, region)
    runtime_on = detector.feature_enabled("RUNTIME_MONITORING") or detector.feature_enabled("EKS_RUNTIME_MONITORING")
    updated = parse_iso(detector.updated_at)
    resources = []

    def managed(agent: str) -> bool:
        return runtime_on and detector.additional.get(agent) == "ENABLED"

    def management_of(agent: str) -> str:
        # botocore guardduty model, ManagementType: "The DISABLED status doesn't apply to Amazon EC2 instances and
        # Amazon EKS clusters"; "The MANUAL status doesn't apply to the AWS Fargate (Amazon ECS only) workloads".
        if managed(agent):
            return "AUTO_MANAGED"
        return "DISABLED" if agent == "ECS_FARGATE_AGENT_MANAGEMENT" else "MANUAL"

    def status(index: int, agent: str) -> tuple[str, str | None]:
        if not runtime_on:
            return "UNHEALTHY", "Runtime Monitoring is not enabled for this account."
        if not managed(agent) and (digest >> (index + 40)) % 7 == 0:
            return "UNHEALTHY", "No Agent Reporting"
        return "HEALTHY", None

    for index in range(1 + digest % 3):
        name = f"eks-{index + 1}-{account_id[-4:]}"
        coverage, issue = status(index, "EKS_ADDON_MANAGEMENT")
        management = management_of("EKS_ADDON_MANAGEMENT")
        nodes = 2 + (digest >> index) % 8
        resources.append(_resource(account_id, detector, f"{name}", coverage, issue, updated, {
            "ResourceType": "EKS",
            "EksClusterDetails": {"ClusterName": name, "CoveredNodes": nodes if coverage == "HEALTHY" else 0,
                                  "CompatibleNodes": nodes, "ManagementType": management,
                                  "AddonDetails": {"AddonVersion": "v1.7.1-eksbuild.1",
                                                   "AddonStatus": "ACTIVE" if runtime_on else "DISABLED"}},
        }))
    for index in range((digest >> 8) % 4):
        instance_id = f"i-{_digest(account_id, region, str(index)):017x}"[:19]
        coverage, issue = status(10 + index, "EC2_AGENT_MANAGEMENT")
        management = management_of("EC2_AGENT_MANAGEMENT")
        resources.append(_resource(account_id, detector, instance_id, coverage, issue, updated, {
            "ResourceType": "EC2",
            "Ec2InstanceDetails": {"InstanceId": instance_id, "InstanceType": "m5.large",
                                   "AgentDetails": {"Version": "1.6.0"}, "ManagementType": management},
        }))
    if (digest >> 16) % 2:
        name = f"ecs-{account_id[-4:]}"
        coverage, issue = status(20, "ECS_FARGATE_AGENT_MANAGEMENT")
        management = management_of("ECS_FARGATE_AGENT_MANAGEMENT")
        resources.append(_resource(account_id, detector, name, coverage, issue, updated, {
            "ResourceType": "ECS",
            "EcsClusterDetails": {"ClusterName": name,
                                  "FargateDetails": {"ManagementType": management},
                                  "ContainerInstanceDetails": {"CoveredContainerInstances": 3,
                                                               "CompatibleContainerInstances": 3}},
        }))
    return resources


def _resource(account_id: str, detector: Detector, resource_id: str, coverage: str, issue: str | None,
              updated: datetime, details: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "ResourceId": resource_id, "DetectorId": detector.detector_id, "AccountId": account_id,
        "ResourceDetails": details, "CoverageStatus": coverage, "UpdatedAt": updated.astimezone(UTC),
    }
    if issue:
        resource["Issue"] = issue
    return resource


def _values(resource: dict[str, Any], key: str) -> list[str]:
    details = resource["ResourceDetails"]
    eks = details.get("EksClusterDetails", {})
    ecs = details.get("EcsClusterDetails", {})
    ec2 = details.get("Ec2InstanceDetails", {})
    values = {
        "ACCOUNT_ID": [resource["AccountId"]],
        "RESOURCE_TYPE": [details["ResourceType"]],
        "COVERAGE_STATUS": [resource["CoverageStatus"]],
        "ADDON_VERSION": [eks.get("AddonDetails", {}).get("AddonVersion")],
        "CLUSTER_NAME": [eks.get("ClusterName"), ecs.get("ClusterName")],
        "EKS_CLUSTER_NAME": [eks.get("ClusterName")],
        "ECS_CLUSTER_NAME": [ecs.get("ClusterName")],
        "MANAGEMENT_TYPE": [eks.get("ManagementType"), ec2.get("ManagementType"),
                            ecs.get("FargateDetails", {}).get("ManagementType")],
        "AGENT_VERSION": [ec2.get("AgentDetails", {}).get("Version")],
        "INSTANCE_ID": [ec2.get("InstanceId")],
        "CLUSTER_ARN": [ec2.get("ClusterArn")],
    }[key]
    return [value for value in values if value]


def covered_resources(context: Context, filter_criteria: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Coverage of the caller and its Enabled members, filtered by CoverageFilterCriteria."""
    resources = []
    for account_id in sorted(context.state.visible_accounts(context.account_id, context.region)):
        detector = context.state.scope(account_id, context.region).detector
        if detector is not None:
            resources.extend(account_resources(account_id, context.region, detector))
    for criterion in (filter_criteria or {}).get("FilterCriterion", []):
        key = criterion.get("CriterionKey")
        condition = criterion.get("FilterCondition", {})
        if not key:
            continue
        if "Equals" in condition:
            resources = [r for r in resources if set(_values(r, key)) & set(condition["Equals"])]
        if "NotEquals" in condition:
            resources = [r for r in resources if not set(_values(r, key)) & set(condition["NotEquals"])]
    return resources


@handles("ListCoverage")
def list_coverage(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Covered resources, filtered, sorted and paged."""
    context.detector(params["DetectorId"])
    resources = covered_resources(context, params.get("FilterCriteria"))
    sort = params.get("SortCriteria") or {}
    if sort.get("AttributeName"):
        resources.sort(key=_SORT_FIELDS[sort["AttributeName"]], reverse=sort.get("OrderBy") == "DESC")
    page, token = paginate(resources, params.get("MaxResults"), params.get("NextToken"),
                           scope=f"coverage:{sort.get('AttributeName')}:{sort.get('OrderBy')}")
    result: dict[str, Any] = {"Resources": page}
    if token:
        result["NextToken"] = token
    return result


@handles("GetCoverageStatistics")
def get_coverage_statistics(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Counts of covered resources by type and by status."""
    context.detector(params["DetectorId"])
    resources = covered_resources(context, params.get("FilterCriteria"))
    statistics: dict[str, Any] = {}
    if "COUNT_BY_RESOURCE_TYPE" in params["StatisticsType"]:
        statistics["CountByResourceType"] = dict(Counter(r["ResourceDetails"]["ResourceType"] for r in resources))
    if "COUNT_BY_COVERAGE_STATUS" in params["StatisticsType"]:
        statistics["CountByCoverageStatus"] = dict(Counter(r["CoverageStatus"] for r in resources))
    return {"CoverageStatistics": statistics}
