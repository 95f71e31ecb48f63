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
