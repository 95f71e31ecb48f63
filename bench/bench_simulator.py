"""Benchmark: ListFindings + GetFindings through boto3 over 100,000 findings in the simulator.

Seeds N findings (default 100,000) into one administrator region through the state API, starts a
SimulatorServer thread, then pages through every finding with unmodified boto3 clients:
ListFindings (50 per page, an updatedAt criterion and a sort, as a sync job would) followed by
GetFindings for each page. Reports findings/s and p50/p95 latency per call.

With --clients K (default 2) the pages are split into K updatedAt windows, each walked by its own
client process, so boto3's response parsing (the dominant cost, ~0.3 ms per finding) does not
share the server's interpreter lock. --clients 1 measures a single in-process client.

    .venv/bin/python bench/bench_simulator.py [--findings 100000] [--clients 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3  # noqa: E402
import botocore.config  # noqa: E402

from gdsim import SimulatorServer, SimulatorState, credentials_for  # noqa: E402

ADMIN = "111111111111"
REGION = "us-east-1"


def walk(endpoint: str, detector_id: str, low_ms: int, high_ms: int) -> dict:
    """Page through the findings updated in [low_ms, high_ms]; returns counts and call latencies."""
    client = boto3.client("guardduty", endpoint_url=endpoint, region_name=REGION, **credentials_for(ADMIN),
                          config=botocore.config.Config(retries={"max_attempts": 1}))
    criteria = {"Criterion": {"updatedAt": {"GreaterThanOrEqual": low_ms, "LessThanOrEqual": high_ms}}}
    list_times, get_times, fetched = [], [], 0
    kwargs: dict = {}
    started = time.perf_counter()
    while True:
        tick = time.perf_counter()
        page = client.list_findings(DetectorId=detector_id, FindingCriteria=criteria, MaxResults=50,
                                    SortCriteria={"AttributeName": "updatedAt", "OrderBy": "ASC"}, **kwargs)
        list_times.append(time.perf_counter() - tick)
        if page["FindingIds"]:
            tick = time.perf_counter()
            findings = client.get_findings(DetectorId=detector_id, FindingIds=page["FindingIds"])["Findings"]
            get_times.append(time.perf_counter() - tick)
            fetched += len(findings)
        if not page.get("NextToken"):
            break
        kwargs = {"NextToken": page["NextToken"]}
    return {"fetched": fetched, "seconds": time.perf_counter() - started, "list": list_times, "get": get_times}


def _walk_star(arguments: tuple) -> dict:
    return walk(*arguments)


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the values fall (milliseconds)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def main() -> None:
    """Seed, serve, walk, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()

    state = SimulatorState(seed=options.seed)
    detector_id = state.ensure_detector(ADMIN, REGION)
    tick = time.perf_counter()
    state.generate_findings(ADMIN, REGION, options.findings, spread=timedelta(days=89))
    print(f"seeded {options.findings} findings in {time.perf_counter() - tick:.1f}s")

    updated = sorted(stored.updated_ms for stored in state.region_findings(REGION).by_id.values())
    bounds = [updated[len(updated) * index // options.clients] for index in range(options.clients)] + [updated[-1] + 1]
    windows = [(bounds[index], bounds[index + 1] - 1) for index in range(options.clients)]

    with SimulatorServer(state) as server:
        jobs = [(server.endpoint_url, detector_id, low, high) for low, high in windows]
        started = time.perf_counter()
        if options.clients == 1:
            results = [walk(*jobs[0])]
        else:
            with multiprocessing.get_context("fork").Pool(options.clients) as pool:
                results = pool.map(_walk_star, jobs)
        elapsed = time.perf_counter() - started

    fetched = sum(result["fetched"] for result in results)
    list_times = [value for result in results for value in result["list"]]
    get_times = [value for result in results for value in result["get"]]
    print(f"clients: {options.clients}; fetched {fetched} findings in {elapsed:.1f}s "
          f"-> {fetched / elapsed:,.0f} findings/s")
    print(f"ListFindings: {len(list_times)} calls, p50 {percentile(list_times, 0.5):.1f} ms, "
          f"p95 {percentile(list_times, 0.95):.1f} ms, mean {statistics.mean(list_times) * 1000:.1f} ms")
    print(f"GetFindings:  {len(get_times)} calls, p50 {percentile(get_times, 0.5):.1f} ms, "
          f"p95 {percentile(get_times, 0.95):.1f} ms, mean {statistics.mean(get_times) * 1000:.1f} ms")
    if fetched != options.findings:
        raise SystemExit(f"expected {options.findings} findings, fetched {fetched}")


if __name__ == "__main__":
    main()
