"""Faults on demand: throttling, server errors, latency and a failing ListFindings page."""

import time

import pytest
from botocore.exceptions import ClientError

from .world import ADMIN, OTHER_REGION, REGION


def _error(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_throttling_answers_429_too_many_requests(state, gd_client, admin_detector):
    state.faults.add("throttle")
    assert _error(gd_client(ADMIN).list_detectors) == (429, "TooManyRequestsException")


def test_throttling_can_answer_400_throttling_exception(state, gd_client, admin_detector):
    state.faults.add("throttle", status=400)
    assert _error(gd_client(ADMIN).list_detectors) == (400, "ThrottlingException")


def test_server_errors_answer_500_or_503(state, gd_client, admin_detector):
    client = gd_client(ADMIN)
    state.faults.add("server_error", repeat="once")
    assert _error(client.list_detectors) == (500, "InternalServerErrorException")
    state.faults.add("server_error", status=503, repeat="once")
    assert _error(client.list_detectors) == (503, "ServiceUnavailableException")
    assert client.list_detectors()["DetectorIds"] == [admin_detector]


def test_botocore_retries_through_a_single_throttle(state, gd_client, admin_detector):
    state.faults.add("throttle", repeat="once")
    assert gd_client(ADMIN, max_attempts=3).list_detectors()["DetectorIds"] == [admin_detector]
    assert state.call_counts["ListDetectors"] == 2


def test_faults_are_scoped_by_operation(state, gd_client, admin_detector):
    state.faults.add("throttle", operation="ListFindings")
    client = gd_client(ADMIN)
    assert client.list_detectors()["DetectorIds"] == [admin_detector]
    assert _error(lambda: client.list_findings(DetectorId=admin_detector))[1] == "TooManyRequestsException"


def test_faults_are_scoped_by_region(state, gd_client, admin_detector):
    state.faults.add("server_error", region=OTHER_REGION)
    assert gd_client(ADMIN, REGION).list_detectors()["DetectorIds"] == [admin_detector]
    assert _error(gd_client(ADMIN, OTHER_REGION).list_detectors)[0] == 500


def test_added_latency_delays_the_answer(state, gd_client, admin_detector):
    state.faults.add("latency", latency_ms=300)
    client = gd_client(ADMIN)
    started = time.perf_counter()
    client.list_detectors()
    assert time.perf_counter() - started >= 0.3


def _walk(client, detector_id: str) -> list[str]:
    ids, token = [], {}
    while True:
        page = client.list_findings(DetectorId=detector_id, MaxResults=10, **token)
        ids += page["FindingIds"]
        if not page.get("NextToken"):
            return ids
        token = {"NextToken": page["NextToken"]}


def test_failing_page_n_once_lets_a_retry_of_that_page_succeed(state, gd_client, admin_detector):
    state.generate_findings(ADMIN, REGION, 40)
    state.faults.add("fail_page", page=2, repeat="once")
    client = gd_client(ADMIN)
    first = client.list_findings(DetectorId=admin_detector, MaxResults=10)
    second = client.list_findings(DetectorId=admin_detector, MaxResults=10, NextToken=first["NextToken"])
    with pytest.raises(client.exceptions.InternalServerErrorException):
        client.list_findings(DetectorId=admin_detector, MaxResults=10, NextToken=second["NextToken"])
    third = client.list_findings(DetectorId=admin_detector, MaxResults=10, NextToken=second["NextToken"])
    assert len(third["FindingIds"]) == 10


def test_failing_page_n_always_breaks_every_full_walk(state, gd_client, admin_detector):
    state.generate_findings(ADMIN, REGION, 40)
    state.faults.add("fail_page", page=1)
    client = gd_client(ADMIN)
    for _ in range(2):
        with pytest.raises(client.exceptions.InternalServerErrorException):
            _walk(client, admin_detector)


def test_fault_rates_are_deterministic_for_a_seed(state, gd_client, admin_detector):
    client = gd_client(ADMIN)

    def outcomes() -> list[bool]:
        state.faults.configure([{"kind": "throttle", "rate": 0.5}], seed=42)
        results = []
        for _ in range(12):
            try:
                client.list_detectors()
                results.append(True)
            except ClientError:
                results.append(False)
        return results

    first = outcomes()
    assert first == outcomes()
    assert True in first and False in first
