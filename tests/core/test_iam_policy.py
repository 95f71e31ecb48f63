"""The IAM policies in docs/deployment.md allow exactly the AWS calls the product makes: nothing missing
(a call AWS would refuse in production), nothing unused (a permission nobody needs).

The calls are collected from the product's code: every boto3 method called on a client (or named for
`getattr`/`get_paginator`) that is an operation of a service GuardWatch uses. Calls made as a member
account (through the member role) are those in `accounts.gateway` functions that reach `_client` with a
member account.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("guardwatch", "accounts", "findings", "triage", "reports", "notifications")
SERVICES = ("guardduty", "sts", "organizations", "s3", "ec2")
# STS API reference, GetCallerIdentity: "No permissions are required to perform this operation."
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}
SERVICE_LINKED = {"guardduty.amazonaws.com", "malware-protection.guardduty.amazonaws.com"}
# Operations whose IAM action has another name (Service Authorization Reference, Amazon S3).
IAM_ACTION_NAMES = {"s3:ListBuckets": "s3:ListAllMyBuckets"}
# Permissions that are no API call: creating a service-linked role, handing a role to a service.
NOT_CALLS = {"iam:CreateServiceLinkedRole", "iam:PassRole"}


def operations_by_method() -> dict[str, str]:
    """boto3 method name -> IAM action; a name two services share maps to "?" (the test refuses to guess)."""
    session = botocore.session.get_session()
    found: dict[str, str] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for operation in model.operation_names:
            method = xform_name(operation)
            action = f"{service}:{operation}"
            found[method] = "?" if method in found else IAM_ACTION_NAMES.get(action, action)
    return found


def called(tree: ast.AST, methods: dict[str, str]) -> set[str]:
    """Operations called in `tree`: client.<method>(…), get_paginator("<method>"), getattr(client, "<method>");
    an AssumeRole that passes SourceIdentity also needs sts:SetSourceIdentity (IAM User Guide, "Permissions
    required to set source identity")."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "SourceIdentity":
            found.add("sts:SetSourceIdentity")
        if isinstance(node, ast.Attribute) and node.attr in methods:
            found.add(methods[node.attr])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in methods:
            found.add(methods[node.value])
    return found


def product_calls() -> tuple[set[str], set[str]]:
    """(every operation the product calls, those called as a member account)."""
    methods = operations_by_method()
    every, as_member = set(), set()
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text())
            every |= called(tree, methods)
            if path == ROOT / "accounts" / "gateway.py":
                for function in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
                    reaches_member = any(
                        isinstance(c, ast.Call) and getattr(c.func, "id", getattr(c.func, "attr", "")) in ("_client", "client")
                        and (len(c.args) == 2 and getattr(c.func, "id", "") == "_client"
                             or any(k.arg == "member_account_id" for k in c.keywords))
                        for c in ast.walk(function)
                    )  # fmt: skip
                    if reaches_member:
                        as_member |= called(function, methods)
    return every, as_member


def documented_policies() -> dict[str, list[dict]]:
    text = (ROOT / "docs" / "deployment.md").read_text()
    blocks = re.findall(r"<!-- policy: ([\w-]+) -->\s*```json\n(.*?)```", text, re.S)
    return {name: json.loads(body)["Statement"] for name, body in blocks}


def actions(statements: list[dict]) -> set[str]:
    found = set()
    for statement in statements:
        action = statement["Action"]
        found.update([action] if isinstance(action, str) else action)
    return found


def test_the_three_policies_are_documented():
    assert set(documented_policies()) == {"administrator", "member", "s3-export"}


def test_every_call_the_product_makes_is_allowed_and_every_allowed_call_is_made():
    every, _as_member = product_calls()
    policies = documented_policies()
    allowed = set().union(*(actions(statements) for statements in policies.values())) - NOT_CALLS
    assert len(every) >= 20
    assert "?" not in every, "a call whose service cannot be told from its name: name it differently"
    assert sorted(every - NEEDS_NO_PERMISSION - allowed) == [], "called but not allowed: AWS would refuse it"
    assert sorted(allowed - every) == [], "allowed but never called: drop it"


def test_the_member_role_allows_exactly_what_guardwatch_does_as_a_member():
    _every, as_member = product_calls()
    assert as_member == {"guardduty:ListDetectors", "guardduty:CreateDetector", "guardduty:ListInvitations",
                         "guardduty:AcceptAdministratorInvitation", "guardduty:ListMalwareProtectionPlans",
                         "guardduty:GetMalwareProtectionPlan", "guardduty:CreateMalwareProtectionPlan",
                         "s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3:GetBucketTagging"}  # fmt: skip
    assert actions(documented_policies()["member"]) - NOT_CALLS == as_member


def test_whoever_creates_malware_protection_plans_may_pass_only_the_scanning_role_to_guardduty():
    for name, statements in documented_policies().items():
        if "guardduty:CreateMalwareProtectionPlan" not in actions(statements):
            continue
        (passing,) = [s for s in statements if s["Action"] == "iam:PassRole"]
        assert passing["Resource"].endswith(":role/GuardDutyS3MalwareProtection"), name
        assert passing["Condition"]["StringEquals"]["iam:PassedToService"] == (
            "malware-protection-plan.guardduty.amazonaws.com")  # fmt: skip


def test_whoever_creates_a_detector_may_create_guardduty_s_service_linked_roles():
    for name, statements in documented_policies().items():
        if "guardduty:CreateDetector" not in actions(statements):
            continue
        linked = [s for s in statements if s["Action"] == "iam:CreateServiceLinkedRole"]
        assert linked, f"{name}: CreateDetector without iam:CreateServiceLinkedRole"
        services = linked[0]["Condition"]["StringLike"]["iam:AWSServiceName"]
        assert set(services) == SERVICE_LINKED, name


def test_the_administrator_may_assume_the_member_role():
    statements = documented_policies()["administrator"]
    assume = [s for s in statements if "sts:AssumeRole" in s["Action"]]
    assert assume and assume[0]["Resource"].endswith(":role/GuardWatchMember")


def documented_trust_policies() -> dict[str, list[dict]]:
    text = (ROOT / "docs" / "deployment.md").read_text()
    blocks = re.findall(r"<!-- trust: ([\w-]+) -->\s*```json\n(.*?)```", text, re.S)
    return {name: json.loads(body)["Statement"] for name, body in blocks}


def test_roles_guardwatch_assumes_let_it_set_the_source_identity():
    """Every AssumeRole carries SourceIdentity: the caller's policy and the role's trust policy must allow it."""
    every, _as_member = product_calls()
    assert "sts:SetSourceIdentity" in every
    administrator = [s for s in documented_policies()["administrator"] if "sts:AssumeRole" in s["Action"]]
    assert administrator and "sts:SetSourceIdentity" in administrator[0]["Action"]
    trust = documented_trust_policies()["member"]
    assert {"sts:AssumeRole", "sts:SetSourceIdentity"} <= actions(trust)
