"""Report reads the pages start from: what the dashboard shows a person.

The figures are computed by `coverage`, `matrix`, `findings_report` and `timing`, and served from the
snapshots `reports.services` keeps (the app's only writes, to the cache, done by its tasks); a page reads
them through here or through those modules' public functions, never by computing on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from guardwatch.core.scope import scope_for
from reports.coverage import CoverageDashboard, coverage_dashboard
from reports.findings_report import FindingsDashboard
from reports.services import findings_dashboard


@dataclass(frozen=True)
class DashboardCards:
    """The dashboard's cards for one person: a card is None (not shown) where their role may not see it."""

    coverage: CoverageDashboard | None
    findings: FindingsDashboard | None
    can_alerts: bool
    can_sync: bool
    can_reports: bool


def dashboard_cards(*, user) -> DashboardCards:
    """The cards `user`'s role may follow, each with its figures (read from the kept snapshots)."""
    return DashboardCards(
        coverage=coverage_dashboard(user=user) if user.has_perm("core.view_reports") else None,
        findings=findings_dashboard(scope=scope_for(user)) if user.has_perm("core.view_findings") else None,
        can_alerts=user.has_perm("core.view_members"),
        can_sync=user.has_perm("core.view_sync"),
        can_reports=user.has_perm("core.view_reports"),
    )
