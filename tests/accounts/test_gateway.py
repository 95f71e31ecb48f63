"""The GuardDuty member gateway: batches of 50, paginated listings, and errors a person can act on."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from accounts import gateway

from .helpers import ADMIN, member_id


def client_error(code: str, message: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "CreateMembers")  # fmt: skip


def test_get_members_of_120_accounts_takes_three_calls(simulator):
    detector = simulator.ensure_detector(ADMIN, "us-east-1")
    ids = [member_id(i) for i in range(120)]
    gateway.members_create(region="us-east-1", detector_id=detector, accounts=[(i, f"{i}@example.com") for i in ids])
    simulator.call_counts.reset()

    fetched = gateway.members_get(region="us-east-1", detector_id=detector, account_ids=ids)

    assert fetched.calls == 3 and simulator.call_counts["GetMembers"] == 3
    assert len(fetched.members) == 120 and fetched.members[0].relationship_status == "Created"


def test_list_members_pages_through_every_member_of_every_status(simulator):
    detector = simulator.ensure_detector(ADMIN, "eu-west-1")
    ids = [member_id(i) for i in range(75)]
    gateway.members_create(region="eu-west-1", detector_id=detector, accounts=[(i, f"{i}@example.com") for i in ids])

    listed = gateway.members_list(region="eu-west-1", detector_id=detector)

    assert sorted(m.account_id for m in listed) == ids
    assert simulator.call_counts["ListMembers"] == 2


def test_unprocessed_accounts_come_back_as_data(simulator):
    detector = simulator.ensure_detector(ADMIN, "us-east-1")

    result = gateway.members_invite(region="us-east-1", detector_id=detector, account_ids=[member_id(1)])

    assert result.unprocessed == (gateway.UnprocessedAccount(member_id(1), result.unprocessed[0].result),)
    assert "not a member" in result.unprocessed[0].result


def test_a_detector_lookup_in_a_region_without_guardduty_answers_none(simulator):
    assert gateway.detector_id_find(region="ap-southeast-2") is None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (client_error("TooManyRequestsException", "Rate exceeded", 429), "kept throttling CreateMembers in eu-west-1"),
        (client_error("UnrecognizedClientException", "The security token is invalid", 400), "region is probably not enabled"),
        (client_error("BadRequestException", "The request is rejected because the input detectorId is not owned", 400),
         "GuardDuty rejected the request (BadRequestException): The request is rejected"),
        (client_error("InternalServerErrorException", "boom", 500), "usually temporary: retry"),
        (client_error("AccessDeniedException", "not authorized", 403), "Grant the permission"),
        (EndpointConnectionError(endpoint_url="https://guardduty.eu-west-1.amazonaws.com"), "Could not reach GuardDuty in eu-west-1"),
    ],
)
def test_aws_failures_become_one_error_with_an_actionable_message(error, expected):
    translated = gateway._describe("eu-west-1", "CreateMembers", error)  # noqa: SLF001

    assert isinstance(translated, gateway.GatewayError)
    assert (translated.region, translated.operation) == ("eu-west-1", "CreateMembers")
    assert expected in translated.message


def test_an_unreachable_endpoint_raises_the_gateway_error(settings):
    from guardwatch.aws import reset_clients

    settings.GUARDWATCH_AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.GUARDWATCH_AWS_MAX_ATTEMPTS = 1
    reset_clients()
    try:
        with pytest.raises(gateway.GatewayError, match="Could not reach GuardDuty in us-east-1"):
            gateway.detector_id_find(region="us-east-1")
    finally:
        reset_clients()
