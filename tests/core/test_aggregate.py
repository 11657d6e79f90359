from __future__ import annotations

import numpy as np
import pytest

from evalyard.core.aggregate import AGGREGATE_FUNCTIONS, aggregate
from evalyard.errors import UnknownAggregateError

VALUES = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("average", float(np.mean(VALUES))),
        ("median", 3.5),
        ("sum", 31.0),
        ("min", 1.0),
        ("max", 9.0),
        ("p90", float(np.percentile(VALUES, 90))),
        ("p95", float(np.percentile(VALUES, 95))),
    ],
)
def test_aggregate_functions(function: str, expected: float) -> None:
    assert aggregate(VALUES, function) == pytest.approx(expected, abs=1e-12)


def test_p90_interpolates_linearly() -> None:
    # ranks 0..9 of 1..10: p90 sits at rank 8.1 → 9.1
    assert aggregate(np.arange(1.0, 11.0), "p90") == pytest.approx(9.1)


def test_no_values_aggregate_to_none() -> None:
    for function in AGGREGATE_FUNCTIONS:
        assert aggregate(np.array([]), function) is None


def test_unknown_aggregate_function_lists_the_known_ones() -> None:
    with pytest.raises(UnknownAggregateError, match="use one of: average, median") as caught:
        aggregate(VALUES, "mean")
    assert isinstance(caught.value, ValueError)
