"""Issue 23.1's "done when": gunicorn and a Celery worker, as production runs them, sharing one
PROMETHEUS_MULTIPROC_DIR; Prometheus's scrape of /metrics over HTTP lists every documented series, and a
sync asked for on the Sync page (queued by the web, run by the worker, against the simulator) moves them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from findings.models import Finding
from guardwatch.core.queue import QUEUE_KINDS
from tests.conftest import PASSWORD, ROOT, TEST_OUTPUT, _worker_env, persona_create
from tests.core.test_demo import free_port, sign_in
from tests.findings.simulated import estate, members_monitored
from tests.support.metrics import sample
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.timeout(240)]

TOKEN = "done-when-metrics-token-0123456789abcdefghij"
REGION = "us-east-1"

# Every series docs/operations.md lists (a counter by its family name, without `_total`).
SERIES = (
    "guardwatch_sync_last_success_timestamp_seconds", "guardwatch_sync_lag_seconds",
    "guardwatch_sync_last_failure_timestamp_seconds", "guardwatch_sync_runs",
    "guardwatch_findings_ingested", "guardwatch_findings_updated", "guardwatch_findings_refused",
    "guardwatch_findings_ids_compare_missing", "guardwatch_findings_ids_compare_runs",
    "guardwatch_members", "guardwatch_findings_open", "guardwatch_findings_sla_breached",
    "guardwatch_celery_queue_length", "guardwatch_writeback_backlog", "guardwatch_writeback_overdue_seconds",
    "guardwatch_writebacks", "guardwatch_notification_deliveries", "guardwatch_notification_backlog",
    "guardwatch_notification_dead_letters", "guardwatch_report_snapshot_age_seconds",
    "guardwatch_http_request_duration_seconds", "guardwatch_metrics_section_up", "guardwatch_metrics_collect_seconds",
)  # fmt: skip


@pytest.fixture
def stack(simulator, transactional_db, tmp_path):
    """gunicorn (two workers) and a prefork Celery worker on a queue of their own, metrics on."""
    env = _worker_env()
    prometheus_dir = tmp_path / "prometheus"
    prometheus_dir.mkdir()
    queue = f"gw-metrics-{uuid.uuid4().hex[:8]}"
    env.update(
        PROMETHEUS_MULTIPROC_DIR=str(prometheus_dir), GUARDWATCH_METRICS="true", GUARDWATCH_METRICS_TOKEN=TOKEN,
        GUARDWATCH_CELERY_QUEUE=queue, GUARDWATCH_REPORTS_CACHE_SECONDS="2", GUARDWATCH_METRICS_CACHE_SECONDS="1",
        GUARDWATCH_AWS_RETRY_MODE="standard",
    )  # fmt: skip
    port = free_port()
    TEST_OUTPUT.mkdir(exist_ok=True)
    log = (TEST_OUTPUT / "metrics-stack.log").open("w")
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "guardwatch.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "2"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "guardwatch", "worker", "--concurrency", "2", "--loglevel", "INFO",
         "-Q", ",".join(queue if kind == "default" else f"{queue}.{kind}" for kind in QUEUE_KINDS),
         "--hostname", f"metrics-{os.getpid()}@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{base}/healthz") or web.poll() is not None, timeout=60, what="gunicorn")
        assert web.poll() is None, (TEST_OUTPUT / "metrics-stack.log").read_text()[-3000:]
        yield SimpleNamespace(base=base, queue=queue)
    finally:
        for process in (web, worker):
            process.send_signal(signal.SIGTERM)
        for process in (web, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log.close()


def _answers(url: str) -> bool:
    try:
        return urllib.request.urlopen(url, timeout=2).status == 200
    except OSError:
        return False


def scrape(base: str) -> dict:
    request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def open_total(families: dict) -> float:
    return sum(s.value for s in families["guardwatch_findings_open"].samples)


def test_prometheus_scrapes_every_series_and_a_sync_run_by_the_worker_moves_them(stack, simulator):
    base = stack.base
    estate(simulator, [REGION], per_region=45)
    members_monitored([REGION])
    persona_create("admin")

    before = scrape(base)
    missing = [name for name in SERIES if name not in before]
    assert not missing, missing
    pull = {"region": REGION, "direction": "pull"}
    assert sample(before, "guardwatch_sync_last_success_timestamp_seconds", pull) == 0  # never synced
    assert sample(before, "guardwatch_members", {"status": "Enabled", "region": REGION}) == 2
    assert stack.queue in {s.labels["queue"] for s in before["guardwatch_celery_queue_length"].samples}

    # The admin asks for a sync of the region on the Sync page: the web queues it, the worker runs it.
    admin = sign_in(base, "admin", PASSWORD)
    page = admin.open(f"{base}/findings/sync/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"region": REGION, "csrfmiddlewaretoken": token}).encode()
    admin.open(urllib.request.Request(f"{base}/findings/sync/run/", data=form,
                                      headers={"Referer": f"{base}/findings/sync/"}), timeout=30)  # fmt: skip

    stored = wait_for(lambda: Finding.objects.filter(region=REGION).count() >= 45 and Finding.objects.count(),
                      timeout=120, what="the worker's sync to store the findings")  # fmt: skip
    after = wait_for(
        lambda: (families := scrape(base))
        and sample(families, "guardwatch_sync_runs_total", {"region": REGION, "outcome": "succeeded"}) == 1
        and open_total(families) == stored
        # State gauges are cached a second per process (GUARDWATCH_METRICS_CACHE_SECONDS): wait for a fresh read.
        and sample(families, "guardwatch_sync_last_success_timestamp_seconds", pull) > 0
        and families,
        timeout=90, what="the sync and the refreshed dashboard counts in /metrics",
    )  # fmt: skip

    # Counted in the Celery worker's process, served by a gunicorn worker: multiprocess mode at work.
    ingested = sample(after, "guardwatch_findings_ingested_total", {"source": "pull"})
    assert ingested - sample(before, "guardwatch_findings_ingested_total", {"source": "pull"}) == stored
    last_success = sample(after, "guardwatch_sync_last_success_timestamp_seconds", pull)
    assert last_success > 0
    assert sample(after, "guardwatch_sync_lag_seconds", pull) > 0
    assert "dashboard" in {s.labels["snapshot"] for s in after["guardwatch_report_snapshot_age_seconds"].samples}
    views = {s.labels["view"] for s in after["guardwatch_http_request_duration_seconds"].samples}
    assert {"findings:sync_now", "findings:sync", "login"} <= views
    up = {s.labels["section"]: s.value for s in after["guardwatch_metrics_section_up"].samples}
    assert set(up.values()) == {1.0}, up
