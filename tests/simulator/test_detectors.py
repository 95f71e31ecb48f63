"""Detectors: one per account and region, with status, publishing frequency and protection plans."""

import pytest

from .world import ADMIN, MEMBER, OTHER_REGION, REGION


def test_admin_creates_a_detector_and_reads_it_back(gd_client):
    client = gd_client(ADMIN)
    detector_id = client.create_detector(Enable=True, FindingPublishingFrequency="ONE_HOUR",
                                         Tags={"team": "security"})["DetectorId"]
    detector = client.get_detector(DetectorId=detector_id)
    assert detector["Status"] == "ENABLED"
    assert detector["FindingPublishingFrequency"] == "ONE_HOUR"
    assert detector["Tags"] == {"team": "security"}
    assert detector["ServiceRole"].endswith("AWSServiceRoleForAmazonGuardDuty")
    assert {feature["Name"] for feature in detector["Features"]} >= {"CLOUD_TRAIL", "S3_DATA_EVENTS",
                                                                      "RUNTIME_MONITORING"}


def test_a_second_detector_in_the_same_region_is_refused(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="a detector already exists"):
        client.create_detector(Enable=True)


def test_detectors_are_per_region(gd_client, admin_detector):
    other = gd_client(ADMIN, OTHER_REGION).create_detector(Enable=True)["DetectorId"]
    assert other != admin_detector
    assert gd_client(ADMIN, OTHER_REGION).list_detectors()["DetectorIds"] == [other]
    assert gd_client(ADMIN, REGION).list_detectors()["DetectorIds"] == [admin_detector]


def test_list_detectors_pages_with_a_token(gd_client, admin_detector):
    client = gd_client(ADMIN)
    pages = list(client.get_paginator("list_detectors").paginate(PaginationConfig={"PageSize": 1}))
    assert [page["DetectorIds"] for page in pages] == [[admin_detector]]


def test_an_account_without_a_detector_lists_none(gd_client):
    assert gd_client(MEMBER).list_detectors()["DetectorIds"] == []


def test_another_accounts_detector_is_not_visible(gd_client, admin_detector):
    member = gd_client(MEMBER)
    with pytest.raises(member.exceptions.BadRequestException, match="not owned by the current account"):
        member.get_detector(DetectorId=admin_detector)


def test_features_requested_at_creation_are_kept(gd_client):
    client = gd_client(ADMIN)
    detector_id = client.create_detector(Enable=True, Features=[
        {"Name": "S3_DATA_EVENTS", "Status": "DISABLED"},
        {"Name": "RUNTIME_MONITORING", "Status": "ENABLED",
         "AdditionalConfiguration": [{"Name": "EKS_ADDON_MANAGEMENT", "Status": "DISABLED"}]},
    ])["DetectorId"]
    features = {f["Name"]: f for f in client.get_detector(DetectorId=detector_id)["Features"]}
    assert features["S3_DATA_EVENTS"]["Status"] == "DISABLED"
    assert features["RUNTIME_MONITORING"]["Status"] == "ENABLED"
    addons = {a["Name"]: a["Status"] for a in features["RUNTIME_MONITORING"]["AdditionalConfiguration"]}
    assert addons["EKS_ADDON_MANAGEMENT"] == "DISABLED"


def test_data_sources_and_features_together_are_refused(gd_client):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="both data sources and features"):
        client.create_detector(Enable=True, DataSources={"S3Logs": {"Enable": True}},
                               Features=[{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}])


def test_update_detector_changes_status_frequency_and_plans(gd_client, admin_detector):
    client = gd_client(ADMIN)
    client.update_detector(DetectorId=admin_detector, Enable=False, FindingPublishingFrequency="FIFTEEN_MINUTES",
                           DataSources={"S3Logs": {"Enable": False}})
    detector = client.get_detector(DetectorId=admin_detector)
    assert detector["Status"] == "DISABLED"
    assert detector["FindingPublishingFrequency"] == "FIFTEEN_MINUTES"
    assert detector["DataSources"]["S3Logs"]["Status"] == "DISABLED"


def test_administrators_publishing_frequency_applies_to_its_members(gd_client, admin_detector, enabled_member):
    gd_client(ADMIN).update_detector(DetectorId=admin_detector, FindingPublishingFrequency="FIFTEEN_MINUTES")
    member_view = gd_client(MEMBER).get_detector(DetectorId=enabled_member)
    assert member_view["FindingPublishingFrequency"] == "FIFTEEN_MINUTES"


def test_deleting_a_detector_removes_it_and_its_findings(state, gd_client, admin_detector):
    client = gd_client(ADMIN)
    state.generate_findings(ADMIN, REGION, 2)
    client.delete_detector(DetectorId=admin_detector)
    assert client.list_detectors()["DetectorIds"] == []
    assert state.findings_of(ADMIN, REGION) == []


def test_an_administrator_with_members_cannot_delete_its_detector(gd_client, admin_detector, enabled_member):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="associated member accounts"):
        client.delete_detector(DetectorId=admin_detector)
