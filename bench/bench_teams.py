"""A team-scoped analyst's findings list at a million findings spread over 5,000 accounts.

The team owns 50 of the 5,000 accounts (about 10,000 findings); every list query gains
`account_id IN (50 ids)` (`guardwatch.core.scope`). Method as bench_triage.py (common.py: test Client,
2 warm-ups, 20 timed requests, p50/p95, queries of one more request), for the open list and a
severity filter, full page and HTMX fragment, beside the same pages for an organisation-wide analyst;
the plan of the scoped first page is recorded. Its own database (gw_bench_teams), seeded if short.

    flock /tmp/gw-bench.lock .venv/bin/python bench/bench_teams.py   # rewrites its section of docs/benchmarks.md
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from common import ROOT, TABLE_HEADER, measure_get, setup_django

DB_NAME = "gw_bench_teams"
TARGET = int(os.environ.get("BENCH_FINDINGS", "1000000"))
ACCOUNTS = [f"{300000000000 + i * 7919:012d}" for i in range(5000)]
TEAM = ACCOUNTS[::100]  # 50 accounts
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- teams-bench:begin -->", "<!-- teams-bench:end -->"
LIST_TARGET_MS = 150


def _ensure_seeded() -> tuple[int, float | None]:
    import seed_findings

    from findings.models import Finding

    seconds = seed_findings.ensure_seeded(TARGET, accounts=ACCOUNTS)  # 5,000 accounts, not the triage bench's 60
    return Finding.objects.count(), seconds


def _scoped_analyst():
    from django.contrib.auth import get_user_model

    from accounts.models import ScopedUser, Team, TeamMembership
    from guardwatch.core.roles import Role
    from guardwatch.core.services import user_create

    user = get_user_model().objects.filter(username="team_analyst").first() or user_create(
        username="team_analyst", role=Role.ANALYST, password="correct-horse-battery-staple", validate=False
    )
    team, _ = Team.objects.update_or_create(name="bench team", defaults={"account_ids": TEAM})
    TeamMembership.objects.get_or_create(team=team, user=user)
    ScopedUser.objects.get_or_create(user=user)
    return user


def _plan(user) -> str:
    """EXPLAIN (ANALYZE) of the scoped open list's page query: which index serves `account_id IN (…)`."""
    from django.db import connection
    from django.http import QueryDict

    from triage import selectors
    from triage.filters import SORTS, FindingFilters, findings_filtered

    filters = FindingFilters.from_query(QueryDict("status=open"))
    queryset = findings_filtered(filters=filters, user=user).order_by(*selectors._order(SORTS["-severity"]))  # noqa: SLF001
    sql, params = queryset.values("id")[:51].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql, params)
        lines = [row[0] for row in cursor.fetchall()]
    return "\n".join(lines)


def main() -> None:
    setup_django(DB_NAME)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from findings.models import Finding

    load_start = os.getloadavg()[0]
    uptime_start = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    total, seed_seconds = _ensure_seeded()
    scoped_user = _scoped_analyst()
    team_findings = Finding.objects.filter(account_id__in=TEAM).count()
    team_open = Finding.objects.filter(account_id__in=TEAM, status__in=["new", "acknowledged", "in_progress"]).count()
    clients = {}
    for label, user in (("scoped", scoped_user), ("organisation-wide", get_user_model().objects.get(username="analyst"))):
        clients[label] = Client()
        clients[label].force_login(user)
    cases = [("open findings, first page", "/findings/?status=open"),
             ("open, severity High", "/findings/?status=open&band=high"),
             ("open, severity Critical", "/findings/?status=open&band=critical")]  # fmt: skip
    results = []
    for who in ("scoped", "organisation-wide"):
        for name, url in cases:
            for htmx in (False, True):
                label = f"{who}: {name}" + (" [HTMX]" if htmx else "")
                results.append(measure_get(clients[who], label, url, headers={"HX-Request": "true"} if htmx else None))
                print(results[-1].row(), flush=True)
    plan = _plan(scoped_user)
    print(plan)
    uptime_end = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    _write_doc(total, team_findings, team_open, results, plan, (load_start, os.getloadavg()[0]),
               (uptime_start, uptime_end), seed_seconds)  # fmt: skip


def _write_doc(total, team_findings, team_open, results, plan, loads, uptimes, seed_seconds) -> None:
    scoped = [r for r in results if r.name.startswith("scoped")]
    worst = max(r.p95_ms for r in scoped)
    index_lines = [re.sub(r"'\{[^}]*\}'", "'{…the 50 ids…}'", line.strip())
                   for line in plan.splitlines() if "Index" in line or "Execution Time" in line or "Sort" in line]
    lines = [
        BEGIN,
        "## Teams: a team-scoped analyst's findings list at a million findings (`bench/bench_teams.py`)",
        "",
        "Reproduce: `flock /tmp/gw-bench.lock .venv/bin/python bench/bench_teams.py` (seeds gw_bench_teams first"
        + (f": {seed_seconds:.0f} s this time" if seed_seconds else "") + ").",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {total:,} findings over {len(ACCOUNTS):,}"
        f" accounts (bench/seed_findings.py with 5,000 accounts); the team owns {len(TEAM)} accounts:"
        f" {team_findings:,} findings, {team_open:,} open. Every scoped query carries `account_id IN (50 ids)`."
        f" Method as the triage bench (test Client, 2 warm-ups, 20 timed requests). The machine was shared:"
        f" `uptime` at the start `{uptimes[0]}`, at the end `{uptimes[1]}` (2 cores).",
        "",
        TABLE_HEADER,
        *[r.row() for r in results],
        "",
        f"- Scoped list p95 ≤ {LIST_TARGET_MS} ms (the triage list target): "
        + ("met" if worst <= LIST_TARGET_MS else "**missed**") + f" — worst scoped p95 **{worst:,.1f} ms**.",
        "- The scoped first page's plan (EXPLAIN ANALYZE, index lines): "
        + "; ".join(f"`{line}`" for line in index_lines[:6]) + ".",
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
