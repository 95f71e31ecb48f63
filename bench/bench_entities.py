"""Entity pages and related findings at a million findings (issue 18, points 2 and 3).

Method (ANCHORS.md, via common.py): logged-in analyst on Django's test Client, 2 warm-ups, 20 timed
requests per case, p50/p95 server time, SQL queries of one more request, page weight. Runs against the
database `bench/seed_findings.py` filled (its `FindingEntity` rows included), seeding it first if it
holds too few findings. Targets: an entity page p95 <= 150 ms, a finding page with its related panel
p95 <= 100 ms (issue 21: both <= 50 ms at 5,000,000 findings). Entities named by `HOT_ENTITY_FINDINGS` or more are
given their kept counts first (`findings.entity_rollup`, what the worker does after their first view).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/gw_bench_entities \
        flock /tmp/gw-bench.lock .venv/bin/python bench/bench_entities.py
"""

from __future__ import annotations

import os
import sys
import time

from common import TABLE_HEADER, measure_get, setup_django

DB_NAME = "gw_bench_entities"
TARGET = int(os.environ.get("BENCH_FINDINGS", "1000000"))


def _entity_at(kind: str, rank: str) -> tuple[str, str, int]:
    """An entity of `kind` with the most findings ("hot") or a median number of them ("typical")."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT value, count(*) AS n FROM findings_findingentity WHERE kind = %s GROUP BY value ORDER BY n DESC",
            [kind],
        )
        rows = cursor.fetchall()
    value, n = rows[0] if rank == "hot" else rows[len(rows) // 2]
    return kind, value, n


def main() -> None:
    setup_django(DB_NAME)
    import seed_findings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from findings.models import Finding, FindingEntity
    from triage.entities import entity_url

    load_start = os.getloadavg()
    seed_findings.ensure_seeded(TARGET)
    total = Finding.objects.count()
    entity_rows = FindingEntity.objects.count()
    client = Client()
    client.force_login(get_user_model().objects.get(username="analyst"))
    picks = [_entity_at(kind, rank) for kind, rank in (
        ("ip", "typical"), ("ip", "hot"), ("access_key", "typical"), ("principal", "typical"), ("user", "hot"),
        ("instance", "typical"), ("bucket", "typical"), ("eks_cluster", "hot"), ("container", "typical"),
        ("domain", "hot"))]  # fmt: skip
    # Entities named by HOT_ENTITY_FINDINGS or more get kept counts: their first view counts the rows and queues
    # the promotion, which a worker runs; here it runs in this process, timed, before the pages are measured.
    from findings.entity_rollup import HOT_ENTITY_FINDINGS, entity_rollup_promote

    for kind, value, n in picks:
        if n >= HOT_ENTITY_FINDINGS:
            started = time.perf_counter()
            entity_rollup_promote(kind=kind, value=value)
            print(f"kept counts of {kind} with {n:,} findings: counted once in {time.perf_counter() - started:.2f} s",
                  flush=True)  # fmt: skip
    results = []
    for kind, value, n in picks:
        results.append(measure_get(client, f"entity page: {kind} with {n:,} findings", entity_url(kind, value)))
        print(results[-1].row(), flush=True)
    # Finding pages with their related panel: a finding about the hottest IP, access key and user, and one
    # about a typical instance. The panel is rendered with the page (no lazy fragment).
    for kind, value, n in picks[:3] + picks[4:6]:
        pk = FindingEntity.objects.filter(kind=kind, value=value).order_by("-finding_id").values_list("finding_id", flat=True)[0]
        results.append(measure_get(client, f"finding page + related ({kind} shared by {n:,})", f"/findings/{pk}/"))
        print(results[-1].row(), flush=True)
    # The search box naming an entity: the redirect to its page.
    kind, value, _n = picks[2]
    started = time.perf_counter()
    response = client.get("/findings/", {"q": value})
    print(f"search '{value}' -> {response.status_code} {response.get('Location', '')} in {(time.perf_counter() - started) * 1000:.1f} ms")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('findings_findingentity'))")
        size = cursor.fetchone()[0]
    print(f"\n{total:,} findings, {entity_rows:,} entity rows (table + indexes {size}); load average "
          f"before {load_start[0]:.2f} / after {os.getloadavg()[0]:.2f} (2 cores, shared)")
    print(TABLE_HEADER)
    for result in results:
        print(result.row())
    worst_entity = max(r.p95_ms for r in results if r.name.startswith("entity page"))
    worst_detail = max(r.p95_ms for r in results if r.name.startswith("finding page"))
    print(f"worst p95: entity page {worst_entity:.1f} ms (target 150), finding page + related {worst_detail:.1f} ms (target 100)")
    sys.exit(0)


if __name__ == "__main__":
    main()
