"""The committed OpenAPI document (docs/openapi.yaml) is the API: it is what the code generates, and every
operation in it answers as it says, with a documented status and a body valid against its schema."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from accounts.services import member_account_create
from findings.models import Finding
from findings.sync import findings_sync_region
from guardwatch.core.services import alert_raise
from tests.api.support import api_client, token_of
from tests.findings.simulated import estate

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "openapi.yaml"


def committed() -> dict:
    return yaml.safe_load(DOCUMENT.read_text())


def test_the_committed_document_is_what_the_code_generates(tmp_path):
    """A changed endpoint without `make openapi` fails here (CI runs it), so the document cannot drift."""
    fresh = tmp_path / "openapi.yaml"
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(fresh)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert fresh.read_text() == DOCUMENT.read_text(), "docs/openapi.yaml is stale: run `make openapi` and commit it"


def _validator(document: dict, schema: dict) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def _check(document: dict, path: str, method: str, response) -> None:
    """The answer's status is documented for the operation and its body is valid against that status's schema."""
    operation = document["paths"][path][method]
    assert str(response.status_code) in operation["responses"], (path, method, response.status_code, response.content[:300])
    content = operation["responses"][str(response.status_code)].get("content")
    if not content:
        return
    media_type = "application/problem+json" if response.status_code >= 400 else "application/json"
    assert response["Content-Type"].split(";")[0] == media_type
    schema = next(iter(content.values()))["schema"]
    _validator(document, schema).validate(response.json())


@pytest.fixture
def world(admin, simulator, settings):
    """What the operations act on: findings synced from the simulated GuardDuty, an account, an alert."""
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1"]
    estate(simulator, ["us-east-1"], per_region=6)
    findings_sync_region(region="us-east-1")
    findings = list(Finding.objects.order_by("pk"))
    member_account_create(account_id="111122220000", email="ops@example.com", actor=admin)
    alert, _ = alert_raise(kind="membership", title="Member resigned", dedupe_key="tests:resigned")
    return {"finding": findings[0].pk, "alert": alert.pk, "account": "111122220000"}


def _requests(world: dict) -> dict[tuple[str, str], tuple[str, dict]]:
    """One request per documented operation: (path, method) -> (URL, keyword arguments for the client)."""
    finding, alert, account = world["finding"], world["alert"], world["account"]
    csv_file = io.BytesIO(b"444455556666,new@example.com\nnot-an-id,bad\n")
    csv_file.name = "members.csv"
    as_json = {"content_type": "application/json"}
    return {
        ("/api/v1/findings/", "get"): ("/api/v1/findings/?status=open&band=high&band=medium&size=25", {}),
        ("/api/v1/findings/{id}/", "get"): (f"/api/v1/findings/{finding}/", {}),
        ("/api/v1/findings/{id}/timeline/", "get"): (f"/api/v1/findings/{finding}/timeline/", {}),
        ("/api/v1/findings/{id}/status/", "post"): (f"/api/v1/findings/{finding}/status/",
                                                    {"data": {"status": "in_progress"}, **as_json}),
        ("/api/v1/findings/{id}/assign/", "post"): (f"/api/v1/findings/{finding}/assign/",
                                                    {"data": {"assignee": "admin"}, **as_json}),
        ("/api/v1/findings/{id}/comments/", "post"): (f"/api/v1/findings/{finding}/comments/",
                                                      {"data": {"body": "Looking into it"}, **as_json}),
        ("/api/v1/findings/{id}/feedback/", "post"): (f"/api/v1/findings/{finding}/feedback/",
                                                      {"data": {"useful": True}, **as_json}),
        ("/api/v1/findings/bulk/", "post"): ("/api/v1/findings/bulk/",
                                             {"data": {"action": "comment", "filters": "band=high", "comment": "Seen"}, **as_json}),
        ("/api/v1/accounts/", "get"): ("/api/v1/accounts/?q=11112222", {}),
        ("/api/v1/accounts/", "post"): ("/api/v1/accounts/", {"data": {"account_id": "999988887777",
                                                                       "email": "sec@example.com"}, **as_json}),
        ("/api/v1/accounts/{account_id}/", "get"): (f"/api/v1/accounts/{account}/", {}),
        ("/api/v1/accounts/import/", "post"): ("/api/v1/accounts/import/", {"data": {"file": csv_file}}),
        ("/api/v1/accounts/invite/", "post"): ("/api/v1/accounts/invite/", {"data": {
            "account_ids": [account], "regions": ["us-east-1"]}, **as_json}),
        ("/api/v1/coverage/", "get"): ("/api/v1/coverage/", {}),
        ("/api/v1/reports/findings/", "get"): ("/api/v1/reports/findings/", {}),
        ("/api/v1/suppression-rules/", "get"): ("/api/v1/suppression-rules/", {}),
        ("/api/v1/suppression-rules/", "post"): ("/api/v1/suppression-rules/", {"data": {
            "name": "known-scanners", "reason": "Our own port scans", "query": "type_prefix=Recon:"}, **as_json}),
        ("/api/v1/alerts/", "get"): ("/api/v1/alerts/?state=all", {}),
        ("/api/v1/alerts/{id}/acknowledge/", "post"): (f"/api/v1/alerts/{alert}/acknowledge/", {}),
        ("/api/v1/audit/", "get"): ("/api/v1/audit/?verb=finding", {}),
    }


def _operations(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, methods in document["paths"].items() for method in methods}


def test_every_documented_operation_answers_as_documented(admin, world):
    document = committed()
    requests = _requests(world)
    assert set(requests) == _operations(document), "each documented operation needs a request here"
    client = api_client(token_of(admin))
    for (path, method), (url, kwargs) in requests.items():
        response = getattr(client, method)(url, **kwargs)
        assert response.status_code < 300, (path, method, response.status_code, response.content[:500])
        _check(document, path, method, response)


def test_every_documented_operation_answers_401_as_documented_without_a_token(admin, world):
    document = committed()
    anonymous = api_client("")
    for (path, method), (url, _kwargs) in _requests(world).items():
        response = getattr(anonymous, method)(url)
        assert response.status_code == 401, (path, method)
        _check(document, path, method, response)


def test_invalid_input_answers_a_documented_400_problem_with_field_errors(admin, world):
    document = committed()
    client = api_client(token_of(admin))
    response = client.post(f"/api/v1/findings/{world['finding']}/status/", {"status": "bogus"},
                           content_type="application/json")  # fmt: skip
    _check(document, "/api/v1/findings/{id}/status/", "post", response)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "status"
