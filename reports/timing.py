"""Response times per severity band: time to acknowledge and to resolve (mean, p90), and SLA compliance.

One SQL pass over the period's findings as durations (PostgreSQL computes the p90s with
`percentile_cont`; SQLite, the demo's database, gets them from a second, sorted read).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from findings.models import Finding
from findings.sla import BANDS, sla_hours
from guardwatch.core.replica import reads_connection
from reports.periods import BAND_LABELS, ReportPeriod


@dataclass
class TimingRow:
    """Time to acknowledge / resolve and SLA compliance for one severity band (or all: band "all")."""

    band: str
    findings: int = 0
    acknowledged: int = 0
    tta_mean: float | None = None  # seconds
    tta_p90: float | None = None
    resolved: int = 0
    ttr_mean: float | None = None
    ttr_p90: float | None = None
    sla_met: int = 0
    sla_due: int = 0

    @property
    def label(self) -> str:
        return BAND_LABELS.get(self.band, "All severities")

    @property
    def sla_percent(self) -> float | None:
        return round(100 * self.sla_met / self.sla_due, 1) if self.sla_due else None




def _seconds_between(later: str, earlier: str) -> str:
    if reads_connection().vendor == "postgresql":  # date_part: double precision (EXTRACT's numeric is ~2x slower)
        return f"date_part('epoch', {later} - {earlier})"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def scope_sql(scope) -> tuple[str, list]:
    """`AND account_id IN (…)` for a team's accounts (guardwatch.core.scope), with its parameters; nothing for all."""
    if scope is None:
        return "", []
    ids = sorted(scope)
    if not ids:
        return " AND FALSE", []
    return f" AND account_id IN ({', '.join(['%s'] * len(ids))})", ids


def _spans_sql(scoped: str = "") -> str:
    """The period's findings as durations (seconds), their band's SLA, and whether it has run out.

    Past its SLA when older than the band's hours at `now`: created before now minus those hours.
    Reads only the report's covering index: `acknowledged_at` and `resolved_at` stand for the
    timeline's first acknowledging and first closing events.
    """
    finding = Finding._meta.db_table
    tta = _seconds_between("acknowledged_at", "created_at")
    ttr = _seconds_between("resolved_at", "created_at")
    # S608: identifiers are constants of this module; every value is a parameter.
    return f"""
        WITH spans AS (
            SELECT severity_band AS band, {tta} AS tta, {ttr} AS ttr,
                   CASE severity_band WHEN 'critical' THEN %s WHEN 'high' THEN %s WHEN 'medium' THEN %s
                        ELSE %s END AS sla,
                   CASE severity_band WHEN 'critical' THEN created_at < %s WHEN 'high' THEN created_at < %s
                        WHEN 'medium' THEN created_at < %s ELSE created_at < %s END AS overdue
            FROM {finding} WHERE created_at >= %s AND created_at < %s{scoped}
        )
    """  # noqa: S608


_FIGURES = [
    "COUNT(*)", "COUNT(tta)", "AVG(tta)", "COUNT(ttr)", "AVG(ttr)", "SUM(CASE WHEN ttr <= sla THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN ttr IS NOT NULL OR overdue THEN 1 ELSE 0 END)",
]  # fmt: skip
_P90S = ["percentile_cont(0.9) WITHIN GROUP (ORDER BY tta)", "percentile_cont(0.9) WITHIN GROUP (ORDER BY ttr)"]


def _timing_sql(*, per_band: bool, percentiles: bool = True, scoped: str = "") -> str:
    """Counts, means, SLA met/due (and where cheap, p90s) per band and overall, or overall only.

    `per_band`: one row per band plus (Postgres) an overall row in the same pass (GROUPING SETS, band
    NULL; hashed when there are no percentiles); otherwise a single overall row without percentiles.
    """
    postgres = reads_connection().vendor == "postgresql"
    p90 = ", ".join(_P90S) if postgres and per_band and percentiles else "NULL, NULL"
    if not per_band:
        select, group = "'all'", ""
    elif postgres:
        select, group = "band", "GROUP BY GROUPING SETS ((band), ())"
    else:
        select, group = "band", "GROUP BY band"
    return f"{_spans_sql(scoped)} SELECT {select}, {', '.join(_FIGURES)}, {p90} FROM spans {group}"  # noqa: S608 - constants only


def _p90_sqlite(period: ReportPeriod, scope=None) -> dict[str, tuple[float | None, float | None]]:
    """SQLite has no percentile_cont: read the period's durations (two numbers a finding) and rank them."""
    finding = Finding._meta.db_table
    scoped, scope_params = scope_sql(scope)
    sql = f"""
        SELECT severity_band, (julianday(acknowledged_at) - julianday(created_at)) * 86400.0,
               (julianday(resolved_at) - julianday(created_at)) * 86400.0
        FROM {finding}
        WHERE created_at >= %s AND created_at < %s AND (acknowledged_at IS NOT NULL OR resolved_at IS NOT NULL){scoped}
    """  # noqa: S608 - constant identifiers
    spans: dict[str, tuple[list[float], list[float]]] = {}
    with reads_connection().cursor() as cursor:
        cursor.execute(sql, [*sql_datetimes(period.start, period.end), *scope_params])
        for band, tta, ttr in cursor.fetchall():
            acks, closes = spans.setdefault(band, ([], []))
            if tta is not None:
                acks.append(tta)
            if ttr is not None:
                closes.append(ttr)
    spans["all"] = ([v for a, _ in spans.values() for v in a], [v for _, c in spans.values() for v in c])
    return {
        band: (percentile_cont(acks, 0.9), percentile_cont(closes, 0.9))
        for band, (acks, closes) in spans.items()
    }


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """Postgres' percentile_cont: linear interpolation between the two nearest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def sql_datetimes(*moments: datetime) -> list:
    return [reads_connection().ops.adapt_datetimefield_value(m) for m in moments]


def _timing_params(period: ReportPeriod, *, now: datetime) -> list:
    """`_spans_sql`'s parameters: each band's SLA in seconds, its cutoff at `now`, the period."""
    hours = sla_hours()
    cutoffs = sql_datetimes(*(now - timedelta(hours=hours[b]) for b in BANDS))
    return [*(hours[b] * 3600 for b in BANDS), *cutoffs, *sql_datetimes(period.start, period.end)]


def _timing_rows(
    period: ReportPeriod, *, now: datetime, per_band: bool, percentiles: bool = True, scope=None
) -> list[tuple]:
    scoped, scope_params = scope_sql(scope)
    params = [*_timing_params(period, now=now), *scope_params]
    with reads_connection().cursor() as cursor:
        cursor.execute(_timing_sql(per_band=per_band, percentiles=percentiles, scoped=scoped), params)
        return cursor.fetchall()


def _timing_row(row: tuple) -> TimingRow:
    band, total, acks, tta, closes, ttr, met, due, tta90, ttr90 = row
    return TimingRow(band or "all", total, acks, as_float(tta), as_float(tta90), closes, as_float(ttr), as_float(ttr90), met or 0, due or 0)


def response_times(
    period: ReportPeriod, *, now: datetime, percentiles: bool = True, scope=None
) -> list[TimingRow]:
    """Per band and overall (the overall p90 over every finding, not an average of the bands').

    Without `percentiles` (the previous period's comparison) the pass can hash instead of sort.
    """
    rows = {band: TimingRow(band=band) for band in BANDS}
    overall = None
    for raw in _timing_rows(period, now=now, per_band=True, percentiles=percentiles, scope=scope):
        row = _timing_row(raw)
        if row.band == "all":
            overall = row
        else:
            rows[row.band] = row
    if overall is None:  # SQLite (no GROUPING SETS): add the bands up, rank the durations in Python
        overall = TimingRow(band="all")
        for row in rows.values():
            overall.findings += row.findings
            overall.acknowledged += row.acknowledged
            overall.resolved += row.resolved
            overall.sla_met += row.sla_met
            overall.sla_due += row.sla_due
        overall.tta_mean = weighted_mean(rows.values(), "tta_mean", "acknowledged")
        overall.ttr_mean = weighted_mean(rows.values(), "ttr_mean", "resolved")
        if reads_connection().vendor != "postgresql" and percentiles:
            p90s = _p90_sqlite(period, scope)
            for band, row in [*rows.items(), ("all", overall)]:
                row.tta_p90, row.ttr_p90 = p90s.get(band, (None, None))
    return [*(rows[b] for b in BANDS), overall]


def as_float(value) -> float | None:
    return None if value is None else float(value)


def weighted_mean(rows, attr: str, weight: str) -> float | None:
    pairs = [(getattr(r, attr), getattr(r, weight)) for r in rows if getattr(r, attr) is not None]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None
