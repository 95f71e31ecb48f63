"""`make bench`: every benchmark in bench/, one after another, each in its own process.

Benchmarks run one at a time on purpose: the machine has two cores, and two benchmarks side by side
would measure each other. Each script prints its results; the triage and reports scripts also
rewrite their own sections of docs/benchmarks.md. A failing script does not stop the others; the
exit status says whether all of them finished.

    .venv/bin/python bench/run_all.py [name ...]      # e.g. run_all.py simulator reports_coverage
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# (script, arguments). Each script creates and drops its own database (bench/common.py).
SUITE = (
    ("bench_simulator.py", []),
    ("bench_accounts_page.py", []),
    ("bench_drift.py", []),
    ("bench_ingest.py", []),
    ("bench_sync_calls.py", []),
    ("bench_sync_rss.py", []),
    ("bench_triage.py", []),
    ("bench_reports.py", ["coverage"]),
    ("bench_reports.py", ["findings"]),
    ("bench_migrate.py", []),
)


def main(selected: list[str]) -> int:
    failed = []
    for script, args in SUITE:
        name = "_".join([script.removeprefix("bench_").removesuffix(".py"), *args])
        if selected and name not in selected:
            continue
        env = dict(os.environ, GUARDWATCH_ENV="test")
        print(f"\n=== {name} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(BENCH / script), *args], cwd=BENCH.parent, env=env)
        print(f"=== {name}: exit {code} after {time.monotonic() - started:.0f}s ===", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nFailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
