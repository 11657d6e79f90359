"""The trend of a metric over a series of runs: points in order, intervals, escaped text."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from evalyard.server.web.trend import TrendPoint, trend_chart

SVG = "{http://www.w3.org/2000/svg}"


def _points(values: list[float | None]) -> list[TrendPoint]:
    return [
        TrendPoint(
            f"r{i}", f"run {i}", 1_700_000_000 + i * 3600, v, None, None, i == 1, f"/runs/r{i}"
        )
        for i, v in enumerate(values)
    ]


def test_each_run_with_the_metric_is_a_linked_point_in_time_order() -> None:
    svg = str(trend_chart("accuracy", _points([0.5, 0.7, None, 0.6]), kind="bool"))
    root = ET.fromstring(svg)
    assert root.get("aria-label") == "Trend of accuracy"
    circles = list(root.iter(f"{SVG}circle"))
    assert len(circles) == 3  # the run without the metric has no point
    xs = [float(c.get("cx", "0")) for c in circles]
    assert xs == sorted(xs)
    # Higher values are drawn higher (smaller y).
    ys = [float(c.get("cy", "0")) for c in circles]
    assert ys[1] < ys[2] < ys[0]
    assert [c.get("class") for c in circles] == [
        "trend-point",
        "trend-point selected",
        "trend-point",
    ]
    links = [a.get("href") for a in root.iter(f"{SVG}a")]
    assert links == ["/runs/r0", "/runs/r1", "/runs/r3"]
    ticks = [t.text for t in root.iter(f"{SVG}text")]
    assert "70.0%" in ticks  # the top of the axis, as a pass rate
    assert "50.0%" in ticks


def test_intervals_are_drawn_and_names_escaped() -> None:
    point = TrendPoint("r", "<script>x</script>", 0.0, 2.0, 1.0, 3.0, False, "/runs/r")
    svg = str(trend_chart("m <b>", [point], kind="number"))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert len(re.findall('class="trend-ci"', svg)) == 1
    assert "2 [1, 3]" in svg


def test_no_values_says_so() -> None:
    assert "no run has m" in str(trend_chart("m", _points([None, None]), kind="number"))
