"""Findings through the API: the list's keyset pages both ways, and bulk actions by the list's filter."""

from __future__ import annotations

from findings.models import Finding
from guardwatch.core.models import AuditEntry
from tests.api.support import api_client, token_of
from tests.triage.support import store_findings


def test_an_analyst_pages_forward_and_back_with_the_cursors(analyst):
    store_findings(60)
    client = api_client(token_of(analyst))
    first = client.get("/api/v1/findings/?size=25").json()
    second = client.get(f"/api/v1/findings/?size=25&after={first['next_cursor']}").json()
    back = client.get(f"/api/v1/findings/?size=25&before={second['prev_cursor']}").json()
    assert first["prev_cursor"] is None and second["prev_cursor"]
    assert not {f["id"] for f in first["results"]} & {f["id"] for f in second["results"]}
    assert [f["id"] for f in back["results"]] == [f["id"] for f in first["results"]]


def test_a_bulk_status_by_filter_moves_exactly_what_the_list_shows_for_that_filter(analyst):
    store_findings(40)
    client = api_client(token_of(analyst))
    listed = client.get("/api/v1/findings/?band=high&size=200").json()["results"]
    response = client.post("/api/v1/findings/bulk/", {"action": "status", "filters": "band=high", "status": "acknowledged"},
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 200
    assert response.json() == {"total": len(listed), "queued": None}
    moved = set(Finding.objects.filter(status="acknowledged").values_list("pk", flat=True))
    assert moved == {f["id"] for f in listed} and moved
    assert AuditEntry.objects.get(verb="findings.bulk_status", actor_name="analyst").details["count"] == len(listed)


def test_a_bulk_with_a_filter_the_list_would_ignore_is_refused_and_changes_nothing(analyst):
    store_findings(5)
    response = api_client(token_of(analyst)).post(
        "/api/v1/findings/bulk/", {"action": "status", "filters": "sev_min=high", "status": "resolved"},
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "filters"
    assert not Finding.objects.filter(status="resolved").exists()


def test_accepted_risk_without_a_reason_is_refused_with_the_workflows_message(analyst):
    finding = store_findings(1)[0]
    response = api_client(token_of(analyst)).post(f"/api/v1/findings/{finding.pk}/status/",
                                                  {"status": "accepted_risk"}, content_type="application/json")  # fmt: skip
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "non_field_errors", "detail": "Accepted risk needs a reason."}]


def test_a_script_lists_findings_by_attack_tactic_and_reads_a_findings_mapping(analyst):
    from findings import attack

    store_findings(60)
    client = api_client(token_of(analyst))
    listed = client.get("/api/v1/findings/?tactic=TA0011&size=200").json()["results"]
    mapped = set(attack.finding_types_for_tactic("TA0011"))
    assert listed and {f["type"] for f in listed} <= mapped
    assert len(listed) == Finding.objects.filter(type__in=mapped).count()
    detail = client.get(f"/api/v1/findings/{listed[0]['id']}/").json()
    assert "TA0011" in detail["attack"]["tactics"]
    assert detail["attack"]["source"] in {"aws-docs", "ctid", "reasoned"} and detail["attack"]["in_table"] is True
    assert all(set(t) == {"id", "name"} for t in detail["attack"]["techniques"])


def test_an_unknown_attack_tactic_is_a_400_that_says_why(analyst):
    response = api_client(token_of(analyst)).get("/api/v1/findings/?tactic=Impact")
    assert response.status_code == 400
    assert "is not an ATT&CK tactic id" in response.content.decode()
