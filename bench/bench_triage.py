"""Triage at a million findings: list pages (full and HTMX), detail, bulk status, CSV export memory.

Method (ANCHORS.md, via common.py): logged-in test Client, 2 warm-ups, 20 timed requests per case,
p50/p95 server time, SQL queries of one more request, page weight. Runs against the database
`bench/seed_findings.py` filled (gw_bench_triage), seeding it first if it holds too few findings.

    .venv/bin/python bench/bench_triage.py            # results appended to docs/benchmarks.md
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, TABLE_HEADER, measure_get, setup_django, timed

DB_NAME = "gw_bench_triage"
TARGET = int(os.environ.get("BENCH_FINDINGS", "1000000"))
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- triage-bench:begin -->", "<!-- triage-bench:end -->"


def _ensure_seeded() -> int:
    from django.db import connection

    from findings.models import Finding

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'findings_finding'")
            row = cursor.fetchone()
        have = int(row[0]) if row else 0
    except Exception:  # noqa: BLE001 - no database yet
        have = 0
    if have < TARGET * 0.95:
        import seed_findings

        seed_findings.database_prepare()
        seed_findings.seed(TARGET)
    return Finding.objects.count()


def _deep_cursor(query: str, sort_key: str, page: int, size: int = 50) -> str:
    """The `after=` cursor of page `page` (what clicking Next page-1 times yields)."""
    from django.http import QueryDict

    from findings import listing

    filters = listing.FindingFilters.from_query(QueryDict(query))
    sort = listing.SORTS[sort_key]
    row = (
        listing.findings_filtered(filters=filters)
        .order_by(*listing._order(sort))  # noqa: SLF001
        .only("id", sort.column)[(page - 1) * size - 1]
    )
    return listing._cursor_encode(sort, row)  # noqa: SLF001


def export_memory(query: str) -> dict:
    """Stream a CSV export in a fresh process and report its rows, seconds and peak RSS."""
    code = f"""
import os, resource, sys, time
sys.path.insert(0, {str(ROOT / "bench")!r})
from common import setup_django
setup_django({DB_NAME!r})
from django.test import Client
from django.contrib.auth import get_user_model
client = Client(); client.force_login(get_user_model().objects.get(username="analyst"))
started = time.perf_counter()
response = client.get("/findings/export.csv?{query}")
lines = 0
size = 0
for chunk in response.streaming_content:
    lines += chunk.count(b"\\n"); size += len(chunk)
print({{"rows": lines - 1, "seconds": round(time.perf_counter() - started, 1), "mb": round(size / 1e6, 1),
       "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}})
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - our own subprocess's dict literal


def main() -> None:
    setup_django(DB_NAME)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from findings.models import Finding
    from findings.triage import findings_status_set

    total = _ensure_seeded()
    open_count = Finding.objects.filter(status__in=["new", "acknowledged", "in_progress"]).count()
    analyst = get_user_model().objects.get(username="analyst")
    client = Client()
    client.force_login(analyst)
    accounts = list(Finding.objects.order_by().values_list("account_id", flat=True).distinct()[:6])
    some_account = accounts[0]
    detail_pk = Finding.objects.filter(status="new", severity__gte=7).order_by("-severity", "-id").values_list("pk", flat=True).first()
    deep = _deep_cursor("status=open", "-severity", 200)
    deep_seen = _deep_cursor("status=open", "-last_seen", 200)
    cases = [
        ("open findings, first page", "/findings/?status=open"),
        ("open, severity High", "/findings/?status=open&band=high"),
        ("open, text search 'bitcoin'", "/findings/?status=open&q=bitcoin"),
        ("all, text search resource id fragment", "/findings/?q=i-0"),
        ("open, page 200 (keyset)", f"/findings/?status=open&after={deep}"),
        ("open, last seen, page 200", f"/findings/?status=open&sort=-last_seen&after={deep_seen}"),
        ("all, sort by count", "/findings/?sort=-count"),
        ("critical, newest created", "/findings/?band=critical&sort=-created_at"),
        ("one account, last seen", f"/findings/?account={some_account}&sort=-last_seen"),
        ("type prefix Recon:EC2/", "/findings/?type_prefix=Recon:EC2/"),
        ("open high EC2 (Done-when filter)", "/findings/?status=open&band=high&resource_type=Instance"),
        ("eu-west-1 open medium", "/findings/?region=eu-west-1&status=open&band=medium"),
        ("overdue", "/findings/?overdue=1"),
        ("assigned to analyst, 200 per page", "/findings/?assignee=analyst&size=200"),
    ]
    results = []
    for name, url in cases:
        results.append(measure_get(client, name, url))
        results.append(measure_get(client, name + " [HTMX]", url, headers={"HX-Request": "true"}))
        print(results[-2].row(), flush=True)
        print(results[-1].row(), flush=True)
    results.append(measure_get(client, "one finding's detail page", f"/findings/{detail_pk}/"))
    print(results[-1].row(), flush=True)

    # Bulk status change of 10,000 findings (set-based UPDATE + timeline rows), twice: without and
    # with GuardDuty write-backs queued (Resolved → one ArchiveFindings row each).
    ids = list(Finding.objects.filter(status="new").order_by("id").values_list("id", flat=True)[:20000])
    ack_seconds, ack_moved = timed(
        lambda: findings_status_set(findings=Finding.objects.filter(pk__in=ids[:10000]), status="acknowledged", actor=analyst)
    )
    res_seconds, res_moved = timed(
        lambda: findings_status_set(findings=Finding.objects.filter(pk__in=ids[10000:]), status="resolved", actor=analyst)
    )
    account_query = "&".join(f"account={a}" for a in accounts)
    export = export_memory(account_query)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('findings_finding'))")
        table_size = cursor.fetchone()[0]
    _write_doc(total, open_count, results, (ack_seconds, ack_moved), (res_seconds, res_moved), export, table_size)


def _write_doc(total, open_count, results, ack, res, export, table_size) -> None:
    p95s = [r.p95_ms for r in results]
    lines = [
        BEGIN,
        "## Triage: findings list at a million findings (`bench/bench_triage.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {total:,} findings ({open_count:,} open),"
        f" seeded by `bench/seed_findings.py`; table and indexes {table_size}. Method: ANCHORS.md"
        " (test Client, 2 warm-ups, 20 timed requests, p50/p95 server time, queries of one more request).",
        "",
        TABLE_HEADER,
        *[r.row() for r in results],
        "",
        f"- Worst list p95: **{max(p95s):,.1f} ms** (target ≤ 150 ms); queries per list page: "
        f"{sorted({r.queries for r in results[:-1]})} whatever the page size.",
        f"- Bulk status change, {ack[1]:,} findings → Acknowledged: **{ack[0]:.2f} s**; "
        f"{res[1]:,} → Resolved (plus {res[1]:,} ArchiveFindings write-backs queued): **{res[0]:.2f} s** (target ≤ 3 s).",
        f"- CSV export of {export['rows']:,} findings ({export['mb']} MB) streamed in {export['seconds']} s; "
        f"peak RSS of the whole exporting process **{export['peak_rss_mb']} MB** (target ≤ 200 MB).",
        "- Severity counts are exact up to 10,000 per band and shown as “10,000+” above (one statement, four"
        " LIMITed subqueries), so counting never scans the table.",
        END,
    ]
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = "\n".join(lines) + "\n"
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    DOC.write_text(text)
    print(block)
    print(json.dumps({"export": export}))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
