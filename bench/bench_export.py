"""The findings CSV export of every open finding at a million findings: time to the first row, total time,
peak memory of the exporting process (issue: an export must stream, not sort the whole result first).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<seeded db> GUARDWATCH_ENV=test \
        .venv/bin/python bench/bench_export.py

Run it on the database `bench/seed_findings.py` seeded (1,000,000 findings, ~700,000 open); it reads only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_triage import export_memory  # noqa: E402


def main() -> None:
    load = os.getloadavg()[0]
    result = export_memory("status=open")
    print(f"export of every open finding: {result['rows']:,} rows, first row after {result['first_row_ms']:,} ms, "
          f"{result['seconds']} s in all, {result['mb']} MB, peak RSS {result['peak_rss_mb']} MB "
          f"(load {load:.2f} before, {os.getloadavg()[0]:.2f} after)")


if __name__ == "__main__":
    main()
