"""The issue's "Done when": 20,000 findings in 3 regions, 20% throttling, a failing page, a killed and
restarted sync, EventBridge pushes for the same findings arriving all along — and in the end exactly
the simulator's findings in Postgres, nothing lost, nothing twice."""

from __future__ import annotations

import json
import random
import signal
import sys
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from findings.models import Finding, FindingOccurrence, SyncRun, SyncState
from findings.services import ingest_key_create
from findings.sync import sync_claim
from findings.tasks import findings_sync_region as sync_task

from .simulated import estate, events_for, members_monitored, simulated_findings
from .test_sync import simulated_versions, stored_versions
from .test_sync_resilience import sync_in_subprocess, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.timeout(180)]

THROTTLED, FAILING, KILLED = "us-east-1", "us-west-2", "eu-west-1"
REGIONS = [THROTTLED, FAILING, KILLED]


class Pusher(threading.Thread):
    """EventBridge delivering events for the same findings, in batches, until told to stop."""

    def __init__(self, key: str, events: list[dict]):
        super().__init__(daemon=True)
        self.key, self.events, self.statuses = key, events, []
        self.stop = threading.Event()

    def run(self):
        client = Client()
        try:
            for start in range(0, len(self.events), 20):
                if self.stop.is_set():
                    break
                response = client.post(
                    "/ingest/eventbridge/", data=json.dumps(self.events[start : start + 20]),
                    content_type="application/json", headers={"X-GuardWatch-Key": self.key},
                )  # fmt: skip
                self.statuses.append(response.status_code)
        finally:
            connection.close()


def test_twenty_thousand_findings_survive_throttling_a_failing_page_a_kill_and_concurrent_pushes(
    simulator, celery_worker_process, transactional_db, admin
):
    started = time.monotonic()
    estate(simulator, REGIONS, per_region=6667)  # 20,001 findings, admin's and two members'
    truth = simulated_findings(simulator, REGIONS)
    assert len(truth) == 20_001
    # EventBridge: a sample of the same findings, some twice, shuffled (order is not guaranteed).
    rng = random.Random(11)
    sample = rng.sample(sorted(truth.values(), key=lambda f: f["Arn"]), 3000)
    pushed = events_for(sample + sample[:500])
    rng.shuffle(pushed)
    _key, secret = ingest_key_create(name="EventBridge", actor=admin)
    members_monitored(REGIONS)  # ingest takes pushes of monitored members (and the administrator's) only

    for region in REGIONS:
        for operation in ("ListFindings", "GetFindings"):
            simulator.faults.add("throttle", rate=0.2, operation=operation, region=region)
    simulator.faults.add("fail_page", page=20, region=FAILING)  # every attempt at its 21st page: 500
    simulator.faults.add("latency", latency_ms=60, operation="GetFindings", region=KILLED)

    pusher = Pusher(secret, pushed)
    pusher.start()
    # Each region syncs in a process of its own, out of this one (which serves the simulator).
    # botocore's standard retries: the simulator throttles at random rather than above a rate, so
    # adaptive mode's client-side rate limiter would only slow the test down (the 429 handling under
    # test is the same; test_sync.py covers adaptive mode with throttling).
    standard = {"GUARDWATCH_AWS_RETRY_MODE": "standard"}
    victim = sync_in_subprocess(KILLED, "done-when-killed.log", **standard)
    throttled = sync_in_subprocess(THROTTLED, "done-when-throttled.log", **standard)
    failing = sync_in_subprocess(FAILING, "done-when-failing.log", **standard)
    try:
        wait_for(lambda: SyncRun.objects.filter(region=KILLED, pages__gte=8).exists(), timeout=90,
                 what="the doomed sync to get going")  # fmt: skip
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    phase(started, "killed the subprocess")
    assert SyncRun.objects.get(region=KILLED).status == "running"  # its worker died mid-run
    wait_for(lambda: region_free(KILLED), timeout=15, what="the dead process's lock to go")
    # Restart it on the real Celery worker (Redis), while the others still run.
    simulator.faults.configure([r for r in simulator.faults.describe()["rules"] if r["region"] != KILLED])
    restarts = [sync_task.delay(KILLED)]
    phase(started, "restart of the killed region queued")

    assert failing.wait(timeout=120) != 0  # manage.py findings_sync exits non-zero on a failed run
    failed = SyncRun.objects.get(region=FAILING)
    phase(started, "failing region failed")
    # Every attempt at the 21st page failed (a 500, or a 429 when throttling drew that attempt).
    assert failed.status == "failed" and failed.errors.startswith("ListFindings: ")
    assert failed.pages == 20
    assert SyncState.objects.get(region=FAILING).last_error
    # The page recovers; the next run (on the worker) resumes after the 20 committed pages.
    simulator.faults.configure([r for r in simulator.faults.describe()["rules"] if r["region"] != FAILING])
    restarts.append(sync_task.delay(FAILING))

    assert throttled.wait(timeout=150) == 0
    assert SyncRun.objects.get(region=THROTTLED).status == "succeeded"
    phase(started, "throttled region done")
    outcomes = [result.get(timeout=150) for result in restarts]
    phase(started, f"restarts done: {outcomes}")
    pusher.stop.set()
    pusher.join(timeout=60)

    assert [o["status"] for o in outcomes] == ["succeeded", "succeeded"], outcomes
    assert set(pusher.statuses) == {202}
    assert len(pusher.statuses) == -(-len(pushed) // 20)
    assert Finding.objects.count() == len(truth)
    assert stored_versions() == simulated_versions(simulator, REGIONS)
    stored_state = dict(Finding.objects.values_list("arn", "archived"))
    assert stored_state == {arn: f["Service"]["Archived"] for arn, f in truth.items()}
    # History: every finding has exactly its one version, however many times it arrived.
    assert FindingOccurrence.objects.count() == len(truth)
    # The killed region's run was taken over by the restart and finished: one run, resumed once.
    killed_runs = SyncRun.objects.filter(region=KILLED)
    assert [(r.status, r.resumed) for r in killed_runs] == [("succeeded", 1)]


def phase(started: float, what: str) -> None:
    """Timeline on stderr: pytest shows it when the test fails, which says where the time went."""
    print(f"{time.monotonic() - started:6.1f}s {what}", file=sys.stderr)


def region_free(region: str) -> bool:
    with sync_claim(region=region) as claim:
        return claim.acquired
