"""One run's metrics at one scope, summarised: the aggregate, its interval and its count.

What ``evaluate`` prints at its end, ``evalyard show`` lists, the Experiments page shows as
key metrics and a leaderboard ranks runs by: one :class:`MetricSummary` per metric, from
the run's values at a scope (epochs averaged first, as everywhere).

Example:
    >>> import numpy as np
    >>> from evalyard.core.columns import MetricColumn, ScopeValues
    >>> ok = MetricColumn(MetricKind.BOOL, np.array([1.0, 0.0]))
    >>> values = ScopeValues(["q1", "q2"], {"ok": ok})
    >>> summarise_scope(values, definitions={})[0].aggregate
    0.5
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalyard.core.aggregate import aggregate, check_aggregate_function
from evalyard.core.columns import MetricColumn, ScopeValues
from evalyard.core.model import Direction, MetricDefinition, MetricKind, default_direction
from evalyard.core.stats import ALPHA, mean_interval, wilson_interval

__all__ = ["MetricSummary", "direction_of", "summarise_scope"]


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """One metric of one run at one scope."""

    metric: str
    """The metric's name."""
    step: str | None
    """The step the metric belongs to, or None at the session (result) level."""
    kind: MetricKind
    """number, bool or string."""
    direction: Direction
    """Which way is better, from the project's metric definition (or the default)."""
    aggregate_function: str
    """The aggregate function of ``aggregate``."""
    aggregate: float | None
    """The aggregate over the datapoints having the metric (epochs averaged first; a bool
    averages to its pass rate); None for a string metric or without values."""
    count: int
    """How many datapoints have the metric."""
    ci_low: float | None = None
    """Lower end of the ``1 − alpha`` (95%) interval of the mean, with the ``average``
    aggregate: a t interval for numbers, Wilson's for a pass rate; None otherwise."""
    ci_high: float | None = None
    """Upper end of that interval."""
    most_common: str | None = None
    """For a string metric, its most common value."""
    most_common_count: int = 0
    """How many datapoints have ``most_common``."""

    @property
    def mean(self) -> float | None:
        """The aggregate when it is the average (None for other aggregate functions)."""
        return self.aggregate if self.aggregate_function == "average" else None

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-serialisable data."""
        return {
            "metric": self.metric,
            "step": self.step,
            "kind": self.kind.value,
            "direction": self.direction.value,
            "aggregate_function": self.aggregate_function,
            "aggregate": self.aggregate,
            "count": self.count,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "most_common": self.most_common,
            "most_common_count": self.most_common_count,
        }


def direction_of(
    name: str, kind: MetricKind, definitions: Mapping[str, MetricDefinition]
) -> tuple[Direction, float]:
    """A metric's direction and tolerance: a string metric has none; else the project's
    definition, else the default for its kind."""
    if kind is MetricKind.STRING:
        return Direction.NONE, 0.0
    found = definitions.get(name)
    if found is not None:
        return found.direction, found.tolerance
    return default_direction(kind), 0.0


def _single_epoch_bool(column: MetricColumn) -> bool:
    return column.kind is MetricKind.BOOL and (
        column.epoch_counts is None or not bool(np.any(column.epoch_counts > 1))
    )


def summarise_scope(
    values: ScopeValues,
    *,
    definitions: Mapping[str, MetricDefinition],
    step: str | None = None,
    aggregate_function: str = "average",
    alpha: float = ALPHA,
) -> list[MetricSummary]:
    """Summarise every metric of one run's values at one scope, by metric name.

    Args:
        values: the run's values at the scope.
        definitions: the project's metric definitions (for the directions).
        step: the step the scope is, or None for the session level.
        aggregate_function: average, median, sum, min, max, p90 or p95.
        alpha: the intervals have confidence ``1 − alpha``.
    """
    check_aggregate_function(aggregate_function)
    summaries = []
    for name in sorted(values.columns):
        column = values.columns[name]
        present = column.present()
        count = int(present.sum())
        direction, _ = direction_of(name, column.kind, definitions)
        if column.kind is MetricKind.STRING:
            tally = Counter(str(v) for v in column.values[present].tolist())
            top = tally.most_common(1)
            summaries.append(
                MetricSummary(
                    name,
                    step,
                    column.kind,
                    direction,
                    aggregate_function,
                    None,
                    count,
                    most_common=top[0][0] if top else None,
                    most_common_count=top[0][1] if top else 0,
                )
            )
            continue
        numbers = column.values[present].astype(np.float64)
        low = high = None
        if aggregate_function == "average" and count:
            if _single_epoch_bool(column):
                low, high = wilson_interval(int(numbers.sum()), count, alpha=alpha)
            else:
                interval = mean_interval(numbers, alpha=alpha)
                if interval is not None:
                    low, high = interval
        summaries.append(
            MetricSummary(
                name,
                step,
                column.kind,
                direction,
                aggregate_function,
                aggregate(numbers, aggregate_function),
                count,
                low,
                high,
            )
        )
    return summaries
