"""What a Prometheus scrape of /metrics costs at a large store (issue 23.1).

A store of FINDINGS findings (bench/seed_findings.py), 5,000 member accounts × 17 regions of memberships,
20,000 owed write-backs and 55,000 undelivered or dead notification deliveries. Cases: the scrape with the
dashboard's snapshot in Redis (production's default), and with snapshots off (every scrape counts the open
findings itself: what GUARDWATCH_REPORTS_CACHE_SECONDS=0 gives, and the cost of the one scrape that finds no
snapshot); then each section of the state alone. The state is read afresh on every scrape
(GUARDWATCH_METRICS_CACHE_SECONDS=0), so these are the uncached figures.

    flock /tmp/gw-bench.lock env GUARDWATCH_ENV=test REDIS_URL=redis://127.0.0.1:6379/2 .venv/bin/python bench/bench_metrics.py [findings]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import timedelta

from common import TABLE_HEADER, fresh_database, measure_get, setup_django

DB_NAME = "gw_bench_metrics"
TOKEN = "bench-metrics-token-0123456789abcdefghijkl"
REGIONS_17 = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2", "sa-east-1",
]  # fmt: skip


def seed_rest() -> None:
    """Memberships, write-backs and deliveries, in bulk."""
    from django.utils import timezone

    from accounts.models import MemberAccount, Membership
    from accounts.services import account_regions_refresh
    from findings.models import Finding
    from notifications.models import Delivery, Destination
    from triage.models import WriteBack

    statuses = ["Enabled"] * 8 + ["Invited", "Resigned"]
    accounts = MemberAccount.objects.bulk_create(
        MemberAccount(account_id=f"{300000000000 + i:012d}", email=f"m{i}@example.com") for i in range(5000)
    )
    Membership.objects.bulk_create(
        (Membership(account=account, region=region, relationship_status=statuses[(i + j) % len(statuses)])
         for i, account in enumerate(accounts) for j, region in enumerate(REGIONS_17)),
        batch_size=5000,
    )  # fmt: skip
    account_regions_refresh([account.pk for account in accounts])  # what every writer keeps
    now = timezone.now()
    ids = list(Finding.objects.order_by("id").values_list("id", flat=True)[:20000])
    WriteBack.objects.bulk_create(
        (WriteBack(finding_id=pk, operation="archive", region="us-east-1", status="pending" if i % 4 else "failed",
                   created_at=now, next_attempt_at=now - timedelta(seconds=i)) for i, pk in enumerate(ids)),
        batch_size=5000,
    )  # fmt: skip
    destination = Destination.objects.create(name="SOC webhook", kind="webhook")
    Delivery.objects.bulk_create(
        (Delivery(destination=destination, kind="new_finding", status="dead" if i % 11 else "failed",
                  payload={}) for i in range(55000)),
        batch_size=5000,
    )  # fmt: skip
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def section_times(runs: int = 10) -> list[tuple[str, float, float]]:
    from django.utils import timezone

    from guardwatch.monitoring.state import SECTIONS

    rows = []
    for name, section in SECTIONS.items():
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            section(timezone.now())
            samples.append((time.perf_counter() - started) * 1000)
        rows.append((name, statistics.median(samples), max(samples)))
    return rows


def main(findings: int) -> None:
    setup_django(DB_NAME)
    from django.conf import settings
    from django.test import Client
    from seed_findings import seed

    settings.GUARDWATCH_METRICS = True
    settings.GUARDWATCH_METRICS_TOKEN = TOKEN
    settings.GUARDWATCH_METRICS_CACHE_SECONDS = 0
    with fresh_database():
        seeded = seed(findings)
        started = time.perf_counter()
        seed_rest()
        print(f"seeded {findings:,} findings in {seeded:.0f} s, the rest in {time.perf_counter() - started:.0f} s")
        print(f"load before: {os.getloadavg()}")
        headers = {"Authorization": f"Bearer {TOKEN}"}
        settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 3600  # the dashboard's snapshot is kept and served
        # The first warm-up scrape computes and keeps the snapshot when there is none (as a dashboard visit does).
        rows = [measure_get(Client(), "/metrics, dashboard snapshot in Redis", "/metrics", headers=headers)]
        sections_snapshot = section_times()
        settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 0
        rows.append(measure_get(Client(), "/metrics, snapshots off (open findings counted per scrape)", "/metrics",
                                headers=headers))  # fmt: skip
        sections_off = section_times()
        print(f"load after: {os.getloadavg()}")
        print(TABLE_HEADER)
        for row in rows:
            print(row.row())
        print("\n| section | p50 ms (snapshot) | max ms (snapshot) | p50 ms (snapshots off) | max ms (snapshots off) |")
        print("|---|---|---|---|---|")
        for (name, p50, worst), (_name, p50_off, worst_off) in zip(sections_snapshot, sections_off, strict=True):
            print(f"| {name} | {p50:,.1f} | {worst:,.1f} | {p50_off:,.1f} | {worst_off:,.1f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
