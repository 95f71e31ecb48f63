"""The SVG chart helpers: pure functions, so a chart's shapes follow from its numbers."""

from guardwatch.core.charts import Series, line_chart, nice_max, stacked_bars


def test_axis_top_is_a_round_number_at_or_above_the_peak():
    assert [nice_max(v) for v in (0, 1, 3, 7, 12, 180, 999)] == [1, 1, 5, 10, 20, 200, 1000]


def test_stacked_bars_stack_each_day_and_describe_the_chart():
    chart = stacked_bars(
        labels=["11-01", "11-02"],
        series=[Series("low", "Low", [1, 0], "fill-low"), Series("high", "High", [1, 3], "fill-high")],
        title="New findings",
        height=126,  # a 90 px plot topped at 5 findings
    )
    first_day = [bar for bar in chart.bars if bar.title.startswith("11-01")]
    assert [bar.height for bar in first_day] == [18.0, 18.0]
    assert first_day[1].y + first_day[1].height == first_day[0].y  # high sits on top of low
    assert chart.aria_label == "New findings: 5 in all (1 Low, 4 High); busiest 11-02 with 3."


def test_empty_chart_says_so():
    chart = stacked_bars(
        labels=["11-01"], series=[Series("low", "Low", [0], "fill-low")], title="New findings"
    )
    assert chart.empty and chart.bars == [] and chart.aria_label == "New findings: none in this period."


def test_line_chart_points_follow_the_values():
    chart = line_chart(labels=["a", "b"], series=[Series("open", "open", [0, 10], "line-open")], title="Open")
    first, last = chart.lines[0].dots
    assert first.y > last.y and chart.aria_label == "Open: open from 0 to 10."
