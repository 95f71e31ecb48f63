"""Reports at scale: the coverage page at 5,000 accounts × 17 regions, the findings report at 1,000,000 findings.

Method (ANCHORS.md, via common.py): logged-in test Client (a manager), 2 warm-ups, 20 timed requests per
case, p50/p95 server time, SQL queries of one more request, page weight. Coverage: the report cache is
OFF for the headline cases (every request computes every figure); one case shows the cached figure.
Findings: the standard periods and the dashboard as managers get them (served from the snapshots a
background refresh keeps), then every page cold (no snapshot: computed on the request), and the cold
computation alone on two connections and on one.

Coverage runs in a fresh database (gw_bench_reports_cov) seeded with bulk inserts; the findings report
reuses bench/seed_findings.py (COPY) into gw_bench_reports and adds a triage timeline (acknowledged and
closing events for every non-new finding) with two INSERT … SELECT statements.

    .venv/bin/python bench/bench_reports.py [coverage|findings|all]   # results into docs/benchmarks.md

`refresh` (issue 21): one background refresh of every findings snapshot (`findings_figures_refresh`, what
beat runs) against the database as it is (never seeded or written: point BENCH_DATABASE_URL at it), as
of BENCH_REPORT_NOW (ISO 8601; default: the seed's last day plus one, so the periods cover the seeded
findings as they would have when they were current). Prints elapsed time, the CPU time of this (the
worker's) process, and the CPU time of the database backends serving it; writes nothing to the docs:

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/gw_bench_5m \
        flock /tmp/gw-bench.lock .venv/bin/python bench/bench_reports.py refresh
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import ROOT, TABLE_HEADER, CaseResult, measure_get, setup_django, timed

REGIONS_17 = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1",
    "ap-southeast-2", "sa-east-1", "me-south-1",
]  # fmt: skip
ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "5000"))
FINDINGS = int(os.environ.get("BENCH_FINDINGS", "1000000"))
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- reports-bench:begin -->", "<!-- reports-bench:end -->"
# Relationship statuses of the seeded memberships, weighted like a large, mostly healthy organization.
STATUSES = [("Enabled", 900), ("Invited", 25), ("Created", 10), ("", 20), ("Resigned", 10), ("Removed", 10),
            ("Disabled", 10), ("EmailVerificationFailed", 10), ("RegionDisabled", 5)]  # fmt: skip


def _manager_client():
    from django.test import Client

    from guardwatch.core.roles import Role, roles_install
    from guardwatch.core.services import user_create

    roles_install()
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username="bench-manager").first() or user_create(username="bench-manager", role=Role.MANAGER, password="correct-horse-battery-staple",
                       validate=False)  # fmt: skip
    client = Client()
    client.force_login(user)
    return client


def _cached_case(client, name: str, url: str) -> CaseResult:
    from django.test import override_settings

    with override_settings(GUARDWATCH_REPORTS_CACHE_SECONDS=60):
        return measure_get(client, name, url)


# --- Coverage ---------------------------------------------------------------------------------------


def coverage_seed() -> float:
    """ACCOUNTS accounts, a membership in each of 17 regions, protection plans for the monitored ones."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import MemberAccount, MemberProtection, Membership, RegionState
    from accounts.services import account_regions_refresh
    from findings.models import SyncState

    started = time.perf_counter()
    rng = random.Random(5)
    now = timezone.now()
    pool = [s for s, weight in STATUSES for _ in range(weight)]
    MemberAccount.objects.bulk_create(
        [MemberAccount(account_id=f"{300000000000 + i:012d}", email=f"root+{i}@example.com",
                       display_name=f"team-{i % 300}-{i}") for i in range(ACCOUNTS)],
        batch_size=5000,
    )  # fmt: skip
    ids = list(MemberAccount.objects.values_list("id", flat=True))
    memberships = []
    for account_id in ids:
        for region in REGIONS_17:
            status = pool[rng.randrange(len(pool))]
            memberships.append(
                Membership(
                    account_id=account_id, region=region, relationship_status=status,
                    detector_id="d" if status in ("Enabled", "Disabled") else "",
                    invited_at=now - timedelta(days=rng.randrange(30)) if status else None,
                    updated_at=now - timedelta(days=rng.randrange(60)), last_synced_at=now,
                )
            )  # fmt: skip
    Membership.objects.bulk_create(memberships, batch_size=10000)
    account_regions_refresh(MemberAccount.objects.values_list("pk", flat=True))  # what every writer keeps
    monitored = Membership.objects.filter(relationship_status="Enabled").values_list("id", flat=True)
    plans = ("s3_data_events", "eks_audit_logs", "runtime_monitoring", "ebs_malware_protection",
             "rds_login_events", "lambda_network_logs")  # fmt: skip
    rows = []
    for membership_id in monitored.iterator(chunk_size=10000):
        states = {p: "DISABLED" if rng.random() < 0.03 else "ENABLED" for p in plans}
        rows.append(MemberProtection(membership_id=membership_id, checked_at=now,
                                     plans_off=sum(v == "DISABLED" for v in states.values()), **states))  # fmt: skip
    MemberProtection.objects.bulk_create(rows, batch_size=10000)
    for index, region in enumerate(REGIONS_17):
        RegionState.objects.create(region=region, detector_id="" if index == 16 else f"det-{index}",
                                   last_synced_at=now, last_error="no detector" if index == 16 else "",
                                   last_error_at=now if index == 16 else None)  # fmt: skip
        SyncState.objects.create(region=region, last_success_at=now - timedelta(minutes=index))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def coverage_bench() -> list[str]:
    from common import fresh_database

    setup_django("gw_bench_reports_cov")
    lines = []
    with fresh_database():
        seconds = coverage_seed()
        from accounts.models import Membership

        client = _manager_client()
        lines.append(
            f"Seeded {ACCOUNTS:,} accounts × {len(REGIONS_17)} regions "
            f"({Membership.objects.count():,} memberships) in {seconds:.0f} s.\n"
        )
        results = [
            measure_get(client, "coverage page, matrix page 1 (no cache)", "/accounts/coverage/"),
            measure_get(client, "coverage page, matrix page 40 (no cache)", "/accounts/coverage/?page=40"),
            measure_get(
                client, "coverage, accounts with a gap only (no cache)", "/accounts/coverage/?gaps_only=1"
            ),
            measure_get(
                client,
                "coverage, full resigned list page 3 (no cache)",
                "/accounts/coverage/?gap=resigned&gpage=3",
            ),  # fmt: skip
            measure_get(
                client,
                "coverage matrix, HTMX fragment page 2 (no cache)",
                "/accounts/coverage/?page=2&fragment=matrix",
                headers={"HX-Request": "true"},
            ),  # fmt: skip
            measure_get(client, "dashboard home (no cache)", "/"),
            _cached_case(client, "coverage page, matrix page 1 (cached figures)", "/accounts/coverage/"),
        ]
        export_seconds, response = timed(lambda: client.get("/accounts/coverage/?export=matrix"))
        size = sum(len(chunk) for chunk in response.streaming_content)
        lines += [TABLE_HEADER, *(r.row() for r in results)]
        lines.append(
            f"\nCSV of the whole matrix ({ACCOUNTS:,} rows): {export_seconds * 1000:,.0f} ms, {size / 1024:,.0f} KB."
        )
    return lines


# --- Findings report -------------------------------------------------------------------------------


EVENTS_SQL = [
    # Every finding that left New was acknowledged 0–48 h after GuardDuty created it …
    """INSERT INTO findings_findingevent (finding_id, kind, actor_name, created_at, from_status, to_status, body, details)
       SELECT id, 'status', 'analyst', created_at + random() * interval '48 hours', 'new', 'acknowledged', '', '{}'
       FROM findings_finding WHERE status <> 'new'""",
    # … and every closed one was closed 1–200 h after creation.
    """INSERT INTO findings_findingevent (finding_id, kind, actor_name, created_at, from_status, to_status, body, details)
       SELECT id, 'status', 'analyst', created_at + interval '1 hour' + random() * interval '200 hours',
              'acknowledged', status, '', '{}'
       FROM findings_finding WHERE status IN ('resolved', 'false_positive', 'accepted_risk', 'suppressed')""",
]


def findings_seed() -> tuple[int, int, float]:
    import seed_findings
    from django.db import connection

    from findings.models import Finding, FindingEvent

    started = time.perf_counter()
    if os.environ.get("BENCH_REUSE") == "1" and Finding.objects.count() >= FINDINGS * 0.95:
        return Finding.objects.count(), FindingEvent.objects.count(), 0.0  # seeded by an earlier run
    seed_findings.database_prepare()
    seed_findings.seed(FINDINGS)
    with connection.cursor() as cursor:
        for sql in EVENTS_SQL:
            cursor.execute(sql)
        # The seed loads findings after migrate ran, so stamp acknowledged_at / resolved_at the way
        # migration findings 0005 backfills them (its own SQL: same definitions as the triage service).
        marks = importlib.import_module("findings.migrations.0005_finding_report_marks")
        with connection.schema_editor() as editor:
            marks.marks_backfill(None, editor)
        cursor.execute("VACUUM ANALYZE findings_finding")
        cursor.execute("VACUUM ANALYZE findings_findingevent")
    return Finding.objects.count(), FindingEvent.objects.count(), time.perf_counter() - started


CUSTOM = "period=custom&start=2026-10-01&end=2026-11-14"


def _compute_parts(repeats: int) -> list[str]:
    """Cold computation per period, median of `repeats`: two connections (what runs) and one."""
    from unittest import mock

    from reports import findings_report as reports
    from reports import periods

    rows = ["| period | two connections (p50) | one connection (p50) |", "|---|---|---|"]
    for key, params in (("7 days", {"period": "7"}), ("30 days", {"period": "30"}), ("90 days", {"period": "90"}),
                        ("custom 2026-10-01 to 2026-11-14", dict(p.split("=") for p in CUSTOM.split("&")))):  # fmt: skip
        period = periods.report_period(params=params)
        cells = []
        for parallel in (True, False):
            with mock.patch.object(reports, "_parallel", lambda parallel=parallel: parallel):
                compute = functools.partial(reports.findings_report_compute, period=period)
                samples = [timed(compute)[0] for _ in range(repeats)]
            cells.append(f"{sorted(samples)[len(samples) // 2] * 1000:,.0f} ms")
        rows.append(f"| {key} | {' | '.join(cells)} |")
    return rows


@contextlib.contextmanager
def _own_snapshots():
    """Snapshots on, under a key prefix of their own (no snapshot or claim of another run), and the
    report computations pages queue collected instead of sent to the broker."""
    import uuid
    from unittest import mock

    from django.conf import settings
    from django.test import override_settings

    from reports import tasks

    caches = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"bench-{uuid.uuid4().hex}"}}
    sent: list[dict] = []
    with (
        override_settings(GUARDWATCH_REPORTS_CACHE_SECONDS=60, CACHES=caches),
        mock.patch.object(tasks.findings_report_snapshot, "delay", lambda query, owner="": sent.append(query)),
    ):
        yield sent


def _snapshot_cases(client, timed_n: int) -> tuple[list[CaseResult], list[str]]:
    """Pages served from snapshots, after one background refresh (timed: the work beat does).

    The bench's cache keys get their own prefix (no claim or snapshot of another run interferes), and
    refreshes the pages request are counted instead of sent to the broker.
    """
    from unittest import mock

    from guardwatch.core.data_version import data_version_bump
    from reports import services as report_services
    from reports import tasks

    queued: list[int] = []
    with _own_snapshots(), mock.patch.object(tasks.findings_figures_refresh, "delay", lambda: queued.append(1)):
        seconds, refreshed = timed(report_services.findings_figures_refresh)
        results = [
            measure_get(client, f"findings report, {key} days (snapshot)", f"/findings/report/?period={key}",
                        timed=timed_n)
            for key in ("7", "30", "90")
        ]  # fmt: skip
        results.append(measure_get(client, "dashboard home (snapshot)", "/", timed=timed_n))
        fresh_queued = len(queued)
        data_version_bump(scope="findings")  # a sync stored findings: every snapshot is stale now
        results.append(
            measure_get(client, "findings report, 30 days (stale snapshot served, refresh queued)",
                        "/findings/report/?period=30", timed=timed_n)
        )  # fmt: skip
        stale_queued = len(queued) - fresh_queued
    notes = [
        f"\nOne background refresh of every snapshot ({', '.join(refreshed)}): {seconds * 1000:,.0f} ms. "
        f"Refreshes queued by the snapshot pages: {fresh_queued}; by {timed_n + 3} requests on stale "
        f"snapshots: {stale_queued}."
    ]
    return results, notes


CUSTOM_YEAR = "period=custom&start=2025-11-30&end=2026-11-29"  # the longest period a manager can ask for


def _waiting_cases(client, timed_n: int) -> list[CaseResult]:
    """A period with no snapshot: what the request serves (the page a worker's figures replace)."""
    with _own_snapshots():
        return [
            measure_get(client, f"findings report, {name} (no snapshot: waiting page, a worker computes)", url,
                        timed=timed_n)
            for name, url in (("90 days", "/findings/report/?period=90"),
                              ("custom 366 days", f"/findings/report/?{CUSTOM_YEAR}"))
        ]  # fmt: skip


def _time_to_figures(client, rounds: int) -> list[str]:
    """From the first request for a period nobody asked for to the page that shows its figures.

    Each round under fresh keys: the request (queues the computation), what the worker runs
    (`findings_report_snapshot`, two connections), the poll request that then serves the snapshot.
    The broker and the poll interval (1 s) are left out: they add up to one poll interval.
    """
    from reports import services as report_services

    rows = ["| period | request (waiting page) | worker computes | poll serves the report | in all (p50) |",
            "|---|---|---|---|---|"]  # fmt: skip
    for name, query in (("7 days", "period=7"), ("30 days", "period=30"), ("90 days", "period=90"),
                        ("custom 2026-10-01 to 2026-11-14", CUSTOM), ("custom 366 days", CUSTOM_YEAR)):  # fmt: skip
        samples = []
        for _ in range(rounds):
            with _own_snapshots() as sent:
                first, response = timed(lambda query=query: client.get(f"/findings/report/?{query}"))
                assert b'data-testid="report-pending"' in response.content, name
                work, _ = timed(lambda: report_services.findings_report_snapshot(query=sent.pop()))
                poll, response = timed(lambda query=query: client.get(f"/findings/report/?{query}",
                                                                      headers={"HX-Request": "true"}))  # fmt: skip
                assert b'data-testid="new-total"' in response.content, name
                samples.append((first, work, poll))
        middle = sorted(samples, key=sum)[len(samples) // 2]
        cells = [f"{part * 1000:,.0f} ms" for part in middle]
        rows.append(f"| {name} | {' | '.join(cells)} | {sum(middle) * 1000:,.0f} ms |")
    return rows


def findings_bench() -> list[str]:
    setup_django("gw_bench_reports")
    findings, events, seconds = findings_seed()
    client = _manager_client()
    timed_n = int(os.environ.get("BENCH_TIMED", "20"))  # fewer than ANCHORS.md's 20 only when the doc says so
    snapshot_results, notes = _snapshot_cases(client, timed_n)
    results = [*snapshot_results, *_waiting_cases(client, timed_n)]
    # GUARDWATCH_REPORTS_CACHE_SECONDS=0 (the bench's default; snapshots off): every request computes.
    results += [
        *(
            measure_get(client, f"findings report, {key} days (snapshots off: computed on the request)",
                        f"/findings/report/?period={key}", timed=timed_n)
            for key in ("7", "30", "90")
        ),
        measure_get(client, "findings report, custom 2026-10-01 to 2026-11-14 (snapshots off)",
                    f"/findings/report/?{CUSTOM}", timed=timed_n),
        measure_get(client, "dashboard home (snapshots off: counted on the request)", "/", timed=timed_n),
    ]  # fmt: skip
    lines = [
        f"Seeded {findings:,} findings and {events:,} timeline events in {seconds:.0f} s.\n",
        TABLE_HEADER,
        *(r.row() for r in results),
        *notes,
        "SQL queries: those of the request's own connection; a report computed on the request runs 2 more on a "
        "second connection.",
    ]
    if timed_n != 20:
        lines.append(f"\n{timed_n} timed requests per case, not 20, to keep the run short.")
    lines += ["\nTime to figures for a period nobody asked for (median of 3 rounds, by their sum):\n",
              *_time_to_figures(client, 3)]  # fmt: skip
    lines += ["\nCold computation alone (`findings_report_compute`, median of 5):\n", *_compute_parts(5)]
    return lines


@contextlib.contextmanager
def _backend_cpu(application_name: str):
    """CPU seconds of the database backends of this process's connections (named `application_name`, from
    PGAPPNAME) while the block runs: /proc sampled every 0.1 s, so a backend that exits (the report's
    second connection) loses at most its last 0.1 s. Yields a dict filled in on exit: {"seconds": …}."""
    import threading

    import psycopg

    tick = os.sysconf("SC_CLK_TCK")
    dsn = os.environ["DATABASE_URL"]
    latest: dict[int, float] = {}
    first: dict[int, float] = {}
    stop = threading.Event()

    def cpu(pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / tick  # utime, stime

    with psycopg.connect(dsn, autocommit=True, application_name="bench-sampler") as watcher:
        def sample() -> None:
            pids = [pid for (pid,) in watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application_name])]  # fmt: skip
            for pid in pids:
                seconds = cpu(pid)
                if seconds is not None:
                    first.setdefault(pid, seconds)
                    latest[pid] = seconds

        sample()
        started_with = dict(first)

        def loop() -> None:
            while not stop.wait(0.1):
                sample()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        out: dict[str, float] = {}
        try:
            yield out
        finally:
            stop.set()
            thread.join()
            sample()
            # A backend there at the start counts from then; one that appeared during the block, from zero.
            out["seconds"] = sum(latest[pid] - started_with.get(pid, 0.0) for pid in latest)
            out["backends"] = len(latest)


def refresh_bench() -> list[str]:
    """One refresh of every findings snapshot on the database as it is: elapsed, worker CPU, database CPU."""
    import resource
    from unittest import mock

    os.environ["PGAPPNAME"] = app = f"bench-refresh-{os.getpid()}"
    setup_django("gw_bench_reports")
    from django.db import connection
    from django.utils import timezone

    from findings.models import Finding
    from reports import services as report_services
    from reports import tasks

    now = os.environ.get("BENCH_REPORT_NOW")
    if now:
        moment = datetime.fromisoformat(now)
    else:
        newest = Finding.objects.order_by("-created_at").values_list("created_at", flat=True).first()
        moment = (newest or timezone.now()) + timedelta(days=1)
    total = Finding.objects.count()
    connection.ensure_connection()
    lines = [f"{total:,} findings; report periods as of {moment:%Y-%m-%d %H:%M} UTC; /proc/loadavg before: {loadavg()}"]
    with _own_snapshots(), mock.patch.object(tasks.findings_figures_refresh, "delay", lambda: None):
        for run in ("first", "second (data unchanged, nothing stale: a no-op)"):
            before = resource.getrusage(resource.RUSAGE_SELF)
            with _backend_cpu(app) as database:
                seconds, refreshed = timed(lambda: report_services.findings_figures_refresh(now=moment))
            after = resource.getrusage(resource.RUSAGE_SELF)
            worker = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            lines.append(
                f"- refresh, {run}: {', '.join(refreshed) or 'nothing'} in **{seconds:,.1f} s** elapsed;"
                f" worker process CPU {worker:,.2f} s; database backends' CPU {database['seconds']:,.1f} s"
                f" ({database['backends']} backends)"
            )
            print(lines[-1], flush=True)
            from django.core.cache import cache

            cache.delete(f"guardwatch:reports:refresh:{report_services.CLAIM}")  # the second run claims at once
    lines.append(f"/proc/loadavg after: {loadavg()}")
    return lines


def loadavg() -> str:
    """The machine's load (2 shared cores): printed with every run so a loaded measurement shows it."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def write(key: str, title: str, lines: list[str]) -> None:
    """Replace this section's block in docs/benchmarks.md (each section has its own markers)."""
    begin, end = f"<!-- reports-bench:{key}:begin -->", f"<!-- reports-bench:{key}:end -->"
    body = [begin, f"## Reports: {title}", "",
            f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `bench/bench_reports.py {key}` (targets: coverage "
            "≤ 500 ms, findings report ≤ 1,000 ms server time; method of ANCHORS.md).", "", *lines, "", end]  # fmt: skip
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + "\n".join(body) + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(body) + "\n"
    DOC.write_text(text)


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "coverage"
    if which == "refresh":
        os.environ.setdefault("GUARDWATCH_REPORTS_CACHE_SECONDS", "60")
        print("\n".join(refresh_bench()))
        sys.exit(0)
    if which not in ("coverage", "findings"):
        sys.exit("usage: bench_reports.py coverage|findings  (one per process: Django is set up once)")
    os.environ["GUARDWATCH_AWS_REGIONS"] = ",".join(REGIONS_17)
    os.environ.setdefault("GUARDWATCH_REPORTS_CACHE_SECONDS", "0")
    load_before = loadavg()
    if which == "coverage":
        title, lines = f"coverage page, {ACCOUNTS:,} accounts × {len(REGIONS_17)} regions", coverage_bench()
    else:
        title, lines = f"findings report and dashboard, {FINDINGS:,} findings", findings_bench()
    lines.append(f"\n`/proc/loadavg` before the run: {load_before}; after: {loadavg()}.")
    print("\n".join(lines), flush=True)
    write(which, title, lines)
