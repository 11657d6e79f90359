from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from evalyard.core.model import MetricKind
from evalyard.core.values import check_metric_value, check_metrics, dump_json_field
from evalyard.errors import InvalidMetricError, InvalidRecordError


@pytest.mark.parametrize(
    ("value", "kind", "stored"),
    [
        (0.5, MetricKind.NUMBER, 0.5),
        (3, MetricKind.NUMBER, 3.0),
        (True, MetricKind.BOOL, 1.0),
        (False, MetricKind.BOOL, 0.0),
        (np.float32(0.25), MetricKind.NUMBER, 0.25),
        (np.int64(7), MetricKind.NUMBER, 7.0),
        (np.bool_(True), MetricKind.BOOL, 1.0),
        (Fraction(1, 4), MetricKind.NUMBER, 0.25),
        ("correct", MetricKind.STRING, "correct"),
        (None, MetricKind.NUMBER, None),
    ],
)
def test_metric_values_have_a_kind_and_a_stored_form(
    value: object, kind: MetricKind, stored: object
) -> None:
    assert check_metric_value("m", value) == (kind, stored)


@pytest.mark.parametrize(
    ("value", "label"),
    [(math.nan, "NaN"), (math.inf, "inf"), (-math.inf, "-inf"), (10**400, "inf")],
)
def test_non_finite_metrics_are_refused_naming_metric_and_datapoint(
    value: object, label: str
) -> None:
    with pytest.raises(InvalidMetricError) as caught:
        check_metrics({"accuracy": value}, datapoint_id="q7")
    assert str(caught.value) == (
        f"metric 'accuracy' on datapoint 'q7' is {label}; log None for a missing score"
    )
    assert caught.value.metric == "accuracy"
    assert caught.value.datapoint_id == "q7"
    assert isinstance(caught.value, ValueError)


def test_step_metric_errors_name_the_step() -> None:
    with pytest.raises(InvalidMetricError, match="on step 'retrieve' of datapoint 'q1'"):
        check_metrics({"hits": math.nan}, datapoint_id="q1", step="retrieve")


def test_unsupported_metric_values_are_refused() -> None:
    with pytest.raises(InvalidMetricError, match="is a list"):
        check_metrics({"m": [1, 2]}, datapoint_id="q1")
    with pytest.raises(InvalidMetricError, match="at most 1000"):
        check_metrics({"m": "x" * 1001}, datapoint_id="q1")
    with pytest.raises(InvalidMetricError, match="metric name is empty"):
        check_metrics({"": 1.0}, datapoint_id="q1")
    with pytest.raises(InvalidRecordError, match="must be a dict"):
        check_metrics([("m", 1.0)], datapoint_id="q1")


def test_missing_values_are_dropped_and_special_kinds_listed() -> None:
    values, special = check_metrics({"a": 1.0, "b": None, "c": True, "d": "x"})
    assert values == {"a": 1.0, "c": 1.0, "d": "x"}
    assert special == (("c", MetricKind.BOOL), ("d", MetricKind.STRING))


def test_json_fields_are_bounded_and_strict() -> None:
    assert dump_json_field({"a": [1, "é"]}, field="inputs", datapoint_id="q", limit=100) == (
        '{"a":[1,"é"]}'
    )
    assert dump_json_field(np.arange(3), field="outputs", datapoint_id="q", limit=100) == "[0,1,2]"
    assert dump_json_field(None, field="outputs", datapoint_id="q", limit=100) is None
    with pytest.raises(InvalidRecordError, match="outputs of datapoint 'q' cannot be stored"):
        dump_json_field({"x": object()}, field="outputs", datapoint_id="q", limit=100)
    with pytest.raises(InvalidRecordError, match="cannot be stored as JSON"):
        dump_json_field([math.nan], field="outputs", datapoint_id="q", limit=100)
    with pytest.raises(InvalidRecordError, match="the limit is 100") as caught:
        dump_json_field("x" * 200, field="outputs", datapoint_id="q", limit=100)
    assert caught.value.field == "outputs"
