"""The server validates requests like GuardDuty: limits botocore leaves to the service come back as
BadRequestException naming the field."""

import pytest

from .world import ADMIN


def _account(index: int) -> str:
    return f"{500000000000 + index:012d}"


def test_creating_51_members_in_one_call_is_rejected(gd_client, admin_detector):
    client = gd_client(ADMIN)
    details = [{"AccountId": _account(index), "Email": f"a{index}@example.com"} for index in range(51)]
    with pytest.raises(client.exceptions.BadRequestException,
                       match="length provided for the accountDetails array was 51. Max allowed length is 50"):
        client.create_members(DetectorId=admin_detector, AccountDetails=details)


@pytest.mark.parametrize("operation", ["invite_members", "get_members", "disassociate_members", "delete_members",
                                       "start_monitoring_members", "stop_monitoring_members",
                                       "get_member_detectors"])
def test_51_account_ids_are_rejected(gd_client, admin_detector, operation):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="accountIds array was 51"):
        getattr(client, operation)(DetectorId=admin_detector, AccountIds=[_account(i) for i in range(51)])


def test_51_finding_ids_are_rejected(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="findingIds array was 51"):
        client.get_findings(DetectorId=admin_detector, FindingIds=[f"{i:032x}" for i in range(51)])


def test_an_empty_finding_id_list_is_rejected(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="findingIds array was 0"):
        client.archive_findings(DetectorId=admin_detector, FindingIds=[])


def test_max_results_51_is_rejected(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="parameter maxResults has an invalid value"):
        client.list_findings(DetectorId=admin_detector, MaxResults=51)


def test_max_results_51_in_the_query_string_is_rejected(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="maxResults"):
        client.list_members(DetectorId=admin_detector, MaxResults=51)


def test_51_finding_types_are_rejected(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="findingTypes array was 51"):
        client.create_sample_findings(DetectorId=admin_detector, FindingTypes=["Recon:EC2/PortProbeUnprotectedPort"] * 51)


def test_an_email_longer_than_64_characters_is_rejected(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="accountDetails.email"):
        client.create_members(DetectorId=admin_detector,
                              AccountDetails=[{"AccountId": _account(1), "Email": "x" * 60 + "@example.com"}])


def test_an_11_digit_account_id_is_rejected_by_the_server(gd_client, admin_detector):
    client = gd_client(ADMIN, validate=False)
    with pytest.raises(client.exceptions.BadRequestException, match="parameter accountIds has an invalid value"):
        client.get_members(DetectorId=admin_detector, AccountIds=["12345678901"])


def test_a_12_character_account_id_that_is_not_digits_is_rejected(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="accountIds"):
        client.get_members(DetectorId=admin_detector, AccountIds=["12345678901x"])


def test_a_missing_required_member_is_named(gd_client, admin_detector):
    client = gd_client(ADMIN, validate=False)
    with pytest.raises(client.exceptions.BadRequestException,
                       match="required parameter accountDetails.email is missing"):
        client.create_members(DetectorId=admin_detector, AccountDetails=[{"AccountId": _account(1)}])


def test_a_value_outside_the_enum_is_rejected(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="parameter feedback has an invalid value"):
        client.update_findings_feedback(DetectorId=admin_detector, FindingIds=["a" * 32], Feedback="MAYBE")


def test_a_wrongly_typed_value_is_rejected(gd_client, admin_detector):
    client = gd_client(ADMIN, validate=False)
    with pytest.raises(client.exceptions.BadRequestException, match="parameter enable has an invalid value"):
        client.update_detector(DetectorId=admin_detector, Enable="yes")


def test_an_epoch_millisecond_bound_does_not_fit_the_legacy_integer_operators(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="out of range for a 32-bit integer"):
        client.list_findings(DetectorId=admin_detector,
                             FindingCriteria={"Criterion": {"updatedAt": {"Gte": 1_717_000_000_000}}})


def test_a_filter_name_with_spaces_is_rejected(gd_client, admin_detector):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException, match="parameter name has an invalid value"):
        client.create_filter(DetectorId=admin_detector, Name="my filter",
                             FindingCriteria={"Criterion": {"severity": {"Gte": 7}}})
