"""The simulator's findings look like GuardDuty's: real types, model-valid shapes, both spellings."""

from __future__ import annotations

import ipaddress
import json
import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from gdsim.catalogue import (
    ACTION_TYPES,
    ATTACK_SEQUENCE,
    FINDING_TYPES,
    HOSTILE_STRINGS,
    MALWARE_SCAN,
    RUNTIME,
    build_finding,
    random_finding_type,
    repeat_occurrence,
    severity_band,
    to_camel_case,
    to_eventbridge_event,
)
from tests.support.model_validation import camel_case_by_model, output_shape, shape_errors

ACCOUNT = "111122223333"
REGION = "eu-west-1"
DETECTOR = "12abc34d567e8fa901bc2d34e56789f0"
NOW = datetime(2025, 3, 14, 9, 26, 53, 589000, tzinfo=UTC)
TYPE_NAME = re.compile(r"[A-Za-z]+:[A-Za-z0-9]+/[A-Za-z0-9&]+(\.[A-Za-z0-9]+)?(![A-Za-z0-9]+)?")
ISO_MILLIS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
BANDS = {"low": (1.0, 3.9), "medium": (4.0, 6.9), "high": (7.0, 8.9), "critical": (9.0, 10.0)}
DOCUMENTATION_NETWORKS = [ipaddress.ip_network(net) for net in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]
DOCUMENTED_RESOURCE_TYPES = {"Instance", "AccessKey", "S3Bucket", "EKSCluster", "ECSCluster", "Container",
                             "RDSDBInstance", "Lambda", "KubernetesCluster"}


def finding_of(finding_type: str, *, seed: int = 7, **options) -> dict:
    return build_finding(random.Random(seed), finding_type=finding_type, account_id=ACCOUNT, region=REGION,
                         detector_id=DETECTOR, now=NOW, **options)


def strings_in(value) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return [value] if isinstance(value, str) else []


def epoch_seconds(value):
    """camel_case_by_model leaves datetimes alone; GuardDuty's JSON carries epoch seconds."""
    if isinstance(value, dict):
        return {key: epoch_seconds(item) for key, item in value.items()}
    if isinstance(value, list):
        return [epoch_seconds(item) for item in value]
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)
    return value


def test_catalogue_lists_at_least_40_types_named_by_guardduty_scheme():
    assert len(FINDING_TYPES) >= 40
    for name, spec in FINDING_TYPES.items():
        assert spec.name == name
        assert TYPE_NAME.fullmatch(name), name
        assert len(name) <= 100  # botocore's FindingType limit


def test_catalogue_covers_every_resource_type_and_action_type():
    assert {spec.resource_type for spec in FINDING_TYPES.values()} >= DOCUMENTED_RESOURCE_TYPES
    assert {spec.action_type for spec in FINDING_TYPES.values()} >= {*ACTION_TYPES, RUNTIME, MALWARE_SCAN,
                                                                      ATTACK_SEQUENCE}
    assert any(spec.runtime and spec.action_type in ACTION_TYPES for spec in FINDING_TYPES.values())


@pytest.mark.parametrize("finding_type", sorted(FINDING_TYPES))
def test_typical_severity_sits_inside_its_band(finding_type):
    spec = FINDING_TYPES[finding_type]
    low, high = BANDS[spec.band]
    assert low <= spec.severity <= high
    if finding_type.startswith("AttackSequence:"):
        assert spec.band == "critical"


@pytest.mark.parametrize("finding_type", sorted(FINDING_TYPES))
@pytest.mark.parametrize("options", [
    {},
    {"sample": True, "hostile": True, "created_at": NOW - timedelta(days=3)},
    {"partition": "aws-us-gov"},
], ids=["plain", "hostile-sample-backdated", "govcloud"])
def test_every_type_builds_a_finding_botocore_would_accept(finding_type, options):
    finding = finding_of(finding_type, **options)

    assert shape_errors(finding, output_shape("Finding")) == []
    assert finding["Type"] == finding_type
    assert finding["Severity"] == FINDING_TYPES[finding_type].severity
    assert severity_band(finding["Severity"]) == FINDING_TYPES[finding_type].band
    assert finding["Resource"]["ResourceType"] == FINDING_TYPES[finding_type].resource_type
    assert "(unknown)" not in finding["Title"] + finding["Description"]


def test_finding_carries_guardduty_identity_and_service_bookkeeping():
    finding = finding_of("UnauthorizedAccess:EC2/SSHBruteForce")
    partition = "aws"

    assert re.fullmatch(r"[0-9a-f]{32}", finding["Id"])
    assert finding["Arn"] == (
        f"arn:{partition}:guardduty:{REGION}:{ACCOUNT}:detector/{DETECTOR}/finding/{finding['Id']}")
    assert finding["AccountId"] == ACCOUNT and finding["Region"] == REGION and finding["Partition"] == partition
    assert finding["SchemaVersion"] == "2.0"
    assert ISO_MILLIS.fullmatch(finding["CreatedAt"]) and ISO_MILLIS.fullmatch(finding["UpdatedAt"])
    assert finding["UpdatedAt"] == "2025-03-14T09:26:53.589Z"
    service = finding["Service"]
    assert service["ServiceName"] == "guardduty" and service["DetectorId"] == DETECTOR
    assert service["Archived"] is False and service["Count"] == 1
    assert service["EventFirstSeen"] <= service["EventLastSeen"] <= finding["UpdatedAt"]
    assert service["AdditionalInfo"]["Type"] == "default"
    assert isinstance(json.loads(service["AdditionalInfo"]["Value"]), dict)
    assert service["Action"]["ActionType"] == "NETWORK_CONNECTION"
    remote = service["Action"]["NetworkConnectionAction"]["RemoteIpDetails"]
    assert {"City", "Country", "GeoLocation", "Organization", "IpAddressV4"} <= remote.keys()
    assert {"Asn", "AsnOrg", "Isp"} <= remote["Organization"].keys()
    assert remote["IpAddressV4"] in finding["Title"]


def test_backdated_finding_has_been_seen_more_than_once():
    finding = finding_of("Recon:EC2/PortProbeUnprotectedPort", created_at=NOW - timedelta(days=2))

    assert finding["CreatedAt"] < finding["UpdatedAt"]
    assert finding["Service"]["Count"] > 1


def test_build_refuses_unknown_types_and_future_creation():
    with pytest.raises(ValueError, match="unknown finding type"):
        finding_of("Made:Up/Finding")
    with pytest.raises(ValueError, match="after now"):
        finding_of("Recon:EC2/Portscan", created_at=NOW + timedelta(seconds=1))


def test_same_seed_builds_the_same_finding():
    assert finding_of("Execution:Runtime/ReverseShell", seed=3) == finding_of("Execution:Runtime/ReverseShell", seed=3)
    assert finding_of("Execution:Runtime/ReverseShell", seed=3) != finding_of("Execution:Runtime/ReverseShell", seed=4)


def test_sample_finding_is_marked_the_way_create_sample_findings_marks_it():
    sample = finding_of("CryptoCurrency:EC2/BitcoinTool.B!DNS", sample=True)
    real = finding_of("CryptoCurrency:EC2/BitcoinTool.B!DNS")

    assert json.loads(sample["Service"]["AdditionalInfo"]["Value"])["sample"] is True
    assert "sample" not in json.loads(real["Service"]["AdditionalInfo"]["Value"])


@pytest.mark.parametrize("finding_type", sorted(FINDING_TYPES))
def test_remote_actors_and_hosts_use_only_documentation_addresses_and_domains(finding_type):
    finding = finding_of(finding_type)

    for text in strings_in(finding):
        for candidate in re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", text):
            address = ipaddress.ip_address(candidate)
            assert any(address in network for network in DOCUMENTATION_NETWORKS), (candidate, text)
        for candidate in re.findall(r"\b2001:[0-9a-f:]+", text):
            assert ipaddress.ip_address(candidate) in DOCUMENTATION_NETWORKS[-1]
    dns = finding["Service"].get("Action", {}).get("DnsRequestAction")
    if dns:
        assert dns["Domain"].endswith((".example.com", ".example.net", ".example.org"))


@pytest.mark.parametrize("finding_type", sorted(FINDING_TYPES))
def test_evidence_sits_in_the_service_member_the_type_calls_for(finding_type):
    spec = FINDING_TYPES[finding_type]
    service = finding_of(finding_type)["Service"]

    if spec.action_type in ACTION_TYPES:
        assert service["Action"]["ActionType"] == spec.action_type
    else:
        assert "Action" not in service
    assert ("RuntimeDetails" in service) == (spec.runtime or spec.action_type == RUNTIME)
    if spec.action_type == MALWARE_SCAN:
        assert "EbsVolumeScanDetails" in service or "MalwareScanDetails" in service
    if spec.action_type == ATTACK_SEQUENCE:
        assert len(service["Detection"]["Sequence"]["Signals"]) >= 1


def test_resource_blocks_match_the_resource_type():
    blocks = {
        "UnauthorizedAccess:EC2/TorClient": {"InstanceDetails"},
        "Policy:IAMUser/RootCredentialUsage": {"AccessKeyDetails"},
        "Exfiltration:S3/AnomalousBehavior": {"AccessKeyDetails", "S3BucketDetails"},
        "Object:S3/MaliciousFile": {"S3BucketDetails"},
        "Policy:Kubernetes/AnonymousAccessGranted": {"EksClusterDetails", "KubernetesDetails"},
        "Execution:Runtime/NewLibraryLoaded": {"EcsClusterDetails", "ContainerDetails"},
        "PrivilegeEscalation:Runtime/DockerSocketAccessed": {"ContainerDetails", "InstanceDetails"},
        "CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin": {"RdsDbInstanceDetails", "RdsDbUserDetails"},
        "Backdoor:Lambda/C&CActivity.B": {"LambdaDetails"},
        "Execution:EC2/MaliciousFile": {"InstanceDetails", "EbsVolumeDetails"},
    }
    for finding_type, expected in blocks.items():
        resource = finding_of(finding_type)["Resource"]
        assert set(resource) - {"ResourceType"} >= expected, finding_type


def test_repeat_occurrence_keeps_identity_and_moves_count_and_times():
    first = finding_of("UnauthorizedAccess:EC2/SSHBruteForce")
    snapshot = json.loads(json.dumps(first, default=str))
    later = NOW + timedelta(hours=6)

    repeated = repeat_occurrence(first, now=later, rng=random.Random(99))

    assert json.loads(json.dumps(first, default=str)) == snapshot  # the input is untouched
    assert (repeated["Id"], repeated["Arn"], repeated["CreatedAt"]) == (first["Id"], first["Arn"], first["CreatedAt"])
    assert 2 <= repeated["Service"]["Count"] <= 6
    assert repeated["UpdatedAt"] == repeated["Service"]["EventLastSeen"] == "2025-03-14T15:26:53.589Z"
    old_ip = first["Service"]["Action"]["NetworkConnectionAction"]["RemoteIpDetails"]["IpAddressV4"]
    new_ip = repeated["Service"]["Action"]["NetworkConnectionAction"]["RemoteIpDetails"]["IpAddressV4"]
    assert new_ip in repeated["Title"] and (old_ip == new_ip or old_ip not in repeated["Title"])
    assert shape_errors(repeated, output_shape("Finding")) == []


def test_repeat_occurrence_moves_kubernetes_source_ips_with_the_remote_actor():
    first = finding_of("CredentialAccess:Kubernetes/MaliciousIPCaller")

    call = repeat_occurrence(first, now=NOW + timedelta(minutes=20), rng=random.Random(5))["Service"]["Action"][
        "KubernetesApiCallAction"]

    assert call["SourceIps"] == [call["RemoteIpDetails"]["IpAddressV4"]]


def test_repeat_occurrences_accumulate():
    finding = finding_of("Recon:EC2/PortProbeUnprotectedPort")
    rng = random.Random(1)
    for hours in range(1, 6):
        finding = repeat_occurrence(finding, now=NOW + timedelta(hours=hours), rng=rng)
    assert finding["Service"]["Count"] >= 6
    assert finding["UpdatedAt"] == "2025-03-14T14:26:53.589Z"


@pytest.mark.parametrize("finding_type", sorted(FINDING_TYPES))
def test_camel_case_uses_the_json_names_of_botocores_model(finding_type):
    finding = finding_of(finding_type, hostile=True)

    assert to_camel_case(finding) == epoch_seconds(camel_case_by_model(finding, output_shape("Finding")))
    json.dumps(to_camel_case(finding))  # GuardDuty's JSON: nothing left that JSON cannot carry


def _populated(shape, depth=0):
    """A value for `shape` with every member present, to reach members no catalogue type uses."""
    kind = shape.type_name
    if depth > 40:
        return None
    if kind == "structure":
        return {name: _populated(member, depth + 1) for name, member in shape.members.items()}
    if kind == "list":
        return [_populated(shape.member, depth + 1)]
    if kind == "map":
        return {"AWS::S3::Bucket": _populated(shape.value, depth + 1)}
    if kind == "timestamp":
        return NOW
    return {"string": "x", "boolean": True, "integer": 1, "long": 1, "double": 1.5}.get(kind)


def test_camel_case_renames_every_member_of_the_finding_shape_as_the_model_does():
    shape = output_shape("Finding")
    everything = _populated(shape)

    assert to_camel_case(everything) == epoch_seconds(camel_case_by_model(everything, shape))


def test_camel_case_keeps_the_additional_info_value_a_json_string():
    detail = to_camel_case(finding_of("Recon:EC2/Portscan", sample=True))

    assert detail["service"]["additionalInfo"]["type"] == "default"
    assert json.loads(detail["service"]["additionalInfo"]["value"]) == {"sample": True}
    assert detail["service"]["action"]["networkConnectionAction"]["remoteIpDetails"]["ipAddressV4"]


def test_eventbridge_event_wraps_the_camel_case_finding():
    finding = finding_of("Discovery:S3/MaliciousIPCaller")

    event = to_eventbridge_event(finding, event_id="5d4e2f9a-0000-4000-8000-000000000001")

    assert event == {
        "version": "0",
        "id": "5d4e2f9a-0000-4000-8000-000000000001",
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": ACCOUNT,
        "time": "2025-03-14T09:26:53Z",
        "region": REGION,
        "resources": [],
        "detail": to_camel_case(finding),
    }
    assert event["detail"]["accountId"] == ACCOUNT
    assert event["detail"]["resource"]["s3BucketDetails"][0]["name"]
    assert to_eventbridge_event(finding)["id"] != to_eventbridge_event(finding)["id"]


def test_hostile_mode_puts_payloads_in_attacker_controlled_strings():
    def hostile(finding_type):
        return finding_of(finding_type, hostile=True)

    api = hostile("Exfiltration:S3/MaliciousIPCaller")
    assert api["Service"]["Action"]["AwsApiCallAction"]["UserAgent"] in HOSTILE_STRINGS
    assert api["Resource"]["S3BucketDetails"][0]["Name"] in HOSTILE_STRINGS
    assert api["Resource"]["S3BucketDetails"][0]["Name"] in api["Description"]

    dns = hostile("Backdoor:EC2/C&CActivity.B!DNS")
    assert dns["Service"]["Action"]["DnsRequestAction"]["Domain"] in HOSTILE_STRINGS
    assert any(tag["Value"] in HOSTILE_STRINGS for tag in dns["Resource"]["InstanceDetails"]["Tags"])

    kubernetes = hostile("Execution:Kubernetes/ExecInKubeSystemPod")["Service"]["Action"]["KubernetesApiCallAction"]
    assert kubernetes["RequestUri"] in HOSTILE_STRINGS and kubernetes["UserAgent"] in HOSTILE_STRINGS

    runtime = hostile("Execution:Runtime/ReverseShell")["Service"]["RuntimeDetails"]
    assert runtime["Process"]["Name"] in HOSTILE_STRINGS
    assert runtime["Context"]["CommandLineExample"] in HOSTILE_STRINGS

    rds = hostile("CredentialAccess:RDS/TorIPCaller.SuccessfulLogin")["Resource"]["RdsDbUserDetails"]
    assert rds["User"] in HOSTILE_STRINGS

    for finding_type in FINDING_TYPES:
        texts = strings_in(hostile(finding_type))
        assert any(text in HOSTILE_STRINGS for text in texts), finding_type


def test_hostile_strings_cover_markup_script_urls_templates_and_sql():
    joined = " ".join(HOSTILE_STRINGS)
    for payload in ("<script>alert(1)</script>", "javascript:alert(1)", '"><img src=x onerror=alert(1)>',
                    "{{7*7}}", "'; DROP TABLE--"):
        assert payload in joined


def test_random_types_are_mostly_low_and_medium_and_rarely_critical():
    rng = random.Random(2024)
    bands = Counter(FINDING_TYPES[random_finding_type(rng)].band for _ in range(5000))

    assert bands["low"] + bands["medium"] > bands["high"] > bands["critical"] > 0
    assert bands["critical"] < 250


def test_random_types_follow_custom_band_weights():
    rng = random.Random(1)

    drawn = {random_finding_type(rng, weights={"critical": 1}) for _ in range(50)}

    assert drawn and all(name.startswith("AttackSequence:") for name in drawn)
    with pytest.raises(ValueError):
        random_finding_type(rng, weights={"low": 0})
