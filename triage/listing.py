"""Triage reads: the list filter (parsed from the query string), keyset pages, severity counts, detail.

Every list filter lives in the query string, so a URL is a complete, shareable description of what
an analyst sees. `FindingFilters.from_query` turns one into a queryset filter; bad values are
reported to the user and ignored, never guessed.

Performance at a million rows rests on three choices:
- keyset pagination on (sort key, id) with a matching composite index (see `TRIAGE_INDEXES`), so
  page 200 costs what page 1 costs;
- severity bands filtered as severity *ranges*, so the severity index serves them;
- counts by severity capped at `COUNT_CAP` per band (one statement, four `LIMIT`ed subqueries):
  exact up to 10,000, shown as "10,000+" above, so counting never scans the whole table.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import OperationalError, connection, transaction
from django.db.models import Count, F, Q, QuerySet, Value
from django.http import Http404, QueryDict
from django.utils import timezone
from psycopg.errors import QueryCanceled

from findings.models import OPEN_STATUSES, Finding, FindingEvent, FindingSearch, TriageStatus
from triage.models import SavedView, WriteBack

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
COUNT_CAP = 10_000
# Free text is matched by the trigram index, which needs 3 characters to narrow anything down.
SEARCH_MIN_CHARS = 3
# With free text every candidate row is rechecked on the heap, so counts stop at a smaller cap.
SEARCH_COUNT_CAP = 1_000
# A search the planner expects to match fewer rows than this is looked up in the trigram index first
# and, if it matches at most SEARCH_IDS_MAX findings, the list and its counts read just those; a
# broader one walks the severity order, where matches come soon.
SEARCH_PROBE_BELOW_ROWS = 20_000
SEARCH_IDS_MAX = 2_000
SEARCH_PROBE_MS = 60
BANDS = ("critical", "high", "medium", "low")
# GuardDuty's bands as severity ranges [low, high): lets the severity index answer band filters.
BAND_RANGES = {"low": (0.0, 4.0), "medium": (4.0, 7.0), "high": (7.0, 9.0), "critical": (9.0, 100.0)}
CLOSED_STATUSES = tuple(s for s in TriageStatus.values if s not in OPEN_STATUSES)
STATUS_CHOICES = [
    ("open", "Open (new, acknowledged, in progress)"),
    ("closed", "Closed"),
    *TriageStatus.choices,
]


@dataclass(frozen=True)
class Sort:
    """One sort of the list: a column, a direction, and how the keyset cursor encodes its value."""

    key: str
    label: str
    column: str
    descending: bool
    kind: str  # float | int | datetime


SORTS: dict[str, Sort] = {
    s.key: s
    for s in (
        Sort("-severity", "Severity (highest first)", "severity", True, "float"),
        Sort("severity", "Severity (lowest first)", "severity", False, "float"),
        Sort("-last_seen", "Last seen (newest first)", "last_seen", True, "datetime"),
        Sort("last_seen", "Last seen (oldest first)", "last_seen", False, "datetime"),
        Sort("-count", "Count (most first)", "count", True, "int"),
        Sort("-created_at", "Created (newest first)", "created_at", True, "datetime"),
        Sort("created_at", "Created (oldest first)", "created_at", False, "datetime"),
    )
}
DEFAULT_SORT = "-severity"

# Parameters that describe *which* findings (not how they are shown); suppression rules, saved
# views, bulk actions and exports use these.
FILTER_PARAMS = (
    "q", "band", "sev_min", "sev_max", "type_prefix", "type_contains", "purpose", "account", "region",
    "resource_type", "resource_id", "action_type", "remote_ip", "remote_country", "status", "assignee",
    "archived", "sample", "overdue", "first_seen_from", "first_seen_to", "last_seen_from", "last_seen_to",
)  # fmt: skip
VIEW_PARAMS = (*FILTER_PARAMS, "sort", "size")

BUILTIN_VIEWS = (("Open high and critical", "status=open&band=critical&band=high"),)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _multi(query: QueryDict, name: str) -> list[str]:
    """Repeated parameters and comma-separated values alike, stripped, blanks dropped."""
    values: list[str] = []
    for raw in query.getlist(name):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


@dataclass
class FindingFilters:
    """What the analyst asked for, validated. `errors` lists what was ignored and why."""

    q: str = ""
    bands: list[str] = field(default_factory=list)
    sev_min: float | None = None
    sev_max: float | None = None
    type_prefix: str = ""
    type_contains: str = ""
    purpose: str = ""
    accounts: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    resource_type: str = ""
    resource_id: str = ""
    action_type: str = ""
    remote_ip: str = ""
    remote_country: str = ""
    statuses: list[str] = field(default_factory=list)
    assignee: str = ""
    archived: bool | None = None
    sample: bool | None = None
    overdue: bool = False
    first_seen_from: date | None = None
    first_seen_to: date | None = None
    last_seen_from: date | None = None
    last_seen_to: date | None = None
    errors: list[str] = field(default_factory=list)
    # Every finding the free text matches, when `narrow_search` found them few (see there).
    search_ids: list[int] | None = field(default=None, repr=False, compare=False)
    search_narrowed: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def from_query(cls, query: QueryDict) -> FindingFilters:
        f = cls()
        f.q = query.get("q", "").strip()[:200]
        if 0 < len(f.q) < SEARCH_MIN_CHARS:
            f.errors.append(f"Search needs at least {SEARCH_MIN_CHARS} characters; “{f.q}” ignored.")
            f.q = ""
        for band in _multi(query, "band"):
            if band in BAND_RANGES and band not in f.bands:
                f.bands.append(band)
            elif band not in BAND_RANGES:
                f.errors.append(f"Unknown severity band “{band}” ignored.")
        f.sev_min = f._number(query, "sev_min")
        f.sev_max = f._number(query, "sev_max")
        for name in ("type_prefix", "type_contains", "purpose", "resource_type", "resource_id", "action_type",
                     "remote_ip", "remote_country", "assignee"):  # fmt: skip
            setattr(f, name, query.get(name, "").strip()[:200])
        for account in _multi(query, "account"):
            if account.isdigit() and len(account) == 12:
                f.accounts.append(account)
            else:
                f.errors.append(f"“{account}” is not a 12-digit account id; ignored.")
        f.regions = [r for r in _multi(query, "region") if r]
        valid_statuses = {"open", "closed", *TriageStatus.values}
        for status in _multi(query, "status"):
            if status in valid_statuses:
                f.statuses.append(status)
            else:
                f.errors.append(f"Unknown status “{status}” ignored.")
        f.archived = f._flag(query, "archived")
        f.sample = f._flag(query, "sample")
        f.overdue = query.get("overdue", "") in {"1", "yes", "true", "on"}
        for name in ("first_seen_from", "first_seen_to", "last_seen_from", "last_seen_to"):
            setattr(f, name, f._date(query, name))
        return f

    def _number(self, query: QueryDict, name: str) -> float | None:
        raw = query.get(name, "").strip()
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            self.errors.append(f"{name.replace('_', ' ')} “{raw}” is not a number; ignored.")
            return None
        if not 0 <= value <= 100:
            self.errors.append(f"{name.replace('_', ' ')} must be between 0 and 100; ignored.")
            return None
        return value

    def _flag(self, query: QueryDict, name: str) -> bool | None:
        raw = query.get(name, "").strip().lower()
        if raw in {"", "any"}:
            return None
        if raw in {"yes", "1", "true"}:
            return True
        if raw in {"no", "0", "false"}:
            return False
        self.errors.append(f"{name} must be yes or no; ignored.")
        return None

    def _date(self, query: QueryDict, name: str) -> date | None:
        raw = query.get(name, "").strip()
        if not raw:
            return None
        if _DATE.match(raw):
            try:
                return date.fromisoformat(raw)
            except ValueError:
                pass
        self.errors.append(f"{name.replace('_', ' ')} “{raw}” is not a date (YYYY-MM-DD); ignored.")
        return None

    # --- to SQL -----------------------------------------------------------------------------

    def severity_ranges(self) -> list[tuple[float, float]]:
        """Selected bands as merged [low, high) ranges, intersected with the numeric range."""
        ranges = sorted(BAND_RANGES[b] for b in self.bands) or [(0.0, 100.0)]
        merged: list[list[float]] = []
        for low, high in ranges:
            if merged and merged[-1][1] == low:
                merged[-1][1] = high
            else:
                merged.append([low, high])
        return [(low, high) for low, high in merged]

    def q_object(self, *, user=None, now: datetime | None = None, band: str | None = None) -> Q:
        """The WHERE clause (without free-text search, which needs an annotation: see `apply`).

        `band` narrows "overdue" to that band's SLA cutoff alone (for counting one band: Postgres does
        not drop the other bands' contradictory disjuncts and then plans the count badly).
        """
        now = now or timezone.now()
        q = Q()
        if self.bands:
            bands = Q()
            for low, high in self.severity_ranges():
                bands |= Q(severity__gte=low, severity__lt=high)
            q &= bands
        if self.sev_min is not None:
            q &= Q(severity__gte=self.sev_min)
        if self.sev_max is not None:
            q &= Q(severity__lte=self.sev_max)
        if self.type_prefix:
            q &= Q(type__startswith=self.type_prefix)
        if self.type_contains:
            q &= Q(type__icontains=self.type_contains)
        if self.purpose:
            q &= Q(threat_purpose=self.purpose)
        if self.accounts:
            q &= Q(account_id__in=self.accounts)
        if self.regions:
            q &= Q(region__in=self.regions)
        if self.resource_type:
            q &= Q(resource_type=self.resource_type)
        if self.resource_id:
            q &= Q(resource_id=self.resource_id)
        if self.action_type:
            q &= Q(action_type=self.action_type)
        if self.remote_ip:
            q &= Q(remote_ip=self.remote_ip)
        if self.remote_country:
            q &= Q(remote_country_code__iexact=self.remote_country) | Q(
                remote_country__iexact=self.remote_country
            )
        if self.statuses:
            wanted: set[str] = set()
            for status in self.statuses:
                wanted |= set(
                    OPEN_STATUSES if status == "open" else CLOSED_STATUSES if status == "closed" else [status]
                )
            q &= Q(status__in=sorted(wanted))
        if self.assignee:
            if self.assignee == "none":
                q &= Q(assignee__isnull=True)
            elif self.assignee == "me" and user is not None:
                q &= Q(assignee=user)
            else:
                q &= Q(assignee__username=self.assignee)
        if self.archived is not None:
            q &= Q(archived=self.archived)
        if self.sample is not None:
            q &= Q(sample=self.sample)
        if self.overdue:
            q &= overdue_q(now=now, bands=[band] if band else BANDS)
        for name, column, op in (
            ("first_seen_from", "first_seen", "gte"),
            ("first_seen_to", "first_seen", "lt"),
            ("last_seen_from", "last_seen", "gte"),
            ("last_seen_to", "last_seen", "lt"),
        ):
            day = getattr(self, name)
            if day is not None:
                if op == "lt":  # "to" includes the whole day
                    day = day + timedelta(days=1)
                moment = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
                q &= Q(**{f"{column}__{op}": moment})
        return q

    def apply(
        self, queryset: QuerySet, *, user=None, now: datetime | None = None, band: str | None = None
    ) -> QuerySet:
        queryset = queryset.filter(self.q_object(user=user, now=now, band=band))
        if self.q and self.search_ids is not None:
            queryset = queryset.filter(pk__in=self.search_ids)
        elif self.q:
            # The lowercased text lives in `FindingSearch` (trigram-indexed on Postgres); see models.py.
            queryset = queryset.filter(search__text__contains=self.q.lower(), **self._search_severity())
        return queryset

    def _search_severity(self) -> dict:
        """The severity bounds again, on `FindingSearch`'s copy, so a search walk starts at the right place."""
        bounds: dict = {}
        ranges = self.severity_ranges() if self.bands else []
        if ranges:
            bounds["search__severity__gte"] = ranges[0][0]
            bounds["search__severity__lt"] = ranges[-1][1]
        if self.sev_min is not None:
            bounds["search__severity__gte"] = max(bounds.get("search__severity__gte", 0.0), self.sev_min)
        if self.sev_max is not None:
            bounds["search__severity__lte"] = self.sev_max
        return bounds

    @property
    def active(self) -> bool:
        return any(
            getattr(self, name) not in (None, "", [], False)
            for name in self.__dataclass_fields__
            if name not in ("errors", "search_ids", "search_narrowed")
        )


def overdue_q(*, now: datetime, bands: Iterable[str] = BANDS) -> Q:
    """Open findings (of `bands`) created longer ago than their band's SLA allows."""
    hours = settings.GUARDWATCH_SLA_HOURS
    late = Q()
    for band in bands:
        low, high = BAND_RANGES[band]
        late |= Q(severity__gte=low, severity__lt=high, created_at__lt=now - timedelta(hours=hours[band]))
    return Q(status__in=OPEN_STATUSES) & late


def sla_due(finding: Finding) -> datetime | None:
    """When the finding's SLA runs out (None once it is closed)."""
    if finding.status not in OPEN_STATUSES:
        return None
    return finding.created_at + timedelta(hours=settings.GUARDWATCH_SLA_HOURS[finding.severity_band])


def filter_query(query: QueryDict, params: tuple[str, ...] = FILTER_PARAMS) -> str:
    """The query string of just the given parameters (keeps repeats, drops blanks), stable order."""
    pairs = [(name, value) for name in params for value in query.getlist(name) if value.strip()]
    return urlencode(pairs)


_TRIGRAM_WORD = re.compile(r"[^\W_]+")


@contextmanager
def _postgres_settings(**values: str) -> Iterator[None]:
    """Postgres settings for the statements inside, in a transaction (or savepoint) of their own.

    SET LOCAL alone is not enough: inside an outer transaction (ATOMIC_REQUESTS, tests) a released
    savepoint leaves them set until the outer one ends, so they are put back to what they were. An
    error inside (a statement timeout) rolls the savepoint and the settings back with it.
    """
    names = list(values)
    reads = ", ".join("current_setting(%s)" for _ in names)
    sets = ", ".join("set_config(%s, %s, true)" for _ in names)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT {reads}, {sets}", [*names, *(x for item in values.items() for x in item)])  # noqa: S608 - placeholders only
        before = cursor.fetchone()[: len(names)]
        yield
        cursor.execute(f"SELECT {sets}", [x for item in zip(names, before, strict=True) for x in item])  # noqa: S608


def narrow_search(filters: FindingFilters) -> None:
    """Find a selective search's few matches in the trigram index first (Postgres; once per filter).

    A page sorted by severity walks `FindingSearch` in severity order and checks each row's text,
    which is quick when matches are common and reads most of the table when they are rare (a full
    instance id, an access key, an IP: what analysts search for in an incident). So when the planner
    expects fewer than SEARCH_PROBE_BELOW_ROWS matches, the trigram index is asked alone (bitmap
    scan, at most SEARCH_IDS_MAX + 1 ids, within SEARCH_PROBE_MS); if that finds them all, the list,
    its counts and the filter-first plan read only those findings. A search with no word of 3
    characters gives the index nothing to narrow (pg_trgm splits words at '-', '.', …) and walks.
    """
    if filters.search_narrowed or not filters.q or connection.vendor != "postgresql":
        return
    filters.search_narrowed = True
    if max((len(word) for word in _TRIGRAM_WORD.findall(filters.q)), default=0) < SEARCH_MIN_CHARS:
        return
    matches = FindingSearch.objects.filter(text__contains=filters.q.lower())
    if estimated_rows(matches, key="finding_id") >= SEARCH_PROBE_BELOW_ROWS:
        return
    try:
        with _postgres_settings(statement_timeout=str(SEARCH_PROBE_MS), enable_seqscan="off", enable_indexscan="off"):
            ids = list(matches.values_list("finding_id", flat=True)[: SEARCH_IDS_MAX + 1])
    except OperationalError as error:
        if not isinstance(error.__cause__, QueryCanceled):
            raise
        return
    if len(ids) <= SEARCH_IDS_MAX:
        filters.search_ids = ids


def findings_filtered(
    *, filters: FindingFilters, user=None, now: datetime | None = None, band: str | None = None
) -> QuerySet[Finding]:
    """Every finding matching the filter (unordered), for bulk actions, exports and rules.

    With `band`, only that severity band's matches.
    """
    queryset = filters.apply(Finding.objects.all(), user=user, now=now, band=band)
    if band is not None:
        low, high = BAND_RANGES[band]
        queryset = queryset.filter(severity__gte=low, severity__lt=high)
    return queryset


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
SEVERITY_BOUND_FILTERS = ("type_prefix", "type_contains", "purpose", "resource_type", "action_type")
# Below this many estimated matches, fetching them all and sorting beats walking the severity index.
FILTER_FIRST_ROWS = 50_000


def filter_first_plan(*, queryset: QuerySet, filters: FindingFilters, sort: Sort) -> bool:
    """Whether to find the matches first and sort them (one EXPLAIN to ask the planner's estimate)."""
    if sort.column != "severity" or connection.vendor != "postgresql":
        return False
    if not any(getattr(filters, name) for name in SEVERITY_BOUND_FILTERS):
        return False
    return estimated_rows(queryset) < FILTER_FIRST_ROWS


def estimated_rows(queryset: QuerySet, *, key: str = "id") -> int:
    """The planner's estimate of how many rows `queryset` matches (Postgres only; costs planning)."""
    try:
        sql, params = queryset.order_by().values(key).query.sql_with_params()
    except EmptyResultSet:  # e.g. `pk__in=[]`: a search that matched nothing
        return 0
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


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
    """One page of the list and the cursor to the next one."""

    findings: list[Finding]
    sort: Sort
    size: int
    next_cursor: str | None
    is_first: bool


def finding_page(
    *,
    filters: FindingFilters,
    sort_key: str = DEFAULT_SORT,
    after: str = "",
    size: int = DEFAULT_PAGE_SIZE,
    user=None,
) -> FindingPage:
    """One keyset page of matching findings, assignee joined (one query whatever the size)."""
    sort = SORTS.get(sort_key) or SORTS[DEFAULT_SORT]
    size = size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE
    narrow_search(filters)
    queryset = (
        findings_filtered(filters=filters, user=user).select_related("assignee").defer("raw", "description")
    )
    cursor = _cursor_decode(sort, after) if after else None
    if after and cursor is None:
        filters.errors.append("That page link is no longer valid; showing the first page.")
    # Free text sorted by severity walks FindingSearch's (severity, finding) index, checking each narrow
    # row's text, and reads findings only for the matches (its severity is always the finding's).
    search_walk = bool(filters.q) and filters.search_ids is None and sort.column == "severity"
    if cursor is not None:
        queryset = queryset.filter(_after(sort, *cursor, search=search_walk))
    order = _order(sort, search=search_walk)
    if filter_first_plan(queryset=queryset, filters=filters, sort=sort):
        # Ids from an index-only scan first, then only the page's rows from the table.
        ids = queryset.order_by(*_order(sort, filter_first=True)).values("id")[: size + 1]
        queryset = Finding.objects.filter(pk__in=ids).select_related("assignee").defer("raw", "description")
        order = _order(sort)
    rows = list(queryset.order_by(*order)[: size + 1])
    has_next = len(rows) > size
    rows = rows[:size]
    return FindingPage(
        findings=rows,
        sort=sort,
        size=size,
        next_cursor=_cursor_encode(sort, rows[-1]) if has_next and rows else None,
        is_first=cursor is None,
    )


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


def severity_counts(*, filters: FindingFilters, user=None) -> SeverityCounts:
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
        found = dict(base.values_list("severity_band").annotate(n=Count("id")).values_list("severity_band", "n"))
        return SeverityCounts(bands={band: found.get(band, 0) for band in BANDS}, capped=set())
    per_band = {band: findings_filtered(filters=filters, user=user, now=now, band=band).order_by() for band in BANDS}
    if connection.vendor != "postgresql":
        return _severity_counts_exact(base, per_band, sampled=bool(filters.q))
    try:
        with _postgres_settings(statement_timeout=str(COUNT_BUDGET_MS)):
            return _severity_counts_exact(base, per_band, sampled=bool(filters.q))
    except OperationalError as error:
        if not isinstance(error.__cause__, QueryCanceled):
            raise
    bands = {band: estimated_rows(queryset) for band, queryset in per_band.items()}
    return SeverityCounts(bands={band: bands[band] for band in BANDS}, capped=set(), approximate=True)


def _severity_counts_exact(
    base: QuerySet[Finding], per_band: dict[str, QuerySet[Finding]], *, sampled: bool
) -> SeverityCounts:
    if sampled:
        return _severity_counts_sampled(base)
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


def _severity_counts_sampled(base: QuerySet[Finding]) -> SeverityCounts:
    severities = list(base.values_list("severity", flat=True)[: SEARCH_COUNT_CAP + 1])
    capped = len(severities) > SEARCH_COUNT_CAP
    bands = dict.fromkeys(BANDS, 0)
    for severity in severities[:SEARCH_COUNT_CAP]:
        bands[next((b for b, (low, high) in BAND_RANGES.items() if low <= severity < high), "low")] += 1
    return SeverityCounts(bands=bands, capped=set(BANDS) if capped else set())


# --- Saved views, people -------------------------------------------------------------------------


def saved_views_for(*, user) -> list[SavedView]:
    """The user's own views and everyone's shared ones."""
    return list(SavedView.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner"))


def assignable_users() -> list:
    """People who may be assigned findings: Analysts and Admins."""
    User = get_user_model()
    return list(
        User.objects.filter(is_active=True, groups__name__in=["Analyst", "Admin"])
        .distinct()
        .order_by("username")
    )


# --- Detail --------------------------------------------------------------------------------------


def finding_get(*, pk: int) -> Finding:
    try:
        return Finding.objects.select_related("assignee").get(pk=pk)
    except Finding.DoesNotExist:
        raise Http404("No such finding.") from None


@dataclass
class TimelineEntry:
    when: datetime
    kind: str
    actor: str
    text: str
    from_status: str = ""
    to_status: str = ""
    details: dict = field(default_factory=dict)


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


_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


def console_url(finding: Finding) -> str | None:
    """The finding in the GuardDuty console; None unless region and partition are ones we can link."""
    if finding.partition != "aws" or not _REGION.match(finding.region):
        return None
    region = finding.region
    return (
        f"https://{region}.console.aws.amazon.com/guardduty/home?region={region}"
        f"#/findings?fId={quote(finding.finding_id, safe='')}"
    )


def _key(node: Any, name: str) -> Any:
    """A key of a finding dict in either spelling (PascalCase from boto3, camelCase from EventBridge)."""
    if not isinstance(node, dict):
        return None
    wanted = name.lower()
    for key, value in node.items():
        if key.lower() == wanted:
            return value
    return None


def dig(node: Any, *path: str) -> Any:
    for name in path:
        node = _key(node, name)
        if node is None:
            return None
    return node


def flatten(node: Any, prefix: str = "", limit: int = 80) -> list[tuple[str, str]]:
    """Scalar leaves of a nested dict as (dotted path, text) pairs, for a readable key/value list."""
    out: list[tuple[str, str]] = []

    def walk(value: Any, path: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for index, child in enumerate(value[:10]):
                walk(child, f"{path}[{index}]")
        elif value not in (None, ""):
            out.append((path, str(value)))

    walk(node, prefix)
    return out


PURPOSES = {
    "Backdoor": "a resource was compromised and can contact its attacker's command and control",
    "Behavior": "activity unlike the resource's established baseline",
    "CryptoCurrency": "software associated with cryptocurrency mining or theft",
    "DefenseEvasion": "an attempt to avoid detection",
    "Discovery": "an attempt to learn about the account or its resources",
    "Execution": "attacker code run on a resource",
    "Exfiltration": "data being moved out of the environment",
    "Impact": "an attempt to manipulate, interrupt or destroy data or systems",
    "InitialAccess": "an attempt to gain a foothold",
    "Pentest": "tools commonly used for penetration testing",
    "Persistence": "an attempt to keep access",
    "Policy": "behaviour against security best practice",
    "PrivilegeEscalation": "an attempt to gain higher permissions",
    "Recon": "reconnaissance before an attack (probing, scanning)",
    "Stealth": "an attempt to hide activity or tracks",
    "Trojan": "a trojan program active on a resource",
    "UnauthorizedAccess": "suspicious or unauthorised access",
    "CredentialAccess": "an attempt to steal credentials",
    "AttackSequence": "several signals GuardDuty correlated into one attack",
}
MECHANISMS = {
    "A": "the first variant of the detection",
    "B": "a variant of the detection",
    "Custom": "your own threat list",
    "DNS": "DNS logs",
    "Reputation": "threat intelligence reputation",
}


def finding_explained(finding: Finding) -> dict[str, Any]:
    """What the detail page shows beyond the columns: type explained, action, runtime, evidence."""
    raw = finding.raw or {}
    service = _key(raw, "Service") or {}
    action = _key(service, "Action") or {}
    mechanism = finding.detection_mechanism or ""
    return {
        "purpose_text": PURPOSES.get(finding.threat_purpose, ""),
        "mechanism_text": MECHANISMS.get(mechanism, MECHANISMS.get(mechanism.rstrip("0123456789"), "")),
        "action_pairs": flatten({k: v for k, v in action.items() if k.lower() != "actiontype"})
        if action
        else [],
        "runtime_pairs": flatten(_key(service, "RuntimeDetails")),
        "evidence_pairs": flatten(_key(service, "Evidence")),
        "additional_pairs": flatten(_additional(service)),
        "resource_pairs": flatten(_key(raw, "Resource"), limit=60),
        "raw_pretty": json.dumps(raw, indent=2, sort_keys=True, ensure_ascii=False, default=str),
    }


def _additional(service: dict) -> Any:
    info = _key(service, "AdditionalInfo")
    if isinstance(info, dict) and isinstance(_key(info, "Value"), str):
        try:
            return json.loads(_key(info, "Value"))
        except ValueError:
            return info
    return info


def findings_export_rows(*, filters: FindingFilters, user=None, chunk_size: int = 2000) -> Iterator[dict]:
    """Matching findings as plain dicts, streamed from a server-side cursor (never all in memory)."""
    columns = (
        "id", "arn", "finding_id", "account_id", "region", "type", "severity", "severity_band", "title",
        "resource_type", "resource_id", "action_type", "remote_ip", "remote_country_code", "count",
        "created_at", "first_seen", "last_seen", "archived", "status", "assignee__username",
    )  # fmt: skip
    narrow_search(filters)  # an instance id's findings: read just those, not the whole severity order
    queryset = (
        findings_filtered(filters=filters, user=user).order_by("-severity", "-id").values_list(*columns)
    )
    for row in queryset.iterator(chunk_size=chunk_size):
        item = dict(zip(columns, row, strict=True))
        item["assignee"] = item.pop("assignee__username") or ""
        for key in ("created_at", "first_seen", "last_seen"):
            if item[key] is not None:
                item[key] = item[key].isoformat()
        yield item
