"""The findings report's combined passes give exactly the figures counted finding by finding.

Postgres reads the daily counts and the three top lists in one GROUPING SETS pass, the timeline's
closures and reopenings (period, previous period, after the period) in one pass by day, and the previous
period's counts with its times; these tests hold each against a count made here in Python, with ties in
the top lists and moves before, inside and after a custom period.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from findings.models import OPEN_STATUSES, Finding, FindingEvent
from findings.sla import CLOSED_STATUSES
from reports import findings_report as reports
from reports import periods, timing
from tests.reports.support import finding, moved

pytestmark = pytest.mark.django_db
BANDS = ("low", "medium", "high", "critical")
TYPES = [f"Recon:EC2/Probe{i}" for i in range(14)]
ACCOUNTS = [f"2000000000{i:02d}" for i in range(13)]


def _midnight(days_ago: int) -> datetime:
    return datetime.combine(timezone.now().astimezone(UTC).date() - timedelta(days=days_ago), time.min, tzinfo=UTC)


@pytest.fixture
def history():
    """~260 findings over 24 days with random statuses moved back and forth, some after the period."""
    rng = random.Random(7)
    for _ in range(260):
        created = _midnight(24) + timedelta(minutes=rng.randrange(24 * 24 * 60))
        f = finding(created=created, band=rng.choice(BANDS), account_id=rng.choice(ACCOUNTS),
                    type=rng.choice(TYPES), resource_id=f"i-{rng.randrange(18)}")  # fmt: skip
        moment = created
        for _ in range(rng.randrange(4)):
            moment += timedelta(hours=rng.randrange(1, 90))
            if moment >= timezone.now():
                break
            to = rng.choice(["acknowledged", "in_progress", "resolved", "false_positive", "new", "suppressed"])
            if to != f.status:
                moved(f, to=to, at=moment)


def _period() -> periods.ReportPeriod:
    """A custom period of 8 days ending 5 days ago: moves before, inside and after it."""
    first, last = _midnight(12).date(), _midnight(5).date()
    return periods.report_period(params={"period": "custom", "start": f"{first}", "end": f"{last}"})


def _expected_top(rows: list[Finding], key) -> list[tuple]:
    counts = Counter(key(f) for f in rows)
    severe = Counter(key(f) for f in rows if f.severity >= 7.0)
    still_open = Counter(key(f) for f in rows if f.status in OPEN_STATUSES)
    ranked = sorted(counts, key=lambda k: (-counts[k], k))[: periods.TOP_N]
    return [(k, counts[k], severe[k], still_open[k]) for k in ranked]


def _day(moment: datetime):
    return moment.astimezone(UTC).date()


def test_daily_counts_top_lists_and_moves_match_a_count_finding_by_finding(history):
    period = _period()
    report = reports._compute(period, timezone.now())
    findings = list(Finding.objects.all())
    inside = [f for f in findings if period.start <= f.created_at < period.end]
    assert len(inside) > 50

    for row in report.days:
        assert row.by_band == {b: sum(1 for f in inside if _day(f.created_at) == row.day and f.severity_band == b)
                               for b in BANDS}  # fmt: skip
    top_types = [(r["type"], r["n"], r["severe"], r["open"]) for r in report.top_types]
    assert top_types == _expected_top(inside, lambda f: f.type)
    top_accounts = [(r["account_id"], r["n"], r["severe"], r["open"]) for r in report.top_accounts]
    assert top_accounts == _expected_top(inside, lambda f: f.account_id)
    top_resources = [((r["resource_type"], r["resource_id"]), r["n"], r["severe"], r["open"])
                     for r in report.top_resources]  # fmt: skip
    assert top_resources == _expected_top(inside, lambda f: (f.resource_type, f.resource_id))
    assert len(report.top_resources) == periods.TOP_N  # 18 resources: the list is cut, ties included

    moves = list(FindingEvent.objects.filter(kind="status"))

    def closing(e):
        return e.to_status in CLOSED_STATUSES and e.from_status not in CLOSED_STATUSES

    def reopening(e):
        return e.to_status in OPEN_STATUSES and e.from_status in CLOSED_STATUSES

    for row in report.days:
        assert (row.closed, row.reopened) == (
            sum(1 for e in moves if closing(e) and _day(e.created_at) == row.day),
            sum(1 for e in moves if reopening(e) and _day(e.created_at) == row.day),
        )
    # The backlog at the end of each day, counted directly: created by then, and open after that day's moves.
    for row in report.days:
        end = datetime.combine(row.day + timedelta(days=1), time.min, tzinfo=UTC)
        open_then = 0
        for f in findings:
            if f.created_at >= end:
                continue
            last = max((e for e in moves if e.finding_id == f.pk and e.created_at < end),
                       key=lambda e: (e.created_at, e.pk), default=None)  # fmt: skip
            open_then += (last.to_status if last else "new") in OPEN_STATUSES
        assert row.open_at_end == open_then, row.day

    previous = period.previous
    before = [f for f in findings if previous.start <= f.created_at < previous.end]
    comparisons = {c.label: c for c in report.comparisons}
    assert comparisons["New findings"].previous == len(before)
    for band in BANDS:
        assert comparisons[f"New {band.capitalize()}"].previous == sum(f.severity_band == band for f in before)
    assert comparisons["Resolved"].previous == sum(
        1 for e in moves if closing(e) and previous.start <= e.created_at < previous.end
    )


def test_one_pass_and_one_query_per_figure_agree(history, monkeypatch):
    """The SQLite demo reads each figure with its own query; Postgres must give the same figures."""
    period = _period()
    combined = reports._period_figures(period)
    monkeypatch.setattr(connection, "vendor", "sqlite")
    separate = reports._period_figures(period)
    monkeypatch.undo()
    assert combined == separate


def test_previous_period_times_without_percentiles_equal_the_full_pass(history):
    period = _period()
    now = timezone.now()
    full = timing.response_times(period, now=now)
    light = timing.response_times(period, now=now, percentiles=False)
    for a, b in zip(full, light, strict=True):
        assert (a.band, a.findings, a.acknowledged, a.resolved, a.sla_met, a.sla_due) == (
            b.band, b.findings, b.acknowledged, b.resolved, b.sla_met, b.sla_due)  # fmt: skip
        assert a.tta_mean == pytest.approx(b.tta_mean) and a.ttr_mean == pytest.approx(b.ttr_mean)
        assert b.tta_p90 is None and b.ttr_p90 is None


def test_an_open_finding_counts_against_the_sla_only_once_it_is_older_than_the_sla():
    now = timezone.now().replace(microsecond=500000)
    finding(created=now - timedelta(hours=24), band="high")  # exactly 24 h old: not yet due
    finding(created=now - timedelta(hours=24, microseconds=1), band="high")  # a microsecond past
    finding(created=now - timedelta(hours=23), band="high")
    period = periods.ReportPeriod(key="custom", start=now - timedelta(days=2), end=now + timedelta(days=1))
    high = next(row for row in timing.response_times(period, now=now) if row.band == "high")
    assert (high.findings, high.sla_met, high.sla_due) == (3, 0, 1)



@pytest.mark.django_db(transaction=True)
def test_two_connections_give_the_same_report_as_one(history, monkeypatch):
    """Outside a transaction the passes run in two halves on two connections; the figures do not change."""
    period, now = _period(), timezone.now()
    assert reports._parallel()
    threads = []
    on_own_connection = reports._passes_on_own_connection
    monkeypatch.setattr(reports, "_passes_on_own_connection",
                        lambda *args: threads.append(1) or on_own_connection(*args))  # fmt: skip
    parallel = reports._compute(period, now)
    assert threads == [1]
    monkeypatch.setattr(reports, "_parallel", lambda: False)
    assert parallel == reports._compute(period, now)


@pytest.mark.django_db(transaction=True)
def test_without_a_second_connection_the_report_runs_on_one(history, monkeypatch):
    from django.db import OperationalError

    period, now = _period(), timezone.now()

    def refused(*args):
        raise OperationalError("FATAL: sorry, too many clients already")

    monkeypatch.setattr(reports, "_passes_on_own_connection", refused)
    report = reports._compute(period, now)
    monkeypatch.setattr(reports, "_parallel", lambda: False)
    assert report == reports._compute(period, now)
