"""Severity bands as severity ranges, closed statuses, the SLA each band gives an open finding, and the
marks (first acknowledged, first resolved) a status move stamps for response times.

The store's own vocabulary: triage filters by it, reports count by it, notifications warn by it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, F, Q, Value, When

from findings.models import OPEN_STATUSES, Finding, TriageStatus

BANDS = ("critical", "high", "medium", "low")
# GuardDuty's bands as severity ranges [low, high): lets the severity index answer band filters.
BAND_RANGES = {"low": (0.0, 4.0), "medium": (4.0, 7.0), "high": (7.0, 9.0), "critical": (9.0, 100.0)}
CLOSED_STATUSES = tuple(s for s in TriageStatus.values if s not in OPEN_STATUSES)


def overdue_q(*, now: datetime, bands: Iterable[str] = BANDS) -> Q:
    """Open findings (of `bands`) created longer ago than their band's SLA allows."""
    hours = settings.GUARDWATCH_SLA_HOURS
    late = Q()
    for band in bands:
        low, high = BAND_RANGES[band]
        late |= Q(severity__gte=low, severity__lt=high, created_at__lt=now - timedelta(hours=hours[band]))
    return Q(status__in=OPEN_STATUSES) & late


def sla_due(finding: Finding) -> datetime | None:
    """When the finding's SLA runs out (None once it is closed)."""
    if finding.status not in OPEN_STATUSES:
        return None
    return finding.created_at + timedelta(hours=settings.GUARDWATCH_SLA_HOURS[finding.severity_band])


def report_marks(*, status: str, now: datetime) -> dict:
    """`update()` arguments that stamp `acknowledged_at` / `resolved_at` as findings move to `status`.

    Called by triage's findings_status_set with the move's own UPDATE; the CASEs read each row's old
    status, so a finding gets `acknowledged_at` the first time it leaves New and `resolved_at` the
    first time it goes from an open status to a closed one, exactly the timeline events the report
    (and migration 0005's backfill) define them by.
    """
    marks = {
        "acknowledged_at": Case(
            When(status="new", acknowledged_at__isnull=True, then=Value(now)), default=F("acknowledged_at")
        )
    }
    if status in CLOSED_STATUSES:
        marks["resolved_at"] = Case(
            When(~Q(status__in=CLOSED_STATUSES) & Q(resolved_at__isnull=True), then=Value(now)),
            default=F("resolved_at"),
        )
    return marks
