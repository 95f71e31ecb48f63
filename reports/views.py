"""Report pages: the dashboard every role lands on, and the findings report (a period's new findings, backlog,
top lists, response times and SLA; CSV per table, all tables as one XLSX, the page as a PDF). Coverage has its own module, `coverage_views`."""

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
from guardwatch.core.scope import scope_for
from reports import exports, periods
from reports import pdf as report_pdf
from reports import services as report_services
from reports.findings_report import FindingsReport
from reports.periods import BAND_LABELS
from reports.selectors import dashboard_cards

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORTS = (*exports.TABLES, "xlsx", "pdf")


def _export(request: HttpRequest, report: FindingsReport, export: str, context: dict) -> HttpResponse:
    stem = f"findings-{{}}-{report.period.first_day:%Y%m%d}-{report.period.last_day:%Y%m%d}"
    if export == "pdf":
        return report_pdf.pdf_download(
            request=request, template="reports/findings.html", context=context, filename=stem.format("report") + ".pdf"
        )
    if export == "xlsx":
        response = HttpResponse(exports.report_workbook(report=report), content_type=XLSX)
        response["Content-Disposition"] = f'attachment; filename="{stem.format("report")}.xlsx"'
        return response
    table = exports.report_table(report=report, name=export)
    return csv_response(filename=stem.format(table.name) + ".csv", header=table.header, rows=table.rows)


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
    # Two charts, not two lines on one axis: beside a backlog of thousands a day's few resolved findings
    # drew a flat line along zero.
    backlog_chart = charts.line_chart(
        labels=labels,
        series=[charts.Series("open", "open at end of day", [d.open_at_end for d in report.days], "line-open")],
        title="Open findings at the end of each day",
    )
    resolved_chart = charts.stacked_bars(
        labels=labels,
        series=[charts.Series("resolved", "resolved that day", [d.closed for d in report.days], "line-resolved")],
        title="Findings resolved per day",
    )
    return {"new_chart": new_chart, "backlog_chart": backlog_chart, "resolved_chart": resolved_chart}


@require_GET
@requires("view_reports")
@vary_on_headers("HX-Request")
def findings_report(request: HttpRequest) -> HttpResponse:
    """What GuardDuty found in a period and how the team handled it."""
    if token := request.GET.get("pdf"):  # a PDF asked for from this page: its waiting page or its file
        return report_pdf.pdf_job_page(request, token)
    asked = periods.report_period(params=request.GET)
    export = request.GET.get("export", "")
    # A download goes through the same queue as the page (one custom period per person at a time, a
    # worker computes): with no figures yet it gets the waiting page, whose CSV links appear with them.
    served = report_services.findings_report(
        period=asked, retry=request.GET.get("retry") == "1", owner=str(request.user.pk),
        scope=scope_for(request.user),
    )
    report = served.report
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
    if export in EXPORTS and report is not None:
        return _export(request, report, export, context)
    template = "reports/findings.html#report-body" if request.htmx else "reports/findings.html"
    return render(request, template, context)


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The landing page for every role: the cards this role may follow, each linking to its page."""
    cards = dashboard_cards(user=request.user)
    context = {field.name: getattr(cards, field.name) for field in dataclasses.fields(cards)}  # shallow: cards keep their objects
    return render(request, "reports/dashboard.html", context)
