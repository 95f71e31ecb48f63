"""Parse + upsert throughput into the local Postgres, excluding API latency.

    GUARDWATCH_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/gw_bench_ingest \
        .venv/bin/python bench/bench_ingest.py [--findings 100000] [--naive 10000]

Findings are built with the simulator's catalogue (boto3 spelling, as GetFindings returns them) in
chunks; only parsing and storing is timed. The pipeline is the pull sync's: pages of 50 parsed ahead in
a background thread, stored every `SYNC_COMMIT_FINDINGS` (10 pages) by one `findings_upsert` in one
transaction (COPY into a staging table + one INSERT … ON CONFLICT, asynchronous commit for pulls). Compared in the same run with (a) a naive per-row ORM
`save()` (look up by ARN, save, append an occurrence) and (b) Django's
`bulk_create(update_conflicts=True)` (which cannot express "only if newer" nor record occurrences).

Then (`--writers`, default 2) the same number of new findings stored by concurrent writers, one
process and one region each, as GuardWatch's Celery workers sync regions side by side; with a
one-writer run of the same method beside it (findings built before the clock starts, one
parse-ahead stream over all of a writer's pages, as in one sync).

`--into-existing` (issue 21): the same pipeline into a database that already holds millions of findings
(`BENCH_DATABASE_URL`, e.g. the 5,000,000-finding gw_bench_5m), never recreated: `--findings` new
findings (200,000 by default in this mode), then each of them one version newer (updated), then as many
new ones again by `--writers` concurrent writers (one region each; 0: none), then all of them deleted again
with their dependent rows, in one transaction, by the ids they were given:

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/gw_bench_5m GUARDWATCH_ENV=test \
        flock /tmp/gw-bench.lock .venv/bin/python bench/bench_ingest.py --into-existing

`--writers-only` (with `--into-existing`): only the concurrent writers' pass, for A/B runs of the upsert; it also
prints the machine's busy CPU time per finding stored (all processes, from /proc/stat, between the start signal
and the last writer's end: the writers, their PostgreSQL backends, WAL writer, autovacuum) and the WAL written
per finding (bytes and full-page images, `pg_stat_wal`), and, to show whether a long run's rate holds (`--findings
1000000`: ~3 minutes of storing), the rate and CPU per finding of every 10 seconds of it.

`BENCH_ENTITY_ROLLUP=off` runs `--into-existing` with the hot-entity count triggers (findings 0024) disabled, for
an A/B of what they cost the upsert; any other run enables them again.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, setup_django  # noqa: E402

PAGE = 50
CHUNK = 2000


def generate(rng: random.Random, count: int, start: datetime, *, regions: list[str] | None = None):
    """Yield lists of up to CHUNK findings across accounts and regions, updatedAt ascending."""
    from gdsim.catalogue import build_finding, random_finding_type

    accounts = [f"{100000000000 + i * 7919:012d}" for i in range(40)]
    regions = regions or ["us-east-1", "us-west-2", "eu-west-1"]
    detector = "d" * 32
    made = 0
    while made < count:
        chunk = []
        for _ in range(min(CHUNK, count - made)):
            moment = start + timedelta(seconds=made)
            chunk.append(
                build_finding(rng, finding_type=random_finding_type(rng), account_id=rng.choice(accounts),
                              region=rng.choice(regions), detector_id=detector, now=moment)
            )  # fmt: skip
            made += 1
        yield chunk


def truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE findings_findingoccurrence, findings_finding RESTART IDENTITY CASCADE")


def bulk_pipeline(
    count: int, seed: int, *, newer: bool = False, arns: list[str] | None = None, every: int = 0
) -> tuple[float, int]:
    """The product path (`services._sync_from`): pages of 50 parsed ahead in a background thread
    (`parsed_batches`) while the previous 500 are upserted and committed. `newer`: each finding one
    occurrence later (count up, updatedAt a day on), as a sync sees findings GuardDuty saw again.
    `arns`: collects every finding's ARN; `every`: print the rate of each `every` findings stored."""
    from django.db import transaction

    from findings.gateway import FindingPage
    from findings.sync import SYNC_COMMIT_FINDINGS, parsed_batches
    from findings.upsert import findings_upsert
    from gdsim.catalogue import repeat_occurrence

    elapsed, stored = 0.0, 0
    progress = [0, 0, 0.0]  # intervals printed, stored and seconds at the last print
    again = random.Random(seed + 1000)
    for chunk in generate(random.Random(seed), count, datetime(2026, 9, 1, tzinfo=UTC)):
        if newer:
            chunk = [
                repeat_occurrence(raw, now=datetime.fromisoformat(raw["UpdatedAt"]) + timedelta(days=1), rng=again)
                for raw in chunk
            ]
        if arns is not None:
            arns.extend(raw["Arn"] for raw in chunk)
        pages = [
            FindingPage(number=n, finding_ids=(), findings=tuple(chunk[start : start + PAGE]), api_calls=0)
            for n, start in enumerate(range(0, len(chunk), PAGE))
        ]
        started = time.perf_counter()
        for batch in parsed_batches(iter(pages), size=SYNC_COMMIT_FINDINGS):
            with transaction.atomic():
                result = findings_upsert(findings=batch.parsed, source="pull")
                stored += result.updated if newer else result.new
        elapsed += time.perf_counter() - started
        if every and (stored // every) > progress[0]:
            progress[0] = stored // every
            print(f"    {stored:>9,} stored, {stored / elapsed:7,.0f} /s so far;"
                  f" these {stored - progress[1]:,}: {(stored - progress[1]) / (elapsed - progress[2]):7,.0f} /s",
                  flush=True)  # fmt: skip
            progress[1:] = [stored, elapsed]
    return elapsed, stored


def _store_pages(raws: list[dict]) -> int:
    """The product path over pre-built findings, as one sync streams them: one `parsed_batches` for all."""
    from django.db import transaction

    from findings.gateway import FindingPage
    from findings.sync import SYNC_COMMIT_FINDINGS, parsed_batches
    from findings.upsert import findings_upsert

    pages = (
        FindingPage(number=n, finding_ids=(), findings=tuple(raws[start : start + PAGE]), api_calls=0)
        for n, start in enumerate(range(0, len(raws), PAGE))
    )
    stored = 0
    for batch in parsed_batches(pages, size=SYNC_COMMIT_FINDINGS):
        with transaction.atomic():
            stored += findings_upsert(findings=batch.parsed, source="pull").new
    return stored


def _writer(region: str, count: int, seed: int, ready, go, results) -> None:
    """One concurrent writer (its own process, as each region's Celery task is): build `count` findings
    of `region` untimed, wait for the start signal, store them, report (start, end, stored)."""
    setup_django("gw_bench_ingest")
    rng = random.Random(seed)
    raws = [
        build
        for chunk in generate(rng, count, datetime(2026, 9, 1, tzinfo=UTC), regions=[region])
        for build in chunk
    ]
    ready.set()
    go.wait()
    started = time.monotonic()
    stored = _store_pages(raws)
    results.put((started, time.monotonic(), stored, [raw["Arn"] for raw in raws]))


def _busy_seconds() -> float:
    """CPU time every process on the machine has used so far (Linux /proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def concurrent_pipeline(
    count: int, writers: int, arns: list[str] | None = None, busy: list[float] | None = None
) -> tuple[float, int]:
    """`writers` processes, each storing count / writers new findings of its own region at the same
    time (GuardWatch syncs each region in its own Celery task). Wall time from the common start to
    the last writer's end; findings built before the start. `arns`: collects every finding's ARN;
    `busy`: gets the machine's busy CPU seconds between the start signal and the last writer's end."""
    import multiprocessing

    from django.db import connection

    connection.close()  # each writer opens its own
    spawn = multiprocessing.get_context("spawn")
    go, results = spawn.Event(), spawn.Queue()
    regions = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
    procs, readies = [], []
    for index in range(writers):
        ready = spawn.Event()
        proc = spawn.Process(target=_writer, args=(regions[index % len(regions)], count // writers, 100 + index,
                                                   ready, go, results))  # fmt: skip
        proc.start()
        procs.append(proc)
        readies.append(ready)
    for ready in readies:
        if not ready.wait(timeout=1800):
            raise RuntimeError("a writer never got ready")
    busy_before = _busy_seconds()
    go.set()
    outcomes = [results.get() for _ in procs]
    if busy is not None:
        busy.append(_busy_seconds() - busy_before)
    for proc in procs:
        proc.join()
        if proc.exitcode:
            raise RuntimeError(f"a writer failed (exit code {proc.exitcode})")
    if arns is not None:
        arns.extend(arn for *_times, written in outcomes for arn in written)
    started = min(start for start, _end, _n, _arns in outcomes)
    return max(end for _start, end, _n, _arns in outcomes) - started, sum(n for _s, _e, n, _arns in outcomes)


def naive_pipeline(count: int, seed: int) -> tuple[float, int]:
    """What a straightforward implementation does: one ORM round trip per finding and occurrence."""
    from django.db import transaction
    from django.utils import timezone

    from findings.models import Finding, FindingOccurrence
    from findings.parsing import parse_finding
    from findings.upsert import GUARDDUTY_COLUMNS, clean_json, clean_text

    elapsed, stored = 0.0, 0
    for chunk in generate(random.Random(seed), count, datetime(2026, 9, 1, tzinfo=UTC)):
        started = time.perf_counter()
        for raw in chunk:
            parsed = parse_finding(raw)
            with transaction.atomic():
                finding = Finding.objects.filter(arn=parsed.arn).first()
                if finding is not None and finding.updated_at >= parsed.updated_at:
                    continue
                now = timezone.now()
                finding = finding or Finding(first_synced_at=now)
                for name in GUARDDUTY_COLUMNS:
                    value = getattr(parsed, name)
                    if name == "raw":
                        import json

                        value = json.loads(clean_json(value))
                    elif isinstance(value, str) or value is None and name not in {"first_seen", "last_seen"}:
                        value = clean_text(value)
                    setattr(finding, name, value)
                finding.last_synced_at, finding.source = now, "pull"
                finding.save()
                FindingOccurrence.objects.create(finding=finding, count=finding.count, updated_at=finding.updated_at,
                                                 last_seen=finding.last_seen, recorded_at=now, source="pull")  # fmt: skip
                stored += 1
        elapsed += time.perf_counter() - started
    return elapsed, stored


def bulk_create_pipeline(count: int, seed: int) -> tuple[float, int]:
    """Django's bulk_create(update_conflicts=True) per page: no "newer only", no occurrences."""
    import json

    from django.db import transaction
    from django.utils import timezone

    from findings.models import Finding
    from findings.parsing import parse_finding
    from findings.upsert import GUARDDUTY_COLUMNS, clean_json, clean_text

    update_fields = [c for c in GUARDDUTY_COLUMNS if c != "arn"] + ["last_synced_at", "source"]
    elapsed, stored = 0.0, 0
    for chunk in generate(random.Random(seed), count, datetime(2026, 9, 1, tzinfo=UTC)):
        started = time.perf_counter()
        for start in range(0, len(chunk), PAGE):
            now = timezone.now()
            rows = []
            for raw in chunk[start : start + PAGE]:
                parsed = parse_finding(raw)
                values = {}
                for name in GUARDDUTY_COLUMNS:
                    value = getattr(parsed, name)
                    if name == "raw":
                        value = json.loads(clean_json(value))
                    elif isinstance(value, str) or value is None and name not in {"first_seen", "last_seen"}:
                        value = clean_text(value)
                    values[name] = value
                rows.append(Finding(**values, first_synced_at=now, last_synced_at=now, source="pull"))
            with transaction.atomic():
                Finding.objects.bulk_create(rows, update_conflicts=True, unique_fields=["arn"],
                                            update_fields=update_fields)  # fmt: skip
            stored += len(rows)
        elapsed += time.perf_counter() - started
    return elapsed, stored


def _referencing_columns() -> list[tuple[str, str]]:
    """(table, column) of every foreign key to findings_finding (Django cascades in Python, not in SQL)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
            " WHERE c.confrelid = 'findings_finding'::regclass AND c.contype = 'f' ORDER BY 1"
        )
        return cursor.fetchall()


def delete_added(arns: list[str], after_id: int) -> tuple[int, dict[str, int], float]:
    """Delete the findings this run added (ARN among `arns` and id above `after_id`, the largest id before
    it) and every row that refers to them (occurrences, search rows, entities, events, …), in one
    transaction. Returns (findings deleted, rows deleted per referencing table, seconds)."""
    from django.db import connection, transaction

    started = time.perf_counter()
    removed: dict[str, int] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(array_agg(id), '{}') FROM findings_finding WHERE arn = ANY(%s) AND id > %s",
            [arns, after_id],
        )
        (ids,) = cursor.fetchone()
        for table, column in _referencing_columns():
            cursor.execute(f"DELETE FROM {table} WHERE {column} = ANY(%s::bigint[])", [ids])  # noqa: S608 (catalog names)
            removed[table] = cursor.rowcount
        cursor.execute("DELETE FROM findings_finding WHERE id = ANY(%s::bigint[])", [ids])
        deleted = cursor.rowcount
    return deleted, removed, time.perf_counter() - started


def rollup_triggers(enabled: bool) -> None:
    """`BENCH_ENTITY_ROLLUP=off`: run with findings 0024's hot-entity count triggers disabled (an A/B of their cost
    on the upsert); they are enabled again on every other run. Says how many entities are hot. Disabled, the kept
    counts miss what the run writes, so every hot entity is marked not counted (its page counts until recounted)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if not enabled:
            cursor.execute("UPDATE findings_hotentity SET based_at = NULL")
        for event in ("insert", "delete", "update"):
            cursor.execute(f"ALTER TABLE findings_findingentity {'ENABLE' if enabled else 'DISABLE'} TRIGGER"
                           f" findings_entity_rollup_{event}")  # fmt: skip
        cursor.execute("SELECT count(*) FROM findings_hotentity")
        (hot,) = cursor.fetchone()
    print(f"hot-entity count triggers {'on' if enabled else 'OFF'}; {hot} hot entities", flush=True)


def _wal_position() -> tuple[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text, wal_fpi FROM pg_stat_wal")
        return cursor.fetchone()


class _RateSampler:
    """Samples, every `interval` seconds from its own thread and connection, how many findings ids the table has
    handed out (its id sequence: one per inserted finding) and the machine's busy CPU time, so a long run shows
    whether its rate holds: `report()` prints the rate and CPU per finding of each full interval in which
    findings were stored."""

    def __init__(self, interval: float) -> None:
        import threading

        self.interval, self.samples = interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _RateSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        from django.db import connection

        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_get_serial_sequence('findings_finding', 'id')")
                (sequence,) = cursor.fetchone()
                while True:
                    cursor.execute(f"SELECT last_value FROM {sequence}")  # noqa: S608 (from the catalogue)
                    self.samples.append((time.monotonic(), cursor.fetchone()[0], _busy_seconds()))
                    if self._stop.wait(self.interval):
                        return
        finally:
            connection.close()

    def report(self) -> None:
        steps = [
            ((b[1] - a[1]) / (b[0] - a[0]), (b[2] - a[2]) * 1e6 / (b[1] - a[1]))
            for a, b in zip(self.samples, self.samples[1:], strict=False)
            if b[1] > a[1]
        ]
        full = steps[1:-1]  # the first and last interval hold the start and the end of the run
        if not full:
            return
        rates = sorted(rate for rate, _cpu in full)
        print(f"  every {self.interval:.0f} s ({len(full)} full intervals): {rates[0]:,.0f} /s lowest,"
              f" {rates[len(rates) // 2]:,.0f} median, {rates[-1]:,.0f} highest;"
              f" first {', '.join(f'{rate:,.0f}' for rate, _cpu in full[:3])} … last"
              f" {', '.join(f'{rate:,.0f}' for rate, _cpu in full[-3:])} /s;"
              f" CPU per finding {min(cpu for _r, cpu in full):,.0f}–{max(cpu for _r, cpu in full):,.0f} µs",
              flush=True)  # fmt: skip


def writers_only(count: int, writers: int, arns: list[str]) -> None:
    """`--writers-only`: the concurrent pass alone, with CPU and WAL per finding, and its rate every 10 s."""
    from django.db import connection

    (lsn, fpi), busy = _wal_position(), []
    with _RateSampler(10.0) as sampler:
        seconds, stored = concurrent_pipeline(count, writers, arns=arns, busy=busy)
    lsn_after, fpi_after = _wal_position()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(%s, %s)", [lsn_after, lsn])
        (wal_bytes,) = cursor.fetchone()
    print(f"  {writers} concurrent writers (one region each): {stored:,} new in {seconds:.1f} s,"
          f" {stored / seconds:,.0f} findings/s; machine CPU {busy[0] * 1e6 / stored:,.0f} µs per finding"
          f" ({busy[0] / seconds:.2f} of {os.cpu_count()} cores busy); WAL {float(wal_bytes) / stored / 1024:.1f} kB"
          f" and {(fpi_after - fpi) / stored:.2f} full-page images per finding", flush=True)  # fmt: skip
    sampler.report()


def into_existing(count: int, writers: int = 0, *, only_writers: bool = False) -> None:
    """`--into-existing`: new findings, then each one version newer, into the database as it is; with
    `writers`, as many new findings again stored by that many concurrent writers (one region each, as each
    region's sync is its own Celery task); then what was added is deleted (and the tables vacuumed), so
    the database holds what it held before."""
    from django.db import connection

    if not os.environ.get("BENCH_DATABASE_URL"):
        sys.exit("--into-existing writes into BENCH_DATABASE_URL's database: set it (it is not recreated)")
    setup_django("gw_bench_ingest")
    rollup_triggers(os.environ.get("BENCH_ENTITY_ROLLUP", "on") != "off")
    load_before = f"{os.getloadavg()[0]:.2f}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), coalesce(max(id), 0) FROM findings_finding")
        existing, after_id = cursor.fetchone()
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('findings_finding'))")
        (table_size,) = cursor.fetchone()
    print(f"{connection.settings_dict['NAME']}: {existing:,} findings (table and indexes {table_size});"
          f" storing {count:,} new ones", flush=True)  # fmt: skip
    arns: list[str] = []
    if only_writers:
        try:
            writers_only(count, writers, arns)
        finally:
            _delete_and_vacuum(arns, after_id, existing)
        return
    try:
        new_s, new_n = bulk_pipeline(count, seed=11, arns=arns, every=50_000)
        print(f"  new: {new_n:,} in {new_s:.1f} s, {new_n / new_s:,.0f} findings/s", flush=True)
        again_s, _ = bulk_pipeline(count, seed=11)
        print(f"  same again (unchanged): {again_s:.1f} s, {count / again_s:,.0f} findings/s", flush=True)
        newer_s, newer_n = bulk_pipeline(count, seed=11, newer=True, every=50_000)
        print(f"  one version newer: {newer_n:,} in {newer_s:.1f} s, {newer_n / newer_s:,.0f} findings/s", flush=True)
        if writers:
            many_s, many_n = concurrent_pipeline(count, writers, arns=arns)
            print(f"  {writers} concurrent writers (one region each): {many_n:,} new in {many_s:.1f} s,"
                  f" {many_n / many_s:,.0f} findings/s", flush=True)  # fmt: skip
    finally:
        _delete_and_vacuum(arns, after_id, existing)
    print(f"Parse + upsert into {existing:,} findings, pages of {PAGE} parsed ahead, stored and committed every 500")
    print(f"  load average before / after: {load_before} / {os.getloadavg()[0]:.2f} (2 cores, shared)")
    print(f"  new findings:                  {new_s:8.1f} s  {new_n / new_s:10,.0f} findings/s  ({new_n:,})")
    print(f"  same again (unchanged):        {again_s:8.1f} s  {count / again_s:10,.0f} findings/s")
    print(f"  each one version newer:        {newer_s:8.1f} s  {newer_n / newer_s:10,.0f} findings/s  ({newer_n:,} updated)")


def _delete_and_vacuum(arns: list[str], after_id: int, existing: int) -> None:
    from django.db import connection

    deleted, removed, delete_s = delete_added(arns, after_id)
    print(f"  deleted {deleted:,} added findings in {delete_s:.1f} s (one transaction), with "
          + ", ".join(f"{n:,} from {table}" for table, n in removed.items() if n), flush=True)  # fmt: skip
    with connection.cursor() as cursor:
        for table in ("findings_finding", *(t for t, n in removed.items() if n)):
            cursor.execute(f"VACUUM {table}")
        cursor.execute("SELECT count(*) FROM findings_finding")
        (after,) = cursor.fetchone()
    print(f"  findings now {after:,} (before: {existing:,}); tables vacuumed", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=None, help="100,000 (200,000 with --into-existing)")
    parser.add_argument("--into-existing", action="store_true",
                        help="store into BENCH_DATABASE_URL's database as it is, then delete what was added")  # fmt: skip
    parser.add_argument("--naive", type=int, default=10_000, help="findings for the per-row baseline")
    parser.add_argument("--writers", type=int, default=2,
                        help="concurrent writers (processes, one region each) for the extra pass; 0: none")  # fmt: skip
    parser.add_argument("--writers-only", action="store_true",
                        help="with --into-existing: only the concurrent writers' pass, with CPU and WAL per finding")  # fmt: skip
    args = parser.parse_args()
    if args.writers_only and not (args.into_existing and args.writers):
        parser.error("--writers-only needs --into-existing and --writers of 1 or more")
    if args.into_existing:
        into_existing(args.findings or 200_000, args.writers, only_writers=args.writers_only)
        return
    args.findings = args.findings or 100_000

    setup_django("gw_bench_ingest")
    load_before = f"{os.getloadavg()[0]:.2f}"
    with fresh_database():
        from django.db import connection

        bulk_s, bulk_n = bulk_pipeline(args.findings, seed=1)
        bulk_rate = bulk_n / bulk_s
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('findings_finding'))")
            table_size = cursor.fetchone()[0]
        again_s, _ = bulk_pipeline(args.findings, seed=1)  # same versions again: all unchanged
        newer_s, newer_n = bulk_pipeline(args.findings, seed=1, newer=True)  # one version on: all updated
        truncate()
        naive_s, naive_n = naive_pipeline(args.naive, seed=2)
        naive_rate = naive_n / naive_s
        truncate()
        bc_s, bc_n = bulk_create_pipeline(args.naive, seed=3)
        bc_rate = bc_n / bc_s
        if args.writers:
            truncate()
            one_s, one_n = concurrent_pipeline(args.findings, 1)
            truncate()
            many_s, many_n = concurrent_pipeline(args.findings, args.writers)

    print(
        f"Parse + upsert, {bulk_n:,} findings (pages of {PAGE} parsed ahead, stored and committed every 500)"
    )
    print(f"  load average before / after: {load_before} / {os.getloadavg()[0]:.2f} (2 cores, shared)")
    print(
        f"  GuardWatch bulk upsert:         {bulk_s:8.1f} s  {bulk_rate:10,.0f} findings/s  (table {table_size})"
    )
    print(f"  same findings again (unchanged): {again_s:7.1f} s  {args.findings / again_s:10,.0f} findings/s")
    print(f"  each one version newer (updated): {newer_s:6.1f} s  {newer_n / newer_s:10,.0f} findings/s  ({newer_n:,} updated)")
    print(
        f"  naive per-row ORM save():       {naive_s:8.1f} s  {naive_rate:10,.0f} findings/s  ({naive_n:,} findings)"
    )
    print(f"  bulk_create(update_conflicts):  {bc_s:8.1f} s  {bc_rate:10,.0f} findings/s  ({bc_n:,} findings, no"
          " newer-only guard, no occurrences)")  # fmt: skip
    print(f"  speed-up over naive: {bulk_rate / naive_rate:.1f}x")
    if args.writers:
        print("Findings built before the start, each writer one parse-ahead stream over all its pages (as one sync):")
        print(f"  1 writer, {one_n:,} findings:    {one_s:8.1f} s  {one_n / one_s:10,.0f} findings/s")
        print(f"  {args.writers} concurrent writers (processes, one region each), {many_n:,} findings in all:"
              f" {many_s:.1f} s  {many_n / many_s:,.0f} findings/s together")  # fmt: skip


if __name__ == "__main__":
    main()
