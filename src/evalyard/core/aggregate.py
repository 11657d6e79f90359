"""Aggregate functions over a run's per-datapoint values (docs/comparison.md §2)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from evalyard.errors import UnknownAggregateError

__all__ = ["AGGREGATE_FUNCTIONS", "aggregate", "check_aggregate_function"]

_Values = npt.NDArray[np.float64]


def _percentile(q: float) -> Callable[[_Values], float]:
    def compute(values: _Values) -> float:
        # Linear interpolation between closest ranks: numpy's default method.
        return float(np.percentile(values, q))

    return compute


_FUNCTIONS: dict[str, Callable[[_Values], float]] = {
    "average": lambda v: float(np.mean(v)),
    "median": lambda v: float(np.median(v)),
    "sum": lambda v: float(np.sum(v)),
    "min": lambda v: float(np.min(v)),
    "max": lambda v: float(np.max(v)),
    "p90": _percentile(90),
    "p95": _percentile(95),
}

#: The aggregate functions evalyard knows, in the order the UI offers them.
AGGREGATE_FUNCTIONS: tuple[str, ...] = tuple(_FUNCTIONS)


def check_aggregate_function(name: str) -> str:
    """Return ``name`` if it is a known aggregate function, else raise UnknownAggregateError."""
    if name not in _FUNCTIONS:
        raise UnknownAggregateError(str(name), AGGREGATE_FUNCTIONS)
    return name


def aggregate(values: _Values, function: str) -> float | None:
    """Aggregate the finite values given (missing ones already removed); None when empty."""
    if values.size == 0:
        return None
    return _FUNCTIONS[check_aggregate_function(function)](values)
