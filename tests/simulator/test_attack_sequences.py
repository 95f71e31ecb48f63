"""Attack sequences: a Critical finding whose FINDING signals are findings of the same account, pointing back."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from gdsim import SimulatorState
from gdsim.catalogue import FINDING_TYPES, build_attack_sequence, to_camel_case
from tests.support.model_validation import output_shape, shape_errors

from .world import ADMIN, MEMBER, REGION, START

ACCOUNT = "111122223333"
DETECTOR = "12abc34d567e8fa901bc2d34e56789f0"
NOW = datetime(2025, 3, 14, 9, 26, 53, 589000, tzinfo=UTC)
SEQUENCE_TYPES = sorted(name for name in FINDING_TYPES if name.startswith("AttackSequence:"))


def sequence_of(finding_type: str, *, seed: int = 5, **options):
    return build_attack_sequence(random.Random(seed), finding_type=finding_type, account_id=ACCOUNT,
                                 region="eu-west-1", detector_id=DETECTOR, now=NOW, **options)


@pytest.mark.parametrize("finding_type", SEQUENCE_TYPES)
@pytest.mark.parametrize("hostile", [False, True], ids=["plain", "hostile"])
def test_a_sequence_and_its_signal_findings_are_findings_botocore_would_accept(finding_type, hostile):
    sequence, members = sequence_of(finding_type, hostile=hostile)

    for finding in (sequence, *members):
        assert shape_errors(finding, output_shape("Finding")) == []
    assert sequence["Severity"] >= 9.0 and sequence["Type"] == finding_type
    assert len(members) >= 2


@pytest.mark.parametrize("finding_type", SEQUENCE_TYPES)
def test_every_finding_signal_names_a_member_finding_that_names_the_sequence_back(finding_type):
    sequence, members = sequence_of(finding_type)
    signals = sequence["Service"]["Detection"]["Sequence"]["Signals"]
    by_arn = {member["Arn"]: member for member in members}

    finding_signals = [signal for signal in signals if signal["Type"] == "FINDING"]
    assert {signal["Uid"] for signal in finding_signals} == set(by_arn)
    for signal in finding_signals:
        member = by_arn[signal["Uid"]]
        assert member["AssociatedAttackSequenceArn"] == sequence["Arn"]
        assert signal["Name"] == member["Type"]
        assert signal["Count"] == member["Service"]["Count"]
        assert signal["FirstSeenAt"].isoformat()[:19] == member["Service"]["EventFirstSeen"][:19]
        assert signal["LastSeenAt"] <= datetime.fromisoformat(sequence["CreatedAt"])
    assert any(signal["Type"] == "CLOUD_TRAIL" for signal in signals)  # an activity, not a finding


def test_the_signal_findings_share_the_sequences_actor_and_address():
    sequence, members = sequence_of("AttackSequence:IAM/CompromisedCredentials")
    details = sequence["Service"]["Detection"]["Sequence"]
    key = details["Actors"][0]["User"]["CredentialUid"]
    address = details["Endpoints"][0]["Ip"]

    for member in members:
        assert member["Resource"]["AccessKeyDetails"]["AccessKeyId"] == key
        assert member["Service"]["Action"]["AwsApiCallAction"]["RemoteIpDetails"]["IpAddressV4"] == address
        assert member["AccountId"] == sequence["AccountId"]


def test_the_sequence_reports_mitre_tactics_and_techniques():
    sequence, _ = sequence_of("AttackSequence:S3/CompromisedData")
    indicators = {item["Key"]: item["Values"]
                  for item in sequence["Service"]["Detection"]["Sequence"]["SequenceIndicators"]}

    assert "Exfiltration" in indicators["ATTACK_TACTIC"]
    assert any(value.startswith("T1537") for value in indicators["ATTACK_TECHNIQUE"])


def test_a_sequence_keeps_its_links_in_guarddutys_own_json_spelling():
    sequence, members = sequence_of("AttackSequence:EKS/CompromisedCluster")
    camel = to_camel_case(members[0])

    assert camel["associatedAttackSequenceArn"] == sequence["Arn"]
    signal = to_camel_case(sequence)["service"]["detection"]["sequence"]["signals"][0]
    assert signal["uid"] == members[0]["Arn"] and isinstance(signal["firstSeenAt"], float)


def test_only_attack_sequence_types_build_a_sequence():
    with pytest.raises(ValueError, match="not an attack-sequence"):
        sequence_of("Recon:EC2/Portscan")


def test_get_findings_returns_the_sequence_and_its_signals_through_boto3(state, gd_client, enabled_member):
    ids = state.add_attack_sequence(MEMBER, REGION, "AttackSequence:IAM/CompromisedCredentials",
                                    now=START - timedelta(hours=1))
    admin = gd_client(ADMIN)
    detector = admin.list_detectors()["DetectorIds"][0]

    found = admin.get_findings(DetectorId=detector, FindingIds=ids)["Findings"]  # responses validated by conftest
    sequence = next(finding for finding in found if finding["Id"] == ids[0])
    members = [finding for finding in found if finding["Id"] != ids[0]]
    assert {finding["AssociatedAttackSequenceArn"] for finding in members} == {sequence["Arn"]}
    uids = {signal["Uid"] for signal in sequence["Service"]["Detection"]["Sequence"]["Signals"]
            if signal["Type"] == "FINDING"}
    assert uids == {finding["Arn"] for finding in members}


def test_generated_sequences_bring_their_signal_findings_within_the_count_asked_for():
    state = SimulatorState(seed=3, now=START)
    state.ensure_detector(ACCOUNT, REGION)
    sequence_type = ["AttackSequence:S3/CompromisedData"]

    ids = state.generate_findings(ACCOUNT, REGION, 4, finding_types=sequence_type)
    alone = state.generate_findings(ACCOUNT, REGION, 1, finding_types=sequence_type)  # no room for its signals
    sample = state.generate_findings(ACCOUNT, REGION, 4, finding_types=sequence_type, sample=True)

    assert (len(ids), len(alone), len(sample)) == (4, 1, 4)
    findings = {finding["Id"]: finding for finding in state.findings_of(ACCOUNT, REGION)}
    assert {findings[finding_id].get("AssociatedAttackSequenceArn") for finding_id in ids[1:]} == {
        findings[ids[0]]["Arn"]}
    assert sum(1 for finding in findings.values() if finding.get("AssociatedAttackSequenceArn")) == 3


def test_the_demo_always_has_an_iam_and_an_s3_sequence_with_their_signals():
    state = SimulatorState(now=START)
    state.seed_scenario("demo", seed=7)

    stored = [finding.data for store in state.findings.values() for finding in store.by_id.values()]
    sequences = {finding["Type"] for finding in stored if finding["Type"].startswith("AttackSequence:")}
    assert {"AttackSequence:IAM/CompromisedCredentials", "AttackSequence:S3/CompromisedData"} <= sequences
    arns = {finding["Arn"] for finding in stored}
    linked = [finding for finding in stored if finding.get("AssociatedAttackSequenceArn")]
    assert linked and all(finding["AssociatedAttackSequenceArn"] in arns for finding in linked)
