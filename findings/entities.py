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

import ipaddress
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


class _Spelling:
    """Member names in one key spelling: boto3's PascalCase or GuardDuty JSON's lowerCamel."""

    def __init__(self, camel: bool) -> None:
        self.camel = camel
        self._names: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        spelled = self._names.get(name)
        if spelled is None:
            spelled = self._names[name] = name[:1].lower() + name[1:] if self.camel else name
        return spelled


_PASCAL = _Spelling(camel=False)
_CAMEL = _Spelling(camel=True)


def _dict(container: Any, key: str) -> dict:
    value = container.get(key) if type(container) is dict else None
    return value if type(value) is dict else {}


def _dicts(container: Any, key: str) -> list[dict]:
    value = container.get(key) if type(container) is dict else None
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
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            return None
    if kind == "domain":
        text = text.rstrip(".").lower()
        return text or None
    return text


def finding_entities(raw: Any) -> tuple[tuple[str, str], ...]:
    """The (kind, value) pairs a finding is about, de-duplicated, in a stable order."""
    if type(raw) is not dict:
        return ()
    k = _PASCAL if "AccountId" in raw or "Resource" in raw else _CAMEL
    found: list[tuple[str, Any]] = []
    add = found.append

    resource = _dict(raw, k["Resource"])
    key = _dict(resource, k["AccessKeyDetails"])
    add(("access_key", key.get(k["AccessKeyId"])))
    add(("principal", key.get(k["PrincipalId"])))
    add(("user", key.get(k["UserName"])))
    add(("instance", _dict(resource, k["InstanceDetails"]).get(k["InstanceId"])))
    for bucket in _dicts(resource, k["S3BucketDetails"]):
        add(("bucket", bucket.get(k["Name"])))
    add(("eks_cluster", _dict(resource, k["EksClusterDetails"]).get(k["Name"])))
    ecs = _dict(resource, k["EcsClusterDetails"])
    add(("ecs_cluster", ecs.get(k["Name"])))
    for container in (_dict(resource, k["ContainerDetails"]), *_dicts(_dict(ecs, k["TaskDetails"]), k["Containers"])):
        add(("container", container.get(k["Id"]) or container.get(k["Name"])))

    service = _dict(raw, k["Service"])
    action = _dict(service, k["Action"])
    for member in _REMOTE_ACTIONS:
        add(("ip", _address(_dict(_dict(action, k[member]), k["RemoteIpDetails"]), k)))
    for probe in _dicts(_dict(action, k["PortProbeAction"]), k["PortProbeDetails"]):
        add(("ip", _address(_dict(probe, k["RemoteIpDetails"]), k)))
    add(("domain", _dict(action, k["DnsRequestAction"]).get(k["Domain"])))

    sequence = _dict(_dict(service, k["Detection"]), k["Sequence"])
    if sequence:
        for actor in _dicts(sequence, k["Actors"]):
            user = _dict(actor, k["User"])
            add(("access_key", user.get(k["CredentialUid"])))
            add(("principal", user.get(k["Uid"])))
            add(("user", user.get(k["Name"])))
        for item in _dicts(sequence, k["Resources"]):
            kind_member = _SEQUENCE_RESOURCES.get(item.get(k["ResourceType"]))
            if kind_member:
                add((kind_member[0], item.get(k[kind_member[1]])))
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


def _address(remote: dict, k: _Spelling) -> Any:
    return remote.get(k["IpAddressV4"]) or remote.get(k["IpAddressV6"])
