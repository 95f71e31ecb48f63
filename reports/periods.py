"""The report's period: the last 7, 30 or 90 days, or a custom range of whole UTC days (at most a year)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

BAND_LABELS = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low"}
PERIOD_CHOICES = (("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"), ("custom", "Custom"))
MAX_CUSTOM_DAYS = 366
TOP_N = 10


# --- The period ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportPeriod:
    """Whole UTC days [start, end): the chosen period, and the same length just before it."""

    key: str
    start: datetime
    end: datetime
    errors: tuple[str, ...] = ()

    @property
    def days(self) -> list[date]:
        first = self.start.date()
        return [first + timedelta(days=i) for i in range((self.end - self.start).days)]

    @property
    def previous(self) -> ReportPeriod:
        length = self.end - self.start
        return ReportPeriod(key="previous", start=self.start - length, end=self.start)

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()

    @property
    def label(self) -> str:
        return f"{self.first_day:%Y-%m-%d} to {self.last_day:%Y-%m-%d}"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def report_period(*, params, now: datetime | None = None) -> ReportPeriod:
    """The period a query string asks for (`period=7|30|90|custom`, `start`/`end` as YYYY-MM-DD).

    The last N days end with today; a custom period includes both of its days. Bad values fall
    back to the last 30 days with an error the page shows.
    """
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    key = params.get("period", "30")
    errors: list[str] = []
    if key == "custom":
        try:
            first = date.fromisoformat(params.get("start", ""))
            last = date.fromisoformat(params.get("end", ""))
        except ValueError:
            errors.append(
                "A custom period needs a start and an end date (YYYY-MM-DD); showing the last 30 days."
            )
        else:
            if last < first:
                errors.append("The end date is before the start date; showing the last 30 days.")
            elif (last - first).days + 1 > MAX_CUSTOM_DAYS:
                errors.append(
                    f"A custom period can span at most {MAX_CUSTOM_DAYS} days; showing the last 30 days."
                )
            else:
                return ReportPeriod(
                    key="custom", start=_midnight(first), end=_midnight(last + timedelta(days=1))
                )
        key = "30"
    if key not in {"7", "30", "90"}:
        errors.append(f"Unknown period “{key}”; showing the last 30 days.")
        key = "30"
    days = int(key)
    end = _midnight(today + timedelta(days=1))
    return ReportPeriod(key=key, start=end - timedelta(days=days), end=end, errors=tuple(errors))
