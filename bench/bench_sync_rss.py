"""Peak memory of a worker process syncing a large region: the sync streams page by page.

    GUARDWATCH_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/gw_bench_sync_rss \
        .venv/bin/python bench/bench_sync_rss.py [--findings 200000]

The simulator (holding every finding) runs in this process; the sync runs in a child process
(the `findings_sync` command), which reports its own peak RSS (VmHWM) when done.
Target: ≤ 300 MB for 200,000 findings.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, setup_django  # noqa: E402

# The child reports its own high-water mark (VmHWM of its address space). getrusage() would not do:
# Linux carries the forking parent's peak (this process holds the simulator's 200,000 findings)
# into the child's ru_maxrss across exec.
CHILD = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guardwatch.settings")
import django
django.setup()
from django.core.management import call_command
call_command("findings_sync", region=[sys.argv[1]])
print(next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).strip())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=200_000)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    setup_django("gw_bench_sync_rss")
    from bench.sync_common import seed, start_simulator

    server = start_simulator()
    try:
        with fresh_database():
            from django.db import connection

            from findings.models import Finding

            started = time.perf_counter()
            seed(server.state, args.region, args.findings)
            print(f"seeded {args.findings:,} findings in the simulator in {time.perf_counter() - started:.0f} s")
            db = connection.settings_dict
            env = dict(os.environ)
            env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
            env["GUARDWATCH_AWS_REGIONS"] = args.region
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CHILD, args.region], cwd=ROOT, env=env, check=True,
                                  capture_output=True, text=True)  # fmt: skip
            took = time.perf_counter() - started
            print(done.stdout.strip())
            peak_mb = int(done.stdout.strip().splitlines()[-1].split()[1]) / 1024
            stored = Finding.objects.count()
    finally:
        server.stop()
    print(f"synced {stored:,} findings in {took:.0f} s ({stored / took:,.0f}/s end to end, API included)")
    print(f"worker peak RSS: {peak_mb:.0f} MB (target ≤ 300 MB)")


if __name__ == "__main__":
    main()
