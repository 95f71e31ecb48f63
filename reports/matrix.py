"""The coverage matrix: one page of member accounts × every configured region, each cell a membership.

One page (MATRIX_PER_PAGE accounts) with their memberships and protection plans fetched in one query,
so the page costs the same at 50 accounts or 50,000; the CSV export streams every account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.models import (
    ALERT_STATUSES,
    MONITORED,
    PROTECTION_PLANS,
    STATUS_LABELS,
    MemberAccount,
    Membership,
    status_css,
    status_label,
)
from accounts.selectors import account_search_normalize, accounts_lacking_a_region
from reports.coverage import regions

MATRIX_PER_PAGE = 100
NOT_A_MEMBER = "none"  # the status filter's value for "" (no membership in a region)
# Each cell says its status in text and a symbol as well as its colour (colour alone fails colour-blind readers).
_PENDING = ("Invited", "Created", "EmailVerificationInProgress")


def status_symbol(status: str) -> str:
    """✓ monitored, ○ on its way (created, invited, verifying), ✗ a gap someone caused, – not a member, ? other."""
    if status == MONITORED:
        return "✓"
    if status in _PENDING:
        return "○"
    if status in ALERT_STATUSES or status == "AccountSuspended":
        return "✗"
    return "–" if status == "" else "?"


@dataclass(frozen=True)
class MatrixFilters:
    """What the matrix shows, from the query string: text, an OU, a tag, a status in some region, gaps only."""

    q: str = ""
    ou: str = ""  # an AWS Organizations OU id (`ou-…`) or root (`r-…`), as recorded on the account
    tag: str = ""
    status: str = ""  # a relationship status, NOT_A_MEMBER, or "" for any
    gaps_only: bool = False

    @classmethod
    def from_query(cls, params) -> MatrixFilters:
        status = params.get("status", "")
        return cls(
            q=params.get("q", "").strip()[:100],
            ou=params.get("ou", "").strip()[:68],
            tag=params.get("tag", "").strip()[:100],
            status=status if status in STATUS_CHOICES_BY_VALUE else "",
            gaps_only=params.get("gaps_only") == "1",
        )


STATUS_CHOICES = [(NOT_A_MEMBER if s == "" else s, label) for s, label in STATUS_LABELS.items()]
STATUS_CHOICES_BY_VALUE = dict(STATUS_CHOICES)

# --- The matrix: one page of accounts × every region ---------------------------------------------


@dataclass(frozen=True)
class MatrixCell:
    region: str
    status: str
    label: str
    css: str
    plans_off: tuple[str, ...] = ()

    @property
    def html(self) -> SafeString:
        """The cell's `<td>`, built here: 1,700 cells a page through the template engine cost ~10× more."""
        if self.plans_off:
            off = ", ".join(self.plans_off)
            return format_html(
                '<td class="cell {}" data-region="{}" title="{}: {}; plans off: {}"><span class="sym" aria-hidden="true">{}</span> {} '
                '<span aria-label="protection plans off: {}">◐</span></td>',
                self.css, self.region, self.region, self.label, off, status_symbol(self.status), self.label, off,
            )  # fmt: skip
        return format_html(
            '<td class="cell {}" data-region="{}" title="{}: {}"><span class="sym" aria-hidden="true">{}</span> {}</td>',
            self.css, self.region, self.region, self.label, status_symbol(self.status), self.label,
        )  # fmt: skip


@dataclass
class MatrixRow:
    account: MemberAccount
    cells: list[MatrixCell]
    cells_html: SafeString = field(default_factory=SafeString)


@dataclass
class Matrix:
    page: Page
    rows: list[MatrixRow]
    regions: list[str]
    filters: MatrixFilters


def _matrix_accounts(filters: MatrixFilters, scope=None) -> QuerySet[MemberAccount]:
    accounts = MemberAccount.objects.order_by("account_id")
    if scope is not None:  # a team-scoped user's accounts (guardwatch.core.scope)
        accounts = accounts.filter(account_id__in=sorted(scope))
    q = account_search_normalize(filters.q)  # 4444-5555-6666, as the console shows ids
    if q:
        accounts = accounts.filter(
            Q(account_id__startswith=q) | Q(display_name__icontains=q) | Q(email__icontains=q)
        )
    if filters.ou:
        accounts = accounts.filter(organizational_unit=filters.ou)
    if filters.tag:  # one element of the JSON list, matched as its JSON text (the demo's SQLite has no `contains`)
        accounts = accounts.filter(tags__icontains=json.dumps(filters.tag))
    if filters.status == NOT_A_MEMBER:
        accounts = accounts_lacking_a_region("member_regions", accounts)
    elif filters.status:
        in_status = Membership.objects.filter(
            account=OuterRef("pk"), region__in=regions(), relationship_status=filters.status
        )
        accounts = accounts.filter(Exists(in_status))
    # Any status but Monitored (or "not a member") in a configured region is a region not monitored: the status
    # filter has kept only accounts with a gap, and a second condition would only mislead the planner.
    if filters.gaps_only and filters.status in ("", MONITORED):
        accounts = accounts_lacking_a_region("monitored_regions", accounts)
    return accounts


def _scoped_accounts(scope) -> QuerySet[MemberAccount]:
    accounts = MemberAccount.objects.all()
    return accounts if scope is None else accounts.filter(account_id__in=sorted(scope))


def matrix_ous(*, scope=None) -> list[str]:
    """Every OU one of the reader's accounts is recorded in, sorted: the matrix's OU filter offers them."""
    return list(
        _scoped_accounts(scope).exclude(organizational_unit="").order_by("organizational_unit")
        .values_list("organizational_unit", flat=True).distinct()
    )


def matrix_tags(*, scope=None) -> list[str]:
    """Every tag one of the reader's accounts carries, sorted: the matrix's tag filter offers them."""
    # Each distinct tag list once (a handful for 50,000 accounts), not every account's list decoded in Python.
    lists = _scoped_accounts(scope).order_by().values_list("tags", flat=True).distinct()
    tags = {tag for listed in lists for tag in listed or ()}
    return sorted(tags, key=str.casefold)


_PLAN_FIELDS = tuple(PROTECTION_PLANS)
_PLAN_LABELS = tuple(label for _names, label in PROTECTION_PLANS.values())


def coverage_matrix(*, filters: MatrixFilters, page_number=None, scope=None) -> Matrix:
    """One page of accounts with a cell per configured region (two queries plus the count).

    The page's ~1,700 memberships are read as tuples (status, plans off and the plans' statuses),
    not model instances: building instances was most of the matrix's time.
    """
    configured = regions()
    accounts_qs = _matrix_accounts(filters, scope).only("id", "account_id", "display_name")
    page = Paginator(accounts_qs, MATRIX_PER_PAGE).get_page(page_number)
    accounts = list(page.object_list)
    found: dict[tuple[int, str], tuple[str, tuple[str, ...]]] = {}
    memberships = Membership.objects.filter(account__in=[a.pk for a in accounts], region__in=configured)
    plan_columns = [f"protection__{name}" for name in _PLAN_FIELDS]
    for account_id, region, status, plans_off, *plans in memberships.values_list(
        "account_id", "region", "relationship_status", "protection__plans_off", *plan_columns
    ).order_by():
        off = (
            tuple(label for label, plan in zip(_PLAN_LABELS, plans, strict=True) if plan == "DISABLED")
            if plans_off
            else ()
        )
        found[(account_id, region)] = (status, off)
    rows = []
    cells: dict[tuple[str, str, tuple[str, ...]], MatrixCell] = {}
    html: dict[MatrixCell, SafeString] = {}  # a few dozen distinct cells make up a page of 1,700
    for account in accounts:
        row = []
        for region in configured:
            status, off = found.get((account.pk, region), ("", ()))
            cell = cells.get((region, status, off))
            if cell is None:
                cell = cells[(region, status, off)] = MatrixCell(
                    region, status, status_label(status), status_css(status), off
                )
                html[cell] = cell.html
            row.append(cell)
        rows.append(MatrixRow(account, row, SafeString("".join(html[c] for c in row))))
    return Matrix(page=page, rows=rows, regions=configured, filters=filters)


def coverage_matrix_rows(*, filters: MatrixFilters, scope=None):
    """Every matching account's row for the CSV (streamed; its memberships read first, in one pass)."""
    configured = regions()
    statuses: dict[int, dict[str, str]] = {}
    memberships = (
        Membership.objects.filter(
            region__in=configured, account__in=_matrix_accounts(filters, scope)
        )
        .values_list("account_id", "region", "relationship_status")
        .order_by()
    )
    for account_id, region, status in memberships.iterator(chunk_size=5000):
        statuses.setdefault(account_id, {})[region] = status
    for account in _matrix_accounts(filters, scope).iterator(chunk_size=2000):
        mine = statuses.get(account.pk, {})
        yield [account.account_id, account.display_name, *(status_label(mine.get(r, "")) for r in configured)]
