"""A sync killed mid-way, and syncs run by a real Celery worker on real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from findings.models import Finding, FindingOccurrence, SyncRun
from findings.sync import findings_sync_region
from findings.tasks import findings_sync_all_regions
from findings.tasks import findings_sync_region as sync_task

from ..conftest import ROOT, TEST_OUTPUT, _worker_env
from .simulated import estate
from .test_sync import simulated_versions, stored_versions

REGION = "us-east-1"


def wait_for(predicate, *, timeout: float, what: str):
    """Poll until `predicate()` is truthy (a readiness poll with a deadline, not a sleep to pass)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"Timed out waiting for {what}")


def sync_in_subprocess(region: str, log_name: str, **extra_env: str) -> subprocess.Popen:
    """`manage.py findings_sync` in its own process, as a worker would run it."""
    TEST_OUTPUT.mkdir(exist_ok=True)
    log = (TEST_OUTPUT / log_name).open("w")
    env = _worker_env()
    env["GUARDWATCH_AWS_ENDPOINT_URL"] = os.environ["GUARDWATCH_AWS_ENDPOINT_URL"]
    env.update(extra_env)
    return subprocess.Popen(
        [sys.executable, "manage.py", "findings_sync", "--region", region],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def sync_after_crash(region: str):
    """Run a sync as soon as the dead process's lock is gone (Postgres notices the closed socket)."""
    return wait_for(lambda: findings_sync_region(region=region), timeout=15, what="the dead worker's lock")


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_sync_loses_nothing_and_duplicates_nothing(simulator):
    estate(simulator, [REGION], per_region=1000)
    simulator.faults.add("latency", latency_ms=120, operation="GetFindings")
    proc = sync_in_subprocess(REGION, "findings-sync-killed.log")
    try:
        wait_for(lambda: SyncRun.objects.filter(region=REGION, pages__gte=4).exists(), timeout=60,
                 what="the subprocess to commit 4 pages")  # fmt: skip
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    interrupted = SyncRun.objects.get(region=REGION)
    committed_before = Finding.objects.count()
    assert interrupted.status == "running"  # nobody was left to finish it
    assert 200 <= committed_before < 1000
    simulator.faults.clear()

    rerun = sync_after_crash(REGION)

    # The next worker took the dead worker's run over and finished it: no failed run, no second run.
    assert rerun.pk == interrupted.pk and SyncRun.objects.count() == 1
    assert rerun.status == "succeeded" and rerun.resumed == 1, rerun.errors
    assert stored_versions() == simulated_versions(simulator, [REGION])
    assert FindingOccurrence.objects.count() == 1000  # one per finding: nothing recorded twice
    # It carried on from the checkpoint (minus the overlap), it did not start over: its counters add up.
    assert rerun.new == 1000


@pytest.mark.worker
def test_a_real_worker_syncs_every_region_from_the_beat_task(simulator, celery_worker_process, transactional_db):
    from django.conf import settings

    regions = list(settings.GUARDWATCH_AWS_REGIONS)  # what the worker process reads too
    estate(simulator, regions, per_region=120)

    assert findings_sync_all_regions.delay().get(timeout=30) == regions

    wait_for(lambda: SyncRun.objects.filter(status="succeeded").count() == len(regions), timeout=60,
             what="every region's run to succeed")  # fmt: skip
    assert stored_versions() == simulated_versions(simulator, regions)
    assert celery_worker_process.poll() is None


@pytest.mark.worker
def test_two_workers_tasks_for_one_region_run_it_once(simulator, celery_worker_process, transactional_db):
    estate(simulator, [REGION], per_region=300)
    simulator.faults.add("latency", latency_ms=100, operation="GetFindings")

    results = [sync_task.delay(REGION) for _ in range(3)]
    outcomes = [r.get(timeout=60) for r in results]

    assert sorted(o["status"] for o in outcomes) == ["already running", "already running", "succeeded"]
    assert SyncRun.objects.count() == 1
    assert Finding.objects.count() == 300
