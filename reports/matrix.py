"""The coverage matrix: one page of member accounts × every configured region, each cell a membership.

One page (MATRIX_PER_PAGE accounts) with their memberships and protection plans fetched in one query,
so the page costs the same at 50 accounts or 50,000; the CSV export streams every account.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.models import (
    MONITORED,
    PROTECTION_PLANS,
    MemberAccount,
    Membership,
    status_css,
    status_label,
)
from accounts.selectors import account_search_normalize, accounts_without
from reports.coverage import regions

MATRIX_PER_PAGE = 100

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
                '<td class="cell {}" data-region="{}" title="{}: {}; plans off: {}">{} '
                '<span aria-label="protection plans off: {}">◐</span></td>',
                self.css, self.region, self.region, self.label, off, self.label, off,
            )  # fmt: skip
        return format_html(
            '<td class="cell {}" data-region="{}" title="{}: {}">{}</td>',
            self.css, self.region, self.region, self.label, self.label,
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


def _matrix_accounts(*, q: str = "", gaps_only: bool = False, scope=None) -> QuerySet[MemberAccount]:
    accounts = MemberAccount.objects.order_by("account_id")
    if scope is not None:  # a team-scoped user's accounts (guardwatch.core.scope)
        accounts = accounts.filter(account_id__in=sorted(scope))
    q = account_search_normalize(q)  # 4444-5555-6666, as the console shows ids
    if q:
        accounts = accounts.filter(
            Q(account_id__startswith=q) | Q(display_name__icontains=q) | Q(email__icontains=q)
        )
    if gaps_only:
        accounts = accounts_without(Q(relationship_status=MONITORED), accounts)
    return accounts


_PLAN_FIELDS = tuple(PROTECTION_PLANS)
_PLAN_LABELS = tuple(label for _names, label in PROTECTION_PLANS.values())


def coverage_matrix(*, q: str = "", gaps_only: bool = False, page_number=None, scope=None) -> Matrix:
    """One page of accounts with a cell per configured region (two queries plus the count).

    The page's ~1,700 memberships are read as tuples (status, plans off and the plans' statuses),
    not model instances: building instances was most of the matrix's time.
    """
    configured = regions()
    accounts_qs = _matrix_accounts(q=q, gaps_only=gaps_only, scope=scope).only("id", "account_id", "display_name")
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
    return Matrix(page=page, rows=rows, regions=configured)


def coverage_matrix_rows(*, q: str = "", gaps_only: bool = False, scope=None):
    """Every account's row for the CSV (streamed: one pass over memberships ordered by account)."""
    configured = regions()
    statuses: dict[int, dict[str, str]] = {}
    memberships = (
        Membership.objects.filter(
            region__in=configured, account__in=_matrix_accounts(q=q, gaps_only=gaps_only, scope=scope)
        )
        .values_list("account_id", "region", "relationship_status")
        .order_by()
    )
    for account_id, region, status in memberships.iterator(chunk_size=5000):
        statuses.setdefault(account_id, {})[region] = status
    for account in _matrix_accounts(q=q, gaps_only=gaps_only, scope=scope).iterator(chunk_size=2000):
        mine = statuses.get(account.pk, {})
        yield [account.account_id, account.display_name, *(status_label(mine.get(r, "")) for r in configured)]
