"""Report tests run with two regions, so matrices and percentages are easy to read."""

import uuid

import pytest

from tests.reports.support import REGIONS


@pytest.fixture(autouse=True)
def two_regions(settings):
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    settings.GUARDWATCH_INVITE_PENDING_DAYS = 7
    settings.GUARDWATCH_SLA_HOURS = {"critical": 4, "high": 24, "medium": 168, "low": 720}


@pytest.fixture(autouse=True)
def own_cache_keys(settings):
    """Each test's report versions, snapshots and refresh claims under its own key prefix in the shared Redis.

    Benchmarks and other test runs use the same Redis database; clearing it would drop their keys
    (and Celery's queue), so this test's keys are deleted by prefix afterwards instead.
    """
    from django.core.cache import cache

    prefix = f"gw-test-{uuid.uuid4().hex}"
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    yield
    if hasattr(cache, "_cache") and hasattr(cache._cache, "get_client"):  # noqa: SLF001 - Redis only
        client = cache._cache.get_client(write=True)  # noqa: SLF001
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)


class QueuedReports(list):
    """The report computations pages queued (their query strings); `run()` does what a worker would."""

    def __init__(self):
        super().__init__()
        self.owners: list[str] = []

    def delay(self, query: dict, owner: str = "") -> None:
        self.append(query)
        self.owners.append(owner)

    def run(self) -> None:
        from reports import services as report_services

        while self:
            report_services.findings_report_snapshot(query=self.pop(0), owner=self.owners.pop(0))


@pytest.fixture(autouse=True)
def report_worker(monkeypatch) -> QueuedReports:
    """Report computations are kept here instead of sent to the broker (no worker consumes them here)."""
    from reports import tasks

    queued = QueuedReports()
    monkeypatch.setattr(tasks.findings_report_snapshot, "delay", queued.delay)
    return queued


class QueuedPdfs(list):
    """The PDFs pages queued (token, html, base_url); `run()` lays them out as a worker would."""

    def delay(self, token: str, html: str, base_url: str) -> None:
        self.append((token, html, base_url))

    def run(self) -> None:
        from reports import pdf

        while self:
            token, html, base_url = self.pop(0)
            pdf.pdf_job_render(token=token, html=html, base_url=base_url)


@pytest.fixture(autouse=True)
def pdf_worker(monkeypatch) -> QueuedPdfs:
    """PDF layouts are kept here instead of sent to the broker (no worker consumes them here)."""
    from reports import tasks

    queued = QueuedPdfs()
    monkeypatch.setattr(tasks.report_pdf_render, "delay", queued.delay)
    return queued
