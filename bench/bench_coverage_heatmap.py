"""The coverage heatmap's filters, its CSV and the reports' PDF downloads, at 5,000 accounts × 17 regions.

    flock /tmp/gw-bench.lock env GUARDWATCH_ENV=test .venv/bin/python bench/bench_coverage_heatmap.py

Seeds a fresh gw_bench_heatmap with bench_reports.coverage_seed (85,000 memberships, protection plans)
plus one of 8 tags per account and 3,000 findings over 30 days, then measures with ANCHORS.md's method
(common.measure_get: a manager's test Client, 2 warm-ups, 20 timed requests, p50/p95, SQL queries of one
more request). The report cache is off: every request computes its figures. A PDF is the page's HTML
(rendered on the request, which then queues it) plus the WeasyPrint layout a worker does: the layout
is timed on its own, twice per page. Prints the tables; docs/benchmarks.md records a run by hand.
"""

from __future__ import annotations

import os
import random
import sys
from datetime import timedelta
from pathlib import Path

from common import TABLE_HEADER, measure_get, setup_django, timed

os.environ.setdefault("GUARDWATCH_REPORTS_CACHE_SECONDS", "0")
TAGS = ["payments", "data", "sandbox", "prod", "staging", "analytics", "identity", "edge"]


def _tags_and_findings() -> None:
    from django.db import connection
    from django.utils import timezone

    from findings.models import Finding

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_memberaccount SET tags = jsonb_build_array((%s::text[])[1 + id %% 8])", [TAGS]
        )
    rng, now = random.Random(3), timezone.now()
    bands = [("low", 2.0), ("medium", 5.0), ("high", 8.0), ("critical", 9.5)]
    rows = []
    for n in range(3000):
        created = now - timedelta(minutes=rng.randrange(30 * 24 * 60))
        band, severity = rng.choice(bands)
        account = f"{300000000000 + rng.randrange(5000):012d}"
        rows.append(Finding(
            arn=f"arn:aws:guardduty:us-east-1:{account}:detector/d/finding/b{n}", finding_id=f"b{n}", detector_id="d",
            account_id=account, region="us-east-1", type=rng.choice(["Recon:EC2/PortProbeUnprotectedPort",
            "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B", "CryptoCurrency:EC2/BitcoinTool.B!DNS"]),
            threat_purpose="Recon", severity=severity, severity_band=band, title=f"Finding {n}", resource_type="Instance",
            resource_id=f"i-{rng.randrange(16**8):08x}", created_at=created, updated_at=created, first_seen=created,
            last_seen=created, raw={}, first_synced_at=created, last_synced_at=created, source="pull", status="new",
        ))  # fmt: skip
    Finding.objects.bulk_create(rows, batch_size=1000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _layout_seconds(client, url: str, runs: int = 2) -> list[str]:
    """Seconds from asking to a PDF, laid out on the request (as when no broker answers): HTML plus layout."""
    import logging
    from unittest import mock

    from reports import pdf

    logging.getLogger("reports.pdf").setLevel(logging.ERROR)  # its "could not queue" warning is the point here
    results = []
    with mock.patch.object(pdf, "task_send", side_effect=ConnectionError("bench: lay it out here")):
        for _ in range(runs):
            seconds, response = timed(lambda: client.get(url))
            token = response["Location"].rsplit("pdf=", 1)[1]
            job = pdf.pdf_job_get(token=token, owner=str(response.wsgi_request.user.pk))
            assert job is not None and pdf.pdf_job_file(job=job), job
            results.append(f"{seconds:.1f}")
    return results


def main() -> None:
    import bench_reports
    from common import fresh_database

    os.environ["GUARDWATCH_AWS_REGIONS"] = ",".join(bench_reports.REGIONS_17)
    setup_django("gw_bench_heatmap")
    load_before = bench_reports.loadavg()
    with fresh_database():
        seconds = bench_reports.coverage_seed()
        _tags_and_findings()
        from accounts.models import Membership

        client = bench_reports._manager_client()  # noqa: SLF001 - the same manager as the reports benchmark
        print(f"Seeded {bench_reports.ACCOUNTS:,} accounts × {len(bench_reports.REGIONS_17)} regions "
              f"({Membership.objects.count():,} memberships), 3,000 findings, in {seconds:.0f} s.\n")  # fmt: skip
        fragment = {"HX-Request": "true"}
        cases = [
            ("heatmap fragment, page 1, no filter", "/accounts/coverage/?fragment=matrix", fragment),
            ("heatmap fragment, page 50 (last), no filter", "/accounts/coverage/?fragment=matrix&page=50", fragment),
            ("heatmap fragment, tag=payments", "/accounts/coverage/?fragment=matrix&tag=payments", fragment),
            ("heatmap fragment, tag=payments page 5", "/accounts/coverage/?fragment=matrix&tag=payments&page=5", fragment),
            ("heatmap fragment, status=Resigned", "/accounts/coverage/?fragment=matrix&status=Resigned", fragment),
            ("heatmap fragment, status=none (not a member)", "/accounts/coverage/?fragment=matrix&status=none", fragment),
            ("heatmap fragment, tag + status + gaps only",
             "/accounts/coverage/?fragment=matrix&tag=prod&status=Invited&gaps_only=1", fragment),
            ("coverage page (whole), tag=payments", "/accounts/coverage/?tag=payments", {}),
        ]  # fmt: skip
        print(TABLE_HEADER)
        for name, url, headers in cases:
            print(measure_get(client, name, url, headers=headers).row(), flush=True)
        print()
        for name, url in (
            ("CSV, whole matrix", "/accounts/coverage/?export=matrix"),
            ("CSV, tag=payments", "/accounts/coverage/?export=matrix&tag=payments"),
            ("CSV, status=Resigned", "/accounts/coverage/?export=matrix&status=Resigned"),
        ):
            client.get(url)
            samples = []
            for _ in range(5):
                seconds, response = timed(lambda url=url: b"".join(client.get(url).streaming_content))
                samples.append(seconds)
            print(f"{name}: median {sorted(samples)[2] * 1000:,.0f} ms of 5, {len(response) / 1024:,.0f} KB")
        print("\nPDF downloads: the request renders the page's HTML and queues it (its cost is the page's row "
              "above or here); the worker's layout is timed on its own (WeasyPrint, 2 runs each):\n")
        print(TABLE_HEADER)
        for name, url in (("coverage page, heatmap page 1 (100 × 17)", "/accounts/coverage/"),
                          ("findings report, 30 days", "/findings/report/?period=30")):  # fmt: skip
            print(measure_get(client, name + " (the page)", url, timed=5).row(), flush=True)
        for name, url in (("coverage page, heatmap page 1 (100 × 17)", "/accounts/coverage/?export=pdf"),
                          ("findings report, 30 days", "/findings/report/?period=30&export=pdf")):  # fmt: skip
            print(f"{name}: PDF laid out in {', '.join(_layout_seconds(client, url))} s", flush=True)
    print(f"\n`/proc/loadavg` before the run: {load_before}; after: {bench_reports.loadavg()}.")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
