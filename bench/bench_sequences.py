"""Attack sequences at a million findings: the list grouped by sequence, filtered to one or any sequence, and
a sequence's page.

Seed: bench/seed_findings.py's 1M findings in their own database (gw_bench_sequences, seeded if short), then
2,000 of its attack-sequence findings become sequences with 3 signals each, findings of the same account
whose `attack_sequence_arn` names them (6,000 signals: GuardDuty correlates few findings into sequences, so
the partial index finding_sequence_idx stays small). Method as bench_triage.py (common.py: test Client, 2
warm-ups, 20 timed requests, p50/p95, queries of one more request), as an organisation-wide analyst; the plans
of the grouped statement and of one sequence's first page are recorded (EXPLAIN ANALYZE).

    flock /tmp/gw-bench.lock .venv/bin/python bench/bench_sequences.py   # rewrites its section of docs/benchmarks.md
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from urllib.parse import urlencode

from common import ROOT, TABLE_HEADER, measure_get, setup_django

DB_NAME = "gw_bench_sequences"
TARGET = int(os.environ.get("BENCH_FINDINGS", "1000000"))
SEQUENCES, SIGNALS_EACH = 2000, 3
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- sequences-bench:begin -->", "<!-- sequences-bench:end -->"
TARGET_MS = 150

# Each sequence gets SIGNALS_EACH findings of its own account (every 97th finding is a candidate).
LINK_SQL = f"""
WITH seqs AS (
    SELECT id, arn, account_id, row_number() OVER (PARTITION BY account_id ORDER BY id) AS rn
    FROM findings_finding WHERE id IN (
        SELECT id FROM findings_finding WHERE type LIKE 'AttackSequence:%%' ORDER BY id LIMIT {SEQUENCES})
), candidates AS (
    SELECT id, account_id, row_number() OVER (PARTITION BY account_id ORDER BY id) AS rn
    FROM findings_finding WHERE type NOT LIKE 'AttackSequence:%%' AND id %% 97 = 0
)
UPDATE findings_finding AS f SET attack_sequence_arn = seqs.arn
FROM candidates JOIN seqs ON seqs.account_id = candidates.account_id
    AND (candidates.rn - 1) / {SIGNALS_EACH} + 1 = seqs.rn
WHERE f.id = candidates.id
"""  # noqa: S608 - constants only


def _ensure_seeded() -> tuple[int, float | None, float | None]:
    import seed_findings
    from django.core.management import call_command
    from django.db import connection

    from findings.models import Finding

    seconds = seed_findings.ensure_seeded(TARGET)
    call_command("migrate", verbosity=0)
    linked_seconds = None
    if not Finding.objects.exclude(attack_sequence_arn="").exists():
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(LINK_SQL, [])  # with params: psycopg reads %% as %
            cursor.execute("ANALYZE findings_finding")
        linked_seconds = time.perf_counter() - started
    return Finding.objects.count(), seconds, linked_seconds


def _plan(sql: str, params) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql, params)
        return [row[0] for row in cursor.fetchall()]


def _plans(user, arn: str) -> dict[str, list[str]]:
    from django.db import connection
    from django.http import QueryDict
    from django.test.utils import CaptureQueriesContext

    from triage import selectors
    from triage.filters import SORTS, FindingFilters, findings_filtered

    with CaptureQueriesContext(connection) as queries:
        selectors.sequence_groups(filters=FindingFilters(), user=user)
    grouped = next(query["sql"] for query in queries.captured_queries if "GROUP BY" in query["sql"])
    one = findings_filtered(filters=FindingFilters.from_query(QueryDict(urlencode({"sequence": arn}))), user=user)
    sql, params = one.order_by(*selectors._order(SORTS["-severity"])).values("id")[:51].query.sql_with_params()  # noqa: SLF001
    return {"grouped by sequence": _plan(grouped, None), "one sequence's first page": _plan(sql, params)}


def main() -> None:
    setup_django(DB_NAME)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from findings.models import Finding

    uptime_start = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    total, seed_seconds, link_seconds = _ensure_seeded()
    analyst = get_user_model().objects.get(username="analyst")
    client = Client()
    client.force_login(analyst)
    signals = Finding.objects.exclude(attack_sequence_arn="").count()
    member = Finding.objects.exclude(attack_sequence_arn="").order_by("id").first()
    sequence = Finding.objects.get(arn=member.attack_sequence_arn)
    one = urlencode({"sequence": sequence.arn})
    cases = [
        ("grouped by sequence", "/findings/?group=sequence"),
        ("grouped by sequence, open only", "/findings/?group=sequence&status=open"),
        ("in any sequence, first page", "/findings/?sequence=any"),
        ("one sequence, first page", f"/findings/?{one}"),
        ("a sequence's page", f"/findings/{sequence.pk}/sequence/"),
        ("a signal's page (links back)", f"/findings/{member.pk}/"),
    ]
    results = []
    for name, url in cases:
        for htmx in (False, True) if url.startswith("/findings/?") else (False,):
            label = name + (" [HTMX]" if htmx else "")
            results.append(measure_get(client, label, url, headers={"HX-Request": "true"} if htmx else None))
            print(results[-1].row(), flush=True)
    plans = _plans(analyst, sequence.arn)
    for name, lines in plans.items():
        print(name, *lines, sep="\n")
    uptime_end = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    _write_doc(total, signals, results, plans, (uptime_start, uptime_end), seed_seconds, link_seconds)


def _write_doc(total, signals, results, plans, uptimes, seed_seconds, link_seconds) -> None:
    worst = max(r.p95_ms for r in results)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    plan_lines = []
    for name, lines in plans.items():
        picked = [line.strip() for line in lines if "Index" in line or "Execution Time" in line or "Scan" in line]
        plan_lines.append(f"- {name}: " + "; ".join(f"`{line}`" for line in picked[:6]) + ".")
    lines = [
        BEGIN,
        "## Attack sequences at a million findings (`bench/bench_sequences.py`)",
        "",
        "Reproduce: `flock /tmp/gw-bench.lock .venv/bin/python bench/bench_sequences.py` (seeds gw_bench_sequences"
        + (f": {seed_seconds:.0f} s this time" if seed_seconds else "")
        + (f", linking the signals {link_seconds:.1f} s" if link_seconds else "") + ").",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}, on {total:,} findings"
        f" (bench/seed_findings.py), {SEQUENCES:,} of its attack-sequence findings with {SIGNALS_EACH} signals each"
        f" ({signals:,} findings name a sequence). An organisation-wide analyst; method as the triage bench (test"
        f" Client, 2 warm-ups, 20 timed requests). The machine was shared (2 cores, other engineers' work):"
        f" `uptime` at the start `{uptimes[0]}`, at the end `{uptimes[1]}`.",
        "",
        TABLE_HEADER,
        *[r.row() for r in results],
        "",
        f"- Every case p95 ≤ {TARGET_MS} ms (the list target): " + ("met" if worst <= TARGET_MS else "**missed**")
        + f" — worst p95 **{worst:,.1f} ms**.",
        "- Plans (EXPLAIN ANALYZE, scan lines):",
        *plan_lines,
        END,
    ]
    text = DOC.read_text()
    block = "\n".join(lines)
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
