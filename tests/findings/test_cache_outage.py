"""Redis is a best-effort cache for the upsert path: losing it mid-sync never fails the sync.

The test runs its own redis-server as the cache (the suite's Redis stays up as the broker), and
stops it for good while the sync is between pages.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from django.core.cache import cache
from django.test.utils import override_settings

from findings.models import SyncRun
from findings.signals import findings_upsert_starting
from findings.sync import findings_sync_region
from guardwatch.core.data_version import data_version

from .simulated import estate
from .test_sync import simulated_versions, stored_versions

REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def own_redis():
    """A redis-server of this test's own, on a free port, stopped at the latest when the test ends."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is installed on this machine (see README: requirements)"
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:  # a readiness poll with a deadline
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError("the test's redis-server did not start") from None
            time.sleep(0.05)
    yield proc, f"redis://127.0.0.1:{port}/0"
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_redis_stopped_mid_sync_does_not_fail_the_sync(simulator, own_redis, monkeypatch):
    proc, url = own_redis
    monkeypatch.setattr("findings.sync.SYNC_COMMIT_FINDINGS", 50)  # six batches of 300 findings
    estate(simulator, [REGION], per_region=300)
    batches = []

    def stop_redis_after_the_first_page(**_kwargs):
        batches.append(1)
        if len(batches) == 2 and proc.poll() is None:  # the first page is stored, with Redis up
            proc.kill()
            proc.wait(timeout=10)

    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    with override_settings(CACHES=caches):
        before = data_version(scope="findings")  # the cache answers: it is the test's Redis
        assert cache.get("guardwatch:reports:version:findings") == before
        findings_upsert_starting.connect(stop_redis_after_the_first_page, dispatch_uid="test-stop-redis")
        try:
            run = findings_sync_region(region=REGION)
        finally:
            findings_upsert_starting.disconnect(dispatch_uid="test-stop-redis")

    assert proc.poll() is not None and len(batches) > 2  # Redis was gone for most of the sync
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert stored_versions() == simulated_versions(simulator, [REGION])
