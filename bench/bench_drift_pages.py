"""The drift pages and the coverage heatmap at 50,000 accounts × 17 regions (issue 19, "Scale").

    flock /tmp/gw-bench.lock env GUARDWATCH_ENV=test \\
        .venv/bin/python bench/bench_drift_pages.py [--accounts 50000]

Target: at 50,000 accounts × 17 regions the coverage heatmap and the drift pages stay ≤ 500 ms server time.
Seeds a fresh gw_bench_drift_pages with bench_drift's tables (845,750 memberships, their protection plans, four
policies; ~12 % of account × region pairs deviate) and runs one `drift_evaluate()` to store the deviations, plus 30
days of compliance history. Then ANCHORS.md's method (common.measure_get: an Admin's test Client, 2 warm-ups, 20
timed requests, p50/p95, SQL queries of one more request) on: the policies page (with its conflicts), a policy's
page, the drift page (deviations, filters, paging, the compliance chart), the fix preview for a page of deviations
(200, what "select all" takes) and for 5,000, and the coverage heatmap fragment with its filters. The report cache
is off for the heatmap (every request computes). Prints the table and `/proc/loadavg` before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_accounts_page import REGIONS_17  # noqa: E402

os.environ["GUARDWATCH_AWS_REGIONS"] = REGIONS_17
os.environ.setdefault("GUARDWATCH_REPORTS_CACHE_SECONDS", "0")

from bench.common import TABLE_HEADER, CaseResult, fresh_database, measure_get, percentile, setup_django  # noqa: E402


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def admin_client():
    from django.test import Client

    from guardwatch.core.roles import Role, roles_install
    from guardwatch.core.services import user_create

    roles_install()
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username="bench-admin").first() or user_create(username="bench-admin", role=Role.ADMIN, password="correct-horse-battery-staple",
                       validate=False)  # fmt: skip
    client = Client()
    client.force_login(user)
    return client


def measure_post(client, name: str, url: str, data: dict, timed: int = 20) -> CaseResult:
    """ANCHORS.md's method for a POST that answers a page (the fix preview)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        response = client.post(url, data)
        if response.status_code != 200:
            raise RuntimeError(f"{name}: {url} answered {response.status_code}")
    samples = []
    for _ in range(timed):
        started = time.perf_counter()
        response = client.post(url, data)
        samples.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(url, data)
    return CaseResult(
        name, statistics.median(samples), percentile(samples, 95), len(queries), len(response.content)
    )


def history_seed(days: int = 30) -> None:
    """A month of compliance before today's evaluation, for the chart."""
    from django.utils import timezone

    from accounts.models import ComplianceDay

    today = timezone.localdate()
    ComplianceDay.objects.bulk_create([
        ComplianceDay(day=today - timedelta(days=n), pairs=850_000, compliant=740_000 + 1000 * n,
                      evaluated_at=timezone.now() - timedelta(days=n))
        for n in range(1, days)
    ])  # fmt: skip


def seed(accounts: int) -> str:
    """bench_drift's tables and policies, a second tag policy disagreeing with the first (12,500 accounts in
    conflict, so the policies page has conflicts to find), one evaluation, and a month of compliance."""
    from django.db import connection

    from accounts.drift import drift_evaluate
    from accounts.models import CoveragePolicy, Membership
    from bench.bench_drift import policies_create, populate

    seconds = populate(accounts)
    policies_create(accounts)
    CoveragePolicy.objects.create(
        name="sandbox, stricter",
        scope=CoveragePolicy.Scope.TAG,
        scope_value="sandbox",
        plans=["s3_data_events", "ai_protection"],
    )  # fmt: skip (measure() keeps it)
    result = drift_evaluate()
    history_seed()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return (f"{accounts:,} accounts × 17 regions: {Membership.objects.count():,} memberships (seeded in {seconds:.0f} s); "
            f"{result.pairs:,} account × region pairs, {result.deviations:,} deviations "
            f"({100 - result.percent:.1f} % of pairs deviate).")  # fmt: skip


def measure() -> None:
    from accounts.models import CoveragePolicy, Deviation

    CoveragePolicy.objects.get_or_create(
        name="sandbox, stricter",
        defaults={
            "scope": CoveragePolicy.Scope.TAG,
            "scope_value": "sandbox",
            "plans": ["s3_data_events", "ai_protection"],
        },
    )
    client = admin_client()
    pages = -(-Deviation.objects.count() // 200)
    listed = CoveragePolicy.objects.get(name="listed").pk
    ou = CoveragePolicy.objects.get(name="ou").pk
    page_ids = list(Deviation.objects.order_by("region", "account_id", "kind", "feature")
                    .values_list("pk", flat=True)[:200])  # fmt: skip
    # Django refuses a form of more than DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000) fields: 990 is the most one form takes.
    many_ids = list(Deviation.objects.filter(kind="plan").order_by("pk").values_list("pk", flat=True)[:990])
    fragment = {"HX-Request": "true"}
    cases = [
        ("policies page (5 policies; two tag policies disagree on 12,500 accounts)", "/accounts/policies/", {}),
        ("a policy's page (OU scope)", f"/accounts/policies/{ou}/", {}),
        ("a policy's page (list of 1,000 accounts)", f"/accounts/policies/{listed}/", {}),
        ("drift page 1, no filter (with the 30-day chart)", "/accounts/drift/", {}),
        ("drift page 100", "/accounts/drift/?page=100", {}),
        (f"drift page {pages} (last)", f"/accounts/drift/?page={pages}", {}),
        ("drift, kind=plan", "/accounts/drift/?kind=plan", {}),
        ("drift, region=eu-west-1", "/accounts/drift/?region=eu-west-1", {}),
        ("drift, kind=membership + region=eu-west-1, page 5",
         "/accounts/drift/?kind=membership&region=eu-west-1&page=5", {}),
        ("heatmap fragment, page 1, no filter", "/accounts/coverage/?fragment=matrix", fragment),
        ("heatmap fragment, page 500 (last), no filter", "/accounts/coverage/?fragment=matrix&page=500", fragment),
        ("heatmap fragment, tag=prod", "/accounts/coverage/?fragment=matrix&tag=prod", fragment),
        ("heatmap fragment, status=Resigned", "/accounts/coverage/?fragment=matrix&status=Resigned", fragment),
        ("heatmap fragment, status=none (not a member)", "/accounts/coverage/?fragment=matrix&status=none",
         fragment),
        ("heatmap fragment, gaps only", "/accounts/coverage/?fragment=matrix&gaps_only=1", fragment),
        ("heatmap fragment, gaps only, page 100", "/accounts/coverage/?fragment=matrix&gaps_only=1&page=100",
         fragment),
        ("heatmap fragment, tag + status + gaps only",
         "/accounts/coverage/?fragment=matrix&tag=prod&status=Invited&gaps_only=1", fragment),
        ("heatmap fragment, tag + status=Enabled + gaps only",
         "/accounts/coverage/?fragment=matrix&tag=prod&status=Enabled&gaps_only=1", fragment),
    ]  # fmt: skip
    print(TABLE_HEADER)
    for name, url, headers in cases:
        print(measure_get(client, name, url, headers=headers).row(), flush=True)
    from django.test import override_settings

    with override_settings(GUARDWATCH_REPORTS_CACHE_SECONDS=300):  # the default: figures from their snapshot
        print(
            measure_get(
                client, "coverage page (whole), figures from their snapshot", "/accounts/coverage/"
            ).row()
        )
    print(measure_get(client, "coverage page (whole), figures computed on the request (5 timed)",
                      "/accounts/coverage/", timed=5).row(), flush=True)  # fmt: skip
    for name, ids in ((f"fix preview, {len(page_ids)} deviations (a page)", page_ids),
                      (f"fix preview, {len(many_ids):,} deviations", many_ids)):  # fmt: skip
        print(measure_post(client, name, "/accounts/drift/fix/", {"deviation": ids}).row(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=50000)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the database a BENCH_KEEP_DB=1 run kept (migrated first), without seeding",
    )
    args = parser.parse_args()
    setup_django("gw_bench_drift_pages")
    import logging

    logging.getLogger("guardwatch.request").setLevel(logging.WARNING)  # one line per request drowns the table
    load_before = loadavg()
    if args.reuse:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        measure()
    else:
        with fresh_database():
            print("\n" + seed(args.accounts) + "\n")
            measure()
    print(f"\n`/proc/loadavg` before the run: {load_before}; after: {loadavg()}.")


if __name__ == "__main__":
    main()
