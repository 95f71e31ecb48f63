"""How findings are stored on Postgres: search text beside the finding, no index another one serves.

These are the physical choices the million-finding benchmarks rest on (docs/benchmarks.md); each test
fails if the choice is undone.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection

from findings.fields import JSONText, _json_default, json_text
from findings.gateway import FindingPage
from findings.models import Finding, FindingSearch
from findings.sync import parsed_batches
from findings.upsert import findings_upsert
from triage.services import findings_assign, findings_status_set

from .factories import parsed, raw_finding, raw_findings, repeated

pytestmark = pytest.mark.django_db


def _row_version(table: str, pk: int) -> str:
    """The transaction that wrote the row's current version (changes whenever the row is rewritten)."""
    key = "finding_id" if table == "findings_findingsearch" else "id"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT xmin::text FROM {table} WHERE {key} = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_every_stored_finding_gets_its_lowercased_search_text():
    raws = raw_findings(20)

    findings_upsert(findings=[parsed(r) for r in raws], source="pull")

    for finding in Finding.objects.all():
        expected = f"{finding.title} {finding.description} {finding.resource_id}".lower()
        search = FindingSearch.objects.get(finding=finding)
        assert (search.text, search.severity) == (expected, finding.severity)


def test_a_newer_version_with_a_new_title_is_found_by_its_new_words(client_for):
    first = raw_finding()
    findings_upsert(findings=[parsed(first)], source="pull")
    later = copy.deepcopy(repeated(first))
    later["Title"] = "Zanzibarquux beacon seen"

    findings_upsert(findings=[parsed(later)], source="pull")

    finding = Finding.objects.get(arn=first["Arn"])
    assert "zanzibarquux" in FindingSearch.objects.get(finding=finding).text
    html = client_for("analyst").get("/findings/?q=zanzibarquux").content.decode()
    assert f'data-finding="{finding.pk}"' in html


def test_a_newer_version_with_a_new_severity_moves_the_search_copy_too():
    first = raw_finding()
    findings_upsert(findings=[parsed(first)], source="pull")
    later = copy.deepcopy(repeated(first))
    later["Severity"] = 9.5 if first["Severity"] < 9 else 2.0

    findings_upsert(findings=[parsed(later)], source="pull")

    finding = Finding.objects.get(arn=first["Arn"])
    assert finding.severity == later["Severity"]
    assert FindingSearch.objects.get(finding=finding).severity == finding.severity


def test_a_newer_version_with_the_same_text_leaves_the_search_row_alone():
    first = raw_finding()
    findings_upsert(findings=[parsed(first)], source="pull")
    finding = Finding.objects.get(arn=first["Arn"])
    search_before = _row_version("findings_findingsearch", finding.pk)
    finding_before = _row_version("findings_finding", finding.pk)

    findings_upsert(findings=[parsed(repeated(first))], source="pull")

    assert _row_version("findings_finding", finding.pk) != finding_before  # the finding did move on
    assert _row_version("findings_findingsearch", finding.pk) == search_before


def test_status_and_assignee_changes_never_touch_the_search_text(analyst):
    raws = raw_findings(5)
    findings_upsert(findings=[parsed(r) for r in raws], source="pull")
    ids = list(Finding.objects.values_list("pk", flat=True))
    before = {pk: _row_version("findings_findingsearch", pk) for pk in ids}

    findings_status_set(findings=Finding.objects.filter(pk__in=ids), status="acknowledged", actor=analyst)
    findings_assign(findings=Finding.objects.filter(pk__in=ids), assignee=analyst, actor=analyst)

    assert Finding.objects.filter(pk__in=ids, status="acknowledged", assignee=analyst).count() == 5
    assert {pk: _row_version("findings_findingsearch", pk) for pk in ids} == before


def test_deleting_a_finding_deletes_its_search_text():
    findings_upsert(findings=[parsed(raw_finding())], source="pull")

    Finding.objects.all().delete()

    assert not FindingSearch.objects.exists()


def test_redundant_finding_indexes_stay_dropped():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'findings_finding'")
        indexes = dict(cursor.fetchall())

    dropped = {"finding_severity_idx", "finding_last_seen_idx", "finding_type_prefix_idx", "finding_updated_idx"}
    assert not dropped & set(indexes)
    # 15, and since 0016 the partial index of attack-sequence signals (only findings naming a sequence).
    assert len(indexes) == 16
    assert "WHERE (NOT ((attack_sequence_arn)::text = ''::text))" in indexes["finding_sequence_idx"]
    assert not [name for name in indexes if name.endswith("_like")]
    assert not [name for name, definition in indexes.items() if "gin" in definition.lower()]
    assert "findings_finding_arn_key" in indexes  # the upsert's ON CONFLICT (arn)


def test_the_parse_ahead_thread_hands_over_raw_json_text_stored_exactly_as_received():
    raws = raw_findings(30)
    pages = [FindingPage(number=0, finding_ids=(), findings=tuple(raws), api_calls=1)]

    batches = list(parsed_batches(iter(pages), size=500))
    findings_upsert(findings=batches[0].parsed, source="pull")

    assert all(type(f.raw) is JSONText for f in batches[0].parsed)  # encoded off the upsert's path
    for raw in raws:
        stored = Finding.objects.get(arn=raw["Arn"]).raw
        assert json_text(stored) == json_text(raw)


def _compression_asked_for_raw() -> str:
    """What `findings_finding.raw` is set to be compressed with (migration 0004: lz4 where the server has it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attcompression FROM pg_attribute"
            " WHERE attrelid = 'findings_finding'::regclass AND attname = 'raw'"
        )
        method = cursor.fetchone()[0]
        if method:
            return {"l": "lz4", "p": "pglz"}[method]
        cursor.execute("SHOW default_toast_compression")
        return cursor.fetchone()[0]


def test_synced_raw_is_compressed_with_the_method_its_column_asks_for():
    """Before, the staging table compressed `raw` with pglz and that value was stored as is."""
    raws = raw_findings(10)
    for raw in raws:
        raw["Padding"] = "noise seen by the detector " * 100  # ~2.7 kB more

    findings_upsert(findings=[parsed(r) for r in raws], source="pull")

    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT pg_column_compression(raw) FROM findings_finding")
        methods = {method for (method,) in cursor.fetchall()}
    assert methods == {_compression_asked_for_raw()}


def test_a_finding_larger_than_a_page_is_stored_whole():
    raw = raw_finding()
    raw["Padding"] = "".join(f"{n:x}" for n in range(20_000))  # ~75 kB, incompressible-ish

    findings_upsert(findings=[parsed(raw)], source="pull")

    assert json_text(Finding.objects.get(arn=raw["Arn"]).raw) == json_text(raw)


def test_json_text_keeps_text_it_already_made_and_encodes_plain_strings():
    made = JSONText(json_text({"Id": "a"}))

    assert json_text(made) is made
    assert json_text('{"Id": "a"}') == '"{\\"Id\\": \\"a\\"}"'


def _nested(depth: int) -> list:
    value: list = ["end"]
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        {"Id": "a", "Severity": 8.0, "Count": 3, "Archived": False, "Tags": [{"Key": "k", "Value": None}]},
        {"Title": "café 東京 \u2028 😀", "Nested": [1.5, -0.25, 1e-7, 10**18]},
        {"At": datetime(2026, 9, 1, 12, 30, 5, 123, tzinfo=UTC), "Naive": datetime(2026, 9, 1)},
        {"Day": date(2026, 9, 1), "Amount": Decimal("2.5")},
        {"Big": 2**70},  # beyond 64 bits: orjson refuses it, json.dumps does not
        {1: "int key"},  # a key that is not a string: the same
        {"Deep": _nested(300)},  # deeper than orjson goes
        {"Raw": b"bytes \xff", "Set": {"one"}, "Tuple": ("a", "b")},
    ],
)
def test_json_text_encodes_every_value_as_the_standard_library_does(value):
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    assert json.loads(json_text(value)) == json.loads(expected)


def test_json_text_replaces_nul_escapes_and_lone_surrogates_on_either_encoder():
    fast = json_text({"Key": "evil\x00key"})  # orjson's path
    slow = json_text({"Key": "evil\x00key", "Value": "\ud800lone"})  # orjson refuses the surrogate

    assert json.loads(fast) == {"Key": "evil\ufffdkey"}
    assert json.loads(slow) == {"Key": "evil\ufffdkey", "Value": "?lone"}
    slow.encode("utf-8")


def test_json_text_still_refuses_what_it_cannot_encode():
    with pytest.raises(TypeError, match="object is not JSON serialisable"):
        json_text({"Thing": object()})


@pytest.mark.parametrize("vendor", ["postgresql", "portable"])
def test_a_bulk_status_change_records_each_findings_own_timeline_entry(analyst, monkeypatch, vendor):
    from datetime import timedelta

    from django.utils import timezone

    from findings.models import FindingEvent
    from triage.models import WriteBack

    if vendor == "portable":  # the demo's path (bulk_create), run here on Postgres
        monkeypatch.setattr(connection, "vendor", "sqlite")
    findings_upsert(findings=[parsed(r) for r in raw_findings(6)], source="pull")
    first, second, *_ = Finding.objects.order_by("id")
    findings_status_set(findings=Finding.objects.filter(pk=first.pk), status="in_progress", actor=analyst)
    until = timezone.now() + timedelta(days=30)

    moved = findings_status_set(
        findings=Finding.objects.all(), status="accepted_risk", actor=analyst, reason=" known ", accepted_until=until
    )

    assert moved == 6
    events = FindingEvent.objects.filter(to_status="accepted_risk").order_by("finding_id")
    assert [(e.finding_id, e.from_status) for e in events][:2] == [(first.pk, "in_progress"), (second.pk, "new")]
    assert {(e.kind, e.actor_id, e.actor_name, e.body) for e in events} == {("status", analyst.pk, "analyst", "known")}
    assert all(e.details == {"accepted_until": until.isoformat()} for e in events)
    findings_status_set(findings=Finding.objects.all(), status="resolved", actor="system")
    writebacks = WriteBack.objects.order_by("finding_id")
    assert [(w.finding_id, w.region) for w in writebacks] == list(Finding.objects.order_by("id").values_list("id", "region"))
    assert {(w.operation, w.status, w.attempts, w.error, w.actor_name) for w in writebacks} == {
        ("archive", "pending", 0, "", "system")
    }


def test_the_findings_tables_are_vacuumed_after_two_percent_of_their_rows_change():
    """At millions of findings PostgreSQL's default (20 % of the rows dead) lets the open-findings indexes bloat
    and their index-only counts visit the heap for minutes of triage and sync (migration 0022)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'",
            [["findings_finding", "findings_findingentity", "findings_findingevent", "findings_findingoccurrence"]],
        )
        options = {name: set(values or ()) for name, values in cursor.fetchall()}
    assert len(options) == 4
    for table, values in options.items():
        assert {"autovacuum_vacuum_scale_factor=0.02", "autovacuum_analyze_scale_factor=0.02",
                "autovacuum_vacuum_insert_scale_factor=0.05"} <= values, table  # fmt: skip
