"""Shared benchmark plumbing, following the method in ANCHORS.md so figures compare.

Method: Django's test `Client`, logged in, 2 warm-up requests, then 20 timed requests per case
(server time, p50/p95), and the SQL query count of one extra request. Each script runs against its
own throwaway PostgreSQL database (created here, dropped at the end).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(db_name: str) -> None:
    """Point Django at a dedicated benchmark database and set it up."""
    os.environ.setdefault("GUARDWATCH_ENV", "test")
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{db_name}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guardwatch.settings")
    import django

    django.setup()


@contextmanager
def fresh_database() -> Iterator[None]:
    """Create the configured database from scratch, migrate it, drop it afterwards."""
    from django.core.management import call_command
    from django.db import connection

    name = connection.settings_dict["NAME"]
    with connection._nodb_cursor() as cursor:  # noqa: SLF001 (Django's own way to reach 'postgres')
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    call_command("migrate", verbosity=0)
    try:
        yield
    finally:
        if os.environ.get("BENCH_KEEP_DB") != "1":
            connection.close()
            with connection._nodb_cursor() as cursor:  # noqa: SLF001
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class CaseResult:
    """One measured case."""

    name: str
    p50_ms: float
    p95_ms: float
    queries: int
    bytes: int

    def row(self) -> str:
        return f"| {self.name} | {self.p50_ms:,.1f} | {self.p95_ms:,.1f} | {self.queries} | {self.bytes / 1024:,.1f} KB |"


def measure_get(client, name: str, url: str, *, headers: dict | None = None, timed: int = 20) -> CaseResult:
    """ANCHORS.md's method for one page: 2 warm-ups, `timed` timed requests, then a counted one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = headers or {}
    for _ in range(2):
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{name}: {url} answered {response.status_code}")
    samples = []
    for _ in range(timed):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, headers=headers)
    return CaseResult(name, statistics.median(samples), percentile(samples, 95), len(queries), len(response.content))


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (what ANCHORS.md's p95 means for 20 samples: the 19th)."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Seconds a call takes, and its result."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


TABLE_HEADER = "| case | p50 ms | p95 ms | SQL queries | page weight |\n|---|---|---|---|---|"
