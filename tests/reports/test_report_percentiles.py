"""The p90s read from the durations above a sampled cut are exactly Postgres' percentile_cont.

The report sorts only the durations at or above a cut taken from a sample of the period; these tests
compare that pass with the pass that sorts every duration (percentile_cont), on data made to be
awkward: ties across the cut, one or two durations, none, negative durations, bands far apart, and
cuts placed on, just below and just above the ranks percentile_cont interpolates between.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from findings import reports
from findings.models import Finding
from tests.reports.support import finding

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 1, tzinfo=UTC)
PERIOD = reports.ReportPeriod(key="custom", start=START, end=START + timedelta(days=10))


def _spans(band: str, acks: list[float | None], closes: list[float | None] | None = None) -> None:
    """Findings of `band` created in the period, acknowledged / resolved these many seconds later (None: not)."""
    closes = closes if closes is not None else [None] * len(acks)
    for i, (tta, ttr) in enumerate(zip(acks, closes, strict=True)):
        created = START + timedelta(days=1, seconds=97 * i, microseconds=i)
        f = finding(created=created, band=band)
        Finding.objects.filter(pk=f.pk).update(
            acknowledged_at=None if tta is None else created + timedelta(seconds=tta),
            resolved_at=None if ttr is None else created + timedelta(seconds=ttr),
        )


def _sorted_p90s(now: datetime) -> dict:
    rows = reports._timing_rows(PERIOD, now=now, per_band=True)
    return {row[0] or "all": (row[1], row[2], row[4], row[8], row[9]) for row in rows}


def _tail_p90s(now: datetime) -> dict | None:
    rows = reports._timing_rows_by_tails(PERIOD, now=now)
    return None if rows is None else {row[0] or "all": (row[1], row[2], row[4], row[8], row[9]) for row in rows}


@pytest.fixture
def whole_period_sample(monkeypatch):
    """The sample is the whole period and every band sets a cut, so `_CUT_FRACTION` places it at a known rank."""
    monkeypatch.setattr(reports, "_sample_params", lambda period: [
        reports._datetimes(period.start), reports._datetimes(period.end), list(reports.BANDS)])  # fmt: skip
    monkeypatch.setattr(reports, "_CUT_MIN_SAMPLE", 1)


def _awkward():
    rng = random.Random(11)
    # Critical: fast, with microseconds and a run of ties around its p90; one negative duration.
    _spans("critical", [rng.uniform(60, 900) for _ in range(40)] + [1234.5] * 9 + [-3.25],
           [rng.uniform(600, 9000) for _ in range(25)] + [None] * 25)  # fmt: skip
    # High: slow, the band's durations far above critical's, a few never acknowledged.
    _spans("high", [rng.uniform(86_400, 400_000) for _ in range(33)] + [None] * 4,
           [rng.uniform(100_000, 900_000) for _ in range(30)] + [None] * 7)  # fmt: skip
    _spans("medium", [42.000001, 42.000002], [None, -0.5])  # two acknowledged, one negative resolution
    _spans("low", [None, None, 7.0], [None, None, None])  # one acknowledged, none resolved


AWKWARD_FRACTIONS = [0.0, 0.3, 0.5, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0]


@pytest.mark.parametrize("fraction", AWKWARD_FRACTIONS)
def test_tail_p90s_are_percentile_cont_or_refused_wherever_the_cut_falls(whole_period_sample, monkeypatch,
                                                                         fraction):  # fmt: skip
    _awkward()
    now = timezone.now()
    monkeypatch.setattr(reports, "_CUT_FRACTION", fraction)
    expected = _sorted_p90s(now)
    got = _tail_p90s(now)
    if fraction <= 0.5:  # the cut at or below every band's median: it can never be above a p90
        assert got is not None
    if got is not None:
        assert got == expected  # counts and p90s, exactly (floats compared with ==)
    timing = {row.band: (row.tta_p90, row.ttr_p90) for row in reports._timing(PERIOD, now=now)}
    assert timing == {band: p90s[3:] for band, p90s in expected.items()}  # a refused cut: the sorting pass


def test_the_p90s_of_none_one_and_two_durations():
    _awkward()
    now = timezone.now()
    got = _tail_p90s(now)
    assert got is not None
    assert got["low"][3:] == (7.0, None)  # one duration: itself; none: no p90
    assert got["medium"][3] == pytest.approx(42.0000019)  # two: 90% of the way from the first to the second
    assert got == _sorted_p90s(now)


def test_a_cut_on_the_lower_rank_is_used_and_one_above_it_is_refused(whole_period_sample, monkeypatch):
    """Twelve durations: percentile_cont interpolates between the 10th and the 11th (9.9 of 0..11)."""
    durations = [float(v) + 0.125 for v in (5, 1, 9, 3, 12, 7, 2, 11, 8, 4, 10, 6)]
    _spans("high", durations, durations)
    now = timezone.now()
    monkeypatch.setattr(reports, "_CUT_FRACTION", 0.8)  # percentile_disc: the 10th smallest, the lower rank
    got = _tail_p90s(now)
    assert got is not None and got == _sorted_p90s(now)
    assert got["high"][3] == pytest.approx(10.125 + 0.9)
    monkeypatch.setattr(reports, "_CUT_FRACTION", 0.85)  # the 11th: the lower rank is below the cut
    assert _tail_p90s(now) is None
    assert [(r.tta_p90, r.ttr_p90) for r in reports._timing(PERIOD, now=now) if r.band == "high"] == [
        (_sorted_p90s(now)["high"][3], _sorted_p90s(now)["high"][4])
    ]


def test_ties_straddling_the_cut_keep_their_ranks(whole_period_sample, monkeypatch):
    _spans("medium", [5.0] * 3 + [8.5] * 14 + [9.0] * 3)
    now = timezone.now()
    for fraction in (0.1, 0.2, 0.5, 0.85):  # cuts at 5.0 and at 8.5: ties on both sides of the cut's rank
        monkeypatch.setattr(reports, "_CUT_FRACTION", fraction)
        got = _tail_p90s(now)
        assert got is not None and got == _sorted_p90s(now), fraction


def test_the_sampled_cut_gives_the_sorting_pass_figures_on_a_larger_period():
    rng = random.Random(5)
    for band in ("critical", "high", "medium", "low"):
        scale = {"critical": 600, "high": 7200, "medium": 86_400, "low": 400_000}[band]
        _spans(band, [rng.expovariate(1 / scale) if rng.random() < 0.7 else None for _ in range(150)],
               [rng.expovariate(1 / (4 * scale)) if rng.random() < 0.4 else None for _ in range(150)])  # fmt: skip
    now = timezone.now()
    expected = _sorted_p90s(now)
    assert {band: (row.tta_p90, row.ttr_p90) for band, row in
            ((r.band, r) for r in reports._timing(PERIOD, now=now))} == {
        band: p90s[3:] for band, p90s in expected.items()}  # fmt: skip
    got = _tail_p90s(now)
    assert got is None or got == expected


def test_a_band_too_rare_in_the_sample_keeps_all_its_durations(whole_period_sample, monkeypatch):
    """Critical is fast and rare: a cut from the other bands alone would lie above its p90."""
    rng = random.Random(3)
    _spans("high", [rng.uniform(50_000, 90_000) for _ in range(60)], [rng.uniform(90_000, 200_000) for _ in range(60)])
    _spans("critical", [rng.uniform(60, 600) for _ in range(5)], [rng.uniform(600, 6000) for _ in range(5)])
    monkeypatch.setattr(reports, "_CUT_FRACTION", 0.5)
    now = timezone.now()
    monkeypatch.setattr(reports, "_CUT_MIN_SAMPLE", 10)  # critical's 5 findings set no cut: all are kept
    got = _tail_p90s(now)
    assert got is not None and got == _sorted_p90s(now)
    monkeypatch.setattr(reports, "_CUT_MIN_SAMPLE", 1)  # critical's own cut, its median: still below its p90
    assert _tail_p90s(now) == got
    monkeypatch.setattr(reports, "_CUT_FRACTION", 1.0)  # every band's maximum: above the p90s, refused
    assert _tail_p90s(now) is None
