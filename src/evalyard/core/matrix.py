"""Every pair of runs on one metric: the paired difference, its adjusted p-value, a verdict.

The pairwise verdict matrix of a comparison of many runs answers "which runs really differ
on this metric?". Each unordered pair of runs is compared once, exactly as
:func:`~evalyard.core.compare.compare_scopes` compares two runs (the same tests over the
datapoints both have); the p-values of all the pairs tested are Holm-adjusted together
(the matrix is one family), and each cell gets the verdict of its row's run against its
column's run. The cell below the diagonal and its mirror above it state the same test from
either side: the difference and interval negated, the same p-values, the verdict reversed.

Example:
    >>> m = comparison.matrix("accuracy")  # doctest: +SKIP
    >>> m.verdicts[1][0], m.p_adjusted[1, 0]  # doctest: +SKIP
    (<Verdict.IMPROVED: 'improved'>, 0.003)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from evalyard.core.columns import ScopeValues
from evalyard.core.compare import MetricDelta, compare_scopes
from evalyard.core.family import estimate_of, judge_family, mirrored
from evalyard.core.model import Direction, MetricDefinition, MetricKind
from evalyard.core.stats import Verdict, decide_verdict
from evalyard.core.union import DatapointUnion

__all__ = ["VerdictMatrix", "verdict_matrix"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class VerdictMatrix:
    """Each run against each other run on one metric; cell ``[row, column]`` is the row's
    run compared with the column's run (row − column). Rows and columns are the runs of
    the comparison, the baseline first. Numbers are NaN where there is none (the diagonal,
    a pair without shared values, a metric that is not tested)."""

    metric: str
    """The metric's name."""
    step: str | None
    """The step the comparison is scoped to, or None for the session level."""
    kind: MetricKind
    """number, bool or string (number when runs disagree; string when any run's is)."""
    direction: Direction
    """Which way is better; a string metric or direction ``none`` is not tested."""
    run_ids: list[str]
    """The runs of the rows and of the columns, in order, the baseline first."""
    mean_diff: FloatArray
    """Mean of row − column over the datapoints both runs have the metric on."""
    ci_low: FloatArray
    """Lower end of the ``1 − alpha`` confidence interval of ``mean_diff``."""
    ci_high: FloatArray
    """Upper end of that interval."""
    p_value: FloatArray
    """Two-sided p-value of the pair's paired test, before adjustment."""
    p_adjusted: FloatArray
    """``p_value`` after Holm's adjustment across every pair of runs tested in this matrix."""
    pairs: IntArray
    """How many datapoints the two runs both have the metric on (0 on the diagonal)."""
    verdicts: list[list[Verdict | None]]
    """The row's run against the column's run: improved, regressed, inconclusive or
    insufficient_data; None on the diagonal and for a metric that is not judged."""
    family_size: int
    """How many pairs of runs were tested: the number of p-values Holm adjusted together."""
    alpha: float
    """The significance level of the verdicts."""

    def to_dict(self) -> dict[str, Any]:
        """The matrix as JSON-serialisable data (nested lists; None for NaN)."""

        def cells(array: FloatArray) -> list[list[float | None]]:
            return [[None if np.isnan(v) else v for v in row] for row in array.tolist()]

        return {
            "metric": self.metric,
            "step": self.step,
            "kind": self.kind.value,
            "direction": self.direction.value,
            "run_ids": self.run_ids,
            "mean_diff": cells(self.mean_diff),
            "ci_low": cells(self.ci_low),
            "ci_high": cells(self.ci_high),
            "p_value": cells(self.p_value),
            "p_adjusted": cells(self.p_adjusted),
            "pairs": self.pairs.tolist(),
            "verdicts": [[None if v is None else v.value for v in row] for row in self.verdicts],
            "family_size": self.family_size,
            "alpha": self.alpha,
        }


def _only(values: ScopeValues, metric: str) -> ScopeValues:
    column = values.columns.get(metric)
    return ScopeValues(values.ids, {} if column is None else {metric: column}, values.epochs)


def verdict_matrix(
    metric: str,
    *,
    run_ids: Sequence[str],
    values: Sequence[ScopeValues],
    union: DatapointUnion,
    kind: MetricKind,
    direction: Direction,
    definitions: Mapping[str, MetricDefinition],
    aggregate_function: str,
    step: str | None,
    alpha: float,
    known: Mapping[tuple[int, int], MetricDelta] | None = None,
) -> VerdictMatrix:
    """Compare every pair of runs on one metric (see the module docstring).

    Args:
        metric: the metric.
        run_ids: the runs, in the order of the rows and columns.
        values: each run's values at the scope, in that order.
        union: the join of the runs' datapoint ids, in that order.
        kind: the metric's kind across the runs.
        direction: the metric's direction across the runs.
        definitions: the metric definitions.
        aggregate_function: the aggregate function (it does not change the tests).
        step: the scope's step, or None for the session level.
        alpha: significance level of the verdicts.
        known: deltas already computed, by ``(new, old)`` run index with ``new > old``, as
            a comparison with the baseline (index 0) has them; their raw statistics are
            reused, their adjusted p-values and verdicts are not.
    """
    k = len(run_ids)
    pairs = [(new, old) for new in range(k) for old in range(new)]
    deltas: list[MetricDelta | None] = []
    for new, old in pairs:
        delta = (known or {}).get((new, old))
        if delta is None:
            found = compare_scopes(
                _only(values[new], metric),
                _only(values[old], metric),
                definitions=definitions,
                aggregate_function=aggregate_function,
                step=step,
                alpha=alpha,
                alignment=union.alignment(new, old),
            )
            delta = found.metric_deltas.get(metric)
        deltas.append(delta)
    judged = judge_family(deltas, alpha=alpha)

    arrays = {name: np.full((k, k), np.nan) for name in ("mean", "low", "high", "p", "adj")}
    counts = np.zeros((k, k), dtype=np.int64)
    verdicts: list[list[Verdict | None]] = [[None] * k for _ in range(k)]
    for (new, old), delta in zip(pairs, judged, strict=True):
        if delta is None:
            continue
        estimate = estimate_of(delta)
        for row, column, side in ((new, old, estimate), (old, new, mirrored(estimate))):
            cell = (row, column)
            for name, value in (
                ("mean", side.mean_diff),
                ("low", side.ci_low),
                ("high", side.ci_high),
                ("p", side.p_value),
                ("adj", delta.p_adjusted),
            ):
                if value is not None:
                    arrays[name][cell] = value
            counts[cell] = delta.found_count
            verdicts[row][column] = decide_verdict(
                side, p_adjusted=delta.p_adjusted, direction=delta.direction, alpha=alpha
            )
    return VerdictMatrix(
        metric=metric,
        step=step,
        kind=kind,
        direction=direction,
        run_ids=list(run_ids),
        mean_diff=arrays["mean"],
        ci_low=arrays["low"],
        ci_high=arrays["high"],
        p_value=arrays["p"],
        p_adjusted=arrays["adj"],
        pairs=counts,
        verdicts=verdicts,
        family_size=sum(d is not None and d.p_value is not None for d in judged),
        alpha=alpha,
    )
