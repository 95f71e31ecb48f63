"""ListFindings' FindingCriteria, SortCriteria and paging, as a sync job uses them."""

from datetime import timedelta

import pytest

from .world import ADMIN, MEMBER, REGION, epoch_ms, list_all_finding_ids

LOW = "Recon:EC2/PortProbeUnprotectedPort"          # severity 2, Instance
MEDIUM = "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B"  # severity 5, AccessKey
HIGH = "CryptoCurrency:EC2/BitcoinTool.B!DNS"        # severity 8, Instance


@pytest.fixture
def three_findings(state, admin_detector) -> dict[str, str]:
    """One low, one medium and one high finding, an hour apart (type -> id)."""
    ids = {}
    for finding_type in (LOW, MEDIUM, HIGH):
        [ids[finding_type]] = state.generate_findings(ADMIN, REGION, 1, finding_types=[finding_type])
        state.advance_clock(3600)
    return ids


def _matching(client, detector_id: str, criterion: dict) -> set[str]:
    return set(list_all_finding_ids(client, detector_id, FindingCriteria={"Criterion": criterion}))


@pytest.mark.parametrize("criterion, expected", [
    ({"severity": {"Gte": 5}}, {MEDIUM, HIGH}),
    ({"severity": {"Gt": 5}}, {HIGH}),
    ({"severity": {"Lt": 5}}, {LOW}),
    ({"severity": {"Lte": 5}}, {LOW, MEDIUM}),
    ({"severity": {"GreaterThanOrEqual": 5}}, {MEDIUM, HIGH}),
    ({"severity": {"GreaterThan": 5}}, {HIGH}),
    ({"severity": {"LessThan": 5}}, {LOW}),
    ({"severity": {"LessThanOrEqual": 5}}, {LOW, MEDIUM}),
    ({"type": {"Eq": [LOW, HIGH]}}, {LOW, HIGH}),
    ({"type": {"Equals": [MEDIUM]}}, {MEDIUM}),
    ({"type": {"Neq": [LOW]}}, {MEDIUM, HIGH}),
    ({"type": {"NotEquals": [LOW, MEDIUM]}}, {HIGH}),
    ({"resource.resourceType": {"Eq": ["AccessKey"]}}, {MEDIUM}),
    ({"accountId": {"Eq": [ADMIN]}, "region": {"Eq": [REGION]}}, {LOW, MEDIUM, HIGH}),
    ({"accountId": {"Eq": [MEMBER]}}, set()),
    ({"service.archived": {"Eq": ["false"]}}, {LOW, MEDIUM, HIGH}),
    ({"severity": {"Gte": 4, "Lt": 7}}, {MEDIUM}),
])
def test_criteria_select_the_matching_findings(gd_client, admin_detector, three_findings, criterion, expected):
    matched = _matching(gd_client(ADMIN), admin_detector, criterion)
    assert matched == {three_findings[finding_type] for finding_type in expected}


def test_updated_at_compares_epoch_milliseconds(state, gd_client, admin_detector, three_findings):
    cutoff = epoch_ms(state.now() - timedelta(minutes=90))  # between the medium and the high finding
    matched = _matching(gd_client(ADMIN), admin_detector, {"updatedAt": {"GreaterThanOrEqual": cutoff}})
    assert matched == {three_findings[HIGH]}


def test_updated_at_window_with_both_bounds(state, gd_client, admin_detector, three_findings):
    now = state.now()
    criterion = {"updatedAt": {"GreaterThan": epoch_ms(now - timedelta(minutes=150)),
                               "LessThan": epoch_ms(now - timedelta(minutes=90))}}
    assert _matching(gd_client(ADMIN), admin_detector, criterion) == {three_findings[MEDIUM]}


def test_criteria_on_the_finding_id(gd_client, admin_detector, three_findings):
    criterion = {"id": {"Eq": [three_findings[LOW]]}}
    assert _matching(gd_client(ADMIN), admin_detector, criterion) == {three_findings[LOW]}


def test_any_dotted_path_of_the_finding_can_be_a_criterion(state, gd_client, admin_detector, three_findings):
    finding = next(f for f in state.findings_of(ADMIN, REGION) if f["Id"] == three_findings[HIGH])
    instance_id = finding["Resource"]["InstanceDetails"]["InstanceId"]
    criterion = {"resource.instanceDetails.instanceId": {"Eq": [instance_id]}}
    assert _matching(gd_client(ADMIN), admin_detector, criterion) == {three_findings[HIGH]}


def test_a_path_inside_lists_matches_any_element(state, gd_client, admin_detector, three_findings):
    finding = next(f for f in state.findings_of(ADMIN, REGION) if f["Id"] == three_findings[HIGH])
    address = finding["Resource"]["InstanceDetails"]["NetworkInterfaces"][0]["PrivateIpAddress"]
    criterion = {"resource.instanceDetails.networkInterfaces.privateIpAddress": {"Eq": [address]}}
    assert three_findings[HIGH] in _matching(gd_client(ADMIN), admin_detector, criterion)


def test_sorting_by_severity_descending(gd_client, admin_detector, three_findings):
    page = gd_client(ADMIN).list_findings(DetectorId=admin_detector,
                                          SortCriteria={"AttributeName": "severity", "OrderBy": "DESC"})
    assert page["FindingIds"] == [three_findings[HIGH], three_findings[MEDIUM], three_findings[LOW]]


def test_sorting_by_update_time_ascending(gd_client, admin_detector, three_findings):
    page = gd_client(ADMIN).list_findings(DetectorId=admin_detector,
                                          SortCriteria={"AttributeName": "updatedAt", "OrderBy": "ASC"})
    assert page["FindingIds"] == [three_findings[LOW], three_findings[MEDIUM], three_findings[HIGH]]


def test_get_findings_can_sort_what_it_returns(gd_client, admin_detector, three_findings):
    findings = gd_client(ADMIN).get_findings(DetectorId=admin_detector, FindingIds=list(three_findings.values()),
                                             SortCriteria={"AttributeName": "severity", "OrderBy": "ASC"})
    assert [f["Type"] for f in findings["Findings"]] == [LOW, MEDIUM, HIGH]


def test_paging_returns_every_finding_once(state, gd_client, admin_detector):
    ids = set(state.generate_findings(ADMIN, REGION, 120))
    pages = list(gd_client(ADMIN).get_paginator("list_findings").paginate(
        DetectorId=admin_detector, PaginationConfig={"PageSize": 50}))
    assert [len(page["FindingIds"]) for page in pages] == [50, 50, 20]
    listed = [finding_id for page in pages for finding_id in page["FindingIds"]]
    assert sorted(listed) == sorted(ids)


def test_paging_walks_a_snapshot_while_findings_arrive(state, gd_client, admin_detector):
    original = set(state.generate_findings(ADMIN, REGION, 60))
    client = gd_client(ADMIN)
    first = client.list_findings(DetectorId=admin_detector, MaxResults=50)
    state.generate_findings(ADMIN, REGION, 5)
    second = client.list_findings(DetectorId=admin_detector, MaxResults=50, NextToken=first["NextToken"])
    assert set(first["FindingIds"]) | set(second["FindingIds"]) == original


def test_a_forged_next_token_is_rejected(gd_client, admin_detector, three_findings):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="nextToken"):
        client.list_findings(DetectorId=admin_detector, NextToken="not-a-token")


def test_a_token_from_another_query_is_rejected(state, gd_client, admin_detector):
    state.generate_findings(ADMIN, REGION, 3)
    client = gd_client(ADMIN)
    token = client.list_findings(DetectorId=admin_detector, MaxResults=1)["NextToken"]
    with pytest.raises(client.exceptions.BadRequestException, match="nextToken"):
        client.list_findings(DetectorId=admin_detector, MaxResults=1, NextToken=token,
                             FindingCriteria={"Criterion": {"severity": {"Gte": 1}}})


def test_an_empty_condition_is_rejected(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="findingCriteria.criterion.severity"):
        client.list_findings(DetectorId=admin_detector, FindingCriteria={"Criterion": {"severity": {}}})
