"""One parser for both spellings of a finding: what GuardWatch stores, and what it refuses."""

from __future__ import annotations

import contextlib
import copy
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from findings.parsing import (
    DESCRIPTION_MAX_LENGTH,
    NAME_MAX_LENGTH,
    RESOURCE_ID_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    FindingParseError,
    ParsedFinding,
    parse_eventbridge_event,
    parse_finding,
    severity_band,
)
from gdsim.catalogue import (
    FINDING_TYPES,
    HOSTILE_STRINGS,
    RESOURCE_TYPES,
    build_finding,
    to_camel_case,
    to_eventbridge_event,
)

ACCOUNT = "111122223333"
REGION = "us-east-2"
DETECTOR = "12abc34d567e8fa901bc2d34e56789f0"
NOW = datetime(2025, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)
ONE_TYPE_PER_RESOURCE = {
    resource: next(name for name, spec in FINDING_TYPES.items() if spec.resource_type == resource)
    for resource in RESOURCE_TYPES
}


def finding_of(finding_type: str, *, seed: int = 11, **options) -> dict:
    return build_finding(random.Random(seed), finding_type=finding_type, account_id=ACCOUNT, region=REGION,
                         detector_id=DETECTOR, now=NOW, **options)


def rejection(raw) -> str:
    with pytest.raises(FindingParseError) as caught:
        parse_finding(raw)
    return caught.value.reason


# --- both spellings --------------------------------------------------------------------------------------

@pytest.mark.parametrize("resource_type", RESOURCE_TYPES)
def test_sample_finding_reads_the_same_from_boto3_and_from_eventbridge(resource_type):
    finding = finding_of(ONE_TYPE_PER_RESOURCE[resource_type], sample=True)
    event = to_eventbridge_event(finding)

    from_api = parse_finding(finding)
    from_event = parse_eventbridge_event(event)

    assert from_api == from_event
    assert from_api.raw is finding and from_event.raw is event["detail"]
    assert from_api.sample is True
    assert from_api.resource_type == resource_type
    assert from_api.resource_id


@pytest.mark.parametrize("finding_type", sorted(FINDING_TYPES))
def test_every_catalogue_type_parses_identically_in_both_spellings(finding_type):
    finding = finding_of(finding_type, created_at=NOW - timedelta(days=1))

    parsed = parse_finding(finding)

    assert parsed == parse_finding(to_camel_case(finding))
    assert parsed.type == finding_type
    assert parsed.severity_band == FINDING_TYPES[finding_type].band
    assert parsed.resource_id
    assert parsed.action_type == FINDING_TYPES[finding_type].action_type
    assert parsed.sample is False


def test_whole_eventbridge_event_is_unwrapped_by_parse_finding_too():
    finding = finding_of("Recon:EC2/Portscan")

    assert parse_finding(to_eventbridge_event(finding)) == parse_finding(finding)


def test_ssh_brute_force_finding_yields_the_fields_an_analyst_sees():
    finding = finding_of("UnauthorizedAccess:EC2/SSHBruteForce")
    instance = finding["Resource"]["InstanceDetails"]
    remote = finding["Service"]["Action"]["NetworkConnectionAction"]["RemoteIpDetails"]

    parsed = parse_finding(finding)

    assert parsed.arn == finding["Arn"] and parsed.finding_id == finding["Id"]
    assert (parsed.account_id, parsed.region, parsed.partition, parsed.detector_id) == (
        ACCOUNT, REGION, "aws", DETECTOR)
    assert (parsed.threat_purpose, parsed.resource_type_affected, parsed.threat_family) == (
        "UnauthorizedAccess", "EC2", "SSHBruteForce")
    assert parsed.detection_mechanism is None and parsed.artifact is None
    assert (parsed.severity, parsed.severity_band) == (2.0, "low")
    assert parsed.title == finding["Title"] and parsed.description == finding["Description"]
    assert parsed.resource_type == "Instance"
    assert parsed.resource_id == instance["InstanceId"]
    assert parsed.resource_name == next(tag["Value"] for tag in instance["Tags"] if tag["Key"] == "Name")
    assert parsed.action_type == "NETWORK_CONNECTION"
    assert parsed.remote_ip == remote["IpAddressV4"]
    assert parsed.remote_country == remote["Country"]["CountryName"]
    assert parsed.remote_country_code == remote["Country"]["CountryCode"]
    assert parsed.remote_asn == remote["Organization"]["Asn"]
    assert parsed.remote_org == remote["Organization"]["AsnOrg"]
    assert parsed.count == 1 and parsed.archived is False and parsed.feedback is None


def test_type_name_splits_into_purpose_resource_family_mechanism_and_artifact():
    parsed = parse_finding(finding_of("CryptoCurrency:EC2/BitcoinTool.B!DNS"))

    assert (parsed.threat_purpose, parsed.resource_type_affected, parsed.threat_family,
            parsed.detection_mechanism, parsed.artifact) == ("CryptoCurrency", "EC2", "BitcoinTool", "B", "DNS")
    assert parse_finding(finding_of(
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS")).detection_mechanism == "OutsideAWS"


def test_times_are_aware_utc_datetimes():
    finding = finding_of("Discovery:S3/MaliciousIPCaller", created_at=NOW - timedelta(hours=5))

    parsed = parse_finding(finding)

    assert parsed.updated_at == NOW
    assert parsed.created_at == NOW - timedelta(hours=5)
    for moment in (parsed.created_at, parsed.updated_at, parsed.first_seen, parsed.last_seen):
        assert moment.tzinfo is UTC
    assert parsed.first_seen <= parsed.last_seen <= parsed.updated_at


def test_offset_timestamps_are_converted_to_utc():
    finding = finding_of("Recon:EC2/Portscan")
    finding["UpdatedAt"] = "2025-06-01T14:00:00.250+02:00"

    assert parse_finding(finding).updated_at == NOW


def test_triage_state_is_read_from_service():
    finding = finding_of("Recon:EC2/Portscan")
    finding["Service"].update(Archived=True, UserFeedback="NOT_USEFUL", Count=17)

    parsed = parse_finding(finding)

    assert (parsed.archived, parsed.feedback, parsed.count) == (True, "NOT_USEFUL", 17)


def test_finding_without_service_falls_back_to_arn_and_top_level_times():
    finding = finding_of("Policy:IAMUser/RootCredentialUsage")
    del finding["Service"]

    parsed = parse_finding(finding)

    assert parsed.detector_id == DETECTOR
    assert parsed.count == 1 and parsed.archived is False
    assert (parsed.first_seen, parsed.last_seen) == (parsed.created_at, parsed.updated_at)
    assert parsed.action_type is None and parsed.remote_ip is None


def test_unknown_resource_type_still_finds_the_resource_from_its_details():
    finding = finding_of("Backdoor:Lambda/C&CActivity.B")
    finding["Resource"]["ResourceType"] = "LambdaFunctionV2"

    parsed = parse_finding(finding)

    assert parsed.resource_type == "LambdaFunctionV2"
    assert parsed.resource_id == finding["Resource"]["LambdaDetails"]["FunctionName"]


def test_raw_is_kept_but_ignored_by_equality():
    finding = finding_of("Recon:EC2/Portscan")
    parsed = parse_finding(finding)

    assert parsed.raw is finding
    assert parsed == parse_finding(copy.deepcopy(finding) | {"SchemaVersion": "2.1"})


# --- sample markers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("additional_info", [
    {"Value": '{"sample":true}', "Type": "default"},
    {"Value": '{"threatListName":"ProofPoint","sample":true}', "Type": "default"},
    {"Sample": True},
    {"sample": True},
    {"Value": {"sample": True}, "Type": "default"},
])
def test_sample_flag_is_read_from_every_form_of_additional_info(additional_info):
    finding = finding_of("Recon:EC2/Portscan")
    finding["Service"]["AdditionalInfo"] = additional_info

    assert parse_finding(finding).sample is True


@pytest.mark.parametrize("additional_info", [
    {"Value": "{}", "Type": "default"},
    {"Value": '{"sample":false}', "Type": "default"},
    {"Value": '{"sample": not json', "Type": "default"},
    {"Value": '"sample"', "Type": "default"},
    "sample",
])
def test_non_sample_additional_info_is_not_a_sample(additional_info):
    finding = finding_of("Recon:EC2/Portscan")
    finding["Service"]["AdditionalInfo"] = additional_info

    assert parse_finding(finding).sample is False


def test_sample_title_marker_counts_as_sample():
    finding = finding_of("Recon:EC2/Portscan")
    finding["Title"] = "[SAMPLE] " + finding["Title"]

    assert parse_finding(finding).sample is True


def test_legacy_camel_case_sample_marker_counts_as_sample():
    detail = to_camel_case(finding_of("Recon:EC2/Portscan"))
    detail["service"]["additionalInfo"] = {"sample": True}

    assert parse_finding(detail).sample is True


# --- severity bands --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("severity", "band"), [
    (0, "low"), (1.0, "low"), (3.9, "low"), (4.0, "medium"), (6.9, "medium"), (7.0, "high"), (8.9, "high"),
    (9.0, "critical"), (10, "critical"),
])
def test_severity_band_boundaries(severity, band):
    finding = finding_of("Recon:EC2/Portscan")
    finding["Severity"] = severity

    parsed = parse_finding(finding)

    assert parsed.severity == float(severity) and isinstance(parsed.severity, float)
    assert parsed.severity_band == band == severity_band(severity)


# --- rejections ------------------------------------------------------------------------------------------

REQUIRED = ("AccountId", "Arn", "CreatedAt", "Id", "Region", "Resource", "SchemaVersion", "Severity", "Type",
            "UpdatedAt")


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_required_field_is_named(field):
    finding = finding_of("Recon:EC2/Portscan")
    del finding[field]

    assert rejection(finding) == f"missing required field {field}"


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_required_field_is_named_in_camel_case(field):
    detail = to_camel_case(finding_of("Recon:EC2/Portscan"))
    camel = field[0].lower() + field[1:]
    del detail[camel]

    assert rejection(detail) == f"missing required field {camel}"


def _set(path: str, value):
    def mutate(finding: dict) -> None:
        *parents, last = path.split(".")
        node = finding
        for key in parents:
            node = node[key]
        node[last] = value
    return mutate


@pytest.mark.parametrize(("mutate", "reason"), [
    (_set("AccountId", "123456789"), "AccountId must be 12 digits"),
    (_set("AccountId", "1234567890123"), "AccountId must be 12 digits"),
    (_set("AccountId", "12345678901a"), "AccountId must be 12 digits"),
    (_set("AccountId", 111122223333), "AccountId must be 12 digits"),
    (_set("AccountId", "١١١١٢٢٢٢٣٣٣٣"), "AccountId must be 12 digits"),
    (_set("Severity", "8.0"), "Severity must be a number"),
    (_set("Severity", True), "Severity must be a number"),
    (_set("Severity", None), "Severity must be a number"),
    (_set("Severity", 10.1), "Severity must be between 0 and 10"),
    (_set("Severity", -0.5), "Severity must be between 0 and 10"),
    (_set("Severity", float("nan")), "Severity must be between 0 and 10"),
    (_set("Severity", 10**400), "Severity must be between 0 and 10"),
    (_set("Service.Count", "3"), "Service.Count must be an integer"),
    (_set("Service.Count", 2.0), "Service.Count must be an integer"),
    (_set("Service.Count", True), "Service.Count must be an integer"),
    (_set("Service.Count", -1), "Service.Count must be an integer"),
    (_set("Service.Count", 2**40), "Service.Count must be an integer"),
    (_set("Service.Archived", "false"), "Service.Archived must be true or false"),
    (_set("Service.Archived", 0), "Service.Archived must be true or false"),
    (_set("Service.UserFeedback", "MAYBE"), "Service.UserFeedback must be USEFUL or NOT_USEFUL"),
    (_set("Service.UserFeedback", ["USEFUL"]), "Service.UserFeedback must be USEFUL or NOT_USEFUL"),
    (_set("CreatedAt", "yesterday"), "CreatedAt is not an ISO-8601 timestamp"),
    (_set("UpdatedAt", 1717243200), "UpdatedAt must be an ISO-8601 timestamp string"),
    (_set("Service.EventFirstSeen", "2025-13-01T00:00:00Z"), "Service.EventFirstSeen is not an ISO-8601"),
    (_set("Arn", "arn:aws:s3:::customer-uploads"), "Arn is not a GuardDuty finding ARN"),
    (_set("Arn", "arn:aws:guardduty:us-east-2:111122223333:detector/abc"), "Arn is not a GuardDuty finding ARN"),
    (_set("Arn", ["arn"]), "Arn is not a GuardDuty finding ARN"),
    (_set("Type", "Recon-EC2-Portscan"), "Type 'Recon-EC2-Portscan' does not follow"),
    (_set("Type", "Recon:EC2/" + "A" * 100), "Type is longer than 100"),
    (_set("Type", 7), "Type must be a non-empty string"),
    (_set("Id", ""), "Id must be a non-empty string"),
    (_set("Id", "a" * 301), "Id is not a valid identifier"),
    (_set("Region", ""), "Region must be a non-empty string"),
    (_set("Title", {"text": "x"}), "Title must be a string"),
    (_set("Resource", "i-0123"), "Resource must be an object"),
    (_set("Resource.InstanceDetails", []), "Resource.InstanceDetails must be an object"),
    (_set("Service", "guardduty"), "Service must be an object"),
    (_set("Service.Action", "NETWORK_CONNECTION"), "Service.Action must be an object"),
    (_set("Service.Action.NetworkConnectionAction.RemoteIpDetails", "198.51.100.1"),
     "Service.Action.NetworkConnectionAction.RemoteIpDetails must be an object"),
    (_set("Service.DetectorId", 42), "Service.DetectorId must be a non-empty string"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_malformed_finding_is_rejected_with_the_field_named(mutate, reason):
    finding = finding_of("UnauthorizedAccess:EC2/SSHBruteForce")
    mutate(finding)

    assert reason in rejection(finding)


def test_camel_case_rejection_names_the_camel_case_field():
    detail = to_camel_case(finding_of("Recon:EC2/Portscan"))
    detail["severity"] = "high"
    assert "severity must be a number" in rejection(detail)

    detail = to_camel_case(finding_of("Recon:EC2/Portscan"))
    detail["service"]["count"] = "many"
    assert "service.count must be an integer" in rejection(detail)


@pytest.mark.parametrize("raw", [None, [], "finding", 42])
def test_non_object_is_rejected(raw):
    assert rejection(raw) == "finding must be a JSON object"


@pytest.mark.parametrize(("change", "reason"), [
    ({"source": "aws.securityhub"}, "event source must be 'aws.guardduty'"),
    ({"detail-type": "GuardDuty Runtime Protection Health"}, "event detail-type must be 'GuardDuty Finding'"),
    ({"detail": "finding"}, "event detail must be a JSON object"),
])
def test_eventbridge_event_of_another_kind_is_rejected(change, reason):
    event = to_eventbridge_event(finding_of("Recon:EC2/Portscan")) | change

    with pytest.raises(FindingParseError) as caught:
        parse_eventbridge_event(event)

    assert caught.value.reason.startswith(reason)


def test_raw_as_decides_what_raw_holds_and_nothing_else():
    finding = finding_of("Recon:EC2/PortProbeUnprotectedPort")

    encoded = parse_finding(finding, raw_as=lambda raw: json.dumps(raw, sort_keys=True))

    assert encoded.raw == json.dumps(finding, sort_keys=True)
    assert encoded == parse_finding(finding)  # every other field as without it


def test_raw_as_is_not_called_for_a_finding_that_is_refused():
    finding = finding_of("Recon:EC2/PortProbeUnprotectedPort")
    finding["Severity"] = "high"
    seen = []

    with pytest.raises(FindingParseError):
        parse_finding(finding, raw_as=seen.append)

    assert seen == []


def test_error_message_does_not_echo_long_hostile_values():
    finding = finding_of("Recon:EC2/Portscan")
    finding["AccountId"] = "<script>" * 1000

    reason = rejection(finding)

    assert len(reason) < 120 and reason.startswith("AccountId must be 12 digits")


# --- hostile strings -------------------------------------------------------------------------------------

def test_long_strings_are_cut_to_their_column_bounds():
    finding = finding_of("Backdoor:EC2/C&CActivity.B!DNS")
    finding["Title"] = "<script>" * 10_000
    finding["Description"] = "d" * 100_000
    finding["Resource"]["InstanceDetails"]["InstanceId"] = "i-" + "0" * 1000
    finding["Resource"]["InstanceDetails"]["Tags"][0]["Value"] = "n" * 1000

    parsed = parse_finding(finding)

    assert len(parsed.title) == TITLE_MAX_LENGTH
    assert len(parsed.description) == DESCRIPTION_MAX_LENGTH
    assert len(parsed.resource_id) == RESOURCE_ID_MAX_LENGTH
    assert len(parsed.resource_name) == NAME_MAX_LENGTH


def test_strings_postgres_cannot_store_are_cleaned():
    finding = finding_of("Recon:EC2/Portscan")
    finding["Title"] = "nul\x00byte and lone \ud800 surrogate"

    parsed = parse_finding(finding)

    assert "\x00" not in parsed.title
    parsed.title.encode("utf-8")  # would raise on a lone surrogate
    assert parsed.title.startswith("nulbyte and lone ")


@pytest.mark.parametrize("finding_type", sorted(FINDING_TYPES))
def test_hostile_findings_parse_into_storable_fields(finding_type):
    finding = finding_of(finding_type, hostile=True)

    parsed = parse_finding(finding)

    assert parsed == parse_finding(json.loads(json.dumps(to_camel_case(finding))))
    for value in (parsed.title, parsed.description, parsed.resource_id, parsed.resource_name):
        if value is not None:
            assert "\x00" not in value
            value.encode("utf-8")


def test_hostile_resource_name_arrives_verbatim_for_the_template_to_escape():
    finding = finding_of("Recon:EC2/Portscan")
    finding["Resource"]["InstanceDetails"]["Tags"][0]["Value"] = HOSTILE_STRINGS[0]

    assert parse_finding(finding).resource_name == "<script>alert(1)</script>"


def test_remote_address_that_is_not_an_ip_is_dropped():
    finding = finding_of("UnauthorizedAccess:EC2/SSHBruteForce")
    finding["Service"]["Action"]["NetworkConnectionAction"]["RemoteIpDetails"]["IpAddressV4"] = "<script>"

    parsed = parse_finding(finding)

    assert parsed.remote_ip is None
    assert parsed.remote_country  # the rest of the actor is still read


def test_ipv6_remote_address_is_read():
    finding = finding_of("Policy:IAMUser/RootCredentialUsage")
    remote = finding["Service"]["Action"]["AwsApiCallAction"]["RemoteIpDetails"]
    del remote["IpAddressV4"]
    remote["IpAddressV6"] = "2001:db8:4c::17"

    assert parse_finding(finding).remote_ip == "2001:db8:4c::17"


# --- robustness ------------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


def _slots(node, found):
    """Every (container, key) in a finding, to pick mutation points from."""
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((node, key))
            _slots(value, found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((node, index))
            _slots(value, found)
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    finding_type=st.sampled_from(sorted(FINDING_TYPES)),
    camel=st.booleans(),
    as_event=st.booleans(),
)
def test_parse_raises_nothing_but_finding_parse_error_on_mutated_findings(data, finding_type, camel, as_event):
    finding = finding_of(finding_type, hostile=data.draw(st.booleans()))
    if camel:
        finding = json.loads(json.dumps(to_camel_case(finding)))
    for _ in range(data.draw(st.integers(1, 4))):
        slots = _slots(finding, [])
        if not slots:
            break
        container, key = slots[data.draw(st.integers(0, len(slots) - 1))]
        action = data.draw(st.sampled_from(("delete", "replace", "rename")))
        if action == "delete":
            del container[key]
        elif action == "replace":
            container[key] = data.draw(JSON_VALUES)
        elif isinstance(container, dict):
            container[data.draw(st.text(max_size=12))] = container.pop(key)
    raw = to_eventbridge_event({"AccountId": ACCOUNT, "Region": REGION, "UpdatedAt": ""}) | {
        "detail": finding} if as_event else finding

    try:
        parsed = parse_finding(raw)
    except FindingParseError as error:
        assert error.reason
    else:
        assert isinstance(parsed, ParsedFinding)
        assert parsed.severity_band in ("low", "medium", "high", "critical")
        assert len(parsed.account_id) == 12
        assert parsed.created_at.tzinfo is UTC and parsed.updated_at.tzinfo is UTC


@settings(max_examples=200, deadline=None)
@given(raw=JSON_VALUES)
def test_parse_raises_nothing_but_finding_parse_error_on_arbitrary_json(raw):
    with contextlib.suppress(FindingParseError):
        parse_finding(raw)


# --- home region ----------------------------------------------------------------------------------------
# botocore's guardduty model, Finding.Region: "For findings generated from Global Service Events, the Region
# value in the finding might differ from the Region where GuardDuty identifies the potential threat."


def test_a_global_service_finding_lives_in_the_region_of_its_arn_not_of_its_region_field():
    raw = finding_of("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS")
    assert raw["Arn"].split(":")[3] == REGION
    raw["Region"] = "us-east-1" if REGION != "us-east-1" else "eu-west-1"  # where the IAM event was logged
    assert parse_finding(raw).region == REGION
    assert parse_eventbridge_event(to_eventbridge_event(raw)).region == REGION  # the camelCase spelling too


def test_a_finding_without_a_region_field_is_still_refused():
    raw = finding_of("Recon:EC2/PortProbeUnprotectedPort")
    raw["Region"] = ""
    assert "Region must be a non-empty string" in rejection(raw)


# --- attack sequences --------------------------------------------------------------------------------------

SEQUENCE_ARN = f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{DETECTOR}/finding/{'a' * 32}"


def test_a_signal_names_its_attack_sequence_in_both_spellings():
    signal = finding_of("Recon:IAMUser/MaliciousIPCaller")
    signal["AssociatedAttackSequenceArn"] = SEQUENCE_ARN

    assert parse_finding(signal).attack_sequence_arn == SEQUENCE_ARN
    assert parse_finding(to_camel_case(signal)).attack_sequence_arn == SEQUENCE_ARN
    assert parse_finding(finding_of("Recon:IAMUser/MaliciousIPCaller")).attack_sequence_arn is None


def test_an_attack_sequence_arn_that_is_not_text_is_refused_by_name():
    signal = finding_of("Recon:IAMUser/MaliciousIPCaller")
    signal["AssociatedAttackSequenceArn"] = {"arn": SEQUENCE_ARN}

    assert "AssociatedAttackSequenceArn must be a string" in rejection(signal)
