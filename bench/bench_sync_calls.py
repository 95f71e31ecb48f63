"""GuardDuty API calls a pull sync costs, counted at the simulator.

    GUARDWATCH_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/gw_bench_sync_calls \
        .venv/bin/python bench/bench_sync_calls.py [--findings 10000]

Claim: a full sync of N findings costs ⌈N/50⌉ ListFindings + ⌈N/50⌉ GetFindings (plus one
ListDetectors the first time); an incremental sync with nothing new costs 1 ListFindings per region.
The archive/feedback reconciliation (its own beat task) costs ⌈archived in GuardDuty / 50⌉
ListFindings + GetFindings for the disagreeing and swept open findings, 50 a call, the sweep capped
at GUARDWATCH_FINDINGS_RECONCILE_MAX_CALLS (200) per region and run.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, nargs="+", default=[1_000, 10_000])
    args = parser.parse_args()
    setup_django("gw_bench_sync_calls")
    from django.conf import settings

    from bench.sync_common import seed, start_simulator

    server = start_simulator()
    regions = [f"us-east-{i % 2 + 1}" if i < 2 else f"eu-west-{i - 1}" for i in range(len(args.findings))]
    try:
        with fresh_database():
            from findings.models import Finding
            from findings.services import findings_reconcile_region
            from findings.sync import findings_sync_region

            state = server.state
            state.reset()
            for region, count in zip(regions, args.findings, strict=True):
                seed(state, region, count)
            print("| region | findings | sync | ListDetectors | ListFindings | GetFindings | expected List/Get | seconds |")
            print("|---|---|---|---|---|---|---|---|")
            for region, count in zip(regions, args.findings, strict=True):
                for label in ("full", "incremental, nothing new"):
                    state.call_counts.reset()
                    started = time.perf_counter()
                    run = findings_sync_region(region=region)
                    took = time.perf_counter() - started
                    expected = math.ceil(count / 50) if label == "full" else "1 / 0"
                    if label == "full":
                        expected = f"{expected} / {expected}"
                    c = state.call_counts
                    print(f"| {region} | {count:,} | {label} | {c['ListDetectors']} | {c['ListFindings']} | "
                          f"{c['GetFindings']} | {expected} | {took:.1f} |")  # fmt: skip
                    assert run.status == "succeeded", run.errors
                assert Finding.objects.filter(region=region).count() == count
                state.call_counts.reset()
                started = time.perf_counter()
                result = findings_reconcile_region(region=region)
                took = time.perf_counter() - started
                c = state.call_counts
                sweep = min(count, settings.GUARDWATCH_FINDINGS_RECONCILE_MAX_CALLS * 50)
                print(f"| {region} | {count:,} | reconcile (archive/feedback) | {c['ListDetectors']} | "
                      f"{c['ListFindings']} | {c['GetFindings']} | 1 / {math.ceil(sweep / 50)} (sweep of"
                      f" {sweep:,} open) | {took:.1f} |")  # fmt: skip
                assert result.error == "", result.error
    finally:
        server.stop()


if __name__ == "__main__":
    main()
