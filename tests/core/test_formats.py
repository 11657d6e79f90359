"""Numbers, rates, p-values, intervals and times as every surface writes them."""

from __future__ import annotations

import math

import pytest

from evalyard.core.formats import (
    MISSING,
    clip,
    compact_json,
    format_aggregate,
    format_delta,
    format_flips,
    format_interval,
    format_mde,
    format_number,
    format_p,
    format_percent_change,
    format_time,
    format_value,
    unit_of,
    value_text,
)
from evalyard.core.model import Direction, MetricKind


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (math.nan, "—"),
        (0.0, "0"),
        (2.0, "2"),
        (1234.0, "1,234"),
        (1234.56, "1,234.6"),
        (12.3456, "12.346"),
        (2.5, "2.5"),
        (0.73125, "0.7312"),
        (0.425, "0.425"),
        (0.0001234, "0.000123"),
        (-2.5, "\u22122.5"),
        (123456.7, "123,456.7"),
        (12_345_678.9, "1.23e+07"),
    ],
)
def test_numbers_get_a_precision_that_suits_their_size(value: float | None, text: str) -> None:
    assert format_number(value) == text


def test_a_bool_average_is_a_pass_rate_and_its_change_percentage_points() -> None:
    assert format_aggregate(0.8333, kind=MetricKind.BOOL, aggregate_function="average") == "83.3%"
    assert format_aggregate(25.0, kind=MetricKind.BOOL, aggregate_function="sum") == "25"
    assert format_delta(0.05, kind=MetricKind.BOOL, aggregate_function="average") == "+5.0 pp"
    assert format_delta(-0.5) == "\u22120.5"
    assert format_delta(0.0) == "0"
    assert format_delta(None) == MISSING


def test_a_change_within_float_rounding_of_the_values_is_no_change() -> None:
    assert format_delta(1e-17, reference=0.3) == "0"
    assert format_delta(1e-9, reference=0.3) == "+1e-09"


def test_percent_changes_and_p_values() -> None:
    assert format_percent_change(5.24) == "+5.2%"
    assert format_percent_change(-250.0) == "\u2212250%"
    assert format_percent_change(0.01) == "0%"
    assert format_percent_change(None) == MISSING
    assert format_p(0.0004) == "<0.001"
    assert format_p(0.0312) == "0.0312"
    # Three significant digits below 0.1, cut: a value below alpha never reads as alpha.
    assert format_p(0.04996) == "0.0499"
    assert format_p(0.0496) == "0.0496"
    assert format_p(0.0050) == "0.00500"
    assert format_p(0.4567) == "0.46"
    assert format_p(None) == MISSING


def test_intervals_read_in_the_metrics_units_or_percentage_points() -> None:
    assert format_interval(0.05, 0.01, 0.09, kind=MetricKind.NUMBER) == "+0.05 [+0.01, +0.09]"
    interval = format_interval(0.066, -0.021, 0.15, kind=MetricKind.BOOL)
    assert interval == "+6.6 pp [\u22122.1, +15.0]"
    assert format_interval(None, None, None, kind=MetricKind.NUMBER) == MISSING
    assert format_mde(0.028, kind=MetricKind.BOOL) == "±2.8 pp"
    assert format_mde(None, kind=MetricKind.NUMBER) == MISSING
    flips = {"pass->pass": 3, "pass->fail": 10, "fail->pass": 9, "fail->fail": 1}
    assert format_flips(flips) == "9 fail→pass · 10 pass→fail"


def test_an_amount_of_dollars_reads_as_one() -> None:
    usd = unit_of("cost_usd")
    assert usd == "usd"
    assert unit_of("cost") is None
    assert unit_of(None) is None
    assert format_number(2.13e-05, unit=usd) == "$0.0000213"
    assert format_number(0.000334, unit=usd) == "$0.000334"
    assert format_number(0.1, unit=usd) == "$0.10"
    assert format_number(1234.5, unit=usd) == "$1,234.50"
    assert format_number(0.0, unit=usd) == "$0"
    assert format_delta(-0.42, unit=usd) == "−$0.42"
    assert format_delta(0.000313, unit=usd) == "+$0.000313"
    assert format_delta(1e-15, unit=usd) == "0"
    assert format_aggregate(0.0213, kind="number", aggregate_function="average", unit=usd) == (
        "$0.0213"
    )
    assert (
        format_interval(0.0003, 0.0002, 0.0004, kind=MetricKind.NUMBER, unit=usd)
        == "+$0.0003 [+$0.0002, +$0.0004]"
    )
    assert format_mde(0.01, kind=MetricKind.NUMBER, unit=usd) == "±$0.01"
    assert format_value(5e-05, kind="number", unit=usd) == "$0.00005"
    assert format_number(2.13e-05) == "2.13e-05"  # without the unit, as any number


def test_a_datapoints_bool_reads_through_its_direction() -> None:
    assert format_value(1.0, kind=MetricKind.BOOL) == "pass"
    assert format_value(0.0, kind=MetricKind.BOOL) == "fail"
    assert format_value(0.5, kind=MetricKind.BOOL) == "50% pass"
    # The automatic `error` metric: lower is better, so False is the good value.
    assert format_value(0.0, kind=MetricKind.BOOL, direction=Direction.LOWER) == "ok"
    assert format_value(1.0, kind=MetricKind.BOOL, direction=Direction.LOWER) == "not ok"
    assert format_value(1.0, kind=MetricKind.BOOL, direction=Direction.NONE) == "true"
    assert format_value("cat", kind=MetricKind.STRING) == "cat"
    assert format_value(None, kind=MetricKind.NUMBER) == MISSING


def test_times_are_utc() -> None:
    assert format_time(0) == "1970-01-01 00:00 UTC"
    assert format_time(None) == MISSING


def test_logged_values_become_text() -> None:
    assert value_text("plain") == "plain"
    assert value_text({"b": 1, "a": [1]}) == '{\n  "a": [\n    1\n  ],\n  "b": 1\n}'
    assert value_text(None) == ""
    assert compact_json({"a": [1, 2]}) == '{"a": [1, 2]}'
    assert clip("abcdef", 3) == ("abc…", True)
    assert clip("abc", 3) == ("abc", False)
