"""Findings: who sees which, repeat occurrences, sample findings, archive, feedback, statistics."""

from datetime import timedelta

import pytest

from .world import ADMIN, MEMBER, OTHER_REGION, REGION, list_all_finding_ids


def test_member_findings_are_visible_to_the_administrator_while_enabled(state, gd_client, admin_detector,
                                                                        enabled_member):
    ids = set(state.generate_findings(MEMBER, REGION, 4))
    assert set(list_all_finding_ids(gd_client(ADMIN), admin_detector)) == ids


def test_findings_of_a_disabled_member_are_hidden(state, gd_client, admin_detector, enabled_member):
    state.generate_findings(MEMBER, REGION, 2)
    gd_client(ADMIN).stop_monitoring_members(DetectorId=admin_detector, AccountIds=[MEMBER])
    assert list_all_finding_ids(gd_client(ADMIN), admin_detector) == []


def test_member_findings_stay_in_their_region(state, gd_client, admin_detector, enabled_member):
    state.ensure_detector(MEMBER, OTHER_REGION)
    state.generate_findings(MEMBER, OTHER_REGION, 3)
    assert list_all_finding_ids(gd_client(ADMIN), admin_detector) == []


def test_a_member_sees_only_its_own_findings(state, gd_client, admin_detector, enabled_member):
    own = set(state.generate_findings(MEMBER, REGION, 2))
    state.generate_findings(ADMIN, REGION, 2)
    assert set(list_all_finding_ids(gd_client(MEMBER), enabled_member)) == own


def test_get_findings_skips_ids_the_caller_cannot_see(state, gd_client, admin_detector, enabled_member):
    admin_only = state.generate_findings(ADMIN, REGION, 1)
    answer = gd_client(MEMBER).get_findings(DetectorId=enabled_member, FindingIds=admin_only + ["0" * 32])
    assert answer["Findings"] == []


def test_repeat_occurrence_updates_the_same_finding(state, gd_client, admin_detector):
    [finding_id] = state.generate_findings(ADMIN, REGION, 1)
    client = gd_client(ADMIN)
    before = client.get_findings(DetectorId=admin_detector, FindingIds=[finding_id])["Findings"][0]
    state.advance_clock(3600)
    state.repeat_finding(REGION, finding_id)
    after = client.get_findings(DetectorId=admin_detector, FindingIds=[finding_id])["Findings"][0]
    assert list_all_finding_ids(client, admin_detector) == [finding_id]
    assert after["Service"]["Count"] > before["Service"]["Count"]
    assert after["UpdatedAt"] > before["UpdatedAt"]
    assert after["Service"]["EventLastSeen"] == after["UpdatedAt"]
    assert after["CreatedAt"] == before["CreatedAt"]


def test_findings_not_updated_for_90_days_expire(state, gd_client, admin_detector):
    state.generate_findings(ADMIN, REGION, 2)
    state.advance_clock(timedelta(days=91).total_seconds())
    assert list_all_finding_ids(gd_client(ADMIN), admin_detector) == []


def test_sample_findings_are_marked_and_updated_on_the_next_call(gd_client, admin_detector):
    client = gd_client(ADMIN)
    types = ["Recon:EC2/PortProbeUnprotectedPort", "CryptoCurrency:EC2/BitcoinTool.B!DNS"]
    client.create_sample_findings(DetectorId=admin_detector, FindingTypes=types)
    client.create_sample_findings(DetectorId=admin_detector, FindingTypes=types)
    ids = list_all_finding_ids(client, admin_detector)
    findings = client.get_findings(DetectorId=admin_detector, FindingIds=ids)["Findings"]
    assert sorted(f["Type"] for f in findings) == sorted(types)
    assert all('"sample":true' in f["Service"]["AdditionalInfo"]["Value"] for f in findings)
    assert all(f["Service"]["Count"] > 1 for f in findings)


def test_sample_findings_of_every_type_when_none_are_named(gd_client, admin_detector):
    from gdsim.catalogue import FINDING_TYPES

    client = gd_client(ADMIN)
    client.create_sample_findings(DetectorId=admin_detector)
    assert len(list_all_finding_ids(client, admin_detector)) == len(FINDING_TYPES)


def test_an_unknown_sample_finding_type_is_rejected(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="findingTypes"):
        client.create_sample_findings(DetectorId=admin_detector, FindingTypes=["Nonsense:EC2/Nothing"])


def test_administrator_archives_and_unarchives_a_member_finding(state, gd_client, admin_detector, enabled_member):
    [finding_id] = state.generate_findings(MEMBER, REGION, 1)
    client = gd_client(ADMIN)
    client.archive_findings(DetectorId=admin_detector, FindingIds=[finding_id])
    archived = client.list_findings(DetectorId=admin_detector,
                                    FindingCriteria={"Criterion": {"service.archived": {"Eq": ["true"]}}})
    assert archived["FindingIds"] == [finding_id]
    client.unarchive_findings(DetectorId=admin_detector, FindingIds=[finding_id])
    finding = client.get_findings(DetectorId=admin_detector, FindingIds=[finding_id])["Findings"][0]
    assert finding["Service"]["Archived"] is False


def test_a_member_cannot_archive_findings(state, gd_client, admin_detector, enabled_member):
    [finding_id] = state.generate_findings(MEMBER, REGION, 1)
    member = gd_client(MEMBER)
    with pytest.raises(member.exceptions.BadRequestException, match="only the administrator"):
        member.archive_findings(DetectorId=enabled_member, FindingIds=[finding_id])


def test_feedback_is_recorded_on_the_finding(state, gd_client, admin_detector):
    [finding_id] = state.generate_findings(ADMIN, REGION, 1)
    client = gd_client(ADMIN)
    client.update_findings_feedback(DetectorId=admin_detector, FindingIds=[finding_id], Feedback="NOT_USEFUL",
                                    Comments="expected scanner")
    finding = client.get_findings(DetectorId=admin_detector, FindingIds=[finding_id])["Findings"][0]
    assert finding["Service"]["UserFeedback"] == "NOT_USEFUL"


def test_statistics_count_findings_by_severity(state, gd_client, admin_detector):
    state.generate_findings(ADMIN, REGION, 3, finding_types=["Recon:EC2/PortProbeUnprotectedPort"])
    statistics = gd_client(ADMIN).get_findings_statistics(DetectorId=admin_detector,
                                                          FindingStatisticTypes=["COUNT_BY_SEVERITY"])
    assert sum(statistics["FindingStatistics"]["CountBySeverity"].values()) == 3


@pytest.mark.parametrize("group_by, label", [("ACCOUNT", "GroupedByAccount"), ("DATE", "GroupedByDate"),
                                             ("FINDING_TYPE", "GroupedByFindingType"),
                                             ("RESOURCE", "GroupedByResource"), ("SEVERITY", "GroupedBySeverity")])
def test_statistics_group_visible_findings(state, gd_client, admin_detector, enabled_member, group_by, label):
    state.generate_findings(ADMIN, REGION, 2)
    state.generate_findings(MEMBER, REGION, 3)
    statistics = gd_client(ADMIN).get_findings_statistics(DetectorId=admin_detector, GroupBy=group_by)
    groups = statistics["FindingStatistics"][label]
    assert sum(group["TotalFindings"] for group in groups) == 5


def test_statistics_by_account_split_administrator_and_member(state, gd_client, admin_detector, enabled_member):
    state.generate_findings(ADMIN, REGION, 2)
    state.generate_findings(MEMBER, REGION, 3)
    groups = gd_client(ADMIN).get_findings_statistics(DetectorId=admin_detector, GroupBy="ACCOUNT")
    totals = {g["AccountId"]: g["TotalFindings"] for g in groups["FindingStatistics"]["GroupedByAccount"]}
    assert totals == {ADMIN: 2, MEMBER: 3}


def test_a_global_service_finding_reports_us_east_1_but_lives_in_its_detectors_region():
    """botocore's model, Finding.Region: for Global Service Events "the Region value in the finding might
    differ from the Region where GuardDuty identifies the potential threat"; CloudTrail logs IAM's calls in
    us-east-1 (CloudTrail User Guide, "Global service events"). The ARN keeps the home region."""
    import random
    from datetime import UTC, datetime

    from gdsim import SimulatorState
    from gdsim.catalogue import build_finding, to_eventbridge_event

    state = SimulatorState(seed=3)
    state.register_account("111122223333", "root@example.com")
    detector = state.ensure_detector("111122223333", "eu-west-1")
    data = build_finding(random.Random(1), finding_type="Persistence:IAMUser/AnomalousBehavior",
                         account_id="111122223333", region="eu-west-1", detector_id=detector,
                         now=datetime.now(UTC))  # fmt: skip
    assert data["Service"]["Action"]["AwsApiCallAction"]["ServiceName"] == "iam.amazonaws.com"
    assert (data["Region"], data["Arn"].split(":")[3]) == ("us-east-1", "eu-west-1")
    state.add_finding(data)
    assert state.region_findings("eu-west-1").get(data["Id"]) is not None
    assert state.region_findings("us-east-1").get(data["Id"]) is None
    assert to_eventbridge_event(data)["region"] == "eu-west-1"


@pytest.mark.parametrize("params", [
    {"FindingStatisticTypes": ["COUNT_BY_SEVERITY"], "GroupBy": "ACCOUNT"},  # both
    {},  # neither
    {"FindingStatisticTypes": ["COUNT_BY_SEVERITY"], "MaxResults": 10},  # maxResults without groupBy
    {"FindingStatisticTypes": ["COUNT_BY_SEVERITY"], "OrderBy": "ASC"},  # orderBy without groupBy
])
def test_statistics_take_either_types_or_a_grouping_as_aws_documents(gd_client, admin_detector, params):
    """AWS API reference, GetFindingsStatistics: "You must provide either findingStatisticTypes or groupBy
    parameter, and not both. You can use the maxResults and orderBy parameters only when using groupBy.\""""
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException):
        client.get_findings_statistics(DetectorId=admin_detector, **params)


def test_a_grouping_answers_25_groups_unless_asked_for_more(state, gd_client, admin_detector):
    """API reference: maxResults "The default value is 25"; botocore: 1..100, and no NextToken in the request."""
    from gdsim import catalogue

    # Not attack sequences: each brings findings of other types along (its signals).
    types = sorted(name for name in catalogue.FINDING_TYPES if not name.startswith("AttackSequence:"))[:30]
    state.generate_findings(ADMIN, REGION, 30, finding_types=types)
    client = gd_client(ADMIN)

    default = client.get_findings_statistics(DetectorId=admin_detector, GroupBy="FINDING_TYPE")
    asked = client.get_findings_statistics(DetectorId=admin_detector, GroupBy="FINDING_TYPE", MaxResults=100)

    assert len(default["FindingStatistics"]["GroupedByFindingType"]) == 25
    assert len(asked["FindingStatistics"]["GroupedByFindingType"]) == 30
