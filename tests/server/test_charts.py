"""Distribution charts: shared bins, a delta histogram, escaped text, an accessible name."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np

from evalyard.server.web.charts import MAX_BINS, distribution_chart, histogram_bins


def _bars(svg: str, css: str) -> list[float]:
    return [float(h) for h in re.findall(rf'<rect class="{css}" [^>]*height="([0-9.]+)"', svg)]


def test_a_chart_is_an_image_named_after_its_metric() -> None:
    svg = distribution_chart(
        "accuracy",
        new=np.array([1.0, 1.0, 0.0]),
        old=np.array([0.0, 1.0, 0.0]),
        deltas=np.array([1.0, 0.0, 0.0]),
        direction="higher",
        kind="bool",
    )
    root = ET.fromstring(str(svg))
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Distribution of accuracy"
    assert "fail" in svg
    assert "pass" in svg


def test_both_runs_use_the_same_bins_and_deltas_get_their_own() -> None:
    new = np.linspace(0, 1, 101)
    old = np.linspace(0.5, 2, 50)
    svg = distribution_chart(
        "score", new=new, old=old, deltas=new[:50] - old, direction="higher", kind="number"
    )
    assert len(_bars(svg, "bar-new")) <= MAX_BINS
    assert len(_bars(svg, "bar-old")) <= MAX_BINS
    assert _bars(svg, "bar-worse")  # every delta is negative: worse for "higher"
    assert not _bars(svg, "bar-better")


def test_lower_is_better_colours_negative_deltas_as_better() -> None:
    svg = distribution_chart(
        "latency_ms",
        new=np.array([1.0, 2.0]),
        old=np.array([3.0, 4.0]),
        deltas=np.array([-2.0, -2.0]),
        direction="lower",
        kind="number",
    )
    assert _bars(svg, "bar-better")
    assert not _bars(svg, "bar-worse")


def test_text_in_the_svg_is_escaped() -> None:
    svg = distribution_chart(
        "<script>alert(1)</script>",
        new=np.array([1.0]),
        old=None,
        deltas=None,
        direction="higher",
        kind="number",
    )
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    ET.fromstring(str(svg))  # well-formed


def test_missing_values_are_left_out() -> None:
    svg = distribution_chart(
        "m",
        new=np.array([np.nan, 1.0]),
        old=np.array([np.nan]),
        deltas=np.array([]),
        direction="higher",
        kind="number",
    )
    assert "this run: 1 datapoints" in svg
    assert "baseline: 0 datapoints" in svg
    assert "no paired values" in svg


def test_bins_follow_the_values() -> None:
    assert histogram_bins(np.array([0.0, 1.0]), kind="bool").low_label == "fail"
    small_ints = histogram_bins(np.array([1.0, 2.0, 5.0]), kind="number")
    assert len(small_ints.edges) == 6  # one bin per whole number 1..5
    wide = histogram_bins(np.linspace(0, 1000, 7), kind="number")
    assert len(wide.edges) == MAX_BINS + 1
    symmetric = histogram_bins(np.array([-0.25, 0.5]), kind="number", symmetric=True)
    assert symmetric.edges[0] == -symmetric.edges[-1]
    assert len(histogram_bins(np.array([np.nan]), kind="number").edges) == 2


def test_each_panel_has_a_count_axis_up_to_its_tallest_bar() -> None:
    svg = distribution_chart(
        "score",
        new=np.array([1.0, 1.0, 1.0, 2.0]),
        old=np.array([1.0, 2.0, 2.0, 2.0, 2.0]),
        deltas=np.array([0.0, -1.0, -1.0, 0.0]),
        direction="higher",
        kind="number",
    )
    root = ET.fromstring(str(svg))
    ticks = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    # Values: the tallest bar is the baseline's 4 at 2; changes: two at 0 and two at −1.
    assert ticks.count("0") >= 2
    assert "4" in ticks
    assert "2" in ticks
    assert ticks.count("n") == 2
    assert "Values (datapoints per bin)" in ticks
