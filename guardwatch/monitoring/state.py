"""What GuardWatch's state looks like right now, read from PostgreSQL and Redis when /metrics is scraped.

Gauges that describe state (sync lag, backlogs, open findings, queue depth) are computed here rather than
kept in a process: any web process serving the scrape reads the same rows, whichever process (a web
worker, a Celery worker on another host) changed them. Every read is bounded: a handful of rows per
configured region, grouped counts that an index answers alone (write-backs and deliveries by status,
memberships by status and region), the findings figures from the dashboard's snapshot (the same one the
dashboard serves; never a count over the findings table per scrape), and LLEN per Celery queue. On
PostgreSQL each section runs under a statement timeout; a section that fails or times out is reported
by `guardwatch_metrics_section_up` instead of failing the scrape. A process reuses its figures for
GUARDWATCH_METRICS_CACHE_SECONDS.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min, QuerySet
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from accounts.models import STATUS_LABELS, Membership
from findings.models import SyncState
from guardwatch.core.metrics import push_marks_get
from notifications.models import Delivery
from reports.services import findings_dashboard, snapshot_ages
from triage.models import WriteBack

logger = logging.getLogger(__name__)

STATEMENT_TIMEOUT_MS = 2000
# kombu's Redis transport keeps a queue's messages of priority p > 0 in a list of its own (`name\x06\x16p`).
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
BACKLOG_WRITEBACK = (WriteBack.Status.PENDING, WriteBack.Status.FAILED)
BACKLOG_DELIVERY = (Delivery.Status.PENDING, Delivery.Status.SENDING, Delivery.Status.FAILED)


@contextlib.contextmanager
def _bounded() -> Iterator[None]:
    """One transaction whose statements PostgreSQL cancels after STATEMENT_TIMEOUT_MS."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        yield


def _by_status(queryset: QuerySet, statuses: Iterable[str]) -> dict[str, int]:
    """Rows per status, for these statuses only (one grouped count the (status, …) index answers)."""
    rows = queryset.filter(status__in=list(statuses)).order_by().values("status").annotate(n=Count("id"))
    return dict(rows.values_list("status", "n"))


def _gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def sync_metrics(now: datetime) -> list[Metric]:
    """Per configured region: the pull sync's last success and failure and how far behind GuardDuty it is;
    the last stored EventBridge push of the region and its delay."""
    regions = settings.GUARDWATCH_AWS_REGIONS
    last_success = _gauge("guardwatch_sync_last_success_timestamp_seconds",
                          "When the region's sync last succeeded (pull) or last stored a pushed finding (push); 0 = never.",
                          ["region", "direction"])  # fmt: skip
    lag = _gauge("guardwatch_sync_lag_seconds",
                 "Pull: seconds since the sync's checkpoint (every finding updated before it is stored). Push: "
                 "seconds between GuardDuty updating the last pushed findings and GuardWatch storing them.",
                 ["region", "direction"])  # fmt: skip
    last_failure = _gauge("guardwatch_sync_last_failure_timestamp_seconds",
                          "When the region's pull sync last failed; 0 = never.", ["region"])  # fmt: skip
    with _bounded():
        states = {state.region: state for state in SyncState.objects.filter(region__in=regions)}
    for region in regions:
        state = states.get(region) or SyncState(region=region)
        last_success.add_metric([region, "pull"], state.last_success_at.timestamp() if state.last_success_at else 0)
        last_failure.add_metric([region], state.last_failure_at.timestamp() if state.last_failure_at else 0)
        if state.settled_through:
            lag.add_metric([region, "pull"], max(0.0, (now - state.settled_through).total_seconds()))
    for region, (stored_at, delay) in sorted(push_marks_get(regions).items()):
        last_success.add_metric([region, "push"], stored_at)
        lag.add_metric([region, "push"], delay)
    return [last_success, lag, last_failure]


def member_metrics(now: datetime) -> list[Metric]:
    """Memberships (account × region) by GuardDuty relationship status; an unknown status counts as "other"."""
    members = _gauge("guardwatch_members",
                     'Memberships by relationship status ("" = not a member) and region.', ["status", "region"])  # fmt: skip
    regions = set(settings.GUARDWATCH_AWS_REGIONS)
    counts: dict[tuple[str, str], int] = {}
    with _bounded():
        rows = Membership.objects.order_by().values_list("relationship_status", "region").annotate(n=Count("id"))
        for status, region, n in rows:
            key = (status if status in STATUS_LABELS else "other", region if region in regions else "other")
            counts[key] = counts.get(key, 0) + n
    for (status, region), n in sorted(counts.items()):
        members.add_metric([status, region], n)
    return [members]


def findings_metrics(now: datetime) -> list[Metric]:
    """Open findings per severity band and SLA breaches, from the dashboard's snapshot (refreshed as the
    dashboard refreshes it); the age of every kept report snapshot."""
    with _bounded():
        dashboard = findings_dashboard(now=now)
    open_findings = _gauge("guardwatch_findings_open", "Open findings (new, acknowledged, in progress) by severity band.",
                           ["severity"])  # fmt: skip
    for band, n in dashboard.open_by_band.items():
        open_findings.add_metric([band], n)
    breached = _gauge("guardwatch_findings_sla_breached",
                      "Open findings older than their severity band's SLA (the SLA page; GUARDWATCH_SLA_HOURS until saved).")  # fmt: skip
    breached.add_metric([], dashboard.overdue)
    ages = _gauge("guardwatch_report_snapshot_age_seconds",
                  "Seconds since a kept report snapshot (the dashboard's counts, a standard report period) was computed.",
                  ["snapshot"])  # fmt: skip
    for name, age in sorted(snapshot_ages(now=now).items()):
        ages.add_metric([name], age)
    return [open_findings, breached, ages]


def _status_gauge(name: str, documentation: str, statuses: Iterable[str], counts: dict[str, int]) -> GaugeMetricFamily:
    gauge = _gauge(name, documentation, ["status"])
    for status in statuses:
        gauge.add_metric([status], counts.get(status, 0))
    return gauge


def writeback_metrics(now: datetime) -> list[Metric]:
    """Write-backs still owed to GuardDuty, by status, and how long the most overdue one has waited."""
    with _bounded():
        counts = _by_status(WriteBack.objects.all(), BACKLOG_WRITEBACK)
        oldest = WriteBack.objects.filter(status__in=BACKLOG_WRITEBACK).aggregate(due=Min("next_attempt_at"))["due"]
    overdue = _gauge("guardwatch_writeback_overdue_seconds",
                     "Seconds the most overdue owed write-back has been due (0 when none is due).")  # fmt: skip
    overdue.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    return [
        _status_gauge("guardwatch_writeback_backlog", "Write-backs owed to GuardDuty: pending, or failed and to be retried.",
                      BACKLOG_WRITEBACK, counts),
        overdue,
    ]  # fmt: skip


def notification_metrics(now: datetime) -> list[Metric]:
    """Deliveries waiting to be sent, by status, and dead letters (deliveries given up on)."""
    with _bounded():
        counts = _by_status(Delivery.objects.all(), (*BACKLOG_DELIVERY, Delivery.Status.DEAD))
    dead = _gauge("guardwatch_notification_dead_letters",
                  "Notification deliveries given up on after GUARDWATCH_NOTIFY_MAX_ATTEMPTS (until resent).")  # fmt: skip
    dead.add_metric([], counts.get(Delivery.Status.DEAD, 0))
    return [
        _status_gauge("guardwatch_notification_backlog", "Notification deliveries not yet sent: pending, sending, failed.",
                      BACKLOG_DELIVERY, counts),
        dead,
    ]  # fmt: skip


def celery_queues() -> list[str]:
    """The Celery queues this deployment routes tasks to (the default one, and any configured)."""
    from celery import current_app

    return sorted({settings.CELERY_TASK_DEFAULT_QUEUE, *current_app.amqp.queues.keys()})


def queue_metrics(now: datetime) -> list[Metric]:
    """Messages waiting in each Celery queue, read from the broker (Redis lists; the demo's folder)."""
    depth = _gauge("guardwatch_celery_queue_length", "Tasks waiting in a Celery queue (not yet taken by a worker).",
                   ["queue"])  # fmt: skip
    queues = celery_queues()
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            pipe = client.pipeline(transaction=False)
            for queue in queues:
                pipe.llen(queue)
                for step in PRIORITY_STEPS:
                    pipe.llen(f"{queue}{PRIORITY_SEPARATOR}{step}")
            lengths = pipe.execute()
        finally:
            client.close()
        per_queue = 1 + len(PRIORITY_STEPS)
        for index, queue in enumerate(queues):
            depth.add_metric([queue], sum(lengths[index * per_queue : (index + 1) * per_queue]))
    elif folder := getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).get("data_folder_in"):
        names = [entry.name for entry in Path(folder).iterdir()] if Path(folder).is_dir() else []
        for queue in queues:
            depth.add_metric([queue], sum(1 for name in names if name.endswith(f".{queue}.msg")))
    return [depth]


SECTIONS: dict[str, Callable[[datetime], list[Metric]]] = {
    "sync": sync_metrics,
    "members": member_metrics,
    "findings": findings_metrics,
    "writebacks": writeback_metrics,
    "notifications": notification_metrics,
    "queues": queue_metrics,
}


def state_metrics(*, now: datetime | None = None) -> list[Metric]:
    """Every section's gauges, with whether each could be read and how long reading took."""
    now = now or timezone.now()
    started = time.perf_counter()
    families: list[Metric] = []
    up = _gauge("guardwatch_metrics_section_up", "1 when the section's state could be read for this scrape, else 0.",
                ["section"])  # fmt: skip
    for name, section in SECTIONS.items():
        try:
            families.extend(section(now))
        except Exception:  # noqa: BLE001 - one unreadable section (a timeout, Redis down) must not hide the rest
            logger.warning("Metrics section %s could not be read.", name, exc_info=True)
            up.add_metric([name], 0)
        else:
            up.add_metric([name], 1)
    took = _gauge("guardwatch_metrics_collect_seconds", "Seconds reading the state for /metrics took (uncached).")
    took.add_metric([], time.perf_counter() - started)
    return [*families, up, took]


class StateCollector:
    """A prometheus-client collector serving `state_metrics`, reused for GUARDWATCH_METRICS_CACHE_SECONDS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read_at = 0.0
        self._families: list[Metric] = []

    def collect(self) -> list[Metric]:
        with self._lock:
            if time.monotonic() - self._read_at >= settings.GUARDWATCH_METRICS_CACHE_SECONDS or not self._families:
                self._families = state_metrics()
                self._read_at = time.monotonic()
            return self._families

    def forget(self) -> None:
        """Drop the kept figures: the next scrape reads afresh."""
        with self._lock:
            self._families, self._read_at = [], 0.0


STATE = StateCollector()
