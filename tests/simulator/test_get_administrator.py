"""GetAdministratorAccount: a member gets its administrator; an account without one gets nothing.

API reference (https://docs.aws.amazon.com/guardduty/latest/APIReference/API_GetAdministratorAccount.html,
the same text in botocore's guardduty service-2.json): "When the GuardDuty administrator account
runs this API, it will return success (HTTP 200) but no content." / "When a member account runs this
API, it will return the details of the GuardDuty administrator account that is associated with this
calling member account." / "When an individual account (not associated with an organization) runs
this API, it will return success (HTTP 200) but no content."

Every response here also passes the conftest's output validation: the model marks `Administrator`
required, and gdsim.protocol.DOCUMENTED_ABSENT excuses its documented absence.
"""

import pytest

from gdsim import validate_output
from gdsim.protocol import OutputValidationError

from .world import ADMIN, MEMBER, http_call


def _answer(response: dict) -> dict:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def test_an_individual_account_gets_no_content(gd_client):
    client = gd_client(MEMBER)
    detector_id = client.create_detector(Enable=True)["DetectorId"]
    assert _answer(client.get_administrator_account(DetectorId=detector_id)) == {}


def test_the_administrator_account_itself_gets_no_content(gd_client, admin_detector, enabled_member):
    assert _answer(gd_client(ADMIN).get_administrator_account(DetectorId=admin_detector)) == {}


def test_a_member_gets_its_administrator(gd_client, enabled_member):
    link = gd_client(MEMBER).get_administrator_account(DetectorId=enabled_member)["Administrator"]
    assert link["AccountId"] == ADMIN and link["RelationshipStatus"] == "Enabled"
    assert link["InvitationId"] and link["InvitedAt"]


def test_a_member_deleted_by_its_administrator_gets_no_content(gd_client, admin_detector, enabled_member):
    gd_client(ADMIN).delete_members(DetectorId=admin_detector, AccountIds=[MEMBER])
    assert _answer(gd_client(MEMBER).get_administrator_account(DetectorId=enabled_member)) == {}


def test_no_content_on_the_wire_is_an_empty_json_object(simulator, gd_client):
    detector_id = gd_client(MEMBER).create_detector(Enable=True)["DetectorId"]
    path = f"/detector/{detector_id}/administrator"
    auth = f"AWS4-HMAC-SHA256 Credential=AKIA{MEMBER}GDSM/20250601/us-east-1/guardduty/aws4_request, a=b"
    status, _, body = http_call(simulator.endpoint_url, "GET", path, headers={"Authorization": auth})
    assert (status, body) == (200, {})


def test_only_the_documented_absence_is_excused():
    validate_output("GetAdministratorAccount", {})
    with pytest.raises(OutputValidationError, match="Master: required member missing"):
        validate_output("GetMasterAccount", {})
