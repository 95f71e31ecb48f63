"""The findings list's filter, parsed from the query string, and the querysets it selects.

Every list filter lives in the query string, so a URL is a complete, shareable description of what
an analyst sees. `FindingFilters.from_query` turns one into a queryset filter; bad values are
reported to the user and ignored, never guessed. Severity bands are filtered as severity *ranges*,
so the severity index serves them; a selective free-text search is looked up in the trigram index
first (`narrow_search`). Pages and counts over these querysets are in `triage.selectors`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.core.exceptions import EmptyResultSet
from django.db import OperationalError, connection, transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone
from psycopg.errors import QueryCanceled

from accounts.csvimport import account_id_normalize
from findings import attack
from findings.models import (
    LONG_TERM,
    OPEN_STATUSES,
    TERM_PATTERN,
    Finding,
    FindingSearch,
    FindingSearchTerm,
    TriageStatus,
)
from findings.sla import BAND_RANGES, BANDS, CLOSED_STATUSES, overdue_q
from guardwatch.core.scope import scope_q

# GuardDuty severities run from 0 to 10 ("Severity levels for GuardDuty findings": Low 1.0–3.9 up to
# Critical 9.0–10.0); a limit outside that is a typo, refused rather than matching nothing.
SEVERITY_MIN, SEVERITY_MAX = 0.0, 10.0
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
# Free text is matched by the trigram index, which needs 3 characters to narrow anything down.
SEARCH_MIN_CHARS = 3
# With free text every candidate row is rechecked on the heap, so counts stop at a smaller cap.
# A search the planner expects to match fewer rows than this is looked up in the trigram index first
# and, if it matches at most SEARCH_IDS_MAX findings, the list and its counts read just those; a
# broader one walks the severity order, where matches come soon.
SEARCH_PROBE_BELOW_ROWS = 20_000
SEARCH_IDS_MAX = 2_000
# The probe's budget: at 5,000,000 findings the trigram index (~2 GB) is mostly outside 128 MB of shared
# buffers, and an IP's probe took 77-90 ms; one that times out costs its budget on top of the walk.
SEARCH_PROBE_MS = 120
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
    "tactic", "technique",
    "sequence",
)  # fmt: skip
VIEW_PARAMS = (*FILTER_PARAMS, "sort", "size", "group")

BUILTIN_VIEWS = (("Open high and critical", "status=open&band=critical&band=high"),)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# `sequence=any`: findings that are signals of some attack sequence; `sequence=<ARN>`: that sequence's finding
# and its signals. A GuardDuty finding ARN: arn:<partition>:guardduty:<region>:<account>:detector/<id>/finding/<id>.
ANY_SEQUENCE = "any"
_FINDING_ARN = re.compile(r"^arn:aws[a-z-]*:guardduty:[a-z0-9-]+:\d{12}:detector/[^/\s]+/finding/[^/\s]+$")
SEQUENCE_ARN_MAX = 512  # Finding.attack_sequence_arn's width


def _multi(query: QueryDict, name: str) -> list[str]:
    """Repeated parameters and comma-separated values alike, stripped, blanks dropped."""
    values: list[str] = []
    for raw in query.getlist(name):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


# FindingFilters' fields that are worked out from the others or say what became of them, not asked for.
WORKED_OUT_FIELDS = ("errors", "search_ids", "search_narrowed", "search_bounds")


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
    # MITRE ATT&CK, through the table in findings/attack.py: matched as `type IN (the tactic's types)`.
    tactic: str = ""
    technique: str = ""
    sequence: str = ""
    errors: list[str] = field(default_factory=list)
    # Every finding the free text matches, when `narrow_search` found them few (see there).
    search_ids: list[int] | None = field(default=None, repr=False, compare=False)
    search_narrowed: bool = field(default=False, repr=False, compare=False)
    # The lowest and highest severity a finding matching `q` can have (`narrow_search`), when known.
    search_bounds: tuple[float, float] | None = field(default=None, repr=False, compare=False)

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
            account = account_id_normalize(account)  # 4444-5555-6666, as the console shows it
            if account.isascii() and account.isdigit() and len(account) == 12:
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
        f._attack(query)
        sequence = query.get("sequence", "").strip()
        if sequence == ANY_SEQUENCE or (len(sequence) <= SEQUENCE_ARN_MAX and _FINDING_ARN.match(sequence)):
            f.sequence = sequence
        elif sequence:
            f.errors.append(f"Attack sequence “{sequence[:80]}” is neither “any” nor a GuardDuty finding ARN "
                            "(arn:aws:guardduty:<region>:<account>:detector/<id>/finding/<id>); ignored.")
        return f

    def _attack(self, query: QueryDict) -> None:
        tactic = query.get("tactic", "").strip()[:200]
        if tactic:
            if tactic.upper() in attack.TACTICS_BY_ID:
                self.tactic = tactic.upper()
            else:
                self.errors.append(
                    f"“{tactic}” is not an ATT&CK tactic id (TA0001 Initial Access … TA0040 Impact); ignored."
                )
        technique = query.get("technique", "").strip()[:200]
        if technique:
            if attack.known_technique_id(technique.upper()):
                self.technique = technique.upper()
            else:
                self.errors.append(
                    f"No finding type is mapped to ATT&CK technique “{technique}” (ids look like T1078 or "
                    "T1078.004; docs/attack.md lists the table); ignored."
                )

    def _number(self, query: QueryDict, name: str) -> float | None:
        raw = query.get(name, "").strip()
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            which = "Lowest" if name == "sev_min" else "Highest"
            self.errors.append(f"{which} severity “{raw}” is not a number (0–10); ignored.")
            return None
        if value != value:  # NaN
            self.errors.append(f"Severity “{raw}” is not a number (0–10); ignored.")
            return None
        if not SEVERITY_MIN <= value <= SEVERITY_MAX:
            which = "Lowest" if name == "sev_min" else "Highest"
            self.errors.append(
                f"{which} severity must be between {SEVERITY_MIN:g} and {SEVERITY_MAX:g} (GuardDuty's scale); “{raw}” ignored."
            )
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
        if self.tactic:
            q &= _types_q(attack.finding_types_for_tactic(self.tactic))
        if self.technique:
            q &= _types_q(attack.finding_types_for_technique(self.technique))
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
        if self.sequence == ANY_SEQUENCE:
            q &= ~Q(attack_sequence_arn="")  # the partial index finding_sequence_idx's own predicate
        elif self.sequence:
            q &= Q(attack_sequence_arn=self.sequence) | Q(arn=self.sequence)
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
        if self.search_bounds is not None:  # where the words of `q` occur at all (`narrow_search`)
            low, high = self.search_bounds
            bounds["search__severity__gte"] = max(bounds.get("search__severity__gte", low), low)
            bounds["search__severity__lte"] = min(bounds.get("search__severity__lte", high), high)
        return bounds

    @property
    def active(self) -> bool:
        return any(
            getattr(self, name) not in (None, "", [], False)
            for name in self.__dataclass_fields__
            if name not in WORKED_OUT_FIELDS
        )


def _types_q(types: tuple[str, ...]) -> Q:
    """Findings of these types: one IN list on the indexed type column, not a join to a mapping table.

    No types (a tactic GuardDuty has no finding for, such as Lateral Movement) matches nothing with a
    condition that still compiles: an empty IN raises EmptyResultSet where the counts build their SQL.
    """
    return Q(type__in=types) if types else Q(pk__isnull=True)


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


def within_statement_budget[T](ms: int, read: Callable[[], T], **settings: str) -> T | None:
    """`read()` under a statement timeout of `ms` (and any other Postgres `settings`); None when the timeout
    cancelled it, so the caller takes its cheaper way instead of waiting."""
    try:
        with _postgres_settings(statement_timeout=str(ms), **settings):
            return read()
    except OperationalError as error:
        if not isinstance(error.__cause__, QueryCanceled):
            raise
        return None


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
    severities = search_severities(filters.q)
    if severities == []:  # a word no finding's text holds: nothing matches
        filters.search_ids = []
        return
    if severities is not None:
        filters.search_bounds = (severities[0], severities[-1])
    if max((len(word) for word in _TRIGRAM_WORD.findall(filters.q)), default=0) < SEARCH_MIN_CHARS:
        return
    matches = FindingSearch.objects.filter(text__contains=filters.q.lower())
    if estimated_rows(matches, key="finding_id") >= SEARCH_PROBE_BELOW_ROWS:
        return
    ids = within_statement_budget(
        SEARCH_PROBE_MS,
        lambda: list(matches.values_list("finding_id", flat=True)[: SEARCH_IDS_MAX + 1]),
        enable_seqscan="off", enable_indexscan="off",
    )  # fmt: skip
    if ids is not None and len(ids) <= SEARCH_IDS_MAX:
        filters.search_ids = ids


_TERM_RUN = re.compile(TERM_PATTERN)


def search_severities(q: str) -> list[float] | None:
    """The severities (ascending) at which some finding's text can contain `q`; None when `q` can't tell.

    Every run of 3+ ASCII letters in `q` lies inside one word (maximal run of ASCII letters) of any text
    that contains `q`, so a matching finding's severity is one at which `FindingSearchTerm` holds a word
    containing each such run (or the LONG_TERM marker of an over-long word). The answer can include
    severities with no match (a pair whose findings are gone, or words that match apart but not
    together) but never leaves one out. `q` with no such run (an id fragment such as 'i-0') tells nothing.
    """
    runs = sorted(set(_TERM_RUN.findall(q.lower())))
    if not runs:
        return None
    table = connection.ops.quote_name(FindingSearchTerm._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.severity FROM {table} t JOIN unnest(%s::text[]) AS r(run)"  # noqa: S608 - model metadata
            f" ON t.term LIKE '%%' || r.run || '%%' OR t.term = %s"
            f" GROUP BY t.severity HAVING count(DISTINCT r.run) = %s ORDER BY t.severity",
            [runs, LONG_TERM, len(runs)],
        )
        return [severity for (severity,) in cursor.fetchall()]


def findings_filtered(
    *, filters: FindingFilters, user=None, now: datetime | None = None, band: str | None = None
) -> QuerySet[Finding]:
    """Every finding matching the filter (unordered), for bulk actions, exports and rules.

    With `band`, only that severity band's matches. A team-scoped `user` gets only their teams' accounts'
    findings (`account_id IN (…)`, served by the (account_id, severity, id) index); `user=None` is
    system work and sees all.
    """
    queryset = filters.apply(Finding.objects.filter(scope_q(user)), user=user, now=now, band=band)
    if band is not None:
        low, high = BAND_RANGES[band]
        queryset = queryset.filter(severity__gte=low, severity__lt=high)
    return queryset


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
