"""Member account reads: the accounts page (a constant number of queries at any size), details, runs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Case, Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404

from accounts import aws_organizations, operations
from accounts.models import (
    NOT_INVITED,
    STATUS_LABELS,
    ComplianceDay,
    CoveragePolicy,
    Deviation,
    MemberAccount,
    MemberOperation,
    MemberOperationResult,
    MemberProtection,
    Membership,
    MembershipStatusChange,
    MembershipStatusCount,
    RegionState,
    status_css,
    status_label,
)
from guardwatch.core.models import AuditEntry
from guardwatch.core.scope import scope_for, scope_q

PER_PAGE = 100
# Operations still under way (verifying: invitations sent, GuardDuty still checking emails).
ACTIVE_STATUSES = [MemberOperation.Status.QUEUED, MemberOperation.Status.RUNNING, MemberOperation.Status.VERIFYING]
_ID_TYPED = re.compile(r"[0-9]{4}(?:[- ][0-9]{1,4}){1,2}")
NOT_A_MEMBER = "none"  # the status filter's value for "no membership in the region"
SORTS = {
    "account_id": "account_id",
    "-account_id": "-account_id",
    "name": "display_name",
    "-name": "-display_name",
    "email": "email",
    "-email": "-email",
    "added": "created_at",
    "-added": "-created_at",
}


def account_search_normalize(q: str) -> str:
    """A search as typed; an account id (or its start) typed as the console shows it, `4444-5555-6666`,
    becomes its digits so it matches the stored id."""
    return q.replace("-", "").replace(" ", "") if _ID_TYPED.fullmatch(q) else q


@dataclass(frozen=True)
class AccountFilters:
    """What the accounts page filters and sorts on (all from the query string)."""

    q: str = ""
    status: str = ""
    region: str = ""
    sort: str = "account_id"

    @classmethod
    def from_query(cls, params) -> AccountFilters:
        region = params.get("region", "")
        sort = params.get("sort", "account_id")
        return cls(
            q=account_search_normalize(params.get("q", "").strip()[:100]),
            status=params.get("status", "").strip()[:64],
            region=region if region in settings.GUARDWATCH_AWS_REGIONS else "",
            sort=sort if sort in SORTS else "account_id",
        )


@dataclass(frozen=True, slots=True)
class Cell:
    """One region's status of one account, ready to render."""

    region: str
    status: str
    label: str
    css: str
    error: str = ""


@dataclass
class AccountRow:
    account: MemberAccount
    cells: list[Cell]


@dataclass
class StatusCount:
    status: str
    value: str  # the filter value
    label: str
    css: str
    count: int


@dataclass
class AccountPage:
    """Everything the accounts page shows."""

    page: Page
    rows: list[AccountRow]
    regions: list[str]
    counts: list[StatusCount]
    region_states: dict[str, RegionState] = field(default_factory=dict)
    active_operations: list[MemberOperation] = field(default_factory=list)

    @property
    def refreshing(self) -> bool:
        return any(state.refreshing for state in self.region_states.values())


def _text_filtered(filters: AccountFilters, user=None) -> QuerySet[MemberAccount]:
    qs = MemberAccount.objects.filter(scope_q(user))
    if filters.q:
        q = filters.q
        qs = qs.filter(
            Q(account_id__startswith=q) | Q(email__icontains=q) | Q(display_name__icontains=q) | Q(tags__icontains=q)
        )
    return qs


def account_queryset(filters: AccountFilters, user=None) -> QuerySet[MemberAccount]:
    """Accounts matching the text, status and region filters, sorted (only a team-scoped user's teams' ones)."""
    qs = _text_filtered(filters, user)
    if filters.status:
        memberships = Membership.objects.filter(account=OuterRef("pk"))
        if filters.region:
            memberships = memberships.filter(region=filters.region)
        else:
            memberships = memberships.filter(region__in=settings.GUARDWATCH_AWS_REGIONS)
        if filters.status == NOT_A_MEMBER and connection.vendor == "postgresql":
            # The accounts' region summary (`member_regions`, kept by every status writer) instead of an anti-join
            # of 845,000 memberships at 50,000 accounts × 17 regions: one condition on each account's row.
            regions = [filters.region] if filters.region else list(settings.GUARDWATCH_AWS_REGIONS)
            qs = qs.exclude(member_regions__has_any_keys=regions)  # jsonb ?|
        elif filters.status == NOT_A_MEMBER:
            qs = qs.filter(~Exists(memberships.exclude(relationship_status="")))
        else:
            qs = qs.filter(Exists(memberships.filter(relationship_status=filters.status)))
    order = SORTS[filters.sort]
    return qs.order_by(order, "account_id") if "account_id" not in order else qs.order_by(order)


def account_page(*, filters: AccountFilters, user, page_number=None, per_page: int = PER_PAGE) -> AccountPage:
    """One page of accounts with a status cell per region, plus per-status counts, in constant queries.

    A team-scoped `user` sees their teams' accounts and no member operations (those span the organisation)."""
    regions = [filters.region] if filters.region else list(settings.GUARDWATCH_AWS_REGIONS)
    page = Paginator(account_queryset(filters, user), per_page).get_page(page_number)
    accounts = list(page.object_list)
    by_account: dict[int, dict[str, tuple[str, str]]] = {}
    if accounts:
        memberships = Membership.objects.filter(account__in=[a.pk for a in accounts], region__in=regions).values_list(
            "account_id", "region", "relationship_status", "last_error"
        )
        for account_pk, region, status, error in memberships:
            by_account.setdefault(account_pk, {})[region] = (status, error)
    rows = []
    empty = ("", "")
    made: dict[tuple[str, str, str], Cell] = {}  # few distinct cells per page: build each once
    for account in accounts:
        found = by_account.get(account.pk, {})
        cells = []
        for region in regions:
            status, error = found.get(region, empty)
            cell = made.get((region, status, error))
            if cell is None:
                cell = made[(region, status, error)] = Cell(region, status, status_label(status), status_css(status), error)
            cells.append(cell)
        rows.append(AccountRow(account=account, cells=cells))
    return AccountPage(
        page=page,
        rows=rows,
        regions=regions,
        # Without a status filter the page's accounts are the counts' accounts: their number is the paginator's
        # (a text filter scans every account's four text columns, ~75 ms at 50,000: once is enough).
        counts=status_counts(filters=filters, regions=regions, user=user,
                             accounts_total=None if filters.status else page.paginator.count),  # fmt: skip
        region_states={state.region: state for state in RegionState.objects.all()},
        active_operations=list(
            MemberOperation.objects.filter(status__in=ACTIVE_STATUSES)[:5]
        ) if scope_for(user) is None else [],
    )


def status_counts(
    *, filters: AccountFilters, regions: list[str], user=None, accounts_total: int | None = None
) -> list[StatusCount]:
    """Memberships per status over the text-filtered accounts (2 queries, 1 given `accounts_total`, their number),
    "Not a member" included."""
    accounts = _text_filtered(filters, user)
    narrowed = bool(filters.q) or scope_for(user) is not None
    if not narrowed and connection.vendor == "postgresql":
        # Every account: the counts the triggers keep (a few rows a region) instead of grouping every membership.
        grouped = (
            MembershipStatusCount.objects.filter(region__in=regions).exclude(status="")
            .values("status").annotate(total=Sum("n")).filter(total__gt=0).values_list("status", "total")
            .order_by()
        )  # fmt: skip
    else:
        memberships = Membership.objects.filter(region__in=regions)
        if narrowed:
            memberships = memberships.filter(account__in=accounts)
        grouped = (
            memberships.exclude(relationship_status="")
            .values("relationship_status")
            .annotate(n=Count("*"))
            .values_list("relationship_status", "n")
            .order_by()
        )
    found = dict(grouped)
    slots = (accounts.count() if accounts_total is None else accounts_total) * len(regions)
    ordered = [s for s in STATUS_LABELS if s and s in found] + sorted(s for s in found if s not in STATUS_LABELS)
    counts = [StatusCount(s, s, status_label(s), status_css(s), found[s]) for s in ordered]
    counts.append(StatusCount("", NOT_A_MEMBER, status_label(""), status_css(""), max(0, slots - sum(found.values()))))
    return counts


def status_choices() -> list[tuple[str, str]]:
    """The status filter's options: every status the product can explain."""
    return [(s, status_label(s)) for s in STATUS_LABELS if s] + [(NOT_A_MEMBER, status_label(""))]


def account_get(*, account_id: str, user) -> MemberAccount:
    """One account by its 12-digit id, or 404 (also outside a team-scoped user's teams)."""
    return get_object_or_404(MemberAccount.objects.filter(scope_q(user)), account_id=account_id)


@dataclass
class TrailEntry:
    """One line of an account's trail: who did what, in words (the audit entry behind it kept)."""

    entry: AuditEntry
    action: str
    summary: str
    operation_id: int | None = None


# What each audited verb about an account means; the operations' verbs are their actions' labels.
TRAIL_VERBS = {
    "member.create": "Added to GuardWatch",
    "member.update": "Details changed",
    "member.email_change": "Root email changed",
    "member.discover": "Found in GuardDuty's member list",
    "member.remove": "Removed from GuardWatch",
    "membership.status_change": "Status changed",
    "member.operation_retry": "Failed steps retried",
    **{f"member.{action.value}": action.label for action in MemberOperation.Action},
}


def _trail_entry(entry: AuditEntry) -> TrailEntry:
    details = entry.details or {}
    operation_id = int(entry.target_id) if entry.target_type == "accounts.memberoperation" and entry.target_id.isdigit() else None
    if entry.verb == "membership.status_change":
        summary = f"{details.get('region', '')}: {status_label(details.get('from', ''))} → {status_label(details.get('to', ''))}"
        if details.get("source") == "sync":
            summary += " (seen by the sync)"
    elif operation_id is not None:
        summary = "in " + ", ".join(details.get("regions", [])) if details.get("regions") else ""
        if details.get("message"):
            summary += f"; message: {details['message']}"
    else:
        # The accounts an operation covered can be thousands: the trail is about this one.
        summary = "; ".join(f"{key.replace('_', ' ')}: {value}" for key, value in details.items() if key != "accounts")
    return TrailEntry(entry, TRAIL_VERBS.get(entry.verb, entry.verb), summary, operation_id)


def account_trail(*, account: MemberAccount, limit: int = 50) -> list[TrailEntry]:
    """What happened to the account, newest first: its own audit entries and the runs that touched it
    (invite, accept, stop, delete, … are audited on the run, which names every account it covered)."""
    runs = [
        str(pk)
        for pk in MemberOperationResult.objects.filter(account=account)
        .order_by("-operation_id")
        .values_list("operation_id", flat=True)
        .distinct()[:limit]
    ]
    entries = AuditEntry.objects.filter(
        Q(target_type="accounts.memberaccount", target_id=str(account.pk))
        | Q(target_type="accounts.memberoperation", target_id__in=runs)
    )
    return [_trail_entry(entry) for entry in entries[:limit]]


@dataclass
class AccountDetail:
    account: MemberAccount
    memberships: list[Membership]
    history: list[MembershipStatusChange]
    audit: list[TrailEntry]
    operations: list[MemberOperationResult]
    held_regions: list[str] = field(default_factory=list)  # organization account under auto-enable ALL there

    @property
    def listed(self) -> list[Membership]:
        """The regions where GuardDuty lists the account as a member (whatever its status)."""
        return [m for m in self.memberships if m.relationship_status]

    @property
    def removable(self) -> bool:
        """GuardDuty lists it nowhere, so removing it from GuardWatch is final (no sync brings it back)."""
        return not self.listed


def account_detail(*, account: MemberAccount) -> AccountDetail:
    """An account's memberships in every configured region, status history, audit trail and recent runs."""
    found = {m.region: m for m in account.memberships.all()}
    regions = list(settings.GUARDWATCH_AWS_REGIONS) + sorted(set(found) - set(settings.GUARDWATCH_AWS_REGIONS))
    memberships = [found.get(region) or Membership(account=account, region=region) for region in regions]
    organization = account.is_organization_account
    held = (
        set(RegionState.objects.filter(org_auto_enable_members="ALL").values_list("region", flat=True))
        if organization else set()
    )  # fmt: skip
    for membership in memberships:
        membership.available_actions = membership.actions_for(
            organization=organization, held_by_all=membership.region in held
        )
    history = list(
        MembershipStatusChange.objects.filter(membership__account=account).select_related("membership")[:100]
    )
    audit = account_trail(account=account)
    operations = list(
        MemberOperationResult.objects.filter(account=account).select_related("operation").order_by("-operation_id", "region")[:30]
    )
    return AccountDetail(account=account, memberships=memberships, history=history, audit=audit, operations=operations,
                         held_regions=[m.region for m in memberships if m.region in held])  # fmt: skip


def operation_get(*, pk: int) -> MemberOperation:
    return get_object_or_404(MemberOperation, pk=pk)


Outcome = MemberOperationResult.Outcome
# The order results are listed in: what needs a look first, what is still moving next.
OUTCOME_ORDER = (Outcome.FAILED, Outcome.VERIFYING, Outcome.PENDING, Outcome.UNSETTLED, Outcome.OK)


def operation_results(*, operation: MemberOperation, outcome: str = "", page_number=None) -> Page:
    """An operation's per-(account, region) results, failures first, then the ones still moving; 200 per page."""
    qs = operation.results.select_related("account")
    if outcome:
        qs = qs.filter(outcome=outcome)
    rank = Case(*(When(outcome=value, then=Value(index)) for index, value in enumerate(OUTCOME_ORDER)),
                default=Value(len(OUTCOME_ORDER)))
    qs = qs.annotate(rank=rank).order_by("rank", "region", "account__account_id")
    return Paginator(qs, 200).get_page(page_number)


@dataclass
class RegionProgress:
    """How far an operation is in one region: results per outcome."""

    region: str
    total: int = 0
    pending: int = 0
    verifying: int = 0
    ok: int = 0
    unsettled: int = 0
    failed: int = 0


def operation_progress(*, operation: MemberOperation) -> list[RegionProgress]:
    """The operation's results counted per region and outcome (one grouped query), in the operation's region order."""
    found = {region: RegionProgress(region) for region in operation.regions}
    grouped = operation.results.values("region", "outcome").annotate(n=Count("*")).order_by()
    for row in grouped:
        progress = found.setdefault(row["region"], RegionProgress(row["region"]))
        if row["outcome"] in Outcome.values:
            setattr(progress, row["outcome"], getattr(progress, row["outcome"]) + row["n"])
        progress.total += row["n"]
    return list(found.values())


def operations_recent(*, limit: int = 20) -> list[MemberOperation]:
    return list(MemberOperation.objects.select_related("created_by")[:limit])


def regions_without_detector() -> list[str]:
    """Configured regions where the last look found no administrator detector (or never looked)."""
    known = {state.region: state for state in RegionState.objects.filter(region__in=settings.GUARDWATCH_AWS_REGIONS)}
    return [r for r in settings.GUARDWATCH_AWS_REGIONS if r in known and not known[r].detector_id and known[r].last_error]


# --- Never invited: Coverage's gap and "Invite accounts not yet members" -------------------------


def invited_q() -> Q:
    """Memberships that were invited (whatever happened since); the others are "never invited"."""
    return ~Q(relationship_status__in=NOT_INVITED)


def accounts_without(status: Q, accounts: QuerySet[MemberAccount]) -> QuerySet[MemberAccount]:
    """The accounts lacking, in at least one configured region, a membership whose status matches.

    NOT IN the accounts that have one in every region: Postgres hashes that GROUP BY over memberships
    once, and walks the accounts in order only until a page is full (no join and sort of every pair).
    """
    configured = list(settings.GUARDWATCH_AWS_REGIONS)
    if not configured:
        return accounts.none()
    everywhere = (
        Membership.objects.filter(status, region__in=configured)
        .values("account_id")
        .annotate(n=Count("id"))
        .filter(n=len(configured))
        .values("account_id")
        .order_by()
    )
    return accounts.exclude(pk__in=everywhere)


def accounts_lacking_a_region(summary: str, accounts: QuerySet[MemberAccount]) -> QuerySet[MemberAccount]:
    """The accounts whose region summary (`member_regions` or `monitored_regions`, kept by
    `accounts.services.account_regions_refresh`) lacks a configured region: `accounts_without` for "has a status"
    and "monitored", read from one row per account (an index walk in the accounts' order that a page's LIMIT
    stops, and a count of 50,000 rows) instead of a GROUP BY over every membership."""
    configured = sorted(settings.GUARDWATCH_AWS_REGIONS)
    if not configured:
        return accounts.none()
    if connection.vendor == "postgresql":
        return accounts.exclude(**{f"{summary}__contains": configured})  # jsonb @>
    everywhere = Q()  # SQLite (the demo) has no JSON `contains`: each region's quoted name in the list's text
    for region in configured:
        everywhere &= Q(**{f"{summary}__icontains": json.dumps(region)})
    return accounts.exclude(everywhere)


def accounts_without_first(status: Q, accounts: QuerySet[MemberAccount]) -> QuerySet[MemberAccount]:
    """`accounts_without`'s accounts, for reading the first few in the accounts' order: each account's matching
    memberships are counted on their own (an index range), so a LIMIT stops the walk. At 50,000 accounts × 17
    regions the NOT IN form builds its GROUP BY over all 850,000 memberships first (~0.5 s) even for 10 rows;
    counting a whole set is that form's job."""
    configured = list(settings.GUARDWATCH_AWS_REGIONS)
    if not configured:
        return accounts.none()
    matched = (
        Membership.objects.filter(status, account=OuterRef("pk"), region__in=configured)
        .order_by()
        .values("account")
        .annotate(n=Count("id"))
        .values("n")
    )
    return accounts.annotate(regions_matched=Coalesce(Subquery(matched), 0)).filter(
        regions_matched__lt=len(configured)
    )


def never_invited_accounts() -> QuerySet[MemberAccount]:
    """Accounts never invited in at least one configured region, by account id."""
    return accounts_without(invited_q(), MemberAccount.objects.order_by("account_id"))


def never_invited_pairs(*, accounts: list[MemberAccount], regions: list[str]) -> list[tuple[MemberAccount, str]]:
    """Each (account, region) of these accounts and regions that was never invited (one query)."""
    invited = set(
        Membership.objects.filter(invited_q(), account__in=accounts, region__in=regions).values_list(
            "account_id", "region"
        )
    )
    return [(account, region) for region in regions for account in accounts if (account.pk, region) not in invited]


def account_protections(*, account: MemberAccount) -> list[MemberProtection]:
    """The account's protection plans per region, as the protection sync last read them (one query)."""
    return list(
        MemberProtection.objects.filter(membership__account=account)
        .select_related("membership")
        .order_by("membership__region")
    )


# --- Organizations mode --------------------------------------------------------------------------

ACCOUNT_STATE_LABELS = {
    "ACTIVE": "Active",
    "PENDING_ACTIVATION": "Pending activation",
    "SUSPENDED": "Suspended",
    "PENDING_CLOSURE": "Closing",
    "CLOSED": "Closed",
}
AUTO_ENABLE_LABELS = {
    "NEW": "New accounts: added as they join",
    "ALL": "All accounts: every account is kept a member",
    "NONE": "None: added by hand",
}
# How long the page keeps polling for a refresh it queued before saying the worker did not answer.
REFRESH_PATIENCE_SECONDS = 120


@dataclass
class OrganizationRegion:
    region: str
    auto_enable: str = ""
    auto_enable_label: str = ""
    limit_reached: bool = False
    error: str = ""


@dataclass
class OrganizationAccountRow:
    account: object  # gateway.OrganizationAccount
    state_label: str
    why_not: str = ""  # why it cannot be added (not ACTIVE, the management account)


@dataclass
class OrganizationPage:
    """The Organization page: the kept snapshot and what it means against GuardWatch's members."""

    snapshot: object | None  # aws_organizations.OrganizationSnapshot
    refreshing: bool = False
    refresh_stalled: bool = False
    regions: list[OrganizationRegion] = field(default_factory=list)
    candidates: list[OrganizationAccountRow] = field(default_factory=list)
    unavailable: list[OrganizationAccountRow] = field(default_factory=list)
    pending: list[OrganizationAccountRow] = field(default_factory=list)
    all_regions: list[str] = field(default_factory=list)  # regions where auto-enable is ALL


def organization_page(*, now) -> OrganizationPage:
    """The last organization snapshot (never AWS) split into addable, unavailable and pending accounts."""
    snapshot = aws_organizations.organization_snapshot_get()
    requested = aws_organizations.organization_refresh_requested_at()
    page = OrganizationPage(snapshot=snapshot)
    if requested and (snapshot is None or requested > snapshot.read_at):
        page.refreshing = (now - requested).total_seconds() < REFRESH_PATIENCE_SECONDS
        page.refresh_stalled = not page.refreshing
    if snapshot is None or snapshot.error:
        return page
    for region, config in snapshot.configurations.items():
        if isinstance(config, str):
            page.regions.append(OrganizationRegion(region=region, error=config))
        else:
            page.regions.append(OrganizationRegion(
                region=region, auto_enable=config.auto_enable_members,
                auto_enable_label=AUTO_ENABLE_LABELS.get(config.auto_enable_members, config.auto_enable_members),
                limit_reached=config.member_account_limit_reached,
            ))  # fmt: skip
    page.all_regions = [r.region for r in page.regions if r.auto_enable == "ALL"]
    members = set(
        Membership.objects.exclude(relationship_status="").values_list("account__account_id", flat=True).distinct()
    )
    pending = set(
        MemberOperationResult.objects.filter(
            operation__action=MemberOperation.Action.ORG_ADD, result=operations.PENDING_TEXT,
        ).values_list("account__account_id", flat=True)
    ) - members  # fmt: skip
    for org_account in snapshot.accounts:
        if org_account.account_id in members or org_account.account_id == snapshot.administrator_id:
            continue
        row = OrganizationAccountRow(
            account=org_account, state_label=ACCOUNT_STATE_LABELS.get(org_account.status, org_account.status or "Unknown")
        )
        if org_account.account_id in pending:
            page.pending.append(row)
        elif not org_account.active:
            row.why_not = f"{row.state_label}: only ACTIVE accounts can become members."
            page.unavailable.append(row)
        elif org_account.account_id == snapshot.management_account_id:
            row.why_not = ("The management account: it must enable GuardDuty itself (in each region) before the "
                           "delegated administrator can add it.")
            page.unavailable.append(row)
        else:
            page.candidates.append(row)
    return page


# --- Coverage policies and drift -------------------------------------------------------------------


@dataclass
class DriftPage:
    """The drift page: deviations (filtered, paginated), counts by kind, compliance history."""

    deviations: Page
    by_kind: list[tuple[str, str, int]]
    regions: list[str]
    history: list
    total: int


DRIFT_PER_PAGE = 200


def drift_page(*, kind: str, region: str, page_number, days: int = 30) -> DriftPage:
    """Deviations by kind and region (200 per page) and the last `days` days of compliance, in four queries.

    At 50,000 accounts × 17 regions (~100,000 deviations): one GROUP BY (kind, region) gives the counts per kind,
    the regions to filter by and the filtered total; a page's ids are a range of the (region, account, kind,
    feature) index, covering the id, read without joining the rows before it; then its 200 rows with their
    account and policy.
    """
    pairs = Deviation.objects.order_by().values_list("kind", "region").annotate(n=Count("id"))
    by_kind: dict[str, int] = {}
    by_region: set[str] = set()
    matching = 0
    for row_kind, row_region, n in pairs:
        by_kind[row_kind] = by_kind.get(row_kind, 0) + n
        by_region.add(row_region)
        matching += n if kind in ("", row_kind) and region in ("", row_region) else 0
    ids = Deviation.objects.order_by("region", "account_id", "kind", "feature")
    if kind:
        ids = ids.filter(kind=kind)
    if region:
        ids = ids.filter(region=region)
    paginator = Paginator(ids.values_list("pk", flat=True), DRIFT_PER_PAGE)
    paginator.count = matching  # known from the counts: no COUNT(*) of its own
    page = paginator.get_page(page_number)
    rows = Deviation.objects.select_related("account", "policy").in_bulk(list(page.object_list))
    page.object_list = [rows[pk] for pk in page.object_list if pk in rows]
    history = list(ComplianceDay.objects.order_by("-day")[:days])[::-1]
    return DriftPage(
        deviations=page,
        by_kind=[(value, label, by_kind.get(value, 0)) for value, label in Deviation.Kind.choices],
        regions=sorted(by_region),
        history=history,
        total=sum(by_kind.values()),
    )


def organizational_units() -> list[tuple[str, int]]:
    """The OUs the Organization read recorded on accounts, with how many accounts each holds (a policy form offers
    them for an OU scope)."""
    return list(
        MemberAccount.objects.exclude(organizational_unit="").order_by("organizational_unit")
        .values_list("organizational_unit").annotate(n=Count("id"))
    )  # fmt: skip


def policy_get(*, pk: int) -> CoveragePolicy:
    """One coverage policy (404 when there is none)."""
    return get_object_or_404(CoveragePolicy, pk=pk)
