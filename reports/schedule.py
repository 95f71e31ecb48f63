"""When a scheduled report is due and which period it covers: pure functions of a subscription's cadence.

Every moment is UTC. A weekly report is due on its weekday at its hour and covers the seven whole days
before that day; a monthly one is due on the 1st at its hour and covers the previous calendar month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

WEEKLY, MONTHLY = "weekly", "monthly"
CATCH_UP_PERIODS = 4  # after downtime, at most this many missed periods per subscription are still sent


@dataclass(frozen=True)
class DuePeriod:
    """One report a subscription owes: due at `due_at`, covering [start, end)."""

    due_at: datetime
    start: datetime
    end: datetime


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _month_before(day: date) -> date:
    """The 1st of the month before `day`'s month."""
    return date(day.year - 1, 12, 1) if day.month == 1 else date(day.year, day.month - 1, 1)


def period_for(*, cadence: str, due_day: date) -> tuple[datetime, datetime]:
    """The period a report due on `due_day` covers."""
    end = _midnight(due_day)
    if cadence == WEEKLY:
        return end - timedelta(days=7), end
    return _midnight(_month_before(due_day)), end


def _due_days_back(*, cadence: str, weekday: int, last: date):
    """Due days at or before `last`, newest first."""
    if cadence == WEEKLY:
        day = last - timedelta(days=(last.weekday() - weekday) % 7)
        while True:
            yield day
            day -= timedelta(days=7)
    else:
        day = last.replace(day=1)
        while True:
            yield day
            day = _month_before(day)


def due_periods(
    *, cadence: str, weekday: int, hour: int, since: datetime, now: datetime, limit: int = CATCH_UP_PERIODS
) -> list[DuePeriod]:
    """The periods due after `since` (the subscription's creation) and at or before `now`, oldest first,
    at most the `limit` newest (older missed periods are not sent: docs/reports.md, "Scheduled reports")."""
    found: list[DuePeriod] = []
    now = now.astimezone(UTC)
    for day in _due_days_back(cadence=cadence, weekday=weekday, last=now.date()):
        due_at = datetime.combine(day, time(hour=hour), tzinfo=UTC)
        if due_at > now:
            continue
        if due_at <= since or len(found) >= limit:
            break
        start, end = period_for(cadence=cadence, due_day=day)
        found.append(DuePeriod(due_at, start, end))
    return found[::-1]
