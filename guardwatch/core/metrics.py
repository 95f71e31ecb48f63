"""Event counters and the request latency histogram, counted where things happen (docs/operations.md, "Metrics").

State (sync lag, backlogs, open findings, queue depth) is not counted here: `guardwatch.monitoring`
reads it from PostgreSQL and Redis when /metrics is scraped, so any process serving the scrape gives
the same answer. What happens in a process (a finding stored, a delivery sent, a request answered) is
counted in that process. With PROMETHEUS_MULTIPROC_DIR set (the same folder for gunicorn's workers and
the Celery workers of one host), prometheus-client keeps these counts in files there and the scrape adds
them up across every process; without it they live in this process's memory only.

Labels are bounded: a source, an outcome, a region from GUARDWATCH_AWS_REGIONS, a URL name. Never a
path, a finding string, an account id or an error message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from django.core.cache import cache
from prometheus_client import Counter, Histogram, disable_created_metrics

logger = logging.getLogger(__name__)

# A `_created` gauge beside each counter doubles the series for a timestamp Prometheus does not need (and
# multiprocess mode never serves), so one process's answer reads like every other's.
disable_created_metrics()

FINDINGS_INGESTED = Counter(
    "guardwatch_findings_ingested",
    "Findings stored for the first time, by how they arrived (pull sync or EventBridge push).",
    ["source"],
)
FINDINGS_UPDATED = Counter(
    "guardwatch_findings_updated",
    "Stored findings replaced by a newer GuardDuty version, by how it arrived.",
    ["source"],
)
FINDINGS_REFUSED = Counter(
    "guardwatch_findings_refused",
    "Findings not stored: pushed events refused as invalid or out of scope, or GuardDuty findings that could not be parsed.",
    ["source", "reason"],
)
SYNC_RUNS = Counter(
    "guardwatch_sync_runs",
    "Finished pull syncs of a region, by outcome.",
    ["region", "outcome"],
)
IDS_COMPARE_MISSING = Counter(
    "guardwatch_findings_ids_compare_missing",
    "Finding ids GuardDuty lists that the store did not hold when the ids comparison ran (the ledger gap).",
    ["region"],
)
IDS_COMPARE_RUNS = Counter(
    "guardwatch_findings_ids_compare_runs",
    "Ids comparisons of a region, by outcome.",
    ["region", "outcome"],
)
WRITEBACKS = Counter(
    "guardwatch_writebacks",
    "Write-backs to GuardDuty attempted by the flush, by outcome.",
    ["outcome"],
)
NOTIFICATION_DELIVERIES = Counter(
    "guardwatch_notification_deliveries",
    "Notification delivery attempts, by destination kind and outcome (sent, failed and retried, dead).",
    ["kind", "outcome"],
)
REQUEST_LATENCY = Histogram(
    "guardwatch_http_request_duration_seconds",
    "Time to answer a request, by URL name (never the path), method and status class.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)



def counters_initialise(*, regions: list[str]) -> None:
    """Every known label combination at 0, so a series exists (and `increase()` works) before its first event."""
    for source in ("pull", "push"):
        FINDINGS_INGESTED.labels(source=source)
        FINDINGS_UPDATED.labels(source=source)
    for source, reason in (("push", "invalid"), ("push", "out_of_scope"), ("pull", "unparseable")):
        FINDINGS_REFUSED.labels(source=source, reason=reason)
    for outcome in ("sent", "failed"):
        WRITEBACKS.labels(outcome=outcome)
    for region in regions:
        IDS_COMPARE_MISSING.labels(region=region)
        for outcome in ("succeeded", "failed"):
            SYNC_RUNS.labels(region=region, outcome=outcome)
            IDS_COMPARE_RUNS.labels(region=region, outcome=outcome)


# EventBridge pushes arrive at the web processes, possibly on several hosts: their last success per
# region is kept in the shared cache (Redis) so any scrape sees it.
PUSH_MARK_KEY = "guardwatch:metrics:push:{region}"
PUSH_MARK_SECONDS = 30 * 24 * 3600


def push_marks_put(*, lag_by_region: Mapping[str, float], at: datetime) -> None:
    """Remember that pushed findings of these regions were stored at `at`, each `lag` seconds after GuardDuty
    updated them. Never raises: a cache outage must not fail the push it describes."""
    try:
        cache.set_many(
            {PUSH_MARK_KEY.format(region=region): (at.timestamp(), lag) for region, lag in lag_by_region.items()},
            timeout=PUSH_MARK_SECONDS,
        )
    except Exception:  # noqa: BLE001 - the metric is lost, the push is not
        logger.warning("Could not record the push for /metrics.", exc_info=True)


def push_marks_get(regions: list[str]) -> dict[str, tuple[float, float]]:
    """Region -> (stored at, lag seconds) of the last stored push, for the regions that had one."""
    keys = {PUSH_MARK_KEY.format(region=region): region for region in regions}
    found = cache.get_many(list(keys))
    return {keys[key]: tuple(value) for key, value in found.items() if isinstance(value, tuple | list)}
