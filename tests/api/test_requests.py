"""What every API request goes through: the rate per token, problem details for every error, the audit log."""

from __future__ import annotations

import pytest
from django.test import Client

from guardwatch.core.models import ApiToken, AuditEntry
from tests.api.support import api_client, token_of
from tests.triage.support import store_findings


def test_past_the_rate_a_token_gets_429_with_retry_after_and_other_tokens_go_on(analyst, settings):
    settings.GUARDWATCH_API_RATE_PER_MINUTE = 2
    busy, other = api_client(token_of(analyst, name="busy")), api_client(token_of(analyst, name="other"))
    assert [busy.get("/api/v1/findings/").status_code for _ in range(2)] == [200, 200]
    refused = busy.get("/api/v1/findings/")
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["title"] == "Too Many Requests"
    assert other.get("/api/v1/findings/").status_code == 200


def test_a_path_no_endpoint_serves_answers_a_404_problem(analyst):
    response = api_client(token_of(analyst)).get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {"type": "about:blank", "title": "Not Found", "status": 404,
                               "detail": "There is no such API endpoint or object."}  # fmt: skip


def test_a_missing_finding_answers_a_404_problem(analyst):
    response = api_client(token_of(analyst)).get("/api/v1/findings/999999/")
    assert (response.status_code, response["Content-Type"]) == (404, "application/problem+json")


def test_pages_outside_the_api_keep_their_404_page(client_for):
    response = client_for("analyst").get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_a_failure_inside_an_endpoint_answers_a_500_problem(analyst, monkeypatch):
    from api import endpoints

    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(endpoints.findings_selectors, "finding_get", broken)
    client = api_client(token_of(analyst))
    client.raise_request_exception = False
    response = client.get("/api/v1/findings/1/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert "database on fire" not in response.content.decode()


def test_a_bad_filter_is_a_400_problem_naming_it_not_ignored(analyst):
    response = api_client(token_of(analyst)).get("/api/v1/findings/?sev_min=eleven")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "filters"
    assert "eleven" in response.json()["errors"][0]["detail"]


def test_a_stale_cursor_is_a_400_problem(analyst):
    response = api_client(token_of(analyst)).get("/api/v1/findings/?after=not-a-cursor")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "cursor"


def test_every_write_with_a_token_is_recorded_with_the_token(analyst):
    finding = store_findings(1)[0]
    client = api_client(token_of(analyst))
    client.post(f"/api/v1/findings/{finding.pk}/comments/", {"body": "one"}, content_type="application/json")
    client.post(f"/api/v1/findings/{finding.pk}/comments/", {"body": "two"}, content_type="application/json")
    uses = AuditEntry.objects.filter(verb="api_token.use").order_by("id")
    token = ApiToken.objects.get()
    assert [(u.actor_name, u.target_id, u.details["method"], u.details["status"]) for u in uses] == [
        ("analyst", str(token.pk), "POST", 201)
    ] * 2
    assert uses[0].details["path"] == f"/api/v1/findings/{finding.pk}/comments/"
    assert ApiToken.objects.get().last_used_at is not None


def test_reads_with_a_token_are_recorded_once_an_hour(analyst):
    client = api_client(token_of(analyst))
    for _ in range(3):
        assert client.get("/api/v1/findings/").status_code == 200
    assert AuditEntry.objects.filter(verb="api_token.use").count() == 1


@pytest.mark.parametrize("path", ["/api/v1/findings/", "/api/v1/audit/"])
def test_a_session_alone_does_not_open_the_api(client_for, path):
    """The API takes tokens only: a signed-in browser's cookie (and so a forged cross-site request) is not enough."""
    assert client_for("admin").get(path).status_code == 401


def test_the_docs_page_serves_vendored_swagger_without_inline_script(client_for):
    page = client_for("analyst").get("/api/v1/docs/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "<script>" not in html and "https://" not in html
    assert "'unsafe-inline'" not in page["Content-Security-Policy"]
    for asset in ("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js", "js/api-docs.js"):
        assert Client().get(f"/static/{asset}").status_code == 200


def test_the_docs_page_needs_sign_in_and_its_document_answers_the_session(client_for, db):
    assert Client().get("/api/v1/docs/").status_code == 302
    document = client_for("manager").get("/api/v1/schema/?format=json")
    assert document.status_code == 200 and "/api/v1/findings/" in document.json()["paths"]


def test_a_too_long_link_and_a_too_large_upload_are_problems_under_the_api(admin, settings):
    settings.GUARDWATCH_MAX_REQUEST_BYTES = 64 * 1024
    client = api_client(token_of(admin))
    long_link = client.get("/api/v1/findings/?q=" + "a" * 9000)
    assert (long_link.status_code, long_link["Content-Type"]) == (400, "application/problem+json")
    upload = client.post("/api/v1/accounts/import/", {"file": ("big.csv", b"1" * 70 * 1024)})
    assert (upload.status_code, upload["Content-Type"]) == (413, "application/problem+json")
    nul = client.get("/api/v1/findings/?q=a%00b")
    assert (nul.status_code, nul["Content-Type"]) == (400, "application/problem+json")


def test_the_findings_list_costs_the_same_queries_whatever_the_page_size(analyst):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    store_findings(120)
    client = api_client(token_of(analyst))
    client.get("/api/v1/findings/")  # the hourly read record is written once, not on every request
    counts = {}
    for size in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/api/v1/findings/?size={size}&band=high&band=medium").status_code == 200
        counts[size] = len(queries)
    # The token with its user, the user's and the groups' permissions, the user's team scope, the page.
    assert counts[25] == counts[100] == 5, counts
