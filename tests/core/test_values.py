from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from evalyard.core.model import MetricKind
from evalyard.core.values import (
    check_metric_value,
    check_metrics,
    check_run_metadata,
    dump_json_field,
)
from evalyard.errors import InvalidInputError, InvalidMetricError, InvalidRecordError


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


EDGES = [-(2**63), -1, 0, 2**63 - 1, 2**63, 2**64 - 1]


def test_larger_integers_are_refused_naming_the_field() -> None:
    kept = dump_json_field(
        {"ids": EDGES}, field="outputs", datapoint_id="q", limit=1_000_000, index=None
    )
    assert kept is not None
    assert json.loads(kept) == {"ids": EDGES}
    for big, path in [
        (2**64, "outputs.ids[1]"),
        (-(2**63) - 1, "outputs.ids[1]"),
        (10**5000, "outputs.ids[1]"),
    ]:
        with pytest.raises(InvalidRecordError) as refused:
            dump_json_field(
                {"ids": [1, big], "name": "9" * 30},
                field="outputs",
                datapoint_id="q7",
                limit=10**9,
                index=3,
            )
        assert (refused.value.field, refused.value.index) == (path, 3)
        assert f"{path} of datapoint 'q7' is an integer outside -2**63..2**64-1" in str(
            refused.value
        )
    with pytest.raises(InvalidRecordError, match=r"inputs\.a\.b\[0\]\.c"):
        dump_json_field(
            {"a": {"b": [{"c": np.array([2**64], dtype=object)}]}},
            field="inputs",
            datapoint_id="q",
            limit=10**6,
        )
    # Digits in text are not integers.
    assert dump_json_field("1" * 40, field="outputs", datapoint_id="q", limit=1000) is not None


def test_long_digit_runs_are_found_in_one_pass() -> None:
    import random
    import re

    from evalyard.core.values import _has_long_digits

    search = re.compile(r"[0-9]{19}").search
    cases = ["", "1" * 18, "1" * 19, "a" + "1" * 18 + "b", "x" * 1000 + "1" * 19]
    cases += ["-0.034525830151341586" * 50, "[" + "1" * 18 + ",2]", "\u0663" * 30]
    rng = random.Random(7)
    cases += ["".join(rng.choice("0123456789a.-") for _ in range(60)) for _ in range(2000)]
    for text in cases:
        assert _has_long_digits(text) == (search(text) is not None), text
    # Floats with long fractions next to a large integer: the integer is still refused.
    with pytest.raises(InvalidRecordError, match=r"outputs\[1\] of datapoint"):
        dump_json_field(
            [-0.0345258301513415, 2**64], field="outputs", datapoint_id="q", limit=10**6
        )


def test_run_metadata_refuses_larger_integers_naming_the_field() -> None:
    assert check_run_metadata({"seeds": EDGES}) == {"seeds": EDGES}
    with pytest.raises(InvalidInputError, match=r"run metadata\.config\.seed is an integer"):
        check_run_metadata({"config": {"seed": 2**64}, "note": "1" * 25})
    with pytest.raises(InvalidInputError, match=r"metadata\.seeds\[0\]"):
        check_run_metadata({"seeds": [-(2**63) - 1]})
