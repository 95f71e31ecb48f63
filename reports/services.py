"""Report services: the findings report and the dashboard's findings figures, served from kept snapshots
that this module computes and writes (to the cache) and queues computations of.

At 1,000,000 findings the report takes seconds to compute (docs/benchmarks.md), so a manager's page
does not compute it: it serves the last snapshot of the standard periods (7, 30, 90 days) and of the
dashboard counts, saying when its figures were read, and when that snapshot is stale it queues one
refresh (`findings_figures_refresh`, a Celery task that beat also runs every minute). A snapshot is
stale when
- findings changed since: a newer occurrence (a sync or EventBridge stored a new or updated finding),
  a newer timeline event (a triage move), or a bump of the "findings" report version (a sync or an
  EventBridge push that stored new or updated findings, or a triage move, each once committed: ids are
  taken at insert, so the newest ids alone miss a change that commits after a later one);
- its period has moved on (a new UTC day), or
- it is older than its maximum age: `GUARDWATCH_REPORTS_MAX_AGE_SECONDS` for the report,
  `GUARDWATCH_REPORTS_CACHE_SECONDS` for the dashboard, whose overdue count moves with the clock.
Refreshes run one at a time across workers and start at most once per `GUARDWATCH_REPORTS_CACHE_SECONDS`.
A period with no snapshot at all (first start, the cache lost it, a custom period nobody asked for
lately) is not computed on the request either: the request queues one computation of it
(`findings_report_snapshot`, a Celery task) and the page polls until its snapshot is there. At a
million findings a long period takes seconds of database time, a year several times that: holding a web
worker for it would let a few managers' clicks tie up the web tier. A custom period's snapshot is kept
under the same checks (for at most `GUARDWATCH_REPORTS_MAX_AGE_SECONDS`); a stale one is served while
a worker recomputes it. The request computes inline only when the task cannot be queued (the broker is
down) or no worker has finished it in `WORKER_WAIT_SECONDS`, and for a CSV export (a download waits).
A computation that fails is shown on the page (which stops polling) until someone asks to try again.
`GUARDWATCH_REPORTS_CACHE_SECONDS=0` turns all of this off: every request computes.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from findings.models import FindingEvent, FindingOccurrence
from guardwatch.core.data_version import data_version
from guardwatch.core.queue import task_send
from guardwatch.core.replica import replica_configured, replica_reads
from reports import findings_report as reports
from reports import periods
from reports.cache import (
    SNAPSHOT_SECONDS,
    Snapshot,
    failure_forget,
    failure_get,
    failure_put,
    refresh_claim,
    refresh_request,
    refresh_request_done,
    refresh_request_renew,
    refresh_requested_at,
    slot_release,
    slot_take,
    snapshot_get,
    snapshot_put,
)
from reports.findings_report import FindingsDashboard, FindingsReport
from reports.periods import ReportPeriod

logger = logging.getLogger(__name__)

STANDARD_PERIODS = ("30", "7", "90")  # refreshed in this order: the default period first
REPORT = "findings-report-v3"  # v3: snapshots with their data mark
DASHBOARD = "findings-dashboard-v2"
CLAIM = "findings-figures"
# A queued report computation no worker has finished after this long is computed on the next request
# (no worker runs, or the queue is stuck); its request is forgotten after QUEUED_SECONDS (a worker died).
WORKER_WAIT_SECONDS = 120
QUEUED_SECONDS = 10 * 60
FAILED_SECONDS = 10 * 60  # a failed computation is shown, not retried, this long (or until "Try again")


def _enabled() -> bool:
    return settings.GUARDWATCH_REPORTS_CACHE_SECONDS > 0


def findings_data_mark() -> tuple[int, int, int]:
    """What the findings figures depend on, cheaply: the findings version, newest occurrence and event ids.

    Two primary-key lookups: every stored new or updated finding appends an occurrence, every triage
    move appends a timeline event.
    """
    occurrence = FindingOccurrence.objects.order_by("-id").values_list("id", flat=True).first() or 0
    event = FindingEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return (data_version(scope="findings"), occurrence, event)


def _age(snapshot: Snapshot, now: datetime) -> float:
    return (now - snapshot.computed_at).total_seconds()


def _report_stale(snapshot: Snapshot, *, period: ReportPeriod, mark: tuple, now: datetime) -> bool:
    shown: ReportPeriod = snapshot.value.period
    return (
        snapshot.mark != mark
        or (shown.start, shown.end) != (period.start, period.end)
        or _age(snapshot, now) >= settings.GUARDWATCH_REPORTS_MAX_AGE_SECONDS
    )


def _dashboard_stale(snapshot: Snapshot, *, mark: tuple, now: datetime) -> bool:
    return snapshot.mark != mark or _age(snapshot, now) >= settings.GUARDWATCH_REPORTS_CACHE_SECONDS


def _report_params(period: ReportPeriod) -> dict:
    if period.key == "custom":
        return {"custom": [period.start, period.end]}
    return {"period": period.key}


def _report_snapshot(period: ReportPeriod, *, now: datetime, mark: tuple) -> FindingsReport:
    if replica_configured():
        # The report reads the replica: keep the ids it had replayed, so a snapshot that missed the
        # primary's newest changes (the replica's lag) is stale at the next check and computed again.
        with replica_reads():
            mark = findings_data_mark()
    report = reports.findings_report_compute(period=period, now=now)
    # A custom period is kept only as long as it could be served: anyone who reads reports can ask
    # for many, and this Redis is also the Celery broker.
    seconds = settings.GUARDWATCH_REPORTS_MAX_AGE_SECONDS if period.key == "custom" else SNAPSHOT_SECONDS
    snapshot_put(REPORT, _report_params(period), Snapshot(report, now, mark), seconds=seconds)
    return report


@dataclasses.dataclass(frozen=True)
class ServedReport:
    """The report a page shows, and whether newer figures are being computed meanwhile.

    `report` is None while a worker computes the first figures of the period (queued at `queued_at`),
    or when computing them failed (`failed` says why; nothing retries it until someone asks to).
    """

    report: FindingsReport | None
    refreshing: bool = False
    queued_at: datetime | None = None
    failed: str = ""
    after: str = ""  # the custom period of the same person computed first (theirs are queued one at a time)

    @property
    def pending(self) -> bool:
        """No figures to show yet: a worker computes them (the page polls)."""
        return self.report is None and not self.failed


def findings_report(
    *, period: ReportPeriod, now: datetime | None = None, wait: bool = False, retry: bool = False, owner: str = "",
    scope: frozenset[str] | None = None,
) -> ServedReport:
    """The report for `period`: its snapshot when there is one (a stale one queues a refresh).

    Without a snapshot a worker computes it (`report` None, the page polls), unless `wait`: then, as
    when no worker can be asked, this call computes it. A computation that failed is reported, not
    queued again, for FAILED_SECONDS, unless `retry`. The custom periods of one `owner` (who asks) are
    queued one at a time: any reader can ask for many, and they share the workers with the syncs.

    A team-scoped reader (`scope`, guardwatch.core.scope) gets figures over their teams' accounts,
    computed for them: the snapshots hold the whole organisation's.
    """
    now = now or timezone.now()
    period = dataclasses.replace(period, errors=())
    if scope is not None:
        return ServedReport(reports.findings_report_compute(period=period, now=now, scope=scope))
    if not _enabled():
        return ServedReport(reports.findings_report_compute(period=period, now=now))
    mark = findings_data_mark()
    snapshot = snapshot_get(REPORT, _report_params(period))
    if snapshot is not None and not _report_stale(snapshot, period=period, mark=mark, now=now):
        return ServedReport(snapshot.value)
    if snapshot is not None and period.key != "custom":  # beat refreshes the standard periods
        return ServedReport(snapshot.value, refreshing=findings_figures_refresh_request())
    name = _compute_name(period)
    if retry:
        failure_forget(name)
    if not wait and (failed := failure_get(name)):
        return ServedReport(snapshot.value if snapshot else None, failed=failed)
    if not wait and owner and period.key == "custom":
        holder = slot_take(owner, period.label, seconds=QUEUED_SECONDS)
        if holder != period.label:  # this person's other custom period first; the page polls until its turn
            return ServedReport(snapshot.value if snapshot else None, refreshing=snapshot is None, after=holder)
    queued_at = None if wait else _compute_request(period, now=now, owner=owner)
    if queued_at is None:  # a download, or no broker: this request computes it
        return ServedReport(_report_snapshot(period, now=now, mark=mark))
    if (now - queued_at).total_seconds() >= WORKER_WAIT_SECONDS:
        return _compute_here(period, now=now, mark=mark, owner=owner)
    if snapshot is not None:  # a stale custom period: served while a worker recomputes it
        return ServedReport(snapshot.value, refreshing=True)
    return ServedReport(None, refreshing=True, queued_at=queued_at)


def _compute_here(period: ReportPeriod, *, now: datetime, mark: tuple, owner: str) -> ServedReport:
    """No worker finished the queued computation in WORKER_WAIT_SECONDS: this request does it.

    The pending request restarts now, so the other pages polling for it keep waiting instead of each
    computing it too; a failure is kept and shown like a worker's.
    """
    name = _compute_name(period)
    logger.warning("No worker computed the %s report in %d s; computing it here.", period.label,
                   WORKER_WAIT_SECONDS)  # fmt: skip
    refresh_request_renew(name, within=QUEUED_SECONDS, at=now)
    try:
        report = _report_snapshot(period, now=now, mark=mark)
    except Exception as error:  # noqa: BLE001 - the polling page shows it instead of polling on
        logger.exception("Computing the %s report failed.", period.label)
        return ServedReport(None, failed=_failed(name, error))
    finally:
        slot_release(owner, period.label)
    refresh_request_done(name)
    return ServedReport(report)


def _failed(name: str, error: Exception) -> str:
    """Keep (FAILED_SECONDS) and return what the page says of a failed computation; the request is over."""
    message = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"[:300]
    failure_put(name, message, seconds=FAILED_SECONDS)
    refresh_request_done(name)
    return message


def report_query(period: ReportPeriod) -> dict[str, str]:
    """The query string (as a dict) that asks for `period`: what a task is sent to compute it."""
    if period.key == "custom":
        return {"period": "custom", "start": period.first_day.isoformat(), "end": period.last_day.isoformat()}
    return {"period": period.key}


def _compute_name(period: ReportPeriod) -> str:
    return "report:" + ":".join(report_query(period).values())


def _compute_request(period: ReportPeriod, *, now: datetime, owner: str = "") -> datetime | None:
    """When a worker was asked to compute `period` (by this call, if nobody had); None if none can be."""
    name = _compute_name(period)
    if not refresh_request(name, within=QUEUED_SECONDS, at=now):
        return refresh_requested_at(name) or now
    try:
        task_send("findings.tasks.findings_report_snapshot", report_query(period), owner)
    except Exception:  # noqa: BLE001 - no broker: the request computes the report itself
        logger.warning("Could not queue the computation of the %s report; computing it here.", period.label,
                       exc_info=True)  # fmt: skip
        refresh_request_done(name)
        slot_release(owner, period.label)
        return None
    return now


def findings_report_snapshot(*, query: dict[str, str], owner: str = "", now: datetime | None = None) -> str:
    """Compute and keep the snapshot of the period `query` asks for, unless a current one is kept.

    What a page queues when it has no figures to show; returns the period's label. A failure is kept
    for the polling pages to show (they stop polling) and raised for the worker's log. Either way the
    `owner` who asked may have their next custom period computed.
    """
    now = now or timezone.now()
    period = periods.report_period(params=query, now=now)
    name = _compute_name(period)
    mark = findings_data_mark()
    snapshot = snapshot_get(REPORT, _report_params(period))
    try:
        if snapshot is None or _report_stale(snapshot, period=period, mark=mark, now=now):
            _report_snapshot(period, now=now, mark=mark)
    except Exception as error:
        _failed(name, error)
        raise
    else:
        refresh_request_done(name)
    finally:
        slot_release(owner, period.label)
    return period.label


def findings_dashboard(*, now: datetime | None = None, scope: frozenset[str] | None = None) -> FindingsDashboard:
    """The dashboard's findings cards: counts from their snapshot (a stale one queues a refresh), live sync states.

    A team-scoped reader's (`scope`) counts are read for them (one query over their open findings)."""
    now = now or timezone.now()
    if not _enabled() or scope is not None:
        open_by_band, overdue = reports.findings_dashboard_counts(now=now, scope=scope)
        return FindingsDashboard(open_by_band, overdue, reports.sync_states(), computed_at=now)
    mark = findings_data_mark()
    snapshot = snapshot_get(DASHBOARD, {})
    if snapshot is None:
        snapshot = Snapshot(reports.findings_dashboard_counts(now=now), now, mark)
        snapshot_put(DASHBOARD, {}, snapshot)
    elif _dashboard_stale(snapshot, mark=mark, now=now):
        findings_figures_refresh_request()
    open_by_band, overdue = snapshot.value
    return FindingsDashboard(open_by_band, overdue, reports.sync_states(), computed_at=snapshot.computed_at)


def snapshot_ages(*, now: datetime | None = None) -> dict[str, float]:
    """Seconds since each kept snapshot was computed, by name ("dashboard", "report_30", …); none when
    snapshots are off (GUARDWATCH_REPORTS_CACHE_SECONDS=0), and a snapshot not computed yet is left out."""
    if not _enabled():
        return {}
    now = now or timezone.now()
    kept = {"dashboard": snapshot_get(DASHBOARD, {})}
    for key in STANDARD_PERIODS:
        kept[f"report_{key}"] = snapshot_get(REPORT, _report_params(periods.report_period(params={"period": key}, now=now)))
    return {name: max(0.0, _age(snapshot, now)) for name, snapshot in kept.items() if snapshot is not None}


def findings_figures_refresh_request() -> bool:
    """Queue a refresh of the stale snapshots (at most one request per GUARDWATCH_REPORTS_CACHE_SECONDS).

    Returns True: a refresh is queued or already under way, either way newer figures are coming.
    """
    if refresh_request(CLAIM, within=settings.GUARDWATCH_REPORTS_CACHE_SECONDS):
        transaction.on_commit(_refresh_enqueue)
    return True


def _refresh_enqueue() -> None:
    try:
        task_send("findings.tasks.findings_figures_refresh")
    except Exception:  # noqa: BLE001 - the broker being down must not turn a served snapshot into a 500
        logger.warning("Could not queue a findings figures refresh; beat will run one.", exc_info=True)


def findings_figures_refresh(*, now: datetime | None = None) -> list[str]:
    """Recompute every stale snapshot (dashboard counts, then the standard periods); the names refreshed.

    One refresh at a time across workers, at most one start per GUARDWATCH_REPORTS_CACHE_SECONDS; a
    call that cannot claim the refresh returns [] (the one running, or the next beat tick, does it).
    Each snapshot records the data mark read before its figures, so a change made while it computes
    leaves it stale for the next refresh.
    """
    if not _enabled():
        return []
    with refresh_claim(CLAIM, cooldown=settings.GUARDWATCH_REPORTS_CACHE_SECONDS) as claimed:
        refreshed = _recompute(now=now, stale_only=True) if claimed else []
    if refreshed:
        logger.info("Findings report snapshots refreshed: %s", ", ".join(refreshed))
    return refreshed


def findings_figures_rebuild(*, now: datetime | None = None) -> list[str]:
    """Recompute the dashboard and every standard period now, stale or not, outside the refresh spacing.

    For a one-off rewrite of history (the demo's seeded month of triage): the regular refresh may have
    just run on the figures from before it and would then wait out its spacing.
    """
    return _recompute(now=now, stale_only=False) if _enabled() else []


def _recompute(*, now: datetime | None, stale_only: bool) -> list[str]:
    """The dashboard counts, then each standard period, each with the data mark read just before it."""
    recomputed: list[str] = []
    moment = now or timezone.now()
    mark = findings_data_mark()
    snapshot = snapshot_get(DASHBOARD, {}) if stale_only else None
    if snapshot is None or _dashboard_stale(snapshot, mark=mark, now=moment):
        snapshot_put(DASHBOARD, {}, Snapshot(reports.findings_dashboard_counts(now=moment), moment, mark))
        recomputed.append("dashboard")
    for key in STANDARD_PERIODS:
        moment = now or timezone.now()
        mark = findings_data_mark()
        period = periods.report_period(params={"period": key}, now=moment)
        snapshot = snapshot_get(REPORT, _report_params(period)) if stale_only else None
        if snapshot is None or _report_stale(snapshot, period=period, mark=mark, now=moment):
            _report_snapshot(period, now=moment, mark=mark)
            recomputed.append(key)
    return recomputed
