"""STS at the same endpoint: assuming a role acts as the role's account."""

import pytest

from .world import ADMIN, MEMBER


def test_assume_role_returns_credentials_that_act_as_the_roles_account(aws_client, gd_client):
    sts = aws_client("sts", ADMIN)
    assert sts.get_caller_identity()["Account"] == ADMIN
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{MEMBER}:role/GuardWatchAudit",
                                  RoleSessionName="guardwatch")["Credentials"]
    assumed = {"aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"],
               "aws_session_token": credentials["SessionToken"]}
    identity = aws_client("sts", **assumed).get_caller_identity()
    assert identity["Account"] == MEMBER
    assert identity["Arn"] == f"arn:aws:sts::{MEMBER}:assumed-role/GuardWatchAudit/guardwatch"
    guardduty = aws_client("guardduty", **assumed)
    detector_id = guardduty.create_detector(Enable=True)["DetectorId"]
    assert gd_client(MEMBER).list_detectors()["DetectorIds"] == [detector_id]


def test_assume_role_rejects_a_malformed_role_arn(aws_client):
    sts = aws_client("sts", ADMIN)
    with pytest.raises(sts.exceptions.ClientError, match="ValidationError"):
        sts.assume_role(RoleArn="arn:aws:iam::12345:role/X", RoleSessionName="guardwatch")


def test_configured_access_keys_name_their_account(state, aws_client):
    state.configured_access_keys["AKIAEXAMPLEKEY"] = MEMBER
    sts = aws_client("sts", aws_access_key_id="AKIAEXAMPLEKEY", aws_secret_access_key="x")
    assert sts.get_caller_identity()["Account"] == MEMBER
