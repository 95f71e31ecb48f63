"""Server-side SVG charts: pure functions turning numbers into shapes a template draws.

No JavaScript and no inline styles (CSP forbids them): shapes carry SVG geometry attributes and a CSS
class for their colour, each bar or point a `<title>` for pointer users, and the chart an `aria-label`
summarising it; every chart on a page is followed by a table of the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 26  # plot margins: y-axis labels left, x-axis labels below


@dataclass(frozen=True)
class Series:
    """One named row of values, coloured by `css` (a class in guardwatch.css)."""

    key: str
    label: str
    values: Sequence[float]
    css: str


@dataclass(frozen=True)
class Shape:
    """A bar (x, y, width, height) or a point (x, y) with the text its `<title>` shows."""

    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Tick:
    """An axis label at a position."""

    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Line:
    """A polyline for one series."""

    css: str
    label: str
    points: str
    dots: list[Shape]


@dataclass
class Chart:
    """Everything `templates/reports/_chart.html` needs to draw one chart."""

    width: int
    height: int
    aria_label: str
    bars: list[Shape] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    plot_left: float = LEFT
    plot_right: float = 0
    plot_bottom: float = 0
    empty: bool = False


def nice_max(value: float) -> float:
    """The smallest 1/2/5 × 10ⁿ at or above `value` (at least 1), so gridlines fall on round numbers."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _frame(chart: Chart, top_value: float, labels: Sequence[str]) -> tuple[float, float]:
    """Y ticks (0, ½, max) and up to ~8 evenly spaced x labels; returns (plot width, plot height)."""
    plot_w = chart.width - LEFT - RIGHT
    plot_h = chart.height - TOP - BOTTOM
    chart.plot_right = LEFT + plot_w
    chart.plot_bottom = TOP + plot_h
    for fraction in (0, 0.5, 1):
        chart.y_ticks.append(Tick(LEFT - 6, TOP + plot_h * (1 - fraction) + 4, _number(top_value * fraction)))
    if labels:
        step = max(1, math.ceil(len(labels) / 8))
        slot = plot_w / len(labels)
        for index in range(0, len(labels), step):
            chart.x_ticks.append(Tick(round(LEFT + slot * (index + 0.5), 1), chart.height - 8, labels[index]))
    return plot_w, plot_h


def stacked_bars(
    *,
    labels: Sequence[str],
    series: Sequence[Series],
    title: str,
    unit: str = "",
    width: int = 720,
    height: int = 220,
) -> Chart:
    """One stacked bar per label (e.g. a day), one segment per series (e.g. a severity band)."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = max(totals, default=0)
    chart = Chart(width=width, height=height, aria_label="", legend=[(s.label, s.css) for s in series])
    top_value = nice_max(peak)
    plot_w, plot_h = _frame(chart, top_value, labels)
    chart.empty = peak == 0
    slot = plot_w / max(1, len(labels))
    bar_w = max(1.0, round(slot * 0.8, 2))
    for index, label in enumerate(labels):
        base = TOP + plot_h
        x = round(LEFT + slot * index + (slot - bar_w) / 2, 2)
        for s in series:
            value = s.values[index]
            if not value:
                continue
            h = round(plot_h * value / top_value, 2)
            base -= h
            chart.bars.append(
                Shape(x, round(base, 2), bar_w, h, s.css, f"{label}: {_number(value)} {s.label}{unit}")
            )
    busiest = labels[totals.index(peak)] if peak else ""
    parts = ", ".join(f"{_number(sum(s.values))} {s.label}" for s in series)
    chart.aria_label = (
        f"{title}: {_number(sum(totals))} in all ({parts}); busiest {busiest} with {_number(peak)}."
        if peak
        else f"{title}: none in this period."
    )
    return chart


def line_chart(
    *, labels: Sequence[str], series: Sequence[Series], title: str, width: int = 720, height: int = 220
) -> Chart:
    """One line per series over the labels (e.g. open backlog and resolved per day)."""
    peak = max((v for s in series for v in s.values), default=0)
    chart = Chart(width=width, height=height, aria_label="", legend=[(s.label, s.css) for s in series])
    top_value = nice_max(peak)
    plot_w, plot_h = _frame(chart, top_value, labels)
    chart.empty = peak == 0
    slot = plot_w / max(1, len(labels))
    for s in series:
        dots = []
        for index, label in enumerate(labels):
            x = round(LEFT + slot * (index + 0.5), 2)
            y = round(TOP + plot_h * (1 - s.values[index] / top_value), 2)
            dots.append(Shape(x, y, 0, 0, s.css, f"{label}: {_number(s.values[index])} {s.label}"))
        points = " ".join(f"{d.x},{d.y}" for d in dots)
        chart.lines.append(Line(s.css, s.label, points, dots))
    summary = "; ".join(
        f"{s.label} from {_number(s.values[0])} to {_number(s.values[-1])}" for s in series if len(s.values)
    )
    chart.aria_label = f"{title}: {summary}." if summary else f"{title}: no data."
    return chart
