"""Drift evaluation at 50,000 accounts × 17 regions (850,000 memberships with protection plans).

    GUARDWATCH_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/gw_bench_drift \\
        .venv/bin/python bench/bench_drift.py [--accounts 50000] [--buckets 4 --database gw_bench_s3malware]

Target (issue 19, "Scale"): policies evaluated for 50,000 accounts × 17 regions in ≤ 60 s of worker time,
with no AWS call (the evaluation reads the synced Membership and MemberProtection tables). The tables are
seeded in SQL (generate_series, deterministic): ~94 % of memberships Monitored with every plan on, the rest
spread over other statuses, ~2 % of monitored members with S3 off, ~3 % without the EC2 agent and 2.5 % with
runtime resources whose agent does not report. Four policies, each over every enabled region (850,000 account ×
region pairs): organisation-wide, an OU, a tag and a list of 1,000 accounts. Three runs: the first (every deviation new, alerts raised), a second with nothing
changed, a third after 1 % of the plans were switched off. With `--buckets N`, every account also has N S3 buckets
(half tagged data-class=confidential, 5 % of those without a Malware Protection plan, 1 % with a plan in ERROR) and
the organisation-wide policy asks for S3 malware protection of confidential buckets.
Worker time: wall-clock of `drift_evaluate()` in this process, and its CPU time (Postgres works beside it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_accounts_page import REGIONS_17  # noqa: E402

os.environ["GUARDWATCH_AWS_REGIONS"] = REGIONS_17

from bench.common import fresh_database, setup_django  # noqa: E402

PLANS = ("s3_data_events", "eks_audit_logs", "runtime_monitoring", "ebs_malware_protection", "rds_login_events",
         "lambda_network_logs", "ai_protection")  # fmt: skip


def account_regions_refresh_all() -> None:
    """The accounts' region summaries from the memberships a seed wrote in SQL (what every writer keeps)."""
    from accounts.models import MemberAccount
    from accounts.services import account_regions_refresh

    account_regions_refresh(MemberAccount.objects.values_list("pk", flat=True))


def populate(count: int) -> float:
    from django.db import connection

    started = time.perf_counter()
    regions = REGIONS_17.split(",")
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO accounts_memberaccount (account_id, email, display_name, notes, tags, source,
                   in_organization, organizational_unit, auto_accept, created_at)
               SELECT lpad((100000000000 + i * 7)::text, 12, '0'), 'aws+' || i || '@example.com', 'acct-' || i, '',
                      jsonb_build_array((ARRAY['prod','staging','sandbox','data'])[1 + i %% 4]), 'organizations', true,
                      'ou-ab12-' || lpad((i %% 20)::text, 8, '0'), false, now()
               FROM generate_series(1, %s) AS i""",
            [count],
        )
        cursor.execute(
            """INSERT INTO accounts_membership (account_id, region, relationship_status, detector_id, last_error,
                   invited_at, updated_at, last_synced_at)
               SELECT a.id, r.region,
                      CASE WHEN (a.id * 31 + r.n * 17) %% 100 < 94 THEN 'Enabled'
                           ELSE (ARRAY['Invited','Disabled','Removed','Resigned','Created','EmailVerificationFailed'])
                                [1 + (a.id + r.n) %% 6] END,
                      repeat('d', 32), '', now(), now(), now()
               FROM accounts_memberaccount a
               CROSS JOIN unnest(%s::text[]) WITH ORDINALITY AS r(region, n)
               WHERE (a.id * 13 + r.n) %% 200 <> 0""",  # 0.5 % of pairs: not a member at all
            [regions],
        )
        cursor.execute(
            """INSERT INTO accounts_memberprotection (membership_id, s3_data_events, eks_audit_logs,
                   runtime_monitoring, ebs_malware_protection, rds_login_events, lambda_network_logs, ai_protection,
                   additional_configuration, runtime_unhealthy, runtime_issue, plans_off, checked_at)
               SELECT m.id, CASE WHEN m.id % 50 = 0 THEN 'DISABLED' ELSE 'ENABLED' END, 'ENABLED', 'ENABLED',
                      'ENABLED', 'ENABLED', 'ENABLED', 'ENABLED',
                      jsonb_build_object('RUNTIME_MONITORING', jsonb_build_object(
                          'EKS_ADDON_MANAGEMENT', 'ENABLED',
                          'EC2_AGENT_MANAGEMENT', CASE WHEN m.id % 33 = 0 THEN 'DISABLED' ELSE 'ENABLED' END)),
                      CASE WHEN m.id % 40 = 0 THEN 2 ELSE 0 END,
                      CASE WHEN m.id % 40 = 0 THEN 'No Agent Reporting' ELSE '' END,
                      CASE WHEN m.id % 50 = 0 THEN 1 ELSE 0 END, now()
               FROM accounts_membership m WHERE m.relationship_status = 'Enabled'"""
        )
        cursor.execute("UPDATE accounts_regionstate SET account_enabled = true")
        account_regions_refresh_all()
        for region in regions:
            cursor.execute(
                "INSERT INTO accounts_regionstate (region, detector_id, last_error, org_auto_enable_members, "
                "account_enabled, finding_publishing_frequency) VALUES (%s, 'admin', '', 'ALL', true, 'SIX_HOURS') "
                "ON CONFLICT (region) DO NOTHING",
                [region],
            )
        cursor.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def buckets_populate(per_account: int) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO accounts_s3bucket (account_id, name, region, tags, plan_id, plan_status,
                   plan_status_reasons, plan_role, checked_at)
               SELECT a.id, 'b-' || a.id || '-' || b, 'us-east-1',
                      CASE WHEN b %% 2 = 0 THEN '{"data-class": "confidential"}'::jsonb
                           ELSE '{"data-class": "public"}'::jsonb END,
                      CASE WHEN (a.id + b) %% 20 = 0 THEN '' ELSE 'plan-' || a.id || '-' || b END,
                      CASE WHEN (a.id + b) %% 20 = 0 THEN '' WHEN (a.id + b) %% 100 = 1 THEN 'ERROR' ELSE 'ACTIVE' END,
                      CASE WHEN (a.id + b) %% 100 = 1
                           THEN '[{"Code": "ROLE", "Message": "The role cannot read the bucket"}]'::jsonb
                           ELSE '[]'::jsonb END,
                      '', now()
               FROM accounts_memberaccount a CROSS JOIN generate_series(1, %s) AS b""",
            [per_account],
        )
        cursor.execute("VACUUM ANALYZE accounts_s3bucket")
    return time.perf_counter() - started


def policies_create(count: int, *, bucket_tags: bool = False) -> None:
    from accounts.models import CoveragePolicy, MemberAccount

    Scope = CoveragePolicy.Scope
    CoveragePolicy.objects.create(name="organisation", scope=Scope.ORGANISATION, plans=list(PLANS),
                                  runtime_agents=["EKS_ADDON_MANAGEMENT", "EC2_AGENT_MANAGEMENT"],
                                  s3_malware_bucket_tags=["data-class=confidential"] if bucket_tags else [])  # fmt: skip
    CoveragePolicy.objects.create(name="ou", scope=Scope.OU, scope_value="ou-ab12-00000003",
                                  plans=["s3_data_events", "runtime_monitoring"])  # fmt: skip
    CoveragePolicy.objects.create(name="sandbox", scope=Scope.TAG, scope_value="sandbox",
                                  plans=["s3_data_events"])  # fmt: skip
    listed = list(
        MemberAccount.objects.order_by("id").values_list("account_id", flat=True)[: min(1000, count)]
    )
    CoveragePolicy.objects.create(
        name="listed", scope=Scope.ACCOUNTS, scope_accounts=listed, plans=list(PLANS)
    )


def run(label: str) -> str:
    from django.db import reset_queries

    from accounts.drift import drift_evaluate

    reset_queries()
    wall = time.perf_counter()
    result = drift_evaluate()
    wall = time.perf_counter() - wall
    load = (
        subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1]
    )
    return (f"| {label} | {result.pairs:,} | {result.deviations:,} | {result.new:,} | {result.resolved:,} | "
            f"{result.alerts:,} | {result.percent:.2f} % | {wall:.1f} s | {result.seconds:.1f} s | {load.strip()} |")  # fmt: skip


def evidence_pack_time() -> str:
    """One evidence pack over everything (the last 90 days) rendered in this process as the worker would."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.models import EvidencePack
    from reports.evidence import evidence_pack_render

    user = get_user_model().objects.create_user(username="auditor-bench")
    today = timezone.now().date()
    pack = EvidencePack.objects.create(requested_by=user, requested_by_name=user.username, expires_at=timezone.now()
                                       + timedelta(days=1), period_start=today - timedelta(days=89), period_end=today,
                                       scope_label="Every policy and account")  # fmt: skip
    wall, cpu = time.perf_counter(), time.process_time()
    evidence_pack_render(pack_id=pack.pk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    pack.refresh_from_db()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1]
    return (f"\nEvidence pack (90 days, every policy): {pack.state}, JSON {len(pack.json_file) / 1e6:.1f} MB, "
            f"PDF {len(pack.pdf_file) / 1e6:.2f} MB, {wall:.1f} s wall, {cpu:.1f} s CPU (this process); "
            f"load {load.strip()}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=50000)
    parser.add_argument("--buckets", type=int, default=0, help="S3 buckets per account (0: none)")
    parser.add_argument("--database", default="gw_bench_drift")
    parser.add_argument("--evidence", action="store_true",
                        help="then time one evidence pack of the last 90 days (document, PDF, signature)")  # fmt: skip
    args = parser.parse_args()
    setup_django(args.database)
    with fresh_database():
        from django.db import connection

        seconds = populate(args.accounts)
        if args.buckets:
            seconds += buckets_populate(args.buckets)
        policies_create(args.accounts, bucket_tags=bool(args.buckets))
        from accounts.models import MemberProtection, Membership, S3Bucket

        print(f"\n{args.accounts:,} accounts × 17 regions: {Membership.objects.count():,} memberships, "
              f"{MemberProtection.objects.count():,} protection rows, {S3Bucket.objects.count():,} S3 buckets "
              f"(seeded in {seconds:.1f} s)\n")  # fmt: skip
        print(
            "| run | pairs | deviations | new | resolved | alerts | compliant | wall | CPU (this process) | load (1/5/15) |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        print(run("first (all new)"), flush=True)
        print(run("again, nothing changed"), flush=True)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE accounts_memberprotection SET rds_login_events = 'DISABLED' WHERE id % 100 = 7"
            )
        print(run("after 1 % of members lost RDS"), flush=True)
        print("\nAWS calls made by the evaluation: 0 (it reads the synced tables).")
        if args.evidence:
            print(evidence_pack_time(), flush=True)


if __name__ == "__main__":
    main()
