"""Triage reads: keyset pages, severity counts, saved views, people, a finding's timeline and chart, exports.

Performance at a million rows rests on:
- keyset pagination on (sort key, id) with a matching composite index (see `TRIAGE_INDEXES`), so
  page 200 costs what page 1 costs;
- counts by severity capped at `COUNT_CAP` per band (one statement, four `LIMIT`ed subqueries):
  exact up to 10,000, shown as "10,000+" above, so counting never scans the whole table.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Max, Min, Q, QuerySet, Value
from django.http import QueryDict
from django.utils import timezone

from findings.models import OPEN_STATUSES, Finding, FindingEvent, TriageStatus
from findings.sla import BAND_RANGES, BANDS
from guardwatch.core.data_version import data_version
from guardwatch.core.scope import scope_allows, scope_for, scope_q
from guardwatch.core.selectors import people
from triage.filters import (
    BUILTIN_VIEWS,
    DEFAULT_PAGE_SIZE,
    DEFAULT_SORT,
    PAGE_SIZES,
    SORTS,
    WORKED_OUT_FIELDS,
    FindingFilters,
    Sort,
    estimated_rows,
    findings_filtered,
    narrow_search,
    within_statement_budget,
)
from triage.models import SavedView, WriteBack

COUNT_CAP = 10_000
# With free text every candidate row is rechecked on the heap, so counts stop at a smaller cap.
SEARCH_COUNT_CAP = 1_000


# --- Keyset pages --------------------------------------------------------------------------------


def _cursor_encode(sort: Sort, finding: Finding) -> str:
    value = getattr(finding, sort.column)
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([value, finding.pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(sort: Sort, cursor: str) -> tuple[Any, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, pk = json.loads(raw)
        pk = int(pk)
        if value is None:
            return None, pk
        if sort.kind == "float":
            value = float(value)
        elif sort.kind == "int":
            value = int(value)
        else:
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                return None
        return value, pk
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        return None


def _order(sort: Sort, *, filter_first: bool = False, search: bool = False) -> list:
    """ORDER BY exactly as the matching index is built (Postgres matches NULLS FIRST/LAST literally).

    `filter_first` orders by an expression no index serves, so Postgres finds the (few) matches
    through the filter's own index and sorts them, instead of walking the sort index from the top.
    `search` (severity sorts with free text) orders by `FindingSearch`'s copy of (severity, id).
    """
    column = F(sort.column) + Value(0.0) if filter_first and sort.kind == "float" else F(sort.column)
    pk = F("id")
    if search:
        column, pk = F("search__severity"), F("search__finding")
    nullable = Finding._meta.get_field(sort.column).null
    if sort.descending:
        return [column.desc(nulls_last=True) if nullable else column.desc(), pk.desc()]
    return [column.asc(nulls_first=True) if nullable else column.asc(), pk.asc()]


# Filters whose matches cluster by severity (GuardDuty derives a finding's severity from its type):
# walking the severity index from the top can pass half the table before the first match.
SEVERITY_BOUND_FILTERS = ("type_prefix", "type_contains", "purpose", "tactic", "technique", "resource_type", "action_type")
# Below this many estimated matches, fetching them all and sorting beats walking the severity index.
FILTER_FIRST_ROWS = 50_000
# Above it, the severity walk is tried for this long first: quick when the matches sit near the top of the order,
# but a low-severity type (Recon:EC2/, 90,000 findings at 5,000,000, estimated 50,000-101,000 by the planner's
# sample) walks millions of rows (2.4 s). On timeout the matches are found first and sorted instead; a walk that
# needs more than 30 ms for one page has passed tens of thousands of rows already.
SEVERITY_WALK_MS = 30


WALK, MATCHES_FIRST, WALK_THEN_MATCHES = "walk", "matches first", "walk, then matches first"


def filter_first_plan(*, queryset: QuerySet, filters: FindingFilters, sort: Sort) -> str:
    """How to find a page sorted by severity (one EXPLAIN asks the planner's estimate): MATCHES_FIRST (find them
    all, sort them) below FILTER_FIRST_ROWS, WALK_THEN_MATCHES (walk within SEVERITY_WALK_MS, else matches
    first) above, WALK when no severity-bound filter narrows the rows."""
    if sort.column != "severity" or connection.vendor != "postgresql":
        return WALK
    if not any(getattr(filters, name) for name in SEVERITY_BOUND_FILTERS):
        return WALK
    return MATCHES_FIRST if estimated_rows(queryset) < FILTER_FIRST_ROWS else WALK_THEN_MATCHES


def _walk_within_budget(queryset: QuerySet, size: int) -> list[Finding] | None:
    """The severity walk's page, or None when it took longer than SEVERITY_WALK_MS."""
    return within_statement_budget(SEVERITY_WALK_MS, lambda: list(queryset[: size + 1]))


def _after(sort: Sort, value: Any, pk: int, *, search: bool = False) -> Q:
    """Rows strictly after (value, pk) in the sort's order (on `FindingSearch`'s copy with `search`).

    The redundant `col <= value` (or `>=`) bound lets Postgres start the index scan at the cursor
    instead of filtering from the first row. `last_seen` is nullable in the schema but the parser
    always fills it; a null would sort last (descending) and be reached only through a null cursor.
    """
    col, key = ("search__severity", "search__finding") if search else (sort.column, "id")
    if value is None:
        return Q(**{f"{col}__isnull": True}) & Q(**{f"{key}__lt" if sort.descending else f"{key}__gt": pk})
    if sort.descending:
        return Q(**{f"{col}__lte": value}) & (Q(**{f"{col}__lt": value}) | Q(**{f"{key}__lt": pk}))
    return Q(**{f"{col}__gte": value}) & (Q(**{f"{col}__gt": value}) | Q(**{f"{key}__gt": pk}))


@dataclass
class FindingPage:
    """One page of the list, the cursors to the pages either side, and where it sits in the list.

    `start` is the 1-based position of its first finding when known (carried in the page links: a
    keyset page does not know its offset, and counting the rows before it would cost what the cursor
    saves); `None` for a link without it.
    """

    findings: list[Finding]
    sort: Sort
    size: int
    next_cursor: str | None
    is_first: bool
    prev_cursor: str | None = None
    start: int | None = None

    @property
    def end(self) -> int | None:
        return self.start + len(self.findings) - 1 if self.start is not None and self.findings else None

    @property
    def next_start(self) -> int | None:
        return self.start + len(self.findings) if self.start is not None else None

    @property
    def prev_start(self) -> int | None:
        return max(1, self.start - self.size) if self.start is not None else None


def _flipped(sort: Sort) -> Sort:
    """The same sort walked the other way (a page back): the index scanned backward."""
    return replace(sort, descending=not sort.descending)


def finding_page(
    *,
    filters: FindingFilters,
    sort_key: str = DEFAULT_SORT,
    after: str = "",
    before: str = "",
    size: int = DEFAULT_PAGE_SIZE,
    start: int | None = None,
    user=None,
) -> FindingPage:
    """One keyset page of matching findings, assignee joined (one query whatever the size).

    `after` pages forward from a cursor; `before` pages back: the mirror query (same index, scanned
    backward) reads the `size` rows before the cursor, then they are put back in the list's order.
    """
    sort = SORTS.get(sort_key) or SORTS[DEFAULT_SORT]
    size = size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE
    narrow_search(filters)
    base = findings_filtered(filters=filters, user=user).select_related("assignee").defer("raw", "description")
    backward = bool(before) and not after
    raw_cursor = before if backward else after
    cursor = _cursor_decode(sort, raw_cursor) if raw_cursor else None
    if raw_cursor and cursor is None:
        filters.errors.append("That page link is no longer valid; showing the first page.")
    if cursor is None:
        backward, start = False, 1
    rows = _keyset_rows(base, filters=filters, sort=_flipped(sort) if backward else sort, cursor=cursor, size=size)
    more = len(rows) > size
    rows = rows[:size]
    if backward:
        rows.reverse()
        if not more:  # back at the top: show the first page whole, as its own link would
            return finding_page(filters=filters, sort_key=sort.key, size=size, start=1, user=user)
    is_first = cursor is None
    return FindingPage(
        findings=rows,
        sort=sort,
        size=size,
        next_cursor=_cursor_encode(sort, rows[-1]) if rows and (backward or more) else None,
        prev_cursor=_cursor_encode(sort, rows[0]) if rows and not is_first else None,
        is_first=is_first,
        start=start,
    )


def _keyset_rows(base: QuerySet[Finding], *, filters: FindingFilters, sort: Sort, cursor, size: int) -> list[Finding]:
    """Up to `size` + 1 rows after `cursor` in `sort`'s order (the extra one says there is more)."""
    # Free text sorted by severity walks FindingSearch's (severity, finding) index, checking each narrow
    # row's text, and reads findings only for the matches (its severity is always the finding's).
    search_walk = bool(filters.q) and filters.search_ids is None and sort.column == "severity"
    queryset = base
    if cursor is not None:
        queryset = queryset.filter(_after(sort, *cursor, search=search_walk))
    order = _order(sort, search=search_walk)
    plan = filter_first_plan(queryset=queryset, filters=filters, sort=sort)
    if plan == WALK_THEN_MATCHES:
        rows = _walk_within_budget(queryset.order_by(*order), size)
        if rows is not None:
            return rows
    if plan != WALK:
        # Ids from an index-only scan first, then only the page's rows from the table.
        ids = queryset.order_by(*_order(sort, filter_first=True)).values("id")[: size + 1]
        queryset = Finding.objects.filter(pk__in=ids).select_related("assignee").defer("raw", "description")
        order = _order(sort)
    return list(queryset.order_by(*order)[: size + 1])


# --- Severity counts -----------------------------------------------------------------------------


@dataclass
class SeverityCounts:
    """Matches per band, exact up to `COUNT_CAP` each; `capped` bands show as "10,000+".

    `approximate` counts are the planner's estimates (shown as "≈"), used when counting exactly
    would take longer than `COUNT_BUDGET_MS`.
    """

    bands: dict[str, int]
    capped: set[str]
    approximate: bool = False

    @property
    def total(self) -> int:
        return sum(self.bands.values())

    @property
    def total_capped(self) -> bool:
        return bool(self.capped)

    def rows(self) -> list[dict]:
        return [{"band": b, "count": self.bands[b], "capped": b in self.capped} for b in BANDS]


# Exact counts get this long; past it the list shows the planner's estimates instead.
COUNT_BUDGET_MS = 50


# Counts of one filter are kept this long, and dropped at once when findings change (the "findings"
# data version: a triage move, a sync run, a push): most requests are the same few views.
COUNTS_CACHE_SECONDS = 30
# What the analyst asked for (not what was worked out from it, nor the messages about it).
FILTER_FIELDS = tuple(f.name for f in fields(FindingFilters) if f.name not in WORKED_OUT_FIELDS)


def _counts_cache_key(filters: FindingFilters, user) -> str:
    wanted = {name: getattr(filters, name) for name in FILTER_FIELDS}
    if filters.assignee == "me":  # the only filter whose matches depend on who asks
        wanted["me"] = getattr(user, "pk", None)
    digest = hashlib.sha256(repr(sorted(wanted.items())).encode()).hexdigest()[:32]
    return f"guardwatch:triage:counts:{data_version(scope='findings')}:{digest}"


def severity_counts(*, filters: FindingFilters, user=None) -> SeverityCounts:
    """`severity_counts_compute`'s answer for the filter, from the cache when someone asked within
    COUNTS_CACHE_SECONDS and no finding changed since (a cache outage just computes them)."""
    try:
        key = _counts_cache_key(filters, user)
        counts = cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage (redis ConnectionError, TimeoutError, ...)
        key, counts = None, None
    if counts is None:
        counts = severity_counts_compute(filters=filters, user=user)
        if key is not None:
            with contextlib.suppress(Exception):
                cache.set(key, counts, COUNTS_CACHE_SECONDS)
    return counts


def severity_counts_compute(*, filters: FindingFilters, user=None) -> SeverityCounts:
    """Counts by band for the current filter: exact (capped) within `COUNT_BUDGET_MS`, else estimated.

    Exact counts are one statement of four capped subqueries; with free text, one scan of at most
    `SEARCH_COUNT_CAP` + 1 matches instead (each band's scan would otherwise recheck every candidate
    of the trigram index), and past that cap every band is a lower bound ("N+"). A filter the
    indexes do not serve (a rare band of one account, say) can make even capped counting scan much
    of the table, so Postgres gets a statement timeout and the page falls back to estimates.
    """
    narrow_search(filters)
    if filters.search_ids == []:
        return SeverityCounts(bands=dict.fromkeys(BANDS, 0), capped=set())
    now = timezone.now()
    base = findings_filtered(filters=filters, user=user, now=now).order_by()
    if filters.search_ids is not None:  # at most SEARCH_IDS_MAX findings: one exact pass
        found = dict(
            base.values_list("severity_band").annotate(n=Count("id")).values_list("severity_band", "n")
        )
        return SeverityCounts(bands={band: found.get(band, 0) for band in BANDS}, capped=set())
    per_band = {
        band: findings_filtered(filters=filters, user=user, now=now, band=band).order_by() for band in BANDS
    }
    if connection.vendor != "postgresql":
        return _severity_counts_exact(base, per_band, sampled=bool(filters.q), bounds=filters.search_bounds)
    exact = within_statement_budget(
        COUNT_BUDGET_MS,
        lambda: _severity_counts_exact(base, per_band, sampled=bool(filters.q), bounds=filters.search_bounds),
    )
    if exact is not None:
        return exact
    bands = {band: estimated_rows(queryset) for band, queryset in per_band.items()}
    return SeverityCounts(bands={band: bands[band] for band in BANDS}, capped=set(), approximate=True)


def _severity_counts_exact(
    base: QuerySet[Finding], per_band: dict[str, QuerySet[Finding]], *, sampled: bool, bounds=None
) -> SeverityCounts:
    if sampled:
        return _severity_counts_sampled(base, bounds=bounds)
    parts: list[str] = []
    params: list[Any] = []
    for band in BANDS:
        sub = per_band[band].values("id")[: COUNT_CAP + 1]
        sql, sub_params = sub.query.sql_with_params()
        parts.append(f"(SELECT count(*) FROM ({sql}) AS band_{band})")  # noqa: S608 - Django-built SQL
        params.extend(sub_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)  # noqa: S608
        values = cursor.fetchone()
    bands = {band: min(int(value), COUNT_CAP) for band, value in zip(BANDS, values, strict=True)}
    capped = {band for band, value in zip(BANDS, values, strict=True) if value > COUNT_CAP}
    return SeverityCounts(bands=bands, capped=capped)


def _severity_counts_sampled(base: QuerySet[Finding], *, bounds: tuple[float, float] | None = None) -> SeverityCounts:
    """Counts by band from at most SEARCH_COUNT_CAP matches; past the cap every band is a lower bound,
    except a band outside the severities the search's words occur at (`bounds`): it has none for sure."""
    severities = list(base.values_list("severity", flat=True)[: SEARCH_COUNT_CAP + 1])
    capped = len(severities) > SEARCH_COUNT_CAP
    bands = dict.fromkeys(BANDS, 0)
    for severity in severities[:SEARCH_COUNT_CAP]:
        bands[next((b for b, (low, high) in BAND_RANGES.items() if low <= severity < high), "low")] += 1
    possible = {
        band for band, (low, high) in BAND_RANGES.items() if bounds is None or (bounds[0] < high and low <= bounds[1])
    }
    return SeverityCounts(bands=bands, capped=possible if capped else set())


# --- Saved views, people -------------------------------------------------------------------------


def saved_views_for(*, user) -> list[SavedView]:
    """The user's own views and everyone's shared ones; for a team-scoped user, not the shared ones that
    name accounts outside their teams (the account ids in the view's query would show them)."""
    views = list(SavedView.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner"))
    if scope_for(user) is None:
        return views
    return [
        view for view in views
        if view.owner_id == user.pk or scope_allows(user, FindingFilters.from_query(QueryDict(view.query)).accounts)
    ]  # fmt: skip


def saved_view_default(*, user, views: list[SavedView] | None = None) -> tuple[str, str]:
    """The (name, query string) a bare findings list opens on: the user's default view, else the built-in.

    `views`, when given, are the user's views already read (`saved_views_for`), to save a query.
    """
    if views is None:
        views = list(SavedView.objects.filter(owner=user, is_default=True))
    mine = next((v for v in views if v.is_default and v.owner_id == user.pk), None)
    return (mine.name, mine.query) if mine is not None else BUILTIN_VIEWS[0]


def assignable_users() -> list:
    """People who may be assigned findings: Analysts and Admins (not service tokens' users)."""
    return list(
        people().filter(is_active=True, groups__name__in=["Analyst", "Admin"])
        .distinct()
        .order_by("username")
    )


# --- Detail --------------------------------------------------------------------------------------


_STATUS_LABELS = dict(TriageStatus.choices)


@dataclass
class TimelineEntry:
    when: datetime
    kind: str
    actor: str
    text: str
    from_status: str = ""
    to_status: str = ""
    details: dict = field(default_factory=dict)

    @property
    def from_label(self) -> str:
        """"In progress" for in_progress: the label people see everywhere else."""
        return _STATUS_LABELS.get(self.from_status, self.from_status)

    @property
    def to_label(self) -> str:
        return _STATUS_LABELS.get(self.to_status, self.to_status)


def finding_timeline(*, finding: Finding, limit: int = 300) -> list[TimelineEntry]:
    """Status changes, assignments, comments, write-backs and GuardDuty occurrences, oldest first."""
    entries = [
        TimelineEntry(
            e.created_at, e.kind, e.actor_name or "system", e.body, e.from_status, e.to_status, e.details
        )
        for e in FindingEvent.objects.filter(finding=finding).order_by("-created_at", "-id")[:limit]
    ]
    for occurrence in finding.occurrences.order_by("-updated_at")[:limit]:
        entries.append(
            TimelineEntry(
                occurrence.updated_at, "occurrence", "GuardDuty", f"Seen again: count {occurrence.count}"
            )
        )
    entries.sort(key=lambda e: e.when)
    return entries[-limit:]


def finding_writebacks(*, finding: Finding) -> list[WriteBack]:
    return list(finding.writebacks.order_by("-id")[:20])


@dataclass
class Chart:
    """A server-side SVG bar chart of occurrences per day (no inline style, presentation attributes only)."""

    width: int
    height: int
    bars: list[dict]
    max_value: int
    first_day: date | None
    last_day: date | None


def occurrences_chart(*, finding: Finding, days: int = 30, width: int = 600, height: int = 120) -> Chart:
    """New occurrences per day over the last `days` days of the finding's activity."""
    points = list(finding.occurrences.order_by("updated_at").values_list("updated_at", "count")[:2000])
    if not points:
        return Chart(width, height, [], 0, None, None)
    end = points[-1][0].date()
    start = end - timedelta(days=days - 1)
    per_day: dict[date, int] = {}
    previous = 0
    for moment, count in points:
        increase = max(count - previous, 0) if previous else count
        previous = count
        if moment.date() >= start:
            per_day[moment.date()] = per_day.get(moment.date(), 0) + increase
    top = max(per_day.values(), default=0) or 1
    slot = width / days
    bars = []
    for index in range(days):
        day = start + timedelta(days=index)
        value = per_day.get(day, 0)
        bar_height = round((height - 14) * value / top) if value else 0
        bars.append(
            {
                "x": round(index * slot + 1, 1),
                "y": height - 14 - bar_height,
                "width": round(max(slot - 2, 1), 1),
                "height": bar_height,
                "day": day,
                "value": value,
            }
        )
    return Chart(width, height, bars, top, start, end)


# The first page of an export is small so its first bytes leave at once; later pages are larger.
EXPORT_FIRST_PAGE = 500
EXPORT_PAGE = 5_000


def findings_export_rows(
    *, filters: FindingFilters, user=None, first_page: int = EXPORT_FIRST_PAGE, page: int = EXPORT_PAGE,
    after_page: Callable[[float], None] | None = None,
) -> Iterator[dict]:
    """Matching findings as plain dicts, highest severity first, in keyset pages.

    Each page is one `LIMIT`ed query resuming after the previous page's last (severity, id), as the
    list pages do, so the first rows leave after one short query, no statement holds a cursor over
    the whole sorted result (which Postgres sorted into a temporary file first), and memory holds
    one page. A finding changed while the export runs appears once, where its severity was read.
    `after_page` is called with each page query's seconds before its rows are yielded (the background
    export paces its share of the database with it).
    """
    columns = (
        "id", "arn", "finding_id", "account_id", "region", "type", "severity", "severity_band", "title",
        "resource_type", "resource_id", "action_type", "remote_ip", "remote_country_code", "count",
        "created_at", "first_seen", "last_seen", "archived", "status", "assignee__username",
    )  # fmt: skip
    sort = SORTS[DEFAULT_SORT]
    narrow_search(filters)  # an instance id's findings: read just those, not the whole severity order
    base = findings_filtered(filters=filters, user=user)
    search_walk = bool(filters.q) and filters.search_ids is None  # as `finding_page` walks free text
    order = _order(sort, search=search_walk)
    cursor: tuple[Any, int] | None = None
    size = first_page
    while True:
        queryset = base if cursor is None else base.filter(_after(sort, *cursor, search=search_walk))
        started = time.perf_counter()
        rows = list(queryset.order_by(*order).values_list(*columns)[:size])
        if after_page is not None:
            after_page(time.perf_counter() - started)
        for row in rows:
            item = dict(zip(columns, row, strict=True))
            item["assignee"] = item.pop("assignee__username") or ""
            for key in ("created_at", "first_seen", "last_seen"):
                if item[key] is not None:
                    item[key] = item[key].isoformat()
            yield item
        if len(rows) < size:
            return
        cursor = (rows[-1][columns.index("severity")], rows[-1][0])
        size = page


# --- attack sequences -----------------------------------------------------------------------------------
# A sequence's signals are found through `attack_sequence_arn` (AssociatedAttackSequenceArn, the partial
# index finding_sequence_idx holds only the findings that name one) and through its FINDING signals' uids,
# looked up by ARN (the unique constraint's index). Both go through the user's scope.
SEQUENCE_SIGNALS_MAX = 500
SEQUENCE_GROUPS_MAX = 100


def _signal_arn(sequence: Finding, uid: str) -> str:
    """A FINDING signal's uid as an ARN: GuardDuty's simulator and console use the finding's ARN; a bare
    finding id is one of the sequence's own detector (a sequence correlates one account's findings)."""
    if uid.startswith("arn:"):
        return uid
    return f"{sequence.arn.rsplit('/', 1)[0]}/{uid}"


def sequence_signal_findings(*, sequence: Finding, signal_uids: list[str], user) -> list[Finding]:
    """The stored findings a sequence includes that `user` may see, oldest first: those naming it in
    AssociatedAttackSequenceArn and those its FINDING signals name."""
    q = Q(attack_sequence_arn=sequence.arn)
    arns = sorted({_signal_arn(sequence, uid) for uid in signal_uids if uid} - {sequence.arn})
    if arns:
        q |= Q(arn__in=arns)
    return list(
        Finding.objects.filter(scope_q(user)).filter(q).exclude(pk=sequence.pk)
        .order_by("first_seen", "id")[:SEQUENCE_SIGNALS_MAX]
    )


def signal_links(*, sequence: Finding, members: list[Finding]) -> dict[str, int]:
    """uid (as the sequence spells it: ARN or id) → pk of the stored finding, for the timeline's links."""
    links: dict[str, int] = {}
    for member in members:
        links[member.arn] = member.pk
        if member.arn.rsplit("/", 1)[0] == sequence.arn.rsplit("/", 1)[0]:
            links[member.finding_id] = member.pk
    return links


def finding_sequence(*, finding: Finding, user) -> Finding | None:
    """The attack-sequence finding `finding` is a signal of, if stored and `user` may see it."""
    if not finding.attack_sequence_arn:
        return None
    return Finding.objects.filter(scope_q(user), arn=finding.attack_sequence_arn).first()


@dataclass(frozen=True)
class SequenceGroup:
    """One row of the list grouped by sequence: the sequence (if stored and visible) and counts of its signals."""

    arn: str
    sequence: Finding | None
    total: int
    by_band: dict[str, int]
    open: int
    closed: int
    first_seen: datetime | None
    last_seen: datetime | None


def sequence_groups(*, filters: FindingFilters, user, limit: int = SEQUENCE_GROUPS_MAX) -> list[SequenceGroup]:
    """The findings matching `filters` that are signals of a sequence, one row per sequence (latest first).

    One grouped statement over the partial index (only findings that name a sequence are in it), then the
    sequence findings themselves by ARN.
    """
    band_counts = {
        band: Count("id", filter=Q(severity__gte=low, severity__lt=high)) for band, (low, high) in BAND_RANGES.items()
    }
    rows = list(
        findings_filtered(filters=filters, user=user)
        .exclude(attack_sequence_arn="")
        .values("attack_sequence_arn")
        .annotate(
            total=Count("id"),
            open=Count("id", filter=Q(status__in=OPEN_STATUSES)),
            first=Min("first_seen"),
            last=Max("last_seen"),
            **{f"band_{band}": count for band, count in band_counts.items()},
        )
        .order_by("-last", "attack_sequence_arn")[:limit]
    )
    arns = [row["attack_sequence_arn"] for row in rows]
    sequences = {f.arn: f for f in Finding.objects.filter(scope_q(user), arn__in=arns)}
    return [
        SequenceGroup(
            arn=row["attack_sequence_arn"],
            sequence=sequences.get(row["attack_sequence_arn"]),
            total=row["total"],
            by_band={band: row[f"band_{band}"] for band in BANDS},
            open=row["open"],
            closed=row["total"] - row["open"],
            first_seen=row["first"],
            last_seen=row["last"],
        )
        for row in rows
    ]
