"""The entities a finding is about: IP addresses, access keys and principals, instances, buckets, clusters,
containers and domains, read from the finding in either key spelling.

`finding_entities` is a pure function over the finding as received. Its (kind, value) pairs are written
to `FindingEntity` by the upsert, so "every finding about this IP" is one index lookup, not a text scan
over a million `raw` documents. It never refuses a finding (`parse_finding` does that): a member of the
wrong type is skipped, and values are bounded like every stored string.

Where each kind comes from (botocore's guardduty model, shape names; the JSON spelling is lowerCamel):
- ip: `RemoteIpDetails` of NetworkConnectionAction, AwsApiCallAction, KubernetesApiCallAction,
  RdsLoginAttemptAction and every PortProbeAction.PortProbeDetails[]; `Detection.Sequence.Endpoints[].Ip`.
- access_key: `Resource.AccessKeyDetails.AccessKeyId`; a sequence's `Actors[].User.CredentialUid` and
  its ACCESS_KEY resources' `Uid`.
- principal: `AccessKeyDetails.PrincipalId`; a sequence's `Actors[].User.Uid`.
- user: `AccessKeyDetails.UserName`; a sequence's `Actors[].User.Name`.
- instance: `Resource.InstanceDetails.InstanceId`; a sequence's EC2_INSTANCE resources' `Uid`.
- bucket: every `Resource.S3BucketDetails[].Name`; a sequence's S3_BUCKET resources' `Name`.
- eks_cluster / ecs_cluster: `EksClusterDetails.Name` / `EcsClusterDetails.Name`; a sequence's
  EKS_CLUSTER / ECS_CLUSTER resources' `Name`.
- container: `Resource.ContainerDetails.Id` (or its Name when it has no id); the containers of
  `EcsClusterDetails.TaskDetails.Containers[]` likewise.
- domain: `Service.Action.DnsRequestAction.Domain`; a sequence's `Endpoints[].Domain`. Lowercased (DNS
  names are case-insensitive), with a trailing dot removed.
"""

from __future__ import annotations

import socket
from typing import Any

KINDS: dict[str, str] = {
    "ip": "IP address",
    "access_key": "Access key",
    "principal": "IAM principal",
    "user": "IAM user or role",
    "instance": "EC2 instance",
    "bucket": "S3 bucket",
    "eks_cluster": "EKS cluster",
    "ecs_cluster": "ECS cluster",
    "container": "Container",
    "domain": "Domain",
}
VALUE_MAX_LENGTH = 255  # bucket names 63, instance ids 19, container ids 64, domains 253
LIST_MAX = 50  # members read from any one list (PortProbeDetails, S3BucketDetails, Endpoints...)

_REMOTE_ACTIONS = ("NetworkConnectionAction", "AwsApiCallAction", "KubernetesApiCallAction", "RdsLoginAttemptAction")
# Resources[].ResourceType of an attack sequence (ResourceV2.ResourceType) -> (kind, member holding the value).
_SEQUENCE_RESOURCES = {
    "EC2_INSTANCE": ("instance", "Uid"),
    "ACCESS_KEY": ("access_key", "Uid"),
    "S3_BUCKET": ("bucket", "Name"),
    "EKS_CLUSTER": ("eks_cluster", "Name"),
    "ECS_CLUSTER": ("ecs_cluster", "Name"),
}


# Every member name read, in boto3's PascalCase and in GuardDuty JSON's lowerCamel: plain dicts, since this
# runs for every stored finding.
_NAMES = (
    "Resource", "AccessKeyDetails", "AccessKeyId", "PrincipalId", "UserName", "InstanceDetails", "InstanceId",
    "S3BucketDetails", "Name", "EksClusterDetails", "EcsClusterDetails", "ContainerDetails", "TaskDetails",
    "Containers", "Id", "Service", "Action", "RemoteIpDetails", "PortProbeAction", "PortProbeDetails",
    "DnsRequestAction", "Domain", "Detection", "Sequence", "Actors", "User", "CredentialUid", "Uid", "Resources",
    "ResourceType", "Endpoints", "Ip", "IpAddressV4", "IpAddressV6", *_REMOTE_ACTIONS,
)  # fmt: skip
_PASCAL = {name: name for name in _NAMES}
_CAMEL = {name: name[:1].lower() + name[1:] for name in _NAMES}
_CAMEL_REMOTE_ACTIONS = tuple(_CAMEL[name] for name in _REMOTE_ACTIONS)
_CAMEL_SEQUENCE_RESOURCES = {kind: (entity, _CAMEL[member]) for kind, (entity, member) in _SEQUENCE_RESOURCES.items()}
_NO_DICT: dict = {}


def _dict(container: dict, key: str) -> dict:
    value = container.get(key)
    return value if type(value) is dict else _NO_DICT


def _dicts(container: dict, key: str) -> list[dict]:
    value = container.get(key)
    if type(value) is not list:
        return []
    return [item for item in value[:LIST_MAX] if type(item) is dict]


def _value(value: Any) -> str | None:
    """A storable entity value: a non-empty string, bounded, without what Postgres cannot store."""
    if type(value) is not str:
        return None
    value = value.strip()
    if not value or len(value) > VALUE_MAX_LENGTH:
        return None  # a cut value would name another entity
    if "\x00" in value:
        return None
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def normalize(kind: str, value: Any) -> str | None:
    """The stored spelling of an entity value, or None when it is not a valid one of its kind."""
    text = _value(value)
    if text is None:
        return None
    if kind == "ip":
        # One spelling per address (inet_ntop's: IPv6 lowercase and compressed), in C: this runs per finding.
        family = socket.AF_INET6 if ":" in text else socket.AF_INET
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, text))
        except (OSError, ValueError):
            return None
    if kind == "domain":
        text = text.rstrip(".").lower()
        return text or None
    return text


def finding_entities(raw: Any) -> tuple[tuple[str, str], ...]:
    """The (kind, value) pairs a finding is about, de-duplicated, in a stable order."""
    if type(raw) is not dict:
        return ()
    pascal = "AccountId" in raw or "Resource" in raw
    k = _PASCAL if pascal else _CAMEL
    found: list[tuple[str, Any]] = []
    add = found.append

    resource = _dict(raw, k["Resource"])
    if resource:
        key = _dict(resource, k["AccessKeyDetails"])
        if key:
            add(("access_key", key.get(k["AccessKeyId"])))
            add(("principal", key.get(k["PrincipalId"])))
            add(("user", key.get(k["UserName"])))
        add(("instance", _dict(resource, k["InstanceDetails"]).get(k["InstanceId"])))
        for bucket in _dicts(resource, k["S3BucketDetails"]):
            add(("bucket", bucket.get(k["Name"])))
        add(("eks_cluster", _dict(resource, k["EksClusterDetails"]).get(k["Name"])))
        ecs = _dict(resource, k["EcsClusterDetails"])
        containers = [_dict(resource, k["ContainerDetails"])]
        if ecs:
            add(("ecs_cluster", ecs.get(k["Name"])))
            containers += _dicts(_dict(ecs, k["TaskDetails"]), k["Containers"])
        for container in containers:
            add(("container", container.get(k["Id"]) or container.get(k["Name"])))

    service = _dict(raw, k["Service"])
    action = _dict(service, k["Action"])
    if action:
        remote_ip_details = k["RemoteIpDetails"]
        for member in _REMOTE_ACTIONS if pascal else _CAMEL_REMOTE_ACTIONS:
            detail = action.get(member)
            if type(detail) is dict:
                add(("ip", _address(_dict(detail, remote_ip_details), k)))
        probe = action.get(k["PortProbeAction"])
        if type(probe) is dict:
            for detail in _dicts(probe, k["PortProbeDetails"]):
                add(("ip", _address(_dict(detail, remote_ip_details), k)))
        add(("domain", _dict(action, k["DnsRequestAction"]).get(k["Domain"])))

    sequence = _dict(_dict(service, k["Detection"]), k["Sequence"]) if service else _NO_DICT
    if sequence:
        for actor in _dicts(sequence, k["Actors"]):
            user = _dict(actor, k["User"])
            add(("access_key", user.get(k["CredentialUid"])))
            add(("principal", user.get(k["Uid"])))
            add(("user", user.get(k["Name"])))
        kinds = _SEQUENCE_RESOURCES if pascal else _CAMEL_SEQUENCE_RESOURCES
        for item in _dicts(sequence, k["Resources"]):
            resource_type = item.get(k["ResourceType"])
            kind_member = kinds.get(resource_type) if type(resource_type) is str else None
            if kind_member:
                add((kind_member[0], item.get(kind_member[1])))
        for endpoint in _dicts(sequence, k["Endpoints"]):
            add(("ip", endpoint.get(k["Ip"])))
            add(("domain", endpoint.get(k["Domain"])))

    seen: dict[tuple[str, str], None] = {}
    for kind, value in found:
        if value is not None:
            value = normalize(kind, value)
            if value is not None:
                seen[(kind, value)] = None
    return tuple(seen)


def _address(remote: dict, k: dict) -> Any:
    return remote.get(k["IpAddressV4"]) or remote.get(k["IpAddressV6"])
