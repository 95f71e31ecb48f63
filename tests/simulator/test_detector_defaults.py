"""CreateDetector's documented defaults: what a request leaves out (botocore model text for CreateDetector)."""

from __future__ import annotations

import pytest

from .world import ADMIN, MEMBER, OTHER_MEMBER, OUTSIDER

OPTIONAL = ("S3_DATA_EVENTS", "EKS_AUDIT_LOGS", "EBS_MALWARE_PROTECTION", "RDS_LOGIN_EVENTS", "LAMBDA_NETWORK_LOGS",
            "AI_PROTECTION")


def plans(client, detector_id: str) -> dict[str, str]:
    return {feature["Name"]: feature["Status"] for feature in client.get_detector(DetectorId=detector_id)["Features"]}


@pytest.mark.parametrize("account", [ADMIN, MEMBER, OTHER_MEMBER, OUTSIDER])
def test_without_features_every_optional_plan_but_runtime_monitoring_is_enabled(gd_client, account):
    client = gd_client(account)
    detector_id = client.create_detector(Enable=True)["DetectorId"]

    found = plans(client, detector_id)

    assert {name: found[name] for name in OPTIONAL} == dict.fromkeys(OPTIONAL, "ENABLED")
    assert found["RUNTIME_MONITORING"] == "DISABLED"
    assert {found[name] for name in ("CLOUD_TRAIL", "DNS_LOGS", "FLOW_LOGS")} == {"ENABLED"}


def test_updated_findings_are_published_every_six_hours_unless_asked(gd_client):
    client = gd_client(MEMBER)
    detector_id = client.create_detector(Enable=True)["DetectorId"]

    assert client.get_detector(DetectorId=detector_id)["FindingPublishingFrequency"] == "SIX_HOURS"


def test_features_left_out_of_the_request_are_enabled_except_runtime_monitoring(gd_client):
    client = gd_client(MEMBER)
    detector_id = client.create_detector(Enable=True, Features=[
        {"Name": "S3_DATA_EVENTS", "Status": "DISABLED"}, {"Name": "RDS_LOGIN_EVENTS", "Status": "DISABLED"}],
    )["DetectorId"]

    found = plans(client, detector_id)

    assert (found["S3_DATA_EVENTS"], found["RDS_LOGIN_EVENTS"]) == ("DISABLED", "DISABLED")
    assert (found["EKS_AUDIT_LOGS"], found["EBS_MALWARE_PROTECTION"], found["LAMBDA_NETWORK_LOGS"]) == (
        "ENABLED", "ENABLED", "ENABLED")
    assert found["RUNTIME_MONITORING"] == "DISABLED"


def test_legacy_data_sources_switch_off_only_what_they_name(gd_client):
    client = gd_client(MEMBER)
    detector_id = client.create_detector(Enable=True, DataSources={"S3Logs": {"Enable": False}})["DetectorId"]

    found = plans(client, detector_id)

    assert found["S3_DATA_EVENTS"] == "DISABLED"
    assert found["EKS_AUDIT_LOGS"] == found["EBS_MALWARE_PROTECTION"] == "ENABLED"
    assert found["RUNTIME_MONITORING"] == "DISABLED"


def test_both_runtime_monitoring_features_in_one_request_are_refused(gd_client):
    client = gd_client(MEMBER)
    with pytest.raises(client.exceptions.BadRequestException, match="cannot both be specified"):
        client.create_detector(Enable=True, Features=[{"Name": "EKS_RUNTIME_MONITORING", "Status": "ENABLED"},
                                                      {"Name": "RUNTIME_MONITORING", "Status": "ENABLED"}])
    assert client.list_detectors()["DetectorIds"] == []
