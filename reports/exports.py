"""The findings report's tables as rows: one CSV per table, or all of them in one XLSX workbook.

The workbook is XLSX, one sheet per table, rather than one CSV with sections: a spreadsheet opens a
sectioned CSV as one ragged sheet whose numbers a formula cannot address by column, while a sheet per
table keeps each table's header on row 1 and its numbers typed. Text cells go through `csv_cell`, so a
finding type, account name or resource id beginning with = + - @ stays text in either format (openpyxl
stores a string beginning with "=" as a formula).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from findings.sla import BANDS
from guardwatch.core.csv_export import csv_cell
from reports.findings_report import FindingsReport
from reports.periods import BAND_LABELS

TABLES = ("daily", "types", "accounts", "resources", "attack", "timing", "comparison")


@dataclass(frozen=True)
class Table:
    """One table of the report: its name (CSV file and sheet), header and rows."""

    name: str
    title: str
    header: list[str]
    rows: list[list]


def _hours(seconds: float | None) -> float | str:
    return "" if seconds is None else round(seconds / 3600, 1)


def _blank(value):
    return "" if value is None else value


def report_table(*, report: FindingsReport, name: str) -> Table:
    """One of TABLES, as the page shows it (durations in hours)."""
    if name == "daily":
        header = ["day", *(BAND_LABELS[b] for b in BANDS), "new", "resolved", "reopened", "open at end of day"]
        rows = [[d.day, *(d.by_band[b] for b in BANDS), d.new, d.closed, d.reopened, d.open_at_end] for d in report.days]
        return Table(name, "New findings per day", header, rows)
    if name == "types":
        rows = [[r["type"], r["n"], r["severe"], r["open"]] for r in report.top_types]
        return Table(name, "Top finding types", ["finding type", "new", "high or critical", "still open"], rows)
    if name == "accounts":
        rows = [[r["account_id"], r["name"], r["n"], r["severe"], r["open"]] for r in report.top_accounts]
        return Table(name, "Top accounts", ["account id", "name", "new", "high or critical", "still open"], rows)
    if name == "resources":
        rows = [[r["resource_type"], r["resource_id"], r["n"], r["severe"], r["open"]] for r in report.top_resources]
        header = ["resource type", "resource id", "new", "high or critical", "still open"]
        return Table(name, "Top resources", header, rows)
    if name == "attack":
        header = ["tactic id", "tactic", *(BAND_LABELS[b] for b in BANDS), "total", "techniques (findings)"]
        rows = [
            [row.tactic.id, row.tactic.name, *(row.by_band.get(b, 0) for b in BANDS), row.total,
             "; ".join(f"{technique.id} {technique.name} ({count})" for technique, count in row.techniques)]
            for row in (report.attack.rows if report.attack else [])
        ]  # fmt: skip
        return Table(name, "New findings by MITRE ATT&CK tactic", header, rows)
    if name == "timing":
        header = ["severity", "findings", "acknowledged", "mean hours to acknowledge", "p90 hours to acknowledge",
                  "resolved", "mean hours to resolve", "p90 hours to resolve", "SLA met", "SLA due", "SLA compliance %"]  # fmt: skip
        rows = [
            [t.label, t.findings, t.acknowledged, _hours(t.tta_mean), _hours(t.tta_p90), t.resolved,
             _hours(t.ttr_mean), _hours(t.ttr_p90), t.sla_met, t.sla_due, _blank(t.sla_percent)]
            for t in report.timing
        ]  # fmt: skip
        return Table(name, "Response times and SLA", header, rows)
    if name == "comparison":
        header = ["figure", "unit", "this period", "previous period", "change", "change unit", "change %"]
        rows = [
            [c.label, c.unit.strip(), _blank(c.current), _blank(c.previous), _blank(c.change), c.change_unit.strip(),
             _blank(c.change_percent)]
            for c in report.comparisons
        ]  # fmt: skip
        return Table(name, "Against the previous period", header, rows)
    raise ValueError(f"No report table {name!r}")


def _sheet_cell(value):
    """Numbers and dates stay typed; text is made spreadsheet-safe like a CSV cell."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value if hasattr(value, "isoformat") else csv_cell(value)
    return value


def report_workbook(*, report: FindingsReport) -> bytes:
    """Every table of the report in one XLSX: a summary sheet, then one sheet per table."""
    from openpyxl import Workbook  # only the processes that export a workbook load it

    book = Workbook(write_only=True)
    summary = book.create_sheet("summary")
    summary.append(["Findings report", csv_cell(report.period.label)])
    summary.append(["first day", report.period.first_day])
    summary.append(["last day", report.period.last_day])
    if report.computed_at:
        summary.append(["figures as of (UTC)", report.computed_at.replace(tzinfo=None)])
    summary.append(["new findings", report.new_total])
    summary.append(["resolved", report.closed_total])
    summary.append(["open now", report.open_now])
    for name in TABLES:
        table = report_table(report=report, name=name)
        sheet = book.create_sheet(name)
        sheet.append(table.header)
        for row in table.rows:
            sheet.append([_sheet_cell(cell) for cell in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
