"""The member accounts page at 5,000 accounts × 17 regions (85,000 memberships), ANCHORS.md's method.

    GUARDWATCH_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/gw_bench_accounts \
        .venv/bin/python bench/bench_accounts_page.py [--accounts 5000]

Target (issue "Member accounts"): ≤ 300 ms server time and a constant number of SQL queries. Each
case: Django's test Client signed in as an Admin, 2 warm-up requests, 20 timed requests (p50/p95),
then the query count of one extra request. Statuses are spread like a real estate: mostly
Monitored, some Invited/Created, a few Resigned/Removed/Disabled/EmailVerificationFailed, and
some regions where an account is not a member.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REGIONS_17 = (
    "us-east-1,us-east-2,us-west-1,us-west-2,ca-central-1,eu-west-1,eu-west-2,eu-west-3,eu-central-1,"
    "eu-north-1,ap-south-1,ap-northeast-1,ap-northeast-2,ap-southeast-1,ap-southeast-2,sa-east-1,me-south-1"
)
os.environ["GUARDWATCH_AWS_REGIONS"] = REGIONS_17

from bench.common import TABLE_HEADER, fresh_database, measure_get, setup_django  # noqa: E402

STATUS_WEIGHTS = [
    ("Enabled", 80),
    ("Invited", 6),
    ("Created", 2),
    ("", 6),  # not a member in this region
    ("Disabled", 2),
    ("Removed", 1),
    ("Resigned", 1),
    ("EmailVerificationFailed", 1),
    ("RegionDisabled", 1),
]


def populate(count: int, seed: int) -> float:
    """Accounts and memberships in bulk; returns seconds taken."""
    from django.utils import timezone

    from accounts.models import MemberAccount, Membership

    rng = random.Random(seed)
    started = time.perf_counter()
    regions = REGIONS_17.split(",")
    statuses = [s for s, w in STATUS_WEIGHTS for _ in range(w)]
    names = ["payments", "data", "sandbox", "prod", "staging", "analytics", "identity", "edge"]
    accounts = MemberAccount.objects.bulk_create(
        [
            MemberAccount(
                account_id=f"{100000000000 + i * 7:012d}",
                email=f"aws+{i}@example.com",
                display_name=f"{rng.choice(names)}-{i}",
                tags=[rng.choice(names)],
            )
            for i in range(count)
        ],
        batch_size=2000,
    )
    now = timezone.now()
    batch = []
    for account in accounts:
        for region in regions:
            status = rng.choice(statuses)
            if status == "":
                continue
            batch.append(Membership(account=account, region=region, relationship_status=status, detector_id="d" * 32,
                                    invited_at=now, updated_at=now, last_synced_at=now))  # fmt: skip
            if len(batch) >= 5000:
                Membership.objects.bulk_create(batch)
                batch = []
    Membership.objects.bulk_create(batch)
    from accounts.services import account_regions_refresh

    account_regions_refresh(MemberAccount.objects.values_list("pk", flat=True))  # what every writer keeps
    from django.db import connection

    with connection.cursor() as cursor:
        # What autovacuum does after a bulk load in production (visibility map → index-only scans).
        cursor.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    setup_django("gw_bench_accounts")
    with fresh_database():
        from django.test import Client

        from accounts.models import Membership
        from guardwatch.core.roles import Role
        from guardwatch.core.services import user_create

        seconds = populate(args.accounts, args.seed)
        memberships = Membership.objects.count()
        user = user_create(username="bench-admin", role=Role.ADMIN, password="bench-password-123456", validate=False)
        client = Client()
        client.force_login(user)
        some = "100000003500"
        cases = [
            ("accounts page, first page (100 of 5,000 × 17 regions)", "/accounts/", {}),
            ("same, HTMX fragment", "/accounts/", {"HX-Request": "true"}),
            ("filtered: status Resigned", "/accounts/?status=Resigned", {}),
            ("filtered: status Resigned in eu-west-1", "/accounts/?status=Resigned&region=eu-west-1", {}),
            ("filtered: not a member anywhere", "/accounts/?status=none", {}),
            ("text filter (name contains 'payments')", "/accounts/?q=payments", {}),
            ("sorted by email, descending", "/accounts/?sort=-email", {}),
            ("page 50 (last)", "/accounts/?page=50", {}),
            ("one account's detail page", f"/accounts/{some}/", {}),
        ]
        print(f"\n{args.accounts:,} accounts, 17 regions, {memberships:,} memberships (populated in {seconds:.1f} s)\n")
        print(TABLE_HEADER)
        results = []
        for name, url, headers in cases:
            result = measure_get(client, name, url, headers=headers)
            results.append(result)
            print(result.row(), flush=True)
        worst = max(r.p95_ms for r in results)
        queries = sorted({r.queries for r in results})
        print(f"\nworst p95: {worst:.1f} ms (target ≤ 300 ms); SQL queries per page: {queries}")
        print("(The coverage page has its own target and benchmark: bench/bench_reports.py coverage.)")


if __name__ == "__main__":
    main()
