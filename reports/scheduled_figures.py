"""A scheduled report's figures and its PDF: coverage, policy compliance, new and resolved findings,
MTTA/MTTR, SLA breaches by team and by OU, the top finding types and the ATT&CK heatmap (tactics ×
severity of the new findings: the findings report's own, `FindingsReport.attack`), over one period and
one scope.

Each figure is an aggregate in SQL (the findings figures are the findings report's own,
`findings_report_compute`); the PDF is laid out by WeasyPrint as the pages' "Download PDF" is
(`reports.pdf`), from `templates/reports/scheduled_pdf.html`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, F, Q
from django.template.loader import render_to_string

from accounts.models import ComplianceDay, Deviation, MemberAccount, Team
from accounts.teams import team_account_ids
from findings.models import Finding
from findings.sla import BAND_RANGES, BANDS, sla_hours
from guardwatch.core import charts
from reports.coverage import CoverageSummary, coverage_summary_compute
from reports.findings_report import FindingsReport, findings_report_compute
from reports.pdf import pdf_layout
from reports.periods import BAND_LABELS, ReportPeriod

# WeasyPrint resolves the template's /static/ URLs against this; `reports.pdf.static_only_fetcher`
# serves them from disk and refuses anything else, so the host is never contacted.
PDF_BASE_URL = "http://guardwatch.invalid/"
TEMPLATE = "reports/scheduled_pdf.html"
NO_TEAM, NO_OU = "No team", "No OU"


@dataclass
class BreachRow:
    """SLA breaches of one team or OU in the period, per severity band."""

    label: str
    by_band: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_band.values())


@dataclass
class Compliance:
    """Coverage-policy compliance of the scope's accounts, from the last drift evaluation."""

    accounts: int
    deviating: int
    by_kind: list[tuple[str, int]]
    organisation_day: ComplianceDay | None = (
        None  # organisation-wide reports: the day's (account, region) pairs
    )

    @property
    def compliant(self) -> int:
        return self.accounts - self.deviating

    @property
    def percent(self) -> float:
        return round(100 * self.compliant / self.accounts, 1) if self.accounts else 100.0


@dataclass
class ScheduledReport:
    """Everything the scheduled PDF shows."""

    title: str
    scope_label: str
    period: ReportPeriod
    coverage: CoverageSummary
    compliance: Compliance
    findings: FindingsReport
    breaches_by_team: list[BreachRow]
    breaches_by_ou: list[BreachRow]
    generated_at: datetime
    extra: dict = field(default_factory=dict)

    @property
    def breaches_total(self) -> int:
        return sum(row.total for row in self.breaches_by_ou)

    @property
    def overall(self):
        return self.findings.timing[-1]

    @property
    def mtta_hours(self) -> float | None:
        return None if self.overall.tta_mean is None else round(self.overall.tta_mean / 3600, 1)

    @property
    def mttr_hours(self) -> float | None:
        return None if self.overall.ttr_mean is None else round(self.overall.ttr_mean / 3600, 1)


def _scoped(scope, field_name: str) -> Q:
    return Q() if scope is None else Q(**{f"{field_name}__in": sorted(scope)})


def compliance_read(*, scope) -> Compliance:
    """Accounts of the scope with no deviation from their coverage policy, and the deviations by kind."""
    accounts = MemberAccount.objects.filter(_scoped(scope, "account_id")).count()
    deviations = Deviation.objects.filter(_scoped(scope, "account__account_id"), account__isnull=False)
    deviating = deviations.values("account_id").distinct().count()
    labels = dict(Deviation.Kind.choices)
    kinds = [(labels.get(row["kind"], row["kind"]), row["n"])
             for row in deviations.values("kind").annotate(n=Count("id")).order_by("-n", "kind")]  # fmt: skip
    day = ComplianceDay.objects.order_by("-day").first() if scope is None else None
    return Compliance(accounts=accounts, deviating=deviating, by_kind=kinds, organisation_day=day)


def sla_breaches(*, period: ReportPeriod, scope) -> dict[tuple[str, str], int]:
    """Breaches per (account, band): findings whose SLA ran out in the period and that were not resolved by then.

    One GROUP BY: per band, findings created one SLA before the period, resolved never or after
    `created_at` + SLA.
    """
    hours = sla_hours()  # the SLA page's policy, or the defaults until an Admin saves one
    breached = Q()
    for band in BANDS:
        low, high = BAND_RANGES[band]
        sla = timedelta(hours=hours[band])
        breached |= Q(severity__gte=low, severity__lt=high, created_at__gte=period.start - sla,
                      created_at__lt=period.end - sla) & (
            Q(resolved_at__isnull=True) | Q(resolved_at__gt=F("created_at") + sla)
        )  # fmt: skip
    rows = (
        Finding.objects.filter(breached, _scoped(scope, "account_id"))
        .values("account_id", "severity_band")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(row["account_id"], row["severity_band"]): row["n"] for row in rows}


def _breach_rows(
    counts: dict[tuple[str, str], int], owners: dict[str, list[str]], unowned: str
) -> list[BreachRow]:
    rows: dict[str, BreachRow] = {}
    for (account_id, band), n in counts.items():
        for label in owners.get(account_id) or [unowned]:
            row = rows.setdefault(label, BreachRow(label, dict.fromkeys(BANDS, 0)))
            row.by_band[band] = row.by_band.get(band, 0) + n
    return sorted(rows.values(), key=lambda row: (-row.total, row.label))


def breaches_by_owner(counts: dict[tuple[str, str], int]) -> tuple[list[BreachRow], list[BreachRow]]:
    """The breaches grouped by owning team (an account in two teams counts for both) and by OU."""
    accounts = sorted({account for account, _band in counts})
    ous = dict(
        MemberAccount.objects.filter(account_id__in=accounts).values_list("account_id", "organizational_unit")
    )
    by_ou = {account: [ous[account]] for account in accounts if ous.get(account)}
    by_team: dict[str, list[str]] = {}
    for team in Team.objects.all():
        for account in team_account_ids(teams=[team]) & set(accounts):
            by_team.setdefault(account, []).append(team.name)
    return _breach_rows(counts, by_team, NO_TEAM), _breach_rows(counts, by_ou, NO_OU)


def scheduled_report_compute(
    *, title: str, scope_label: str, start: datetime, end: datetime, scope, now: datetime
) -> ScheduledReport:
    """The report's figures for [start, end) over `scope` (None: the whole organisation), as of `now`."""
    period = ReportPeriod(key="custom", start=start, end=end)
    by_team, by_ou = breaches_by_owner(sla_breaches(period=period, scope=scope))
    return ScheduledReport(
        title=title,
        scope_label=scope_label,
        period=period,
        coverage=coverage_summary_compute(now=now, scope=scope),
        compliance=compliance_read(scope=scope),
        findings=findings_report_compute(period=period, now=now, scope=scope),
        breaches_by_team=by_team,
        breaches_by_ou=by_ou,
        generated_at=now,
    )


def _charts(report: ScheduledReport) -> dict:
    days = report.findings.days
    labels = [f"{d.day:%m-%d}" for d in days]
    new_chart = charts.stacked_bars(
        labels=labels,
        series=[
            charts.Series(b, BAND_LABELS[b], [d.by_band[b] for d in days], f"fill-{b}")
            for b in reversed(BANDS)
        ],
        title="New findings per day by severity",
    )
    resolved_chart = charts.stacked_bars(
        labels=labels,
        series=[charts.Series("resolved", "resolved that day", [d.closed for d in days], "line-resolved")],
        title="Findings resolved per day",
    )
    rows = report.breaches_by_ou[:12]
    breach_chart = charts.stacked_bars(
        labels=[row.label for row in rows],
        series=[
            charts.Series(b, BAND_LABELS[b], [row.by_band[b] for row in rows], f"fill-{b}")
            for b in reversed(BANDS)
        ],  # fmt: skip
        title="SLA breaches by OU",
    )
    return {"new_chart": new_chart, "resolved_chart": resolved_chart, "breach_chart": breach_chart}


def scheduled_report_html(*, report: ScheduledReport, user) -> str:
    """The PDF's HTML (every value escaped by the template)."""
    context = {"report": report, "base": "reports/pdf_base.html", "pdf": True, "user": user, "bands": BANDS,
               "band_labels": BAND_LABELS, **_charts(report),
               "breach_tables": [("Team", report.breaches_by_team), ("OU", report.breaches_by_ou)]}  # fmt: skip
    return render_to_string(TEMPLATE, context)


def scheduled_report_pdf(*, report: ScheduledReport, user) -> bytes:
    """The report laid out as a PDF (seconds: run by a worker)."""
    return pdf_layout(html=scheduled_report_html(report=report, user=user), base_url=PDF_BASE_URL)
