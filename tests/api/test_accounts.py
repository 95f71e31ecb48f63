"""Accounts, coverage and the audit log through the API: the pages' services, the pages' rules."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import MemberAccount, MemberOperation
from tests.api.support import api_client, token_of


def test_admin_imports_a_csv_and_sees_the_invalid_lines_with_the_reason(admin):
    csv = SimpleUploadedFile("members.csv", b"111111111112,a@example.com\n12345,b@example.com\n111111111113,c@example.com\n")
    response = api_client(token_of(admin)).post("/api/v1/accounts/import/", {"file": csv})
    assert response.status_code == 201
    body = response.json()
    assert body["created"] == ["111111111112", "111111111113"]
    assert [(line["line"], line["account_id"]) for line in body["skipped"]] == [(2, "12345")]
    assert set(MemberAccount.objects.values_list("account_id", flat=True)) == {"111111111112", "111111111113"}


def test_a_manager_lists_accounts_but_cannot_add_one(manager):
    client = api_client(token_of(manager))
    assert client.get("/api/v1/accounts/").status_code == 200
    refused = client.post("/api/v1/accounts/", {"account_id": "111111111112", "email": "a@example.com"},
                          content_type="application/json")  # fmt: skip
    assert refused.status_code == 403 and "manage_members" in refused.json()["detail"]
    assert not MemberAccount.objects.exists()


def test_an_account_added_twice_is_a_409_conflict_naming_the_field(admin):
    client = api_client(token_of(admin))
    body = {"account_id": "111111111112", "email": "a@example.com"}
    assert client.post("/api/v1/accounts/", body, content_type="application/json").status_code == 201
    again = client.post("/api/v1/accounts/", body, content_type="application/json")
    assert (again.status_code, again.json()["title"]) == (409, "Conflict")
    assert again.json()["errors"][0]["field"] == "account_id"


def test_a_bad_account_id_is_a_400_not_a_conflict(admin):
    response = api_client(token_of(admin)).post("/api/v1/accounts/", {"account_id": "12", "email": "a@example.com"},
                                                content_type="application/json")  # fmt: skip
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "account_id"


def test_admin_invites_accounts_and_gets_the_queued_operation(admin, settings):
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1", "eu-west-1"]
    client = api_client(token_of(admin))
    client.post("/api/v1/accounts/", {"account_id": "111111111112", "email": "a@example.com"}, content_type="application/json")
    response = client.post("/api/v1/accounts/invite/", {"account_ids": ["111111111112"], "regions": ["eu-west-1"],
                                                        "message": "Welcome"}, content_type="application/json")  # fmt: skip
    assert response.status_code == 202
    operation = MemberOperation.objects.get(pk=response.json()["id"])
    assert (operation.action, operation.results.get().region) == ("invite", "eu-west-1")
    unknown = client.post("/api/v1/accounts/invite/", {"account_ids": ["111111111112"], "regions": ["mars-1"]},
                          content_type="application/json")  # fmt: skip
    assert unknown.status_code == 400


def test_the_audit_log_is_read_only_and_for_admins(admin, analyst):
    assert api_client(token_of(analyst)).get("/api/v1/audit/").status_code == 403
    client = api_client(token_of(admin))
    entries = client.get("/api/v1/audit/?verb=api_token.").json()["results"]
    # Newest first; the analyst's refused read is a use of their token too.
    assert [(e["verb"], e["actor_name"]) for e in entries] == [
        ("api_token.create", "admin"), ("api_token.use", "analyst"), ("api_token.create", "analyst")]
    refused = client.post("/api/v1/audit/", {}, content_type="application/json")
    assert (refused.status_code, refused["Content-Type"]) == (405, "application/problem+json")
    assert api_client(token_of(analyst, name="again")).head("/api/v1/audit/").status_code == 403
