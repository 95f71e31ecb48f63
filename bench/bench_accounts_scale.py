"""The member accounts page and the coverage page at 50,000 accounts × 17 regions (issue 21), ANCHORS.md's method.

    flock /tmp/gw-bench.lock env GUARDWATCH_ENV=test \\
        .venv/bin/python bench/bench_accounts_scale.py [--accounts 50000] [--reuse]

Target: ≤ 300 ms server time (p95) and a constant number of SQL queries on both pages. Seeds a fresh
gw_bench_accounts_scale with bench_drift's tables (in SQL: 50,000 accounts named acct-N with one of four tags,
~845,750 memberships, ~94 % Monitored, the rest Invited/Disabled/Removed/Resigned/Created/EmailVerificationFailed,
0.5 % of pairs not a member; protection plans of the monitored ones; every account's region summary), then an
Admin's test Client: 2 warm-ups, 20 timed requests, p50/p95, SQL queries of one more request. The coverage page is
measured as it runs (figures from their snapshot, GUARDWATCH_REPORTS_CACHE_SECONDS=300) and with the report cache off
(figures computed on the request). `BENCH_KEEP_DB=1` keeps the database; `--reuse` measures it again without seeding.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_accounts_page import REGIONS_17  # noqa: E402

os.environ["GUARDWATCH_AWS_REGIONS"] = REGIONS_17
os.environ.setdefault("GUARDWATCH_REPORTS_CACHE_SECONDS", "0")

from bench.bench_drift_pages import admin_client, loadavg  # noqa: E402
from bench.common import TABLE_HEADER, fresh_database, measure_get, setup_django  # noqa: E402


def seed(accounts: int) -> str:
    from django.utils import timezone

    from accounts.models import Membership, RegionState
    from bench.bench_drift import populate
    from findings.models import SyncState

    seconds = populate(accounts)
    now = timezone.now()
    RegionState.objects.update(last_synced_at=now, protection_checked_at=now)
    for region in REGIONS_17.split(","):
        SyncState.objects.get_or_create(region=region, defaults={"last_success_at": now})
    return f"{accounts:,} accounts × 17 regions: {Membership.objects.count():,} memberships (seeded in {seconds:.0f} s)."


def measure(accounts: int) -> None:
    from django.test import override_settings

    from accounts.models import MemberAccount

    client = admin_client()
    last = -(-accounts // 100)
    some = MemberAccount.objects.order_by("pk").values_list("account_id", flat=True)[accounts // 2]
    fragment = {"HX-Request": "true"}
    cases = [
        (f"accounts page, first page (100 of {accounts:,} × 17 regions)", "/accounts/", {}),
        ("same, HTMX fragment", "/accounts/", fragment),
        ("filtered: status Resigned", "/accounts/?status=Resigned", {}),
        ("filtered: status Resigned in eu-west-1", "/accounts/?status=Resigned&region=eu-west-1", {}),
        ("filtered: not a member anywhere", "/accounts/?status=none", {}),
        ("filtered: not a member in eu-west-1", "/accounts/?status=none&region=eu-west-1", {}),
        ("text filter (name contains 'acct-1': 11,111 accounts)", "/accounts/?q=acct-1", {}),
        ("text filter (name contains 'acct-4242': 11 accounts)", "/accounts/?q=acct-4242", {}),
        ("sorted by email, descending", "/accounts/?sort=-email", {}),
        (f"page {last // 2} (middle)", f"/accounts/?page={last // 2}", {}),
        (f"page {last} (last)", f"/accounts/?page={last}", {}),
        (f"status Resigned, page {last // 20}", f"/accounts/?status=Resigned&page={last // 20}", {}),
        ("one account's detail page", f"/accounts/{some}/", {}),
    ]
    print(TABLE_HEADER)
    for name, url, headers in cases:
        print(measure_get(client, name, url, headers=headers).row(), flush=True)
    coverage = [
        ("coverage page, matrix page 1", "/accounts/coverage/", {}),
        ("coverage page, matrix page 250", "/accounts/coverage/?page=250", {}),
        ("coverage, accounts with a gap only", "/accounts/coverage/?gaps_only=1", {}),
        ("coverage, full resigned list page 3", "/accounts/coverage/?gap=resigned&gpage=3", {}),
        ("coverage matrix, HTMX fragment page 2", "/accounts/coverage/?page=2&fragment=matrix", fragment),
    ]
    with override_settings(GUARDWATCH_REPORTS_CACHE_SECONDS=300):  # as it runs (default 60 s): from the snapshot
        for name, url, headers in coverage:
            print(measure_get(client, f"{name} (figures from their snapshot)", url, headers=headers).row(), flush=True)
    for name, url, headers in coverage[:1]:
        print(measure_get(client, f"{name} (report cache off: figures computed on the request, 5 timed)", url,
                          headers=headers, timed=5).row(), flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--reuse", action="store_true", help="measure the database a BENCH_KEEP_DB=1 run kept")
    args = parser.parse_args()
    setup_django("gw_bench_accounts_scale")
    import logging

    logging.getLogger("guardwatch.request").setLevel(logging.WARNING)
    load_before = loadavg()
    if args.reuse:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        measure(args.accounts)
    else:
        with fresh_database():
            print("\n" + seed(args.accounts) + "\n")
            measure(args.accounts)
    print(f"\n`/proc/loadavg` before the run: {load_before}; after: {loadavg()}.")


if __name__ == "__main__":
    main()
