"""Findings export: keyset pages (first rows after one short query), one export per person, a global cap."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.cache import cache
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext, override_settings

from findings.models import Finding
from guardwatch.core.slots import slot_acquire
from tests.triage.support import store_findings
from triage import selectors
from triage.filters import FindingFilters

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_slots_left():
    keys = [f"guardwatch:slots:findings-export:shared:{i}" for i in range(10)]
    keys += [f"guardwatch:slots:findings-export:owner:{pk}" for pk in range(1, 50)]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


def disconnect(response) -> None:
    """Close the response as the server does when the client goes away (the test client's way, so the
    test's transaction keeps its connection)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def expected_order(queryset) -> list[int]:
    return [pk for _, pk in sorted(queryset.values_list("severity", "id"), key=lambda sp: (-sp[0], -sp[1]))]


@pytest.mark.parametrize("query", ["", "status=open", "band=high", "q=instance"])
def test_pages_cover_every_match_once_in_severity_order_across_ties(query):
    store_findings(60, seed=3)
    ties = list(Finding.objects.order_by("id").values_list("id", flat=True)[::2])
    Finding.objects.filter(pk__in=ties).update(severity=5.0)  # page boundaries inside a run of equal severity
    filters = FindingFilters.from_query(QueryDict(query))
    got = [row["id"] for row in selectors.findings_export_rows(filters=filters, first_page=4, page=7)]
    from triage.filters import findings_filtered

    expected = expected_order(findings_filtered(filters=FindingFilters.from_query(QueryDict(query))))
    assert got == expected
    assert len(got) == len(set(got))


def test_the_first_row_leaves_after_one_limited_query_not_a_cursor_over_the_sorted_table():
    store_findings(30, seed=4)
    rows = selectors.findings_export_rows(filters=FindingFilters.from_query(QueryDict("")), first_page=5, page=9)
    with CaptureQueriesContext(connection) as queries:
        first = next(rows)
    assert first["id"] == expected_order(Finding.objects.all())[0]
    assert len(queries) == 1
    sql = queries[0]["sql"].upper()
    assert "LIMIT 5" in sql and "DECLARE" not in sql
    with CaptureQueriesContext(connection) as queries:
        rest = list(rows)
    assert len(rest) == 29
    # 5 + 9 + 9 + 9 (holding the last 6, fewer than a page: the end): three more short queries
    assert [q["sql"].upper().count("LIMIT 9") for q in queries] == [1, 1, 1]


def test_the_http_export_is_the_paged_rows(client_for):
    store_findings(25, seed=6)
    response = client_for("analyst").get("/findings/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["id"]) for r in rows] == expected_order(Finding.objects.all())


def test_the_csv_leaves_in_pieces_the_first_row_at_once_not_a_write_per_row(client_for, monkeypatch):
    from triage import views

    monkeypatch.setattr(views, "EXPORT_PIECE_CHARS", 4096)
    monkeypatch.setattr(views, "EXPORT_PAUSE_SECONDS", 0)
    store_findings(60, seed=7)

    pieces = list(client_for("analyst").get("/findings/export.csv").streaming_content)

    first = pieces[0].decode().splitlines()
    assert len(first) == 2 and first[0].startswith("id,")  # the header and the first row, alone
    assert 2 < len(pieces) < 30  # pieces of ~4 KB, not one per row (61 lines)
    rows = list(csv.DictReader(io.StringIO(b"".join(pieces).decode())))
    assert [int(r["id"]) for r in rows] == expected_order(Finding.objects.all())


def test_one_export_per_person_at_a_time(client_for):
    store_findings(5)
    client = client_for("analyst")
    running = client.get("/findings/export.csv")  # streaming, not read yet: it holds the person's slot
    again = client.get("/findings/export.csv?band=high", headers={"accept": "text/html"})
    assert again.status_code == 302 and again["Location"].startswith("/findings/?band=high")
    page = client.get(again["Location"])
    assert "You already have an export running" in page.content.decode()
    api = client.get("/findings/export.json", headers={"accept": "application/json"})
    assert api.status_code == 429 and api["Retry-After"]
    assert b"already have an export running" in api.content
    b"".join(running.streaming_content)  # read to its end: the slot is free
    assert client.get("/findings/export.csv").status_code == 200


@override_settings(GUARDWATCH_EXPORTS_MAX=1)
def test_a_global_cap_refuses_the_next_person(client_for):
    store_findings(5)
    first = client_for("analyst").get("/findings/export.csv")
    refused = client_for("manager").get("/findings/export.csv", headers={"accept": "text/csv"})
    assert refused.status_code == 429
    assert b"1 exports are running already" in refused.content
    disconnect(first)  # a disconnect closes the response before its end: the slot is freed all the same
    assert client_for("manager").get("/findings/export.csv").status_code == 200


@override_settings(
    CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
)
def test_an_unreachable_cache_lets_the_export_run_unguarded(caplog):
    slot = slot_acquire("findings-export", "7", total=1)
    assert slot.keys == []  # nothing taken, nothing to release
    slot.renew()
    slot.release()
    assert "runs without its concurrency guard" in caplog.text
