"""The findings store's size and what keeps it fast: per million findings, hot against cold, vacuum's cost.

`sizes` only reads (run it on a seeded benchmark database others use too):
- each findings table's heap, TOAST and indexes, and each index, with its size per million findings;
- the findings by status (open / closed) and by age of last_seen (from the newest one), with counts;
- the hot set: the open findings' partial indexes against every index, and the heap pages that hold an
  open finding (what must stay in memory for the triage list and dashboard to never touch a disk);
- the buffers the hot-set queries touch (EXPLAIN (ANALYZE, BUFFERS): the list's first page, the open
  counts by band, the open count).

`vacuum` writes (only to a database of your own; it refuses the shared benchmark databases): it moves a
share of the findings through a status change, as triage does, and times VACUUM (VERBOSE) of the findings
table after each round, unthrottled (a manual VACUUM's cost_delay is 0) and without parallel workers
(autovacuum never uses them).

    flock /tmp/gw-bench.lock env GUARDWATCH_ENV=test \\
        BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/gw_bench_5m .venv/bin/python bench/bench_storage.py sizes
    env GUARDWATCH_ENV=test BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/gw_storage_plan_vac \\
        .venv/bin/python bench/bench_storage.py history     # then vacuum, purge and sizes, the same way

`history` gives each finding one occurrence and one timeline event (the seed writes neither), so their
tables can be sized per million rows and the purge deletes them with the findings. `purge` deletes (a
database of your own too): the retention purge of the findings last seen more than 60 days before the
newest, timed, then the VACUUM after it.
"""

from __future__ import annotations

import os
import sys
import time

from common import setup_django

TABLES = ("findings_finding", "findings_findingsearch", "findings_findingentity", "findings_findingoccurrence",
          "findings_findingevent")  # fmt: skip
OPEN = ("new", "acknowledged", "in_progress")
# What the triage list and the dashboard ask of the open findings (the hot set).
HOT_QUERIES = (
    ("open list, first page by severity",
     "SELECT id, severity, title FROM findings_finding WHERE status IN ('new', 'acknowledged', 'in_progress') "
     "ORDER BY severity DESC, id DESC LIMIT 50"),
    ("open list, first page by last seen",
     "SELECT id, last_seen, title FROM findings_finding WHERE status IN ('new', 'acknowledged', 'in_progress') "
     "ORDER BY last_seen DESC NULLS LAST, id DESC LIMIT 50"),
    ("open counts by band (dashboard)",
     "SELECT count(*) FILTER (WHERE severity >= 7), count(*) FILTER (WHERE severity < 7) "
     "FROM findings_finding WHERE status IN ('new', 'acknowledged', 'in_progress')"),
    ("one account's open findings by band",
     "SELECT severity_band, count(*) FROM findings_finding WHERE account_id = %s "
     "AND status IN ('new', 'acknowledged', 'in_progress') GROUP BY 1"),
)  # fmt: skip
SHARED = ("gw_bench_5m", "gw_bench_triage")
MB = 1024 * 1024


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _rows(cursor, sql: str, params=()) -> list[tuple]:
    cursor.execute(sql, params)
    return cursor.fetchall()


def _one(cursor, sql: str, params=()):
    return _rows(cursor, sql, params)[0][0]


def sizes() -> None:
    from django.db import connection

    print(f"# {connection.settings_dict['NAME']}, {time.strftime('%H:%M:%S', time.gmtime())} UTC, {_load()}")
    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")  # one core: others benchmark too
        findings = _one(cursor, "SELECT count(*) FROM findings_finding")
        per_million = 1_000_000 / max(findings, 1)
        print(f"findings: {findings:,}")
        print("\n| table | rows | heap | TOAST | indexes | total | total per million findings |\n|---|---|---|---|---|---|---|")
        for table in TABLES:
            rows, heap, toast, indexes, total = _rows(cursor, """
                SELECT c.reltuples::bigint, pg_relation_size(c.oid),
                       coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0),
                       pg_indexes_size(c.oid), pg_total_relation_size(c.oid)
                FROM pg_class c WHERE c.relname = %s""", [table])[0]  # fmt: skip
            print(f"| {table} | {max(rows, 0):,} | {heap / MB:,.0f} MB | {toast / MB:,.0f} MB | {indexes / MB:,.0f} MB "
                  f"| {total / MB:,.0f} MB | {total * per_million / MB:,.0f} MB |")
        print("\n| index | partial | size | per million findings |\n|---|---|---|---|")
        for table, index, partial, size in _rows(cursor, """
                SELECT t.relname, i.relname, x.indpred IS NOT NULL, pg_relation_size(i.oid)
                FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
                WHERE t.relname = ANY(%s) ORDER BY t.relname, pg_relation_size(i.oid) DESC""", [list(TABLES)]):  # fmt: skip
            print(f"| {table}.{index} | {'open only' if partial else ''} | {size / MB:,.0f} MB "
                  f"| {size * per_million / MB:,.0f} MB |")

        started = time.perf_counter()
        newest = _one(cursor, "SELECT max(last_seen) FROM findings_finding")
        print(f"\nby status and age of last_seen, from the newest last_seen ({newest:%Y-%m-%d %H:%M}):")
        print("| status | last seen ≤ 30 d | 30–60 d | 60–90 d | > 90 d | all |\n|---|---|---|---|---|---|")
        buckets = _rows(cursor, """
            SELECT status = ANY(%s) AS open,
                   count(*) FILTER (WHERE last_seen >= %s - interval '30 days'),
                   count(*) FILTER (WHERE last_seen < %s - interval '30 days' AND last_seen >= %s - interval '60 days'),
                   count(*) FILTER (WHERE last_seen < %s - interval '60 days' AND last_seen >= %s - interval '90 days'),
                   count(*) FILTER (WHERE last_seen < %s - interval '90 days' OR last_seen IS NULL),
                   count(*), count(DISTINCT (ctid::text::point)[0])
            FROM findings_finding GROUP BY 1 ORDER BY 1 DESC""", [list(OPEN), *[newest] * 6])  # fmt: skip
        pages = {}
        for is_open, *counts, heap_pages in buckets:
            pages[is_open] = heap_pages
            print(f"| {'open' if is_open else 'closed'} | " + " | ".join(f"{n:,}" for n in counts) + " |")
        heap_pages = _one(cursor, "SELECT pg_relation_size('findings_finding') / current_setting('block_size')::int")
        print(f"heap pages: {heap_pages:,}; holding an open finding: {pages.get(True, 0):,} "
              f"({100 * pages.get(True, 0) / max(heap_pages, 1):.0f} %); holding a closed one: {pages.get(False, 0):,} "
              f"(the pass: {time.perf_counter() - started:.0f} s)")
        raw, row = _rows(cursor, """SELECT avg(pg_column_size(raw)), avg(pg_column_size(f.*))
                                    FROM findings_finding f TABLESAMPLE SYSTEM (1)""")[0]  # fmt: skip
        print(f"average stored row {row:,.0f} bytes, of which raw {raw:,.0f} bytes (1 % sample)")

        print("\nhot-set queries, EXPLAIN (ANALYZE, BUFFERS), run twice, the second shown:")
        _hot_queries(cursor)
    print(f"# done {time.strftime('%H:%M:%S', time.gmtime())} UTC, {_load()}")


def _hot_queries(cursor) -> None:
    """Each hot-set query's time, buffers, scan and heap fetches (its second run: the first warms the cache)."""
    account = _one(cursor, "SELECT account_id FROM findings_finding LIMIT 1")
    for name, sql in HOT_QUERIES:
        for _ in range(2):
            params = [account] if "%s" in sql else []
            plan = [line for (line,) in _rows(cursor, f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) {sql}", params)]
        found = [next((line.strip() for line in plan if key in line), "")
                 for key in ("Execution Time", "Buffers:", "Scan", "Heap Fetches")]  # fmt: skip
        print(f"- {name}: " + "; ".join(part for part in found if part))


def vacuum(shares: tuple[float, ...] = (0.01, 0.05, 0.2)) -> None:
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if name in SHARED:
        sys.exit(f"{name} is a shared benchmark database: vacuum writes; use a database of your own.")
    print(f"# {name}, {time.strftime('%H:%M:%S', time.gmtime())} UTC, {_load()}")
    notices: list[str] = []
    with connection.cursor() as cursor:
        connection.connection.add_notice_handler(
            lambda diag: notices.append(f"{diag.message_primary}\n{diag.message_detail or ''}"))
        findings = _one(cursor, "SELECT count(*) FROM findings_finding")
        cursor.execute("SET vacuum_cost_delay = 0")
        cursor.execute("SET max_parallel_workers_per_gather = 0")  # one core: others benchmark too
        started = time.perf_counter()
        cursor.execute("VACUUM (PARALLEL 0) findings_finding")
        print(f"{findings:,} findings; VACUUM with nothing to clean: {time.perf_counter() - started:.1f} s")
        for share in shares:
            wal = _one(cursor, "SELECT pg_current_wal_lsn()")
            started = time.perf_counter()
            # What a triage move writes: status and its time (every status-carrying index gets a new entry).
            cursor.execute("""
                UPDATE findings_finding SET status = CASE WHEN status = ANY(%s) THEN 'resolved' ELSE 'new' END,
                       status_changed_at = now()
                WHERE id IN (SELECT id FROM findings_finding TABLESAMPLE BERNOULLI (%s))""",
                           [list(OPEN), 100 * share])  # fmt: skip
            updated, update_seconds = cursor.rowcount, time.perf_counter() - started
            wal_update = _one(cursor, "SELECT pg_current_wal_lsn() - %s::pg_lsn", [wal])
            cursor.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'findings_finding'")
            dead = cursor.fetchone()[0]
            size_before = _one(cursor, "SELECT pg_total_relation_size('findings_finding')")
            print("  the hot-set queries before VACUUM:")
            _hot_queries(cursor)
            cursor.execute("CHECKPOINT")  # the update's dirty pages written before the clock starts
            notices.clear()
            wal = _one(cursor, "SELECT pg_current_wal_lsn()")
            started = time.perf_counter()
            cursor.execute("VACUUM (VERBOSE, PARALLEL 0) findings_finding")  # autovacuum never runs in parallel
            seconds = time.perf_counter() - started
            wal_vacuum = _one(cursor, "SELECT pg_current_wal_lsn() - %s::pg_lsn", [wal])
            size_after = _one(cursor, "SELECT pg_total_relation_size('findings_finding')")
            print(f"- moved {updated:,} findings ({100 * share:g} %) in {update_seconds:.1f} s, {dead:,} dead rows; "
                  f"WAL {wal_update / updated:,.0f} bytes a move; VACUUM {seconds:.1f} s, WAL {wal_vacuum / MB:,.0f} MB; table + indexes {size_before / MB:,.0f} → {size_after / MB:,.0f} MB; {_load()}")
            for notice in notices:  # the findings table's own report, then its TOAST table's
                if "finished vacuuming" in notice:
                    print("    " + notice.strip().replace("\n", "\n    "))
            print("  the hot-set queries after VACUUM:")
            _hot_queries(cursor)
    print(f"# done {time.strftime('%H:%M:%S', time.gmtime())} UTC, {_load()}")


def history() -> None:
    """Give every finding one more occurrence and one status event, to size those tables per million rows."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if name in SHARED:
        sys.exit(f"{name} is a shared benchmark database: history writes; use a database of your own.")
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute("""
            INSERT INTO findings_findingoccurrence (finding_id, count, updated_at, last_seen, recorded_at, source)
            SELECT id, count, updated_at, last_seen, last_synced_at, 'pull' FROM findings_finding""")
        cursor.execute("""
            INSERT INTO findings_findingevent (finding_id, kind, actor_name, created_at, from_status, to_status,
                                               body, details)
            SELECT id, 'status', 'analyst', created_at + interval '1 hour', 'new', 'acknowledged', '', '{}'
            FROM findings_finding""")
        cursor.execute("ANALYZE findings_findingoccurrence")
        cursor.execute("ANALYZE findings_findingevent")
        print(f"one occurrence and one event per finding written in {time.perf_counter() - started:.0f} s; {_load()}")


def purge(days: int = 60) -> None:
    """The retention purge (findings_retention_purge) of findings last seen more than `days` before the newest."""
    from datetime import timedelta

    from django.conf import settings
    from django.db import connection

    from findings.services import findings_retention_purge

    name = connection.settings_dict["NAME"]
    if name in SHARED:
        sys.exit(f"{name} is a shared benchmark database: purge deletes; use a database of your own.")
    print(f"# {name}, {time.strftime('%H:%M:%S', time.gmtime())} UTC, {_load()}")
    with connection.cursor() as cursor:
        newest = _one(cursor, "SELECT max(last_seen) FROM findings_finding")
        before = _one(cursor, "SELECT pg_total_relation_size('findings_finding')")
    settings.GUARDWATCH_FINDINGS_RETENTION_DAYS = days
    started = time.perf_counter()
    deleted = findings_retention_purge(now=newest)
    seconds = time.perf_counter() - started
    print(f"purged {deleted:,} findings last seen before {newest - timedelta(days=days):%Y-%m-%d} in {seconds:.1f} s "
          f"({deleted / seconds:,.0f} /s); {_load()}")
    with connection.cursor() as cursor:
        cursor.execute("SET vacuum_cost_delay = 0")
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        started = time.perf_counter()
        cursor.execute("VACUUM (PARALLEL 0) findings_finding")
        print(f"VACUUM after the purge: {time.perf_counter() - started:.1f} s; table + indexes {before / MB:,.0f} MB "
              f"→ {_one(cursor, "SELECT pg_total_relation_size('findings_finding')") / MB:,.0f} MB "
              "(freed space is reused by new rows, not returned to the disk)")
        _hot_queries(cursor)
    print(f"# done {time.strftime('%H:%M:%S', time.gmtime())} UTC, {_load()}")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "sizes"
    setup_django("gw_bench_5m")
    if mode == "purge" and len(sys.argv) > 2:  # purge DAYS
        purge(int(sys.argv[2]))
    else:
        {"sizes": sizes, "history": history, "vacuum": vacuum, "purge": purge}[mode]()
