"""Coverage reads: is every account watched in every region, and where are the gaps.

A constant number of queries at any size: the per-region percentages and the gap counts are
GROUP BY / conditional counts over `Membership`; each gap list is a LIMITed, paginated query with
its count. The account × region matrix is `reports.matrix`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import (
    MONITORED,
    NOT_INVITED,
    PROTECTION_PLANS,
    MemberAccount,
    MemberProtection,
    Membership,
    RegionState,
    status_css,
    status_label,
)
from accounts.selectors import accounts_without_first, invited_q, never_invited_accounts
from guardwatch.core.models import Alert
from guardwatch.core.replica import replica_reads
from guardwatch.core.scope import scope_for
from guardwatch.core.selectors import alert_scope_q
from reports.cache import reports_cached

Scope = frozenset[str] | None  # guardwatch.core.scope: None for the whole organisation


def _scoped(scope: Scope, field: str) -> Q:
    """Rows of the scope's accounts only (`field` names the account id through the model's relations)."""
    return Q() if scope is None else Q(**{f"{field}__in": sorted(scope)})


GAP_PER_PAGE = 50
GAP_PREVIEW = 10
PENDING = ("Invited", "EmailVerificationInProgress")


def regions() -> list[str]:
    return list(settings.GUARDWATCH_AWS_REGIONS)


def unmanaged_regions() -> list[str]:
    """Regions region discovery found enabled for the administrator account that GuardWatch does not manage."""
    return list(
        RegionState.objects.filter(account_enabled=True).exclude(region__in=regions())
        .order_by("region").values_list("region", flat=True)
    )  # fmt: skip


# --- Summary: % monitored per region and overall -------------------------------------------------


@dataclass
class RegionCoverage:
    """One configured region: monitored accounts, the administrator detector, data freshness."""

    region: str
    monitored: int
    accounts: int
    detector_id: str = ""
    detector_checked: bool = False
    members_synced_at: datetime | None = None
    members_error: str = ""
    findings_synced_at: datetime | None = None
    findings_failed_at: datetime | None = None
    findings_error: str = ""
    protection_checked_at: datetime | None = None
    # False: enabled for the administrator account but not in GUARDWATCH_AWS_REGIONS (found by region discovery):
    # GuardWatch reads nothing there, so its members count as unmonitored.
    managed: bool = True
    administrator_monitored: bool = False

    @property
    def percent(self) -> float:
        return round(100 * self.monitored / self.accounts, 1) if self.accounts else 0.0

    @property
    def members_monitored(self) -> int:
        return self.monitored - self.administrator_monitored

    @property
    def has_detector(self) -> bool | None:
        """True / False once a member sync looked; None if it never did."""
        return bool(self.detector_id) if self.detector_checked else None


@dataclass
class CoverageSummary:
    """Per region (configured, then enabled but unmanaged) and overall; `percent` counts account × region pairs,
    `fully_monitored` whole accounts. Accounts are the members plus the administrator account itself, monitored
    where its own detector exists."""

    regions: list[RegionCoverage]
    accounts: int
    fully_monitored: int
    # The moment the figures describe (an invitation is "pending too long" relative to it) and the
    # gap counts read in the same pass as the per-region monitored counts (see gap_counts).
    as_of: datetime | None = None
    gap_counts: dict[str, int] = field(default_factory=dict)

    @property
    def pairs(self) -> int:
        return self.accounts * len(self.regions)

    @property
    def monitored_pairs(self) -> int:
        return sum(r.monitored for r in self.regions)

    @property
    def percent(self) -> float:
        return round(100 * self.monitored_pairs / self.pairs, 1) if self.pairs else 0.0

    @property
    def accounts_percent(self) -> float:
        return round(100 * self.fully_monitored / self.accounts, 1) if self.accounts else 0.0


def _membership_counts(configured: list[str], now: datetime, scope: Scope = None) -> dict[str, dict[str, int]]:
    """Per region: monitored, invited and each status gap's pairs, in one pass over the memberships."""
    rows = (
        Membership.objects.filter(_scoped(scope, "account__account_id"), region__in=configured)
        .values("region")
        .annotate(
            monitored=Count("id", filter=Q(relationship_status=MONITORED)),
            invited=Count("id", filter=invited_q()),
            **{
                key: Count("id", filter=_membership_gap_q(key, now))
                for key in (*_STATUS_GAPS, "pending", "other")
            },
        )
        .order_by()
    )
    return {row.pop("region"): row for row in rows}


def _fully_monitored(configured: list[str], scope: Scope = None) -> int:
    return (
        Membership.objects.filter(_scoped(scope, "account__account_id"), region__in=configured,
                                  relationship_status=MONITORED)
        .values("account_id")
        .annotate(n=Count("id"))
        .filter(n=len(configured))
        .order_by()
        .count()
    )


def _plans_off_count(configured: list[str], scope: Scope = None) -> int:
    return MemberProtection.objects.filter(
        _scoped(scope, "membership__account__account_id"), plans_off__gt=0, membership__region__in=configured, membership__relationship_status=MONITORED
    ).count()


def _summary(now: datetime | None = None, scope: Scope = None) -> CoverageSummary:
    """The figures over every account, or over a team's accounts (`scope`: then without the administrator).

    Read from the read replica when there is one (a pass over every membership at 50,000 accounts).
    """
    with replica_reads():
        return _summary_read(now, scope)


def _summary_read(now: datetime | None, scope: Scope) -> CoverageSummary:
    now = now or timezone.now()
    configured = regions()
    unmanaged = unmanaged_regions()
    every = configured + unmanaged
    members = MemberAccount.objects.filter(_scoped(scope, "account_id")).count()
    organisation = scope is None
    accounts = members + organisation  # the administrator account is watched by its own detectors
    per_region = _membership_counts(every, now, scope)
    states = {s.region: s for s in RegionState.objects.filter(region__in=every)}
    from findings.models import SyncState

    syncs = {s.region: s for s in SyncState.objects.filter(region__in=configured)}
    rows = []
    for region in every:
        state, sync = states.get(region), syncs.get(region)
        managed = region in configured
        administrator = bool(state and state.detector_id) and organisation
        rows.append(
            RegionCoverage(
                region=region,
                monitored=per_region.get(region, {}).get("monitored", 0) * managed + administrator,
                accounts=accounts,
                detector_id=state.detector_id if state else "",
                detector_checked=bool(state and (state.last_synced_at or state.last_error_at or state.discovered_at)),
                members_synced_at=state.last_synced_at if state else None,
                members_error=state.last_error if state else "",
                findings_synced_at=sync.last_success_at if sync else None,
                findings_failed_at=sync.last_failure_at if sync else None,
                findings_error=sync.last_error if sync else "",
                protection_checked_at=state.protection_checked_at if state else None,
                managed=managed,
                administrator_monitored=administrator,
            )
        )
    fully = _fully_monitored(configured, scope) if not unmanaged else 0
    fully += all(r.administrator_monitored for r in rows) if rows and organisation else 0
    summary = CoverageSummary(regions=rows, accounts=accounts, fully_monitored=fully, as_of=now)
    managed_counts = [c for region, c in per_region.items() if region in configured]
    counts = {key: sum(c[key] for c in managed_counts) for key in (*_STATUS_GAPS, "pending", "other")}
    counts["never_invited"] = members * len(configured) - sum(c["invited"] for c in managed_counts)
    counts["plans_off"] = _plans_off_count(configured, scope)
    counts["no_detector"] = sum(1 for r in rows if r.has_detector is False)
    counts["unmanaged_regions"] = len(unmanaged)
    summary.gap_counts = counts
    return summary


def coverage_summary_compute(*, scope: Scope = None, now: datetime | None = None) -> CoverageSummary:
    """The summary computed now, uncached (a scheduled report's, read once by a worker)."""
    return _summary(now=now, scope=scope)


def coverage_summary(*, scope: Scope = None) -> CoverageSummary:
    """% of accounts monitored per region and overall, detectors and freshness; cached briefly (per scope)."""
    # v3: the summary counts enabled unmanaged regions and the administrator; v2 entries do not.
    params = {"regions": regions(), **({} if scope is None else {"scope": sorted(scope)})}
    return reports_cached("coverage-summary-v3", params, lambda: _summary(scope=scope))


# --- Gaps ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GapKind:
    key: str
    title: str
    explanation: str


GAP_KINDS = (
    GapKind("resigned", "Resigned", "The member left the administrator itself: nobody watches it now."),
    GapKind("removed", "Removed", "The administrator disassociated the member."),
    GapKind("disabled", "Disabled", "The administrator stopped monitoring the member."),
    GapKind(
        "email_failed", "Email verification failed", "The invitation's email is not the account's root email."
    ),
    GapKind(
        "pending", "Invited, pending too long", "Invited more than {days} days ago and still not accepted."
    ),
    GapKind(
        "never_invited",
        "Never invited",
        "Known to GuardWatch but never invited (or only created) in these regions.",
    ),
    GapKind(
        "other", "Other statuses", "Region disabled, account suspended, or a status GuardWatch does not know."
    ),
    GapKind(
        "no_detector",
        "Regions without an administrator detector",
        "Enabled for the administrator account, but GuardDuty is not enabled for the administrator there.",
    ),
    GapKind(
        "unmanaged_regions",
        "Enabled regions GuardWatch does not manage",
        "Enabled for the administrator account (EC2 DescribeRegions) but not in GUARDWATCH_AWS_REGIONS: "
        "GuardWatch reads no members or findings there. Add them to GUARDWATCH_AWS_REGIONS.",
    ),
    GapKind(
        "plans_off", "Protection plans off", "Monitored members with one or more protection plans disabled."
    ),
)
GAP_KEYS = {kind.key for kind in GAP_KINDS}
_STATUS_GAPS = {
    "resigned": Q(relationship_status="Resigned"),
    "removed": Q(relationship_status="Removed"),
    "disabled": Q(relationship_status="Disabled"),
    "email_failed": Q(relationship_status="EmailVerificationFailed"),
}
_KNOWN = (MONITORED, *PENDING, *NOT_INVITED, "Resigned", "Removed", "Disabled", "EmailVerificationFailed")


def _pending_q(now: datetime) -> Q:
    cutoff = now - timedelta(days=settings.GUARDWATCH_INVITE_PENDING_DAYS)
    return Q(relationship_status__in=PENDING) & (Q(invited_at__lt=cutoff) | Q(invited_at__isnull=True))


def _membership_gap_q(key: str, now: datetime) -> Q:
    if key in _STATUS_GAPS:
        return _STATUS_GAPS[key]
    if key == "pending":
        return _pending_q(now)
    return ~Q(relationship_status__in=_KNOWN)  # "other"


def gap_counts(
    *, summary: CoverageSummary | None = None, now: datetime | None = None, scope: Scope = None
) -> dict[str, int]:
    """How many (account, region) pairs each gap holds (regions for no_detector).

    Read with the summary (the same pass as the per-region monitored counts), as of `summary.as_of`;
    a `now` other than that moment (or no summary at all with a `now`) reads them afresh.
    """
    if summary is None:
        summary = coverage_summary(scope=scope) if now is None else _summary(now, scope)
    elif now is not None and now != summary.as_of:
        summary = _summary(now, scope)
    return dict(summary.gap_counts)


REGION_GAPS = ("no_detector", "unmanaged_regions")  # counted in regions, not account × region pairs


@dataclass(frozen=True)
class GapTotals:
    """The gaps in three units, so every page that counts them counts the same thing."""

    pairs: int  # account × region pairs not monitored (resigned, removed, ..., never invited, other)
    regions: int  # regions with no administrator detector, or enabled but not managed by GuardWatch
    plans_off: int  # monitored members with a protection plan off


def gap_totals(counts: dict[str, int]) -> GapTotals:
    """`gap_counts`' figures added up by unit (the dashboard's card and the coverage page's)."""
    return GapTotals(
        pairs=sum(v for k, v in counts.items() if k not in (*REGION_GAPS, "plans_off")),
        regions=sum(counts.get(k, 0) for k in REGION_GAPS),
        plans_off=counts.get("plans_off", 0),
    )


def regions_without_detector(*, summary: CoverageSummary | None = None) -> list[RegionCoverage]:
    """Configured regions where the last member sync found no administrator detector."""
    return [r for r in (summary or coverage_summary()).regions if r.has_detector is False]


@dataclass
class GapRow:
    """One gap: an account in a region (or a whole region for no_detector) and why."""

    account_id: str = ""
    name: str = ""
    region: str = ""
    status: str = ""
    since: datetime | None = None
    detail: str = ""

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    @property
    def status_css(self) -> str:
        return status_css(self.status)


@dataclass
class GapList:
    kind: GapKind
    count: int
    rows: list[GapRow]
    page: Page | None = None
    full: bool = False  # the paginated list (chosen with ?gap=) rather than a preview

    @property
    def regions_only(self) -> bool:
        """Rows are whole regions, not accounts."""
        return self.kind.key in ("no_detector", "unmanaged_regions")


def _membership_rows(memberships) -> list[GapRow]:
    return [
        GapRow(
            m.account.account_id,
            m.account.display_name,
            m.region,
            m.relationship_status,
            m.invited_at if m.relationship_status in PENDING else m.updated_at,
        )
        for m in memberships
    ]


def gap_list(
    *, key: str, count: int, full: bool, page_number=None, now: datetime | None = None, summary=None,
    scope: Scope = None,
) -> GapList:
    """The rows of one gap: a preview of GAP_PREVIEW, or a page of GAP_PER_PAGE when `full`."""
    now = now or timezone.now()
    kind = next(k for k in GAP_KINDS if k.key == key)
    kind = GapKind(
        kind.key, kind.title, kind.explanation.format(days=settings.GUARDWATCH_INVITE_PENDING_DAYS)
    )
    size = GAP_PER_PAGE if full else GAP_PREVIEW
    configured = regions()
    page = None
    if key == "no_detector":
        rows = [
            GapRow(region=r.region, since=r.members_synced_at,
                   detail=(r.members_error or "No detector") + ("" if r.managed else " (not managed by GuardWatch)"))
            for r in regions_without_detector(summary=summary)
        ]  # fmt: skip
        return GapList(kind, count, rows)
    if key == "unmanaged_regions":
        rows = [
            GapRow(region=r.region, detail="administrator detector: " + ("yes" if r.detector_id else "none"))
            for r in (summary or coverage_summary()).regions if not r.managed
        ]  # fmt: skip
        return GapList(kind, count, rows)
    if key == "never_invited":
        accounts = never_invited_accounts().filter(_scoped(scope, "account_id"))
        page = Paginator(accounts, size).get_page(page_number) if full else None
        first = accounts_without_first(invited_q(), MemberAccount.objects.order_by("account_id"))  # stops at `size`
        chosen = list(page.object_list if page else first.filter(_scoped(scope, "account_id"))[:size])
        invited = set(
            Membership.objects.filter(account__in=chosen, region__in=configured)
            .filter(invited_q())
            .values_list("account_id", "region")
        )
        rows = [
            GapRow(a.account_id, a.display_name, ", ".join(r for r in configured if (a.pk, r) not in invited),
                   detail="not invited in these regions")
            for a in chosen
        ]  # fmt: skip
        return GapList(kind, count, rows, page, full)
    if key == "plans_off":
        protections = (
            MemberProtection.objects.filter(
                _scoped(scope, "membership__account__account_id"), plans_off__gt=0,
                membership__region__in=configured, membership__relationship_status=MONITORED,
            )
            .select_related("membership__account")
            .order_by("membership__account__account_id", "membership__region")
        )
        page = Paginator(protections, size).get_page(page_number) if full else None
        chosen = list(page.object_list if page else protections[:size])
        rows = [
            GapRow(p.membership.account.account_id, p.membership.account.display_name, p.membership.region,
                   MONITORED, p.checked_at, "off: " + ", ".join(p.off_labels))
            for p in chosen
        ]  # fmt: skip
        return GapList(kind, count, rows, page, full)
    memberships = (
        Membership.objects.filter(_membership_gap_q(key, now), _scoped(scope, "account__account_id"),
                                  region__in=configured)
        .select_related("account")
        .order_by("account__account_id", "region")
    )
    page = Paginator(memberships, size).get_page(page_number) if full else None
    chosen = page.object_list if page else memberships[:size]
    return GapList(kind, count, _membership_rows(chosen), page, full)


def gap_export_rows(*, key: str, now: datetime | None = None, scope: Scope = None):
    """Every row of one gap, for its CSV."""
    count = gap_counts(now=now, scope=scope).get(key, 0)
    number = 1
    while True:
        gaps = gap_list(key=key, count=count, full=True, page_number=number, now=now, scope=scope)
        for row in gaps.rows:
            yield [
                row.account_id,
                row.name,
                row.region,
                row.status_label if row.account_id else "",
                row.since,
                row.detail,
            ]
        if gaps.page is None or not gaps.page.has_next():
            return
        number += 1


# --- Dashboard ------------------------------------------------------------------------------------


@dataclass
class CoverageDashboard:
    percent: float
    accounts: int
    fully_monitored: int
    gaps: GapTotals
    open_alerts: int
    regions: list[RegionCoverage] = field(default_factory=list)


def coverage_dashboard(*, user=None) -> CoverageDashboard:
    """The dashboard's coverage and alert cards (a team-scoped user's teams' accounts only)."""
    scope = scope_for(user)
    summary = coverage_summary(scope=scope)

    def compute() -> dict:
        return {"alerts": Alert.objects.filter(alert_scope_q(user), acknowledged_at__isnull=True).count()}

    params = {"regions": regions(), **({} if scope is None else {"scope": sorted(scope)})}
    figures = reports_cached("coverage-dashboard", params, compute)
    return CoverageDashboard(
        percent=summary.percent,
        accounts=summary.accounts,
        fully_monitored=summary.fully_monitored,
        gaps=gap_totals(gap_counts(summary=summary)),  # read with the summary, as the coverage page does
        open_alerts=figures["alerts"],
        regions=summary.regions,
    )


PLAN_LABELS = [label for _names, label in PROTECTION_PLANS.values()]
