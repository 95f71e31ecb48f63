"""The wire protocol: what a raw HTTP client sees, and the response validator itself."""

import pytest
from botocore.exceptions import ClientError

from gdsim import OutputValidationError, validate_output

from .world import ADMIN, http_call


def _raw(simulator, method: str, path: str, headers: dict | None = None):
    return http_call(simulator.endpoint_url, method, path, headers=headers)


def test_bad_request_carries_error_type_header_and_aws_style_body(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException) as raised:
        client.get_detector(DetectorId="0" * 32)
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "BadRequestException"
    assert response["Error"]["Message"] == \
        "The request is rejected because the input detectorId is not owned by the current account."


def test_malformed_detector_id_is_an_invalid_parameter(gd_client):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="parameter detectorId has an invalid value"):
        client.list_findings(DetectorId="not-a-detector")


def test_error_body_names_the_guardduty_exception_type(simulator):
    auth = "AWS4-HMAC-SHA256 Credential=AKIA111111111111GDSM/20250601/us-east-1/guardduty/aws4_request, a=b"
    status, headers, body = _raw(simulator, "GET", "/detector/" + "0" * 32, {"Authorization": auth})
    assert status == 400
    assert body["__type"] == "InvalidInputException"
    assert "detectorId" in body["message"]


def test_unsigned_request_is_refused(simulator):
    status, headers, body = _raw(simulator, "GET", "/detector")
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_access_key_naming_no_account_is_refused(simulator):
    auth = "AWS4-HMAC-SHA256 Credential=AKIANOTANACCOUNT/20250601/us-east-1/guardduty/aws4_request, a=b"
    status, headers, body = _raw(simulator, "GET", "/detector", {"Authorization": auth})
    assert status == 403
    assert body["message"] == "The security token included in the request is invalid."


def test_unimplemented_operation_answers_501_instead_of_crashing(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(ClientError) as raised:
        client.list_ip_sets(DetectorId=admin_detector)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert raised.value.response["Error"]["Code"] == "NotImplementedException"
    assert "ListIPSets" in raised.value.response["Error"]["Message"]


def test_unknown_path_is_not_found(simulator):
    auth = "AWS4-HMAC-SHA256 Credential=AKIA111111111111GDSM/20250601/us-east-1/guardduty/aws4_request, a=b"
    status, headers, body = _raw(simulator, "GET", "/no/such/thing", {"Authorization": auth})
    assert status == 404


def test_validator_accepts_a_well_formed_response():
    validate_output("ListDetectors", {"DetectorIds": ["a" * 32], "ResponseMetadata": {}})


def test_validator_reports_missing_required_members_wrong_types_and_unknown_keys():
    with pytest.raises(OutputValidationError) as raised:
        validate_output("GetMembers", {"Members": [{"AccountId": 12, "Nickname": "x"}]})
    problems = "\n".join(raised.value.problems)
    assert "UnprocessedAccounts: required member missing" in problems
    assert "AccountId: expected a string" in problems
    assert "Nickname: not a member of Member" in problems
    assert "RelationshipStatus: required member missing" in problems


def test_validator_reports_enum_values_outside_the_model():
    with pytest.raises(OutputValidationError, match="not one of"):
        validate_output("GetDetector", {"ServiceRole": "r", "Status": "SLEEPING"})


def test_strict_mode_turns_an_invalid_response_into_a_recorded_500(simulator, gd_client, admin_detector,
                                                                    monkeypatch):
    from gdsim.operations import HANDLERS

    monkeypatch.setitem(HANDLERS, "ListDetectors", lambda context, params: {"DetectorIds": "not-a-list"})
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.InternalServerErrorException):
        client.list_detectors()
    assert any("ListDetectors" in error for error in simulator.state.errors)
    simulator.state.errors.clear()  # expected here; the fixture fails tests on any other error
