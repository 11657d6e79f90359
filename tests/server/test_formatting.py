"""Numbers, rates and times as the pages show them."""

from __future__ import annotations

import math

from evalyard.core.model import MetricKind
from evalyard.server.formatting import (
    clip,
    format_aggregate,
    format_delta,
    format_number,
    format_p_value,
    format_percent_change,
    format_time,
    format_value,
    value_text,
)


def test_numbers_get_a_precision_that_suits_their_size() -> None:
    assert format_number(1234.0) == "1,234"
    assert format_number(1234.56) == "1,234.6"
    assert format_number(12.3456) == "12.346"
    assert format_number(0.73125) == "0.7312"
    assert format_number(0.0001234) == "0.000123"
    assert format_number(-2.5) == "\u22122.500"
    assert format_number(None) == "—"
    assert format_number(math.nan) == "—"


def test_a_bool_average_is_a_pass_rate_and_its_change_percentage_points() -> None:
    assert format_aggregate(0.8333, kind=MetricKind.BOOL, aggregate_function="average") == "83.3%"
    assert format_aggregate(25.0, kind=MetricKind.BOOL, aggregate_function="sum") == "25"
    assert format_delta(0.05, kind=MetricKind.BOOL, aggregate_function="average") == "+5.0 pp"
    assert format_delta(-0.5, aggregate_function=None) == "\u22120.5000"
    assert format_delta(0.0, aggregate_function=None) == "0"


def test_values_and_changes() -> None:
    assert format_value(1.0, kind=MetricKind.BOOL) == "pass"
    assert format_value(0.0, kind=MetricKind.BOOL) == "fail"
    assert format_value(0.5, kind=MetricKind.BOOL) == "50% pass"
    assert format_value("cat", kind=MetricKind.STRING) == "cat"
    assert format_percent_change(5.24) == "+5.2%"
    assert format_percent_change(-250.0) == "\u2212250%"
    assert format_percent_change(None) == ""
    assert format_p_value(0.0004) == "<0.001"
    assert format_p_value(0.0312) == "0.031"
    assert format_time(0) == "1970-01-01 00:00 UTC"


def test_logged_values_become_text() -> None:
    assert value_text("plain") == "plain"
    assert value_text({"b": 1, "a": [1]}) == '{\n  "a": [\n    1\n  ],\n  "b": 1\n}'
    assert value_text(None) == ""
    assert clip("abcdef", 3) == ("abc…", True)
    assert clip("abc", 3) == ("abc", False)
