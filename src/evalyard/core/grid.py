"""One metric's values of many runs side by side, a row per datapoint, as columns.

The grid of a comparison of many runs has a row for every datapoint any of the runs has
(the union of their ids) and a column per run, the baseline first; each cell is the run's
value of the metric on that datapoint (epochs averaged), or missing. Per row it marks the
best and the worst run in the metric's direction. Everything is numpy arrays, so a page of
a 100k-row grid is a slice.

Example:
    >>> grid = comparison.grid("accuracy")  # doctest: +SKIP
    >>> grid.datapoint_ids[:2], grid.values[:2], grid.best[:2]  # doctest: +SKIP
    (['q1', 'q2'], array([[1., 0., 1.], [1., 1., 1.]]), array([0, -1]))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from evalyard.core.columns import ScopeValues
from evalyard.core.model import Direction, MetricKind
from evalyard.core.union import ABSENT, DatapointUnion

__all__ = ["NO_RUN", "DatapointGrid", "datapoint_grid"]

#: What ``best`` and ``worst`` hold for a row without a best or worst run.
NO_RUN = ABSENT

# Values this close relative to their size are float rounding apart: equal.
_RELATIVE_EPSILON = 1e-12

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class DatapointGrid:
    """One metric of many runs: a row per datapoint, a column per run."""

    metric: str
    """The metric's name."""
    step: str | None
    """The step the comparison is scoped to, or None for the session level."""
    kind: MetricKind
    """number, bool or string (number when runs disagree; string when any run's is)."""
    direction: Direction
    """Which way is better; ``best`` and ``worst`` follow it."""
    run_ids: list[str]
    """The run of each column, the baseline first."""
    datapoint_ids: list[str]
    """The datapoint of each row: every id any run has, sorted (or in natural order)."""
    values: npt.NDArray[np.float64] | npt.NDArray[np.object_]
    """Shape (rows, runs): float64 with NaN where a run lacks the value (a bool as 0/1, or
    its pass fraction over epochs); for a string metric, objects with None."""
    best: IntArray
    """Per row, the column of the best value in the metric's direction (the first such
    column when several tie), or :data:`NO_RUN` (−1) when fewer than 2 runs have a value,
    all values are equal, or the metric has no direction."""
    worst: IntArray
    """Per row, the column of the worst value, or :data:`NO_RUN`, like ``best``."""

    def __len__(self) -> int:
        return len(self.datapoint_ids)

    def to_dict(self, *, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """Some rows of the grid as JSON-serialisable data (None where a value is missing,
        and for no best or worst run).

        Args:
            offset: the first row.
            limit: how many rows at most; None for all from ``offset``.
        """
        stop = len(self) if limit is None else min(len(self), offset + max(limit, 0))
        rows = slice(max(offset, 0), stop)
        values = self.values[rows].tolist()
        if self.kind is not MetricKind.STRING:
            values = [[None if v != v else v for v in row] for row in values]  # NaN → None
        return {
            "metric": self.metric,
            "step": self.step,
            "kind": self.kind.value,
            "direction": self.direction.value,
            "run_ids": self.run_ids,
            "total": len(self),
            "offset": rows.start,
            "datapoint_ids": self.datapoint_ids[rows],
            "values": values,
            "best": [None if i == NO_RUN else i for i in self.best[rows].tolist()],
            "worst": [None if i == NO_RUN else i for i in self.worst[rows].tolist()],
        }


def datapoint_grid(
    metric: str,
    *,
    run_ids: Sequence[str],
    values: Sequence[ScopeValues],
    union: DatapointUnion,
    kind: MetricKind,
    direction: Direction,
    step: str | None,
    order: IntArray | None = None,
) -> DatapointGrid:
    """Lay one metric of the runs side by side (see the module docstring).

    Args:
        metric: the metric.
        run_ids: the runs, in the order of the columns.
        values: each run's values at the scope, in that order.
        union: the join of the runs' datapoint ids, in that order.
        kind: the metric's kind across the runs (each run's values are read as it).
        direction: the metric's direction.
        step: the scope's step, or None for the session level.
        order: the union's positions in the order of the rows; None for id order.
    """
    rows = len(union)
    text = kind is MetricKind.STRING
    grid: npt.NDArray[Any] = (
        np.full((rows, len(run_ids)), None, dtype=object)
        if text
        else np.full((rows, len(run_ids)), np.nan, dtype=np.float64)
    )
    for column, run_values in enumerate(values):
        found = run_values.columns.get(metric)
        if found is not None:
            grid[union.positions[column], column] = found.as_kind(kind).values
    if order is not None:
        grid = grid[order]
    ids = union.ids if order is None else union.ids[order]
    best, worst = _extremes(grid, direction if not text else Direction.NONE)
    return DatapointGrid(
        metric=metric,
        step=step,
        kind=kind,
        direction=direction,
        run_ids=list(run_ids),
        datapoint_ids=ids.tolist(),
        values=grid,
        best=best,
        worst=worst,
    )


def _extremes(grid: npt.NDArray[Any], direction: Direction) -> tuple[IntArray, IntArray]:
    """The column of the best and of the worst value of each row (see ``DatapointGrid``)."""
    rows = grid.shape[0]
    if direction is Direction.NONE or rows == 0 or grid.shape[1] == 0:
        none = np.full(rows, NO_RUN, dtype=np.int64)
        return none, none.copy()
    missing = np.isnan(grid)
    high = np.where(missing, -np.inf, grid)
    low = np.where(missing, np.inf, grid)
    top, bottom = high.max(axis=1), low.min(axis=1)
    spread = np.abs(top - bottom)
    with np.errstate(invalid="ignore"):
        scale = np.maximum(np.abs(top), np.abs(bottom))
        equal = spread <= _RELATIVE_EPSILON * scale
    judged = ((~missing).sum(axis=1) >= 2) & ~equal
    highest = np.argmax(high, axis=1).astype(np.int64)
    lowest = np.argmin(low, axis=1).astype(np.int64)
    best, worst = (highest, lowest) if direction is Direction.HIGHER else (lowest, highest)
    return np.where(judged, best, NO_RUN), np.where(judged, worst, NO_RUN)
