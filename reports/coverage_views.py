"""The coverage page: the accounts × regions heatmap, % monitored, gaps with reasons, data freshness; CSV per
table, the page as a PDF."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from guardwatch.core.access import requires
from guardwatch.core.csv_export import csv_response
from guardwatch.core.scope import scope_for
from reports import coverage
from reports import matrix as coverage_matrix
from reports import pdf as report_pdf

EXPORTS = ("regions", "matrix", "freshness", *sorted(coverage.GAP_KEYS))


def _export(request: HttpRequest, table: str, filters: coverage_matrix.MatrixFilters) -> HttpResponse:
    scope = scope_for(request.user)
    stamp = timezone.now().strftime("%Y%m%d")
    if table == "regions":
        summary = coverage.coverage_summary(scope=scope)
        rows = [
            [r.region, r.monitored, r.accounts, r.percent, _yes_no(r.has_detector)] for r in summary.regions
        ]
        rows.append(["all regions", summary.monitored_pairs, summary.pairs, summary.percent, ""])
        return csv_response(
            filename=f"coverage-regions-{stamp}.csv",
            header=["region", "monitored accounts", "accounts", "% monitored", "administrator detector"],
            rows=rows,
        )
    if table == "matrix":
        return csv_response(
            filename=f"coverage-matrix-{stamp}.csv",
            header=["account id", "name", *coverage.regions()],
            rows=coverage_matrix.coverage_matrix_rows(filters=filters, scope=scope),
        )
    if table == "freshness":
        rows = [
            [r.region, r.members_synced_at, r.findings_synced_at, r.findings_failed_at, r.findings_error,
             r.protection_checked_at]
            for r in coverage.coverage_summary(scope=scope).regions
        ]  # fmt: skip
        return csv_response(
            filename=f"coverage-freshness-{stamp}.csv",
            header=["region", "member sync", "last successful findings sync", "last failed findings sync",
                    "last findings error", "protection plans checked"],
            rows=rows,
        )  # fmt: skip
    return csv_response(
        filename=f"coverage-gaps-{table}-{stamp}.csv",
        header=["account id", "name", "region(s)", "status", "since", "detail"],
        rows=coverage.gap_export_rows(key=table, scope=scope),
    )


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "not checked"}[value]


@require_GET
@requires("view_reports")
@vary_on_headers("HX-Request")
def coverage_page(request: HttpRequest) -> HttpResponse:
    """Whether every account and region is watched: heatmap, % monitored, gap lists, freshness."""
    if token := request.GET.get("pdf"):  # a PDF asked for from this page: its waiting page or its file
        return report_pdf.pdf_job_page(request, token)
    filters = coverage_matrix.MatrixFilters.from_query(request.GET)
    export = request.GET.get("export", "")
    if export in EXPORTS:
        return _export(request, export, filters)
    scope = scope_for(request.user)
    matrix = coverage_matrix.coverage_matrix(filters=filters, page_number=request.GET.get("page"), scope=scope)
    if request.htmx and request.GET.get("fragment") == "matrix":  # the matrix alone needs no summary
        return render(request, "reports/coverage.html#matrix", {"matrix": matrix, "filters": filters})
    summary = coverage.coverage_summary(scope=scope)
    now = summary.as_of  # the gap lists and their counts describe the same moment
    counts = coverage.gap_counts(summary=summary, scope=scope)
    chosen = request.GET.get("gap", "")
    gaps = [
        coverage.gap_list(
            key=kind.key,
            count=counts[kind.key],
            full=kind.key == chosen,
            page_number=request.GET.get("gpage") if kind.key == chosen else None,
            now=now,
            summary=summary,
            scope=scope,
        )
        for kind in coverage.GAP_KINDS
        if counts[kind.key] or kind.key == chosen
    ]
    stale_after = settings.GUARDWATCH_FINDINGS_SYNC_MINUTES * 60 * 3
    context = {
        "summary": summary,
        "matrix": matrix,
        "filters": filters,
        "tags": coverage_matrix.matrix_tags(scope=scope),
        "ous": coverage_matrix.matrix_ous(scope=scope),
        "status_choices": coverage_matrix.STATUS_CHOICES,
        "gaps": gaps,
        "gap_counts": counts,
        "gap_totals": coverage.gap_totals(counts),
        "chosen_gap": chosen,
        "stale_before": timezone.now() - timedelta(seconds=stale_after),
        "pending_days": settings.GUARDWATCH_INVITE_PENDING_DAYS,
        "plan_labels": coverage.PLAN_LABELS,
    }
    if export == "pdf":
        stamp = timezone.now().strftime("%Y%m%d")
        return report_pdf.pdf_download(
            request=request, template="reports/coverage.html", context=context, filename=f"coverage-{stamp}.pdf"
        )
    return render(request, "reports/coverage.html", context)
