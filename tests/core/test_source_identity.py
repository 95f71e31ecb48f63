"""Assumed roles carry the acting GuardWatch user as STS SourceIdentity, so CloudTrail shows who acted (issue 15.10)."""

from __future__ import annotations

import pytest

from accounts import operations
from accounts.models import MemberAccount, MemberOperation
from guardwatch import aws
from tests.accounts.helpers import ADMIN, accounts_make, detectors

pytestmark = pytest.mark.django_db
ADMIN_ROLE = f"arn:aws:iam::{ADMIN}:role/GuardWatchAdmin"


@pytest.mark.parametrize(
    ("username", "identity"),
    [
        ("alice", "alice"),
        ("alice.smith@example.com", "alice.smith@example.com"),
        ("Jörg Müller", "J_rg_M_ller"),  # STS's \w is ASCII; spaces are not allowed
        ("aws:root", "aws_root"),  # "You cannot use a value that begins with the text aws:"
        ("x", "gw-x"),  # at least 2 characters
        ("", aws.SYSTEM_SOURCE_IDENTITY),
        ("a" * 300, "a" * 256),
    ],
)
def test_a_username_becomes_a_source_identity_sts_accepts(username, identity):
    """botocore's sts model, AssumeRoleRequest.SourceIdentity: min 2, max 256, pattern [\\w+=,.@-]*."""
    import re

    import botocore.session

    rules = botocore.session.get_session().get_service_model("sts").operation_model("AssumeRole").input_shape
    rules = rules.members["SourceIdentity"].metadata
    assert aws.source_identity_for(username) == identity
    assert rules["min"] <= len(identity) <= rules["max"]
    assert re.fullmatch(rules["pattern"], identity, re.ASCII) and not identity.startswith("aws:")


@pytest.fixture
def member_role(simulator, settings):
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1"]
    settings.GUARDWATCH_MEMBER_ROLE_NAME = "GuardWatchMember"
    detectors(simulator, ["us-east-1"])
    return simulator


def test_accepting_on_a_members_behalf_assumes_the_member_role_as_the_user_who_asked(member_role, admin):
    account = accounts_make(1, simulator=member_role)[0]
    MemberAccount.objects.filter(pk=account.pk).update(auto_accept=True)
    account.refresh_from_db()

    operation = operations.member_operation_start(action="invite", accounts=[account], regions=["us-east-1"],
                                                  actor=admin)  # fmt: skip
    operations.member_operation_run(operation_id=operation.pk)
    # Once GuardDuty has sent the invitation, accepting runs as an operation of its own, still as the admin.
    accept = MemberOperation.objects.get(action="accept")
    assert accept.created_by == admin
    operations.member_operation_run(operation_id=accept.pk)

    assert member_role.member_status(ADMIN, account.account_id, "us-east-1") == "Enabled"
    role = f"arn:aws:iam::{account.account_id}:role/GuardWatchMember"
    assert (role, admin.get_username()) in member_role.source_identities


def test_work_no_user_started_assumes_roles_as_the_system(member_role):
    account = accounts_make(1, simulator=member_role)[0]
    operation = operations.member_operation_start(action="invite", accounts=[account], regions=["us-east-1"],
                                                  actor="system")  # fmt: skip
    operations.member_operation_run(operation_id=operation.pk)

    operation = operations.member_operation_start(action="accept", accounts=[account], regions=["us-east-1"],
                                                  actor="system")  # fmt: skip
    operations.member_operation_run(operation_id=operation.pk)

    identities = {identity for _role, identity in member_role.source_identities}
    assert identities == {aws.SYSTEM_SOURCE_IDENTITY}


def test_a_page_request_assumes_the_admin_role_as_the_signed_in_user(member_role, settings, client_for):
    settings.GUARDWATCH_ADMIN_ROLE_ARN = ADMIN_ROLE
    member_role.set_organization("999999999999", [ADMIN])
    member_role.delegated_admins["us-east-1"] = ADMIN

    response = client_for("admin").post("/accounts/organization/auto-enable/", {"region": "us-east-1", "value": "NEW"})

    assert response.status_code == 302
    assert member_role.scope(ADMIN, "us-east-1").organization.auto_enable_members == "NEW"
    assert (ADMIN_ROLE, "admin") in member_role.source_identities
    assert aws.current_source_identity() == aws.SYSTEM_SOURCE_IDENTITY  # the request's identity ended with it
