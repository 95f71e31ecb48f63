"""An upgrade from findings' first migration to today's, with many findings, while a reader reads them.

    flock /tmp/gw-bench.lock env GUARDWATCH_ENV=test .venv/bin/python bench/bench_migrate.py [--findings 100000]

The same walk as tests/core/test_migration_at_scale.py (which runs it at 20,000 findings in the suite):
migrate back to findings.0001_initial, store the findings with one INSERT … SELECT, migrate forward with
`manage.py migrate` (its lock timeout set) while a second session reads findings by id every 20 ms.
Prints the upgrade's time, each migration's time, and per migration the longest read that started
while it ran (how long a finding page would have waited on its locks). Own database, dropped after.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=100_000)
    args = parser.parse_args()
    setup_django("gw_bench_migrate")
    from tests.core.test_migration_at_scale import triage_and_search_filled, upgrade_from_first_release

    with fresh_database():
        result = upgrade_from_first_release(args.findings)
        assert result.after == result.before, "findings changed"
        assert triage_and_search_filled() == (args.findings,) * 3
        assert result.errors == [], result.errors
    print(f"{args.findings:,} findings: upgrade {result.seconds:.1f} s, {result.reads} reads, load {os.getloadavg()}")
    print("| migration | took | longest read started during it |\n|---|---|---|")
    for name, took in re.findall(r"Applying (\S+)\.\.\. OK \(([\d.]+)s\)", result.log):
        print(f"| {name} | {float(took):.1f} s | {result.slowest.get(name, 0.0):.2f} s |")


if __name__ == "__main__":
    main()
