"""Severity bands as severity ranges, closed statuses, the SLA each band gives an open finding, and the
marks (first acknowledged, first resolved) a status move stamps for response times.

The store's own vocabulary: triage filters by it, reports count by it, notifications warn by it.
`sla_policy()` is the one source of the SLA hours and escalation timing: what an Admin saved on the SLA
page, or the defaults (GUARDWATCH_SLA_HOURS) until then. Readers ask it, never the setting directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from findings.models import OPEN_STATUSES, Finding, SlaPolicy, TriageStatus
from guardwatch.core.data_version import data_version, data_version_bump, data_version_bump_on_commit
from guardwatch.core.services import audit_record

BANDS = ("critical", "high", "medium", "low")
# GuardDuty's bands as severity ranges [low, high): lets the severity index answer band filters.
BAND_RANGES = {"low": (0.0, 4.0), "medium": (4.0, 7.0), "high": (7.0, 9.0), "critical": (9.0, 100.0)}
CLOSED_STATUSES = tuple(s for s in TriageStatus.values if s not in OPEN_STATUSES)


# --- The policy: one source for every reader -----------------------------------------------------------

SLA_SCOPE = "sla"  # the data version an SLA save bumps (cached policies are keyed by it)
ESCALATION_DEFAULTS = {"warn_percent": 75, "manager_after_hours": 24, "escalation_enabled": True}
MAX_SLA_HOURS = 365 * 24


@dataclass(frozen=True)
class Sla:
    """Hours per band, and when escalation warns the assignee (% of the SLA) and calls a manager (h after)."""

    hours: dict[str, int]
    warn_percent: int
    manager_after_hours: int
    escalation_enabled: bool
    saved: bool  # an Admin saved it (else: the defaults)


def _defaults() -> Sla:
    return Sla(hours=dict(settings.GUARDWATCH_SLA_HOURS), saved=False, **ESCALATION_DEFAULTS)


def _from_row(row: SlaPolicy) -> Sla:
    return Sla(hours={band: getattr(row, f"{band}_hours") for band in BANDS}, warn_percent=row.warn_percent,
               manager_after_hours=row.manager_after_hours, escalation_enabled=row.escalation_enabled, saved=True)  # fmt: skip


def _cache_key() -> str:
    return f"guardwatch:sla:{connection.settings_dict['NAME']}:{data_version(scope=SLA_SCOPE)}"


def sla_policy() -> Sla:
    """The SLA in force: the saved policy (cached under the SLA data version a save bumps) or the defaults.

    Without a saved policy the cache holds only "none saved", so the defaults follow GUARDWATCH_SLA_HOURS.
    """
    key = None
    with contextlib.suppress(Exception):  # a cache outage: read the database
        key = _cache_key()
        found = cache.get(key)
        if found is not None:
            return _defaults() if found.get("absent") else Sla(**found)
    row = SlaPolicy.objects.filter(pk=1).first()
    policy = _defaults() if row is None else _from_row(row)
    if key is not None:
        with contextlib.suppress(Exception):
            cache.set(key, {"absent": True} if row is None else asdict(policy), 3600)
    return policy


def sla_hours() -> dict[str, int]:
    """Hours an open finding of each band has before it is overdue."""
    return sla_policy().hours


def sla_policy_save(*, hours: dict[str, int], warn_percent: int, manager_after_hours: int,
                    escalation_enabled: bool, actor) -> Sla:  # fmt: skip
    """An Admin's SLA page: validate everything first (nothing is written on a bad value), save, audit.

    Reports' snapshots are keyed by the findings data version, bumped too: their SLA figures change.
    """
    problems = []
    if set(hours) != set(BANDS):
        problems.append(f"Give hours for every band: {', '.join(BANDS)}.")
    for band in BANDS:
        value = hours.get(band)
        if not isinstance(value, int) or not 1 <= value <= MAX_SLA_HOURS:
            problems.append(
                f"{band.title()}: the SLA must be a whole number of hours from 1 to {MAX_SLA_HOURS}."
            )
    if not isinstance(warn_percent, int) or not 1 <= warn_percent <= 99:
        problems.append("Warn the assignee at a share of the SLA from 1 to 99 %.")
    if not isinstance(manager_after_hours, int) or not 0 <= manager_after_hours <= MAX_SLA_HOURS:
        problems.append(f"Call a manager from 0 to {MAX_SLA_HOURS} hours after the breach.")
    if problems:
        raise ValidationError(problems)
    before = sla_policy()
    with transaction.atomic():
        SlaPolicy.objects.update_or_create(pk=1, defaults={
            **{f"{band}_hours": hours[band] for band in BANDS}, "warn_percent": warn_percent,
            "manager_after_hours": manager_after_hours, "escalation_enabled": escalation_enabled,
            "updated_by": actor if getattr(actor, "is_authenticated", False) else None, "updated_at": timezone.now(),
        })  # fmt: skip
        after = _from_row(SlaPolicy.objects.get(pk=1))
        audit_record(actor=actor, verb="sla.change", target=None,
                     details={"before": asdict(before), "after": asdict(after)})  # fmt: skip
        for scope in (SLA_SCOPE, "findings"):
            data_version_bump(scope=scope)  # this process at once, others after commit
            data_version_bump_on_commit(scope=scope)
    return after


def overdue_q(*, now: datetime, bands: Iterable[str] = BANDS) -> Q:
    """Open findings (of `bands`) created longer ago than their band's SLA allows."""
    hours = sla_hours()
    late = Q()
    for band in bands:
        low, high = BAND_RANGES[band]
        late |= Q(severity__gte=low, severity__lt=high, created_at__lt=now - timedelta(hours=hours[band]))
    return Q(status__in=OPEN_STATUSES) & late


def sla_due(finding: Finding, *, hours: dict[str, int] | None = None) -> datetime | None:
    """When the finding's SLA runs out (None once it is closed). Pass `hours` (`sla_hours()`) for many rows."""
    if finding.status not in OPEN_STATUSES:
        return None
    hours = hours if hours is not None else sla_hours()
    return finding.created_at + timedelta(hours=hours[finding.severity_band])


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
