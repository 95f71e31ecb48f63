"""The findings CSV export of every open finding at a million findings: time to the first row, total time,
peak memory of the exporting process (issue: an export must stream, not sort the whole result first), for
the direct download (`/findings/export.csv`, what scripts use); then the same export written as the list's
Export button has it written, by the background job (`triage.exports.finding_export_run`, no worker:
its body in a fresh process): time, CPU, rows, text and stored (gzip) size, peak memory.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<seeded db> GUARDWATCH_ENV=test \
        .venv/bin/python bench/bench_export.py

Run it on the database `bench/seed_findings.py` seeded (1,000,000 findings, ~700,000 open); it reads the
findings only, and deletes the export it wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_triage import DB_NAME, ROOT, export_memory  # noqa: E402


def export_job(query: str) -> dict:
    """Write the export of `query` as the background job does, in a fresh process; report and delete it."""
    code = f"""
import resource, sys, time
sys.path.insert(0, {str(ROOT / "bench")!r})
from common import setup_django
setup_django({DB_NAME!r})
from django.contrib.auth import get_user_model
from triage import exports
from triage.models import FindingExport
owner = get_user_model().objects.get(username="analyst")
FindingExport.objects.filter(owner=owner, status__in=FindingExport.ACTIVE).delete()
export = FindingExport.objects.create(owner=owner, query={query!r})
started, cpu = time.perf_counter(), time.process_time()
exports.finding_export_run(export_id=export.pk)
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
export.refresh_from_db()
pieces = export.chunks.count()
export.delete()
print({{"status": export.status, "rows": export.rows_written, "seconds": round(seconds, 1), "cpu": round(cpu, 1),
       "mb_text": round(export.bytes_written / 1e6, 1), "mb_stored": round(export.bytes_stored / 1e6, 1),
       "pieces": pieces, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}})
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - our own subprocess's dict literal


def main() -> None:
    load = os.getloadavg()[0]
    result = export_memory("status=open")
    print(f"export of every open finding: {result['rows']:,} rows, first row after {result['first_row_ms']:,} ms, "
          f"{result['seconds']} s in all, {result['mb']} MB, peak RSS {result['peak_rss_mb']} MB "
          f"(load {load:.2f} before, {os.getloadavg()[0]:.2f} after)")
    load = os.getloadavg()[0]
    job = export_job("status=open")
    print(f"background export job of every open finding: {job['status']}, {job['rows']:,} rows in {job['seconds']} s "
          f"({job['cpu']} s CPU in the worker's process), {job['mb_text']} MB of CSV stored as {job['mb_stored']} MB "
          f"of gzip in {job['pieces']} pieces, peak RSS {job['peak_rss_mb']} MB "
          f"(load {load:.2f} before, {os.getloadavg()[0]:.2f} after)")


if __name__ == "__main__":
    main()
