"""Findings report and dashboard reads: every figure is one SQL aggregate, never a loop over findings.

Definitions (shown on the page too):
- *new* findings are those GuardDuty created (`created_at`) in the period;
- a finding is *acknowledged* when its status first leaves New, and *resolved* when it first moves to
  a closed status (resolved, false positive, accepted risk, suppressed); both come from the triage
  timeline (`FindingEvent`), measured from `created_at`, for the findings created in the period;
- *SLA compliance* is, of the period's findings whose SLA has run out or that were resolved, the share
  resolved within their band's SLA (`findings.sla.sla_hours`: the SLA page, or GUARDWATCH_SLA_HOURS);
- the *open backlog* at the end of a day is today's open count walked back through the days' new,
  closed and reopened counts.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import OperationalError, connections, transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from findings import attack
from findings.models import OPEN_STATUSES, Finding, FindingEvent, SyncState
from findings.sla import BAND_RANGES, BANDS, CLOSED_STATUSES, overdue_q
from guardwatch.core.replica import reads_alias, reads_connection, replica_reads
from reports.periods import BAND_LABELS, TOP_N, ReportPeriod
from reports.timing import TimingRow, response_times, scope_sql, sql_datetimes

logger = logging.getLogger(__name__)

# --- The report ----------------------------------------------------------------------------------


@dataclass
class DayRow:
    """One day of the period."""

    day: date
    by_band: dict[str, int]
    new: int
    closed: int
    reopened: int
    open_at_end: int = 0


@dataclass
class Comparison:
    """One figure this period and the previous one."""

    label: str
    current: float | None
    previous: float | None
    unit: str = ""
    lower_is_better: bool = True

    @property
    def change(self) -> float | None:
        if self.current is None or self.previous is None:
            return None
        return round(self.current - self.previous, 1)

    @property
    def change_unit(self) -> str:
        """A change of a percentage is in percentage points ("+5.0 pp", not "+5.0 %")."""
        return " pp" if self.unit == " %" else self.unit

    @property
    def change_percent(self) -> float | None:
        """The relative change; none for a percentage (a relative change of a rate reads as its points)."""
        if self.change is None or not self.previous or self.unit == " %":
            return None
        return round(100 * self.change / self.previous, 1)

    @property
    def better(self) -> bool | None:
        if not self.change:
            return None
        return (self.change < 0) == self.lower_is_better


@dataclass
class FindingsReport:
    """Everything the findings report page shows, for one period."""

    period: ReportPeriod
    days: list[DayRow]
    totals_by_band: dict[str, int]
    new_total: int
    closed_total: int
    open_now: int
    top_types: list[dict]
    top_accounts: list[dict]
    top_resources: list[dict]
    timing: list[TimingRow]
    computed_at: datetime | None = None  # when these figures were read (the page says so: they are cached)
    comparisons: list[Comparison] = field(default_factory=list)
    # The period's new findings by ATT&CK tactic and band. A class-level None, so a snapshot pickled
    # before this field existed reads back without it (the page then leaves the heatmap out).
    attack: attack.Heatmap | None = None


def _in(period: ReportPeriod, column: str = "created_at") -> Q:
    return Q(**{f"{column}__gte": period.start, f"{column}__lt": period.end})


def _scoped(scope, field: str = "account_id") -> Q:
    """A team's accounts only (guardwatch.core.scope); everything for `None`."""
    return Q() if scope is None else Q(**{f"{field}__in": sorted(scope)})


def _daily_new(period: ReportPeriod, scope=None) -> dict[date, dict[str, int]]:
    """New findings per day and band: one GROUP BY on the created_at index range."""
    rows = (
        Finding.objects.filter(_in(period), _scoped(scope))
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "severity_band")
        .annotate(n=Count("id"))
        .order_by()
    )
    table: dict[date, dict[str, int]] = {}
    for row in rows:
        table.setdefault(row["day"], {})[row["severity_band"]] = row["n"]
    return table


_CLOSING = Q(to_status__in=CLOSED_STATUSES) & ~Q(from_status__in=CLOSED_STATUSES)
_REOPENING = Q(to_status__in=OPEN_STATUSES) & Q(from_status__in=CLOSED_STATUSES)


@dataclass
class _Moves:
    """Closures and reopenings from the timeline: per day of the period, before it, and after it."""

    by_day: dict[date, tuple[int, int]]
    closed_before: int  # in the previous period (closures only)
    closed_after: int  # from the period's end on (walking today's backlog back)
    reopened_after: int


def _moves(period: ReportPeriod, scope=None) -> _Moves:
    """One pass over the timeline from the previous period's start, grouped by day (whole UTC days)."""
    rows = (
        FindingEvent.objects.filter(created_at__gte=period.previous.start, kind=FindingEvent.Kind.STATUS)
        .filter(_scoped(scope, "finding__account_id"))
        .filter(_CLOSING | _REOPENING)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(closed=Count("id", filter=_CLOSING), reopened=Count("id", filter=_REOPENING))
        .order_by()
    )
    moves = _Moves({}, 0, 0, 0)
    first, end = period.first_day, period.end.date()
    for row in rows:
        day, closed, reopened = row["day"], row["closed"], row["reopened"]
        if day < first:
            moves.closed_before += closed
        elif day >= end:
            moves.closed_after += closed
            moves.reopened_after += reopened
        else:
            moves.by_day[day] = (closed, reopened)
    return moves


def open_count(scope=None) -> int:
    """Open findings now (served by the open-findings partial index)."""
    return Finding.objects.filter(_scoped(scope), status__in=OPEN_STATUSES).count()


def _top(period: ReportPeriod, *fields: str, scope=None) -> list[dict]:
    """The TOP_N most frequent values of `fields` among the period's new findings, with high+critical."""
    severe = Q(severity__gte=BAND_RANGES["high"][0])
    return list(
        Finding.objects.filter(_in(period), _scoped(scope))
        .values(*fields)
        .annotate(
            n=Count("id"),
            severe=Count("id", filter=severe),
            open=Count("id", filter=Q(status__in=OPEN_STATUSES)),
        )
        .order_by("-n", *fields)[:TOP_N]
    )


# GROUPING() over (day, band, type, account_id, resource_type, resource_id): which set a row belongs to.
_SET_DAILY, _SET_TYPE_BAND, _SET_ACCOUNT, _SET_RESOURCE = 0b001111, 0b100111, 0b111011, 0b111100


def _type_bands(period: ReportPeriod, scope=None) -> list[tuple[str, str, int]]:
    """New findings per type and band (the SQLite demo's query; Postgres has them from the one pass)."""
    rows = (
        Finding.objects.filter(_in(period), _scoped(scope))
        .values_list("type", "severity_band")
        .annotate(n=Count("id"))
        .order_by()
    )
    return sorted((type_, band, n) for type_, band, n in rows)


def _period_figures_sql(scoped: str = "") -> str:
    """New findings per day × band, per type × band and the top accounts and resources in one pass (Postgres).

    One index-only range scan of the report's covering index, hashed into four grouping sets; the top
    accounts and resources are ranked in SQL (same order as `_top`: count, then the key) so only TOP_N
    rows each return. Every (type, band) row returns, a few hundred at most (GuardDuty has ~150 types):
    the top types are summed from them in Python (`_top_types`), and the ATT&CK heatmap maps them to
    tactics (`findings.attack.heatmap`). A (type) set beside (band, type) cost the pass 2.6× (bench_attack).
    """
    finding = Finding._meta.db_table
    # S608: identifiers are constants of this module; every value is a parameter.
    return f"""
        WITH f AS (
            SELECT (created_at AT TIME ZONE 'UTC')::date AS day, severity_band AS band, type, account_id,
                   resource_type, resource_id, severity >= %s AS severe, status = ANY(%s) AS open
            FROM {finding} WHERE created_at >= %s AND created_at < %s{scoped}
        ), sets AS (
            SELECT GROUPING(day, band, type, account_id, resource_type, resource_id) AS kind,
                   day, band, type, account_id, resource_type, resource_id,
                   COUNT(*) AS n, COUNT(*) FILTER (WHERE severe) AS severe, COUNT(*) FILTER (WHERE open) AS open
            FROM f GROUP BY GROUPING SETS ((day, band), (band, type), (account_id), (resource_type, resource_id))
        ), ranked AS (
            SELECT sets.*, row_number() OVER (
                PARTITION BY kind ORDER BY n DESC, type, account_id, resource_type, resource_id) AS rank
            FROM sets
        )
        SELECT kind, day, band, type, account_id, resource_type, resource_id, n, severe, open
        FROM ranked WHERE kind IN ({_SET_DAILY}, {_SET_TYPE_BAND}) OR rank <= {TOP_N}
        ORDER BY kind, rank
    """  # noqa: S608


@dataclass
class _PeriodFigures:
    new_by_day: dict[date, dict[str, int]]
    top_types: list[dict]
    top_accounts: list[dict]
    top_resources: list[dict]
    type_bands: list[tuple[str, str, int]] = field(default_factory=list)


def _top_types(rows: list[tuple[str, dict]]) -> list[dict]:
    """The TOP_N types (as `_top` ranks them: count, then type) from (type, counts of one band) rows."""
    totals: dict[str, dict] = {}
    for type_, counts in rows:
        total = totals.setdefault(type_, {"type": type_, "n": 0, "severe": 0, "open": 0})
        for key in ("n", "severe", "open"):
            total[key] += counts[key]
    return sorted(totals.values(), key=lambda row: (-row["n"], row["type"]))[:TOP_N]


def _period_figures(period: ReportPeriod, scope=None) -> _PeriodFigures:
    """Daily new per band and the top lists: one pass on Postgres, one query per figure elsewhere."""
    connection = reads_connection()
    if connection.vendor != "postgresql":  # the SQLite demo: no GROUPING SETS
        return _PeriodFigures(
            _daily_new(period, scope), _top(period, "type", scope=scope), _top(period, "account_id", scope=scope),
            _top(period, "resource_type", "resource_id", scope=scope), _type_bands(period, scope),
        )  # fmt: skip
    figures = _PeriodFigures({}, [], [], [])
    scoped, scope_params = scope_sql(scope)
    params = [BAND_RANGES["high"][0], list(OPEN_STATUSES), *sql_datetimes(period.start, period.end), *scope_params]
    with connection.cursor() as cursor:
        cursor.execute(_period_figures_sql(scoped), params)
        rows = cursor.fetchall()
    type_rows: list[tuple[str, dict]] = []
    for kind, day, band, type_, account_id, resource_type, resource_id, n, severe, open_ in rows:
        counts = {"n": n, "severe": severe, "open": open_}
        if kind == _SET_DAILY:
            figures.new_by_day.setdefault(day, {})[band] = n
        elif kind == _SET_TYPE_BAND:
            type_rows.append((type_, counts))
            figures.type_bands.append((type_, band, n))
        elif kind == _SET_ACCOUNT:
            figures.top_accounts.append({"account_id": account_id, **counts})
        elif kind == _SET_RESOURCE:
            figures.top_resources.append({"resource_type": resource_type, "resource_id": resource_id, **counts})
    figures.top_types = _top_types(type_rows)
    figures.type_bands.sort()
    return figures


def _account_names(account_ids: list[str]) -> dict[str, str]:
    from accounts.models import MemberAccount

    return dict(
        MemberAccount.objects.filter(account_id__in=account_ids).values_list("account_id", "display_name")
    )


@contextmanager
def _report_session() -> Iterator[None]:
    """Postgres: let the report's passes hash their groups in memory and skip JIT compilation.

    The planner guesses ~1M resource groups (there are ~14k): below 256 MB it sorts the period (to
    disk at 90 days) instead of hashing the grouping sets, and the timing pass's sort by band spills
    too; the real use is ~20 MB for the hashes and ~90 MB for 1M durations. JIT compiles each pass
    (every one costs past jit_above_cost) for longer than it runs. SET LOCAL: only this transaction,
    which only reads, on the database reads go to (the replica inside `replica_reads()`).
    """
    alias = reads_alias()
    connection = connections[alias]
    with transaction.atomic(using=alias):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '256MB'")
                cursor.execute("SET LOCAL jit = off")
        yield


@dataclass
class _Passes:
    """The report's independent passes over the data, each filled by one query."""

    figures: _PeriodFigures | None = None
    previous_timing: list[TimingRow] | None = None
    scope: frozenset[str] | None = None  # a team's accounts only (guardwatch.core.scope)
    moves: _Moves | None = None
    open_now: int = 0
    new_after: int = 0
    timing: list[TimingRow] | None = None


def _passes_period(passes: _Passes, period: ReportPeriod, now: datetime) -> None:
    """The period's rows hashed into daily counts and top lists, and the previous period's times."""
    passes.figures = _period_figures(period, passes.scope)
    passes.previous_timing = response_times(period.previous, now=now, percentiles=False, scope=passes.scope)


def _passes_rest(passes: _Passes, period: ReportPeriod, now: datetime) -> None:
    """The period's response times (p90s), the timeline's moves and the open backlog now."""
    passes.timing = response_times(period, now=now, scope=passes.scope)
    passes.moves = _moves(period, passes.scope)
    passes.open_now = open_count(passes.scope)
    if period.end < now:
        passes.new_after = Finding.objects.filter(_scoped(passes.scope), created_at__gte=period.end).count()


def _passes_on_own_connection(passes: _Passes, period: ReportPeriod, now: datetime) -> None:
    try:
        with _report_session():
            _passes_period(passes, period, now)
    finally:
        connections.close_all()  # this thread's connections: nothing else will ever use them


def _parallel() -> bool:
    """Postgres outside a transaction: the two halves of the passes can run on two connections.

    Each pass runs on one core (grouping sets and percentiles do not use parallel workers), so on
    two connections the report takes about as long as its longer half. Inside a transaction (the
    tests' own) another connection would not see its rows: one connection then.
    """
    connection = reads_connection()
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _compute(period: ReportPeriod, now: datetime, scope=None) -> FindingsReport:
    passes = _Passes(scope=scope)
    if _parallel():
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-pass") as pool:
            # The context goes with it: inside replica_reads() the other pass reads the replica too.
            other = pool.submit(contextvars.copy_context().run, _passes_on_own_connection, passes, period, now)
            with _report_session():
                _passes_rest(passes, period, now)
            try:
                other.result()
            except OperationalError:  # no second connection (the server's limit, say): one is enough
                logger.warning("A report pass failed on its own connection; running it on this one.", exc_info=True)
                with _report_session():
                    _passes_period(passes, period, now)
    else:
        with _report_session():
            _passes_period(passes, period, now)
            _passes_rest(passes, period, now)
    return _report(period, now, passes)


def _report(period: ReportPeriod, now: datetime, passes: _Passes) -> FindingsReport:
    figures, moves = passes.figures, passes.moves
    days = []
    for day in period.days:
        by_band = {band: figures.new_by_day.get(day, {}).get(band, 0) for band in BANDS}
        closed, reopened = moves.by_day.get(day, (0, 0))
        days.append(DayRow(day, by_band, sum(by_band.values()), closed, reopened))
    backlog = passes.open_now
    if period.end < now:
        backlog = passes.open_now - passes.new_after + moves.closed_after - moves.reopened_after
    for row in reversed(days):
        row.open_at_end = max(0, backlog)
        backlog -= row.new - row.closed + row.reopened
    totals = {band: sum(d.by_band[band] for d in days) for band in BANDS}
    accounts = figures.top_accounts
    names = _account_names([a["account_id"] for a in accounts])
    for row in accounts:
        row["name"] = names.get(row["account_id"], "")
    report = FindingsReport(
        period=period,
        days=days,
        totals_by_band=totals,
        new_total=sum(totals.values()),
        closed_total=sum(d.closed for d in days),
        open_now=passes.open_now,
        top_types=figures.top_types,
        top_accounts=accounts,
        top_resources=figures.top_resources,
        timing=passes.timing,
        computed_at=now,
        attack=attack.heatmap(figures.type_bands, bands=BANDS),
    )
    report.comparisons = _comparisons(report, passes.previous_timing, closed_before=moves.closed_before)
    return report


def _comparisons(report: FindingsReport, timing: list[TimingRow], *, closed_before: int) -> list[Comparison]:
    """This period against the one before it: new findings (per band), resolved, times, SLA compliance.

    The previous period's new findings per band come from the same pass as its times (`timing`, no
    percentiles).
    """
    before = {row.band: row.findings for row in timing[:-1]}
    then = timing[-1]
    now_all = report.timing[-1]
    hours = 1 / 3600
    rows = [Comparison("New findings", report.new_total, sum(before.values()))]
    rows += [
        Comparison(f"New {BAND_LABELS[band]}", report.totals_by_band[band], before.get(band, 0))
        for band in BANDS
    ]
    rows.append(Comparison("Resolved", report.closed_total, closed_before, lower_is_better=False))
    for label, attr in (("Mean time to acknowledge", "tta_mean"), ("Mean time to resolve", "ttr_mean")):
        current, past = getattr(now_all, attr), getattr(then, attr)
        rows.append(
            Comparison(
                label,
                None if current is None else round(current * hours, 1),
                None if past is None else round(past * hours, 1),
                unit=" h",
            )
        )
    rows.append(
        Comparison("SLA compliance", now_all.sla_percent, then.sla_percent, unit=" %", lower_is_better=False)
    )
    return rows


def findings_report_compute(*, period: ReportPeriod, now: datetime | None = None, scope=None) -> FindingsReport:
    """The whole report for a period, computed now (report_services serves it from a snapshot);
    with `scope`, over a team's accounts only. Its reads go to the read replica when there is one."""
    with replica_reads():
        return _compute(period, now or timezone.now(), scope)


# --- Dashboard figures ------------------------------------------------------------------------------


@dataclass
class FindingsDashboard:
    """The findings cards of the dashboard home."""

    open_by_band: dict[str, int]
    overdue: int
    sync: list[SyncState]
    computed_at: datetime | None = None  # when the counts were read (sync states are always current)

    @property
    def open_total(self) -> int:
        return sum(self.open_by_band.values())


def findings_dashboard_counts(*, now: datetime | None = None, scope=None) -> tuple[dict[str, int], int]:
    """Open findings per band and overdue at `now`: one query over the open findings (of `scope`'s accounts)."""
    counts = Finding.objects.filter(_scoped(scope), status__in=OPEN_STATUSES).aggregate(
        **{
            band: Count("id", filter=Q(severity__gte=low, severity__lt=high))
            for band, (low, high) in BAND_RANGES.items()
        },
        overdue=Count("id", filter=overdue_q(now=now or timezone.now())),
    )
    return {b: counts[b] for b in BANDS}, counts["overdue"]


def sync_states() -> list[SyncState]:
    """Each configured region's findings sync state (a blank one where no sync ran yet)."""
    states = {s.region: s for s in SyncState.objects.filter(region__in=settings.GUARDWATCH_AWS_REGIONS)}
    return [states.get(region) or SyncState(region=region) for region in settings.GUARDWATCH_AWS_REGIONS]
