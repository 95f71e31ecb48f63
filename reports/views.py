"""Report pages: the dashboard every role lands on, and the findings report (a period's new findings, backlog,
top lists, response times and SLA; CSV per table). Coverage has its own module, `coverage_views`."""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from findings.sla import BANDS
from guardwatch.core import charts
from guardwatch.core.access import requires
from guardwatch.core.csv_export import csv_response
from reports import periods
from reports import services as report_services
from reports.findings_report import FindingsReport
from reports.periods import BAND_LABELS
from reports.selectors import dashboard_cards

EXPORTS = ("daily", "types", "accounts", "resources", "timing", "comparison")


def _hours(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 3600:.1f}"


def _export(report: FindingsReport, table: str) -> HttpResponse:
    name = f"findings-{table}-{report.period.first_day:%Y%m%d}-{report.period.last_day:%Y%m%d}.csv"
    if table == "daily":
        header = [
            "day",
            *(BAND_LABELS[b] for b in BANDS),
            "new",
            "resolved",
            "reopened",
            "open at end of day",
        ]
        rows = [
            [d.day, *(d.by_band[b] for b in BANDS), d.new, d.closed, d.reopened, d.open_at_end]
            for d in report.days
        ]
    elif table == "types":
        header, rows = (
            ["finding type", "new", "high or critical", "still open"],
            [[r["type"], r["n"], r["severe"], r["open"]] for r in report.top_types],
        )
    elif table == "accounts":
        header, rows = (
            ["account id", "name", "new", "high or critical", "still open"],
            [[r["account_id"], r["name"], r["n"], r["severe"], r["open"]] for r in report.top_accounts],
        )
    elif table == "resources":
        header, rows = (
            ["resource type", "resource id", "new", "high or critical", "still open"],
            [
                [r["resource_type"], r["resource_id"], r["n"], r["severe"], r["open"]]
                for r in report.top_resources
            ],
        )
    elif table == "timing":
        header = ["severity", "findings", "acknowledged", "mean hours to acknowledge", "p90 hours to acknowledge",
                  "resolved", "mean hours to resolve", "p90 hours to resolve", "SLA met", "SLA due", "SLA compliance %"]  # fmt: skip
        rows = [
            [t.label, t.findings, t.acknowledged, _hours(t.tta_mean), _hours(t.tta_p90), t.resolved,
             _hours(t.ttr_mean), _hours(t.ttr_p90), t.sla_met, t.sla_due, "" if t.sla_percent is None else t.sla_percent]
            for t in report.timing
        ]  # fmt: skip
    else:
        header = ["figure", "this period", "previous period", "change", "change %"]
        rows = [
            [c.label, _blank(c.current), _blank(c.previous), _blank(c.change), _blank(c.change_percent)]
            for c in report.comparisons
        ]
    return csv_response(filename=name, header=header, rows=rows)


def _blank(value) -> str:
    return "" if value is None else str(value)


def _charts(report: FindingsReport) -> dict:
    labels = [f"{d.day:%m-%d}" for d in report.days]
    new_chart = charts.stacked_bars(
        labels=labels,
        series=[
            charts.Series(b, BAND_LABELS[b], [d.by_band[b] for d in report.days], f"fill-{b}")
            for b in reversed(BANDS)
        ],
        title="New findings per day by severity",
    )
    backlog_chart = charts.line_chart(
        labels=labels,
        series=[
            charts.Series("open", "open at end of day", [d.open_at_end for d in report.days], "line-open"),
            charts.Series("resolved", "resolved that day", [d.closed for d in report.days], "line-resolved"),
        ],
        title="Open findings and findings resolved per day",
    )
    return {"new_chart": new_chart, "backlog_chart": backlog_chart}


@require_GET
@requires("view_reports")
@vary_on_headers("HX-Request")
def findings_report(request: HttpRequest) -> HttpResponse:
    """What GuardDuty found in a period and how the team handled it."""
    asked = periods.report_period(params=request.GET)
    export = request.GET.get("export", "")
    # A download goes through the same queue as the page (one custom period per person at a time, a
    # worker computes): with no figures yet it gets the waiting page, whose CSV links appear with them.
    served = report_services.findings_report(
        period=asked, retry=request.GET.get("retry") == "1", owner=str(request.user.pk)
    )
    report = served.report
    if export in EXPORTS and report is not None:
        return _export(report, export)
    # The snapshot's own period: the one asked for, or (just after midnight UTC) the day before's.
    period = dataclasses.replace(report.period if report else asked, errors=asked.errors)
    context = {
        "report": report,
        "served": served,  # pending (the body polls), queued_at, after, failed, refreshing
        "snapshots": settings.GUARDWATCH_REPORTS_CACHE_SECONDS > 0,
        "max_age_minutes": settings.GUARDWATCH_REPORTS_MAX_AGE_SECONDS // 60,
        "period": period,
        "export_waiting": export in EXPORTS,
        "period_choices": periods.PERIOD_CHOICES,
        "bands": BANDS,
        "band_labels": BAND_LABELS,
        "start_value": request.GET.get("start", f"{period.first_day:%Y-%m-%d}"),
        "end_value": request.GET.get("end", f"{period.last_day:%Y-%m-%d}"),
        **(_charts(report) if report else {}),
    }
    template = "reports/findings.html#report-body" if request.htmx else "reports/findings.html"
    return render(request, template, context)


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The landing page for every role: the cards this role may follow, each linking to its page."""
    cards = dashboard_cards(user=request.user)
    context = {field.name: getattr(cards, field.name) for field in dataclasses.fields(cards)}  # shallow: cards keep their objects
    return render(request, "reports/dashboard.html", context)
