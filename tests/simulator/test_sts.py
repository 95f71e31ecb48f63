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


def _credentials(answer: dict) -> dict:
    creds = answer["Credentials"]
    return {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"]}


def test_a_source_identity_is_returned_and_kept_by_a_chained_role(state, aws_client):
    first = aws_client("sts", ADMIN).assume_role(RoleArn=f"arn:aws:iam::{ADMIN}:role/GuardWatchAdmin",
                                                 RoleSessionName="guardwatch-admin", SourceIdentity="alice")
    assert first["SourceIdentity"] == "alice"

    chained = aws_client("sts", **_credentials(first)).assume_role(
        RoleArn=f"arn:aws:iam::{MEMBER}:role/GuardWatchMember", RoleSessionName="guardwatch-accept")

    assert chained["SourceIdentity"] == "alice"  # persists across chained role sessions
    assert state.source_identities == [(f"arn:aws:iam::{ADMIN}:role/GuardWatchAdmin", "alice"),
                                       (f"arn:aws:iam::{MEMBER}:role/GuardWatchMember", "alice")]


def test_a_chained_role_cannot_change_the_source_identity(aws_client):
    first = aws_client("sts", ADMIN).assume_role(RoleArn=f"arn:aws:iam::{ADMIN}:role/GuardWatchAdmin",
                                                 RoleSessionName="guardwatch-admin", SourceIdentity="alice")
    sts = aws_client("sts", **_credentials(first))
    with pytest.raises(sts.exceptions.ClientError, match="AccessDenied"):
        sts.assume_role(RoleArn=f"arn:aws:iam::{MEMBER}:role/GuardWatchMember", RoleSessionName="guardwatch-accept",
                        SourceIdentity="bob")


@pytest.mark.parametrize("value", ["alice smith", "aws:alice", "a" * 257, "j\u00f6rg"])
def test_a_source_identity_outside_the_models_pattern_is_refused(aws_client, value):
    sts = aws_client("sts", ADMIN)
    with pytest.raises(sts.exceptions.ClientError, match="ValidationError"):
        sts.assume_role(RoleArn=f"arn:aws:iam::{MEMBER}:role/GuardWatchMember", RoleSessionName="guardwatch",
                        SourceIdentity=value)
