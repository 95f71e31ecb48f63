"""The watchdog: a sync whose worker died is queued again at once, not at the next beat tick."""

from __future__ import annotations

import signal

import pytest

from findings import sync
from findings.models import Finding, FindingOccurrence, SyncRun
from findings.sync import findings_sync_recover, findings_sync_region

from .simulated import estate
from .test_sync import simulated_versions, stored_versions
from .test_sync_resilience import sync_in_subprocess, wait_for

REGION = "us-east-1"


@pytest.fixture
def queued(monkeypatch):
    sent = []
    monkeypatch.setattr(sync, "task_send_on_commit", lambda name, *args, **kw: sent.append((name, *args, kw)))
    return sent


@pytest.mark.django_db(transaction=True)
def test_a_sync_killed_mid_run_is_queued_again_by_the_watchdog(simulator, queued):
    estate(simulator, [REGION], per_region=1000)
    simulator.faults.add("latency", latency_ms=120, operation="GetFindings")
    proc = sync_in_subprocess(REGION, "findings-sync-watchdog.log")
    try:
        wait_for(lambda: SyncRun.objects.filter(region=REGION, pages__gte=2).exists(), timeout=60,
                 what="the subprocess to commit 2 pages")  # fmt: skip
        assert findings_sync_recover() == []  # alive: its worker holds the region
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    simulator.faults.clear()

    # Postgres ends the dead worker's session, and its claim, once it sees the closed socket.
    assert wait_for(findings_sync_recover, timeout=15, what="the dead worker's claim") == [REGION]
    assert queued == [("findings.tasks.findings_sync_region", REGION, {"trigger": "recovery"})]
    interrupted = SyncRun.objects.get(region=REGION)
    assert interrupted.status == "running"  # not failed: the queued worker takes it over
    assert findings_sync_recover() == []  # queued once, not at every tick until a worker takes it

    rerun = findings_sync_region(region=REGION, trigger="recovery")
    assert rerun.pk == interrupted.pk and rerun.resumed == 1
    assert rerun.status == "succeeded", rerun.errors
    assert not SyncRun.objects.filter(status="failed").exists()
    assert stored_versions() == simulated_versions(simulator, [REGION])
    assert FindingOccurrence.objects.count() == Finding.objects.count() == 1000
