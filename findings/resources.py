"""The resource a finding is about, per resource type: its id and name, in either key spelling.

One extractor per `Resource.ResourceType`; a type GuardWatch does not know yet is tried against each
extractor in turn (`_FALLBACK_EXTRACTORS`), so a new resource type still shows what it can.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from findings.readers import (
    NAME_MAX_LENGTH,
    RESOURCE_ID_MAX_LENGTH,
    FindingParseError,
    _first,
    _object,
    _text,
)


def _name_tag(details: dict, k: SimpleNamespace) -> Any:
    tags = details.get(k.tags)
    if tags is None:
        return None
    if type(tags) is not list:
        raise FindingParseError(f"{k.resource}.{k.instance_details}.{k.tags} must be a list")
    for tag in tags:
        if type(tag) is dict and tag.get(k.key) == "Name":
            return tag.get(k.value)
    return None


def _resource_identity(
    resource: dict, resource_type: str | None, k: SimpleNamespace
) -> tuple[str | None, str | None]:
    """(resource_id, resource_name) of the affected resource, read from its details block.

    The extractor of the finding's `ResourceType` goes first; when it finds nothing (its block is absent,
    or the type is one GuardDuty does not document, as for Malware Protection for Backup findings) every
    extractor is tried, most specific first.
    """
    extractor = _RESOURCE_EXTRACTORS.get(resource_type or "")
    candidates = (extractor, *_FALLBACK_EXTRACTORS) if extractor else _FALLBACK_EXTRACTORS
    for candidate in candidates:
        found = candidate(resource, k)
        if found is not None:
            resource_id, resource_name = found
            return (
                _text(resource_id, RESOURCE_ID_MAX_LENGTH, k.resource, "<resource id>"),
                _text(resource_name, NAME_MAX_LENGTH, k.resource, "<resource name>"),
            )
    return None, None


def _instance(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    details = _object(resource, k.instance_details, k.resource)
    if not details:
        return None
    return details.get(k.instance_id), _name_tag(details, k)


def _access_key(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    details = _object(resource, k.access_key_details, k.resource)
    if not details:
        return None
    return details.get(k.access_key_id), details.get(k.user_name)


def _s3_bucket(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    bucket = _first(resource, k.s3_bucket_details, k.resource)
    if not bucket:
        return None
    s3_object = _first(bucket, k.s3_object_details, k.resource, k.s3_bucket_details)
    return bucket.get(k.name), s3_object.get(k.key)


def _kubernetes(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    cluster = _object(resource, k.eks_cluster_details, k.resource)
    if not cluster:
        return None
    kubernetes = _object(resource, k.kubernetes_details, k.resource)
    workload = _object(kubernetes, k.kubernetes_workload_details, k.resource, k.kubernetes_details)
    return cluster.get(k.name), workload.get(k.name)


def _ecs(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    cluster = _object(resource, k.ecs_cluster_details, k.resource)
    if not cluster:
        return None
    container = _object(resource, k.container_details, k.resource)
    if container.get(k.name) is not None:
        return cluster.get(k.name), container.get(k.name)
    # No container named: the task (EcsClusterDetails.TaskDetails.Arn) is the most specific thing affected.
    task = _object(cluster, k.task_details, k.resource, k.ecs_cluster_details)
    return cluster.get(k.name), task.get(k.arn)


def _container(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    container = _object(resource, k.container_details, k.resource)
    if not container:
        return None
    return container.get(k.id), container.get(k.name)


def _rds(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    details = _object(resource, k.rds_db_instance_details, k.resource)
    if not details:
        return None
    return details.get(k.db_instance_identifier), details.get(k.db_cluster_identifier)


def _lambda(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    details = _object(resource, k.lambda_details, k.resource)
    if not details:
        return None
    return details.get(k.function_name), None


def _rds_limitless(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    # botocore shape RdsLimitlessDbDetails: "the resource type RDSLimitlessDB" (API reference).
    details = _object(resource, k.rds_limitless_db_details, k.resource)
    if not details:
        return None
    return details.get(k.db_shard_group_identifier), details.get(k.db_cluster_identifier)


def _ebs_snapshot(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    # botocore shape EbsSnapshotDetails (Malware Protection for Backup): SnapshotArn only.
    details = _object(resource, k.ebs_snapshot_details, k.resource)
    if not details:
        return None
    return details.get(k.snapshot_arn), None


def _ec2_image(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    # botocore shape Ec2ImageDetails (Malware Protection for Backup): ImageArn only.
    details = _object(resource, k.ec2_image_details, k.resource)
    if not details:
        return None
    return details.get(k.image_arn), None


def _recovery_point(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    # botocore shape RecoveryPointDetails (Malware Protection for Backup): RecoveryPointArn, BackupVaultName.
    details = _object(resource, k.recovery_point_details, k.resource)
    if not details:
        return None
    return details.get(k.recovery_point_arn), details.get(k.backup_vault_name)


def _ai_model(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    # AI Protection findings name the invoked models in Resource.ModelDetails[].ModelId; their resource
    # type is AccessKey, so this applies only when no access key block came with them.
    model = _first(resource, k.model_details, k.resource)
    if not model:
        return None
    return model.get(k.model_id), None


def _bedrock_guardrail(resource: dict, k: SimpleNamespace) -> tuple[Any, Any] | None:
    # Resource.BedrockGuardrailDetails: `Guardrails[]` (Arn, Version); GuardrailArn/GuardrailVersion are
    # deprecated in the model but may still be the only ones sent.
    details = _object(resource, k.bedrock_guardrail_details, k.resource)
    if not details:
        return None
    guardrail = _first(details, k.guardrails, k.resource, k.bedrock_guardrail_details)
    return (guardrail.get(k.arn) or details.get(k.guardrail_arn),
            guardrail.get(k.version) or details.get(k.guardrail_version))


# resource_id / resource_name per Resource.ResourceType:
#   Instance: instance id / Name tag              AccessKey: access key id / user name
#   S3Bucket, S3Object: bucket name / object key  EKSCluster, KubernetesCluster: cluster / workload
#   ECSCluster: cluster name / container name (or task ARN)   Container: container id / container name
#   RDSDBInstance: DB instance id / DB cluster id Lambda: function name / None
#   RDSLimitlessDB: DB shard group / DB cluster id
# Malware Protection for Backup findings (EBS snapshot, EC2 image, recovery point) and AI Protection's model
# and guardrail blocks have no documented ResourceType value: they are found by their details block.
_RESOURCE_EXTRACTORS = {
    "Instance": _instance,
    "AccessKey": _access_key,
    "S3Bucket": _s3_bucket,
    "S3Object": _s3_bucket,
    "EKSCluster": _kubernetes,
    "KubernetesCluster": _kubernetes,
    "ECSCluster": _ecs,
    "Container": _container,
    "RDSDBInstance": _rds,
    "Lambda": _lambda,
    "RDSLimitlessDB": _rds_limitless,
}
# For resource types GuardDuty adds later: the most specific details block present wins.
_FALLBACK_EXTRACTORS = (
    _recovery_point, _ebs_snapshot, _ec2_image, _s3_bucket, _kubernetes, _ecs, _rds_limitless, _rds, _lambda,
    _container, _instance, _access_key, _bedrock_guardrail, _ai_model,
)
