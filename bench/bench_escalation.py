"""Owner routing and SLA escalation at a million findings (BENCH_FINDINGS) over 5,000 accounts and 50 teams.

Measures `finding_owners` for a page of 200 findings (p50/p95 of 20 calls, its query count), the SLA
escalation beat (`sla_escalations_run`) at the seeded store's "now": the first runs, which take every step
that fell due within the last day (500 per step and band per run), then a steady run with nothing due,
and all 50 teams' daily digests at once. Half the teams own their 100 accounts by listed id, half by an
`owner=` account tag. Nothing leaves the process: queueing a Celery task is counted, not sent.
Its own database (gw_bench_routing), seeded by bench/seed_findings.py and dropped at the end
(BENCH_KEEP_DB=1 keeps it).

    flock /tmp/gw-bench.lock .venv/bin/python bench/bench_escalation.py   # rewrites its section of docs/benchmarks.md
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import time

from common import ROOT, setup_django

DB_NAME = "gw_bench_routing"
TARGET = int(os.environ.get("BENCH_FINDINGS", "1000000"))
ACCOUNTS = [f"{300000000000 + i * 7919:012d}" for i in range(5000)]
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- escalation-bench:begin -->", "<!-- escalation-bench:end -->"


def _world() -> None:
    """Member accounts (half tagged owner=team-N), 50 teams with a destination each; no earlier escalation."""
    from accounts.models import MemberAccount, Team
    from findings.models import FindingEvent
    from notifications.models import Delivery, Destination, SlaEscalation, TeamRouting

    SlaEscalation.objects.all().delete()
    FindingEvent.objects.filter(kind="escalation").delete()
    Delivery.objects.all().delete()
    MemberAccount.objects.bulk_create(
        [MemberAccount(account_id=a, email=f"root+{a}@example.com",
                       tags=[f"owner=team-{i // 100}"] if (i // 100) % 2 else ["env=prod"])
         for i, a in enumerate(ACCOUNTS)],
        ignore_conflicts=True,
    )  # fmt: skip
    for n in range(50):
        ids = ACCOUNTS[n * 100 : (n + 1) * 100] if n % 2 == 0 else []
        team, _ = Team.objects.update_or_create(name=f"team-{n}", defaults={"account_ids": ids})
        destination, _ = Destination.objects.get_or_create(
            name=f"team-{n} hook", defaults={"kind": "webhook"}
        )
        routing, _ = TeamRouting.objects.update_or_create(
            team=team, defaults={"digest_enabled": True, "digest_hour": 8, "digest_min_band": "high",
                                 "digest_last_sent_at": None},
        )  # fmt: skip
        routing.destinations.set([destination])


def _timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000, result


def main() -> None:
    setup_django(DB_NAME)
    import seed_findings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.teams import finding_owners
    from findings.models import Finding
    from notifications import escalation, events, owners
    from notifications.models import Delivery, SlaEscalation

    queued = []
    escalation.task_send_on_commit = lambda name, *args, **kw: queued.append(name)  # counted, never sent
    events.task_send_on_commit = lambda name, *args, **kw: queued.append(name)
    uptime_start = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    seed_seconds = seed_findings.ensure_seeded(TARGET, accounts=ACCOUNTS)
    total = Finding.objects.count()
    _world()
    rng = random.Random(3)
    ids = list(Finding.objects.order_by("?").values_list("id", flat=True)[:2000])
    owner_ms = []
    for _ in range(22):
        page = list(Finding.objects.filter(id__in=rng.sample(ids, 200)).only("id", "account_id"))
        ms, _owners = _timed(lambda page=page: finding_owners(findings=page))
        owner_ms.append(ms)
    with CaptureQueriesContext(connection) as queries:
        finding_owners(findings=page)
    owner_ms = sorted(owner_ms[2:])
    runs = []
    for _ in range(12):
        ms, taken = _timed(lambda: escalation.sla_escalations_run(now=seed_findings.NOW))
        runs.append((ms, taken))
        print(f"escalation run: {ms:,.0f} ms, {taken} steps", flush=True)
        if not taken:
            break
    steps = {s: SlaEscalation.objects.filter(step=s).count() for s in ("warning", "breach", "manager")}
    digest_ms, digests = _timed(
        lambda: owners.team_digests_send(now=seed_findings.NOW.replace(hour=8, minute=5))
    )
    digest_rows = Delivery.objects.filter(kind="digest")
    listed = sum(len(d.payload["events"]) for d in digest_rows)
    uptime_end = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [
        BEGIN,
        f"## Owner routing and SLA escalation at {total:,} findings (`bench/bench_escalation.py`, issue 20 points 2, 4)",
        "",
        "Reproduce: `flock /tmp/gw-bench.lock .venv/bin/python bench/bench_escalation.py` (seeds gw_bench_routing"
        + (f": {seed_seconds:.0f} s this time" if seed_seconds else "")
        + ").",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {total:,} findings (70 % open, created"
        " over 90 days) over 5,000 accounts and 50 teams (25 by listed ids, 25 by `owner=` tags), default SLA."
        f" The machine was shared and noisy: `uptime` at the start `{uptime_start}`, at the end `{uptime_end}`"
        " (2 cores).",
        "",
        f"- `finding_owners` for a page of 200 findings: p50 {statistics.median(owner_ms):.1f} ms, p95"
        f" {owner_ms[int(len(owner_ms) * 0.95) - 1]:.1f} ms, {len(queries)} queries.",
        "- `sla_escalations_run` at the seeded store's now, run after run until nothing is due (the first runs"
        " take every step due within the last day, at most 500 per step and band per run): "
        + ", ".join(f"{ms / 1000:.1f} s ({taken:,} steps)" for ms, taken in runs)
        + f". Steps taken: {steps['warning']:,} warnings, {steps['breach']:,} breaches, {steps['manager']:,} manager"
        f" notices; {queued.count('notifications.tasks.escalation_notify'):,} emails and"
        f" {queued.count('notifications.tasks.delivery_send'):,} team deliveries queued. The last run (nothing due)"
        " is what each 5-minute beat costs at steady state.",
        f"- Every team's daily digest at once (50 teams): {digest_ms / 1000:.1f} s, {digests} deliveries listing"
        f" {listed:,} findings (High and above, new or updated in the last day).",
        END,
    ]
    text = DOC.read_text()
    block = "\n".join(lines)
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)
    print(block)
    if os.environ.get("BENCH_KEEP_DB") != "1":
        connection.close()
        with connection._nodb_cursor() as cursor:  # noqa: SLF001
            cursor.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
