"""Saved filters and suppression rules."""

import pytest

from .world import ADMIN, MEMBER, REGION

PORT_PROBES = {"Criterion": {"type": {"Eq": ["Recon:EC2/PortProbeUnprotectedPort"]}}}


def test_admin_saves_reads_updates_and_deletes_a_filter(gd_client, admin_detector):
    client = gd_client(ADMIN)
    client.create_filter(DetectorId=admin_detector, Name="high-only", Description="High findings",
                         FindingCriteria={"Criterion": {"severity": {"Gte": 7}}}, Tags={"owner": "soc"})
    saved = client.get_filter(DetectorId=admin_detector, FilterName="high-only")
    assert (saved["Action"], saved["Rank"], saved["Version"]) == ("NOOP", 1, 1)
    assert saved["FindingCriteria"] == {"Criterion": {"severity": {"Gte": 7}}}
    client.update_filter(DetectorId=admin_detector, FilterName="high-only", Rank=3,
                         FindingCriteria={"Criterion": {"severity": {"Gte": 8}}})
    saved = client.get_filter(DetectorId=admin_detector, FilterName="high-only")
    assert (saved["Rank"], saved["Version"]) == (3, 2)
    client.delete_filter(DetectorId=admin_detector, FilterName="high-only")
    assert client.list_filters(DetectorId=admin_detector)["FilterNames"] == []


def test_filter_names_are_unique(gd_client, admin_detector):
    client = gd_client(ADMIN)
    client.create_filter(DetectorId=admin_detector, Name="dup", FindingCriteria=PORT_PROBES)
    with pytest.raises(client.exceptions.BadRequestException, match="already exists"):
        client.create_filter(DetectorId=admin_detector, Name="dup", FindingCriteria=PORT_PROBES)


def test_an_unknown_filter_is_a_bad_request(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="does not exist"):
        client.get_filter(DetectorId=admin_detector, FilterName="nope")


def test_the_101st_filter_is_refused_and_filters_page(gd_client, admin_detector):
    client = gd_client(ADMIN)
    for index in range(100):
        client.create_filter(DetectorId=admin_detector, Name=f"filter-{index:03d}", Rank=index + 1,
                             FindingCriteria=PORT_PROBES)
    with pytest.raises(client.exceptions.BadRequestException, match="limit of 100"):
        client.create_filter(DetectorId=admin_detector, Name="one-too-many", FindingCriteria=PORT_PROBES)
    pages = list(client.get_paginator("list_filters").paginate(DetectorId=admin_detector,
                                                               PaginationConfig={"PageSize": 50}))
    assert [len(page["FilterNames"]) for page in pages] == [50, 50]


def test_archive_rule_archives_new_matching_findings_only(state, gd_client, admin_detector):
    client = gd_client(ADMIN)
    [before] = state.generate_findings(ADMIN, REGION, 1, finding_types=["Recon:EC2/PortProbeUnprotectedPort"])
    client.create_filter(DetectorId=admin_detector, Name="suppress-probes", Action="ARCHIVE",
                         FindingCriteria=PORT_PROBES)
    [probe] = state.generate_findings(ADMIN, REGION, 1, finding_types=["Recon:EC2/PortProbeUnprotectedPort"])
    [other] = state.generate_findings(ADMIN, REGION, 1, finding_types=["CryptoCurrency:EC2/BitcoinTool.B!DNS"])
    findings = client.get_findings(DetectorId=admin_detector, FindingIds=[before, probe, other])["Findings"]
    archived = {finding["Id"]: finding["Service"]["Archived"] for finding in findings}
    assert archived == {before: False, probe: True, other: False}


def test_administrators_archive_rule_applies_to_member_findings(state, gd_client, admin_detector,
                                                                enabled_member):
    gd_client(ADMIN).create_filter(DetectorId=admin_detector, Name="suppress-probes", Action="ARCHIVE",
                                   FindingCriteria=PORT_PROBES)
    [probe] = state.generate_findings(MEMBER, REGION, 1, finding_types=["Recon:EC2/PortProbeUnprotectedPort"])
    finding = gd_client(ADMIN).get_findings(DetectorId=admin_detector, FindingIds=[probe])["Findings"][0]
    assert finding["Service"]["Archived"] is True


# --- What GuardDuty refuses in a filter (CreateFilter / UpdateFilter) ---------------------------------------
# Source: botocore's guardduty model, CreateFilterRequest.Name ("Valid characters include period (.),
# underscore (_), dash (-), and alphanumeric characters. A whitespace is considered to be an invalid
# character.") and .Description ("... alphanumeric characters, and special characters such as hyphen,
# period, colon, underscore, parentheses ({ }, [ ], and ( )), forward slash, horizontal tab, vertical tab,
# newline, form feed, return, and whitespace."); a comma is answered "the JSON could not be processed"
# (terraform-provider-aws #28367). Condition Eq/Neq/Equals/NotEquals: "Max values: 50" (model text).


def test_a_description_with_a_comma_is_refused_as_guardduty_does(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="JSON could not be processed"):
        client.create_filter(DetectorId=admin_detector, Name="scanner", Description="Our scanner, in QA",
                             FindingCriteria=PORT_PROBES)
    assert client.list_filters(DetectorId=admin_detector)["FilterNames"] == []


def test_a_description_of_the_documented_characters_is_accepted(gd_client, admin_detector):
    client = gd_client(ADMIN)
    text = "Scanner (QA) [ticket SEC-12] {team: soc_1} / weekly.\tnote\nend"
    client.create_filter(DetectorId=admin_detector, Name="scanner.qa_1", Description=text, FindingCriteria=PORT_PROBES)
    assert client.get_filter(DetectorId=admin_detector, FilterName="scanner.qa_1")["Description"] == text


@pytest.mark.parametrize("name", ["has space", "comma,name", "café-rule", "semi;colon"])
def test_a_name_outside_letters_digits_dot_dash_underscore_is_refused(gd_client, admin_detector, name):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="parameter name has an invalid value"):
        client.create_filter(DetectorId=admin_detector, Name=name, FindingCriteria=PORT_PROBES)


def test_updating_a_filter_with_a_comma_in_its_description_is_refused(gd_client, admin_detector):
    client = gd_client(ADMIN)
    client.create_filter(DetectorId=admin_detector, Name="scanner", Description="ok", FindingCriteria=PORT_PROBES)
    with pytest.raises(client.exceptions.BadRequestException, match="JSON could not be processed"):
        client.update_filter(DetectorId=admin_detector, FilterName="scanner", Description="a, b")
    assert client.get_filter(DetectorId=admin_detector, FilterName="scanner")["Description"] == "ok"


@pytest.mark.parametrize("operator", ["Eq", "Neq", "Equals", "NotEquals"])
def test_a_condition_takes_at_most_fifty_values(gd_client, admin_detector, operator):
    client = gd_client(ADMIN)
    accounts = [f"{n:012d}" for n in range(1, 52)]
    with pytest.raises(client.exceptions.BadRequestException, match="at most 50 values"):
        client.create_filter(DetectorId=admin_detector, Name="many",
                             FindingCriteria={"Criterion": {"accountId": {operator: accounts}}})
    client.create_filter(DetectorId=admin_detector, Name="fifty",
                         FindingCriteria={"Criterion": {"accountId": {operator: accounts[:50]}}})
