"""The comparison of many runs with one baseline: a family of pairwise comparisons.

Each run is compared with the baseline exactly as two runs are
(:func:`~evalyard.core.compare.compare_scopes`). Then the p-values of every test of every
run — each tested metric of each run against the baseline — are Holm-adjusted together,
and each verdict is decided again from its family-adjusted p-value: with ten candidate
runs and ten metrics there are a hundred tests, and an unchanged application would
otherwise show a "significant" change somewhere almost every time.

Pure, like a comparison of two runs: it takes the runs' values at one scope, so that a
caller that keeps values (the web server) passes them in.

Example:
    >>> many = evalyard.compare_many(["t-0.3", "t-0.7", "t-1.0"], baseline="t-0")  # doctest: +SKIP
    >>> many.get_leaderboard("accuracy").standings[0].run_id  # doctest: +SKIP
    'run-t-0.3'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from evalyard.core.aggregate import check_aggregate_function
from evalyard.core.columns import ScopeValues
from evalyard.core.compare import MetricDelta, RunComparisonResult, check_alpha, compare_scopes
from evalyard.core.family import judge_family
from evalyard.core.grid import DatapointGrid, datapoint_grid
from evalyard.core.ids import natural_key
from evalyard.core.leaderboard import Leaderboard, leaderboards
from evalyard.core.matrix import VerdictMatrix, verdict_matrix
from evalyard.core.model import MetricDefinition, RunInfo
from evalyard.core.stats import ALPHA, Verdict
from evalyard.core.union import DatapointUnion, datapoint_union
from evalyard.errors import InvalidInputError, UnknownMetricError

__all__ = ["MultiComparison", "compare_many_values"]


class _Cache:
    """What a comparison of many runs computes on demand, kept for the next call."""

    __slots__ = ("matrices", "natural_order")

    def __init__(self) -> None:
        self.matrices: dict[str, VerdictMatrix] = {}
        self.natural_order: npt.NDArray[np.int64] | None = None


@dataclass(frozen=True, slots=True)
class MultiComparison:
    """Many runs compared with one baseline: what ``compare_many`` returns.

    The verdicts are decided across the whole family of tests: every tested metric of
    every run against the baseline, Holm-adjusted together (see ``family_size``). So a run's
    comparison here can call fewer changes than ``compare_runs`` of that run alone.

    Example:
        >>> many = evalyard.compare_many(["a", "b"], baseline="base")  # doctest: +SKIP
        >>> many.comparisons[many.run_ids[0]].verdicts()  # doctest: +SKIP
        {'accuracy': <Verdict.IMPROVED: 'improved'>}
    """

    baseline_id: str
    """The baseline's id."""
    run_ids: list[str]
    """The runs compared with the baseline, in the order given (each once, without the
    baseline)."""
    runs: list[RunInfo]
    """The baseline, then each run of ``run_ids``: the order of leaderboard ties, of the
    matrix's rows and columns and of the grid's columns."""
    step: str | None
    """The step the comparison is scoped to, or None for the session level."""
    aggregate_function: str
    """The aggregate function of the aggregates and of the ranking."""
    alpha: float
    """The significance level of the verdicts (for the family of all tests)."""
    steps: list[str]
    """The step names of any of the runs, sorted."""
    comparisons: dict[str, RunComparisonResult]
    """Each run compared with the baseline, by run id: the numbers of ``compare_runs``,
    with ``p_adjusted`` and ``verdict`` decided across the family."""
    leaderboards: dict[str, Leaderboard]
    """Per metric (by name), every run ranked, the baseline included."""
    family_size: int
    """How many tests the verdicts are adjusted across (Holm)."""
    listed_run_ids: list[str] = field(default_factory=list, repr=False)
    """The run ids as the caller listed them (with any repeat, and the baseline if listed)."""
    values: list[ScopeValues] = field(default_factory=list, repr=False, compare=False)
    """Each run's values at the scope, in the order of ``runs``."""
    union: DatapointUnion | None = field(default=None, repr=False, compare=False)
    """The join of the runs' datapoint ids, in the order of ``runs``."""
    definitions: Mapping[str, MetricDefinition] = field(
        default_factory=dict, repr=False, compare=False
    )
    """The metric definitions the runs were compared with."""
    _cache: _Cache = field(default_factory=_Cache, init=False, repr=False, compare=False)

    def __repr__(self) -> str:
        verdicts = [d.verdict for c in self.comparisons.values() for d in c.metric_deltas.values()]
        counts = ", ".join(
            f"{sum(v is kind for v in verdicts)} {kind.value}"
            for kind in (Verdict.IMPROVED, Verdict.REGRESSED, Verdict.INCONCLUSIVE)
        )
        scope = "" if self.step is None else f" at step {self.step!r}"
        return (
            f"<MultiComparison {len(self.run_ids)} runs vs {self.runs[0].name!r}{scope}: "
            f"{len(self.leaderboards)} metrics, {self.family_size} tests ({counts})>"
        )

    @property
    def baseline(self) -> RunInfo:
        """The baseline's description."""
        return self.runs[0]

    def get_leaderboard(self, name: str) -> Leaderboard:
        """The leaderboard of metric ``name``.

        Raises:
            UnknownMetricError: (a KeyError) when no run has the metric at this scope.
        """
        found = self.leaderboards.get(name)
        if found is None:
            scope = "this comparison" if self.step is None else f"step {self.step!r}"
            raise UnknownMetricError(name, list(self.leaderboards), where=scope)
        return found

    def matrix(self, metric: str) -> VerdictMatrix:
        """Every run against every other run on ``metric`` (computed once, then kept).

        Raises:
            UnknownMetricError: when no run has the metric at this scope.
        """
        board = self.get_leaderboard(metric)
        found = self._cache.matrices.get(metric)
        if found is None:
            known = {
                (column, 0): comparison.metric_deltas[metric]
                for column, comparison in enumerate(self.comparisons.values(), start=1)
                if metric in comparison.metric_deltas
            }
            found = verdict_matrix(
                metric,
                run_ids=[info.run_id for info in self.runs],
                values=self.values,
                union=self._union(),
                kind=board.kind,
                direction=board.direction,
                definitions=self.definitions,
                aggregate_function=self.aggregate_function,
                step=self.step,
                alpha=self.alpha,
                known=known,
            )
            self._cache.matrices[metric] = found
        return found

    def grid(self, metric: str, *, natural: bool = False) -> DatapointGrid:
        """The runs' values of ``metric`` side by side, a row per datapoint.

        Args:
            metric: the metric.
            natural: rows in natural order of the ids (``q2`` before ``q10``) rather than
                sorted as text, the order of every other datapoint list.

        Raises:
            UnknownMetricError: when no run has the metric at this scope.
        """
        board = self.get_leaderboard(metric)
        union = self._union()
        order = None
        if natural:
            order = self._cache.natural_order
            if order is None:
                ids = union.ids.tolist()
                order = np.array(
                    sorted(range(len(ids)), key=lambda i: natural_key(ids[i])), dtype=np.int64
                )
                self._cache.natural_order = order
        return datapoint_grid(
            metric,
            run_ids=[info.run_id for info in self.runs],
            values=self.values,
            union=union,
            kind=board.kind,
            direction=board.direction,
            step=self.step,
            order=order,
        )

    def _union(self) -> DatapointUnion:
        if self.union is None:
            raise InvalidInputError("this comparison of many runs holds no values to lay out")
        return self.union

    @property
    def warnings(self) -> list[str]:
        """What makes this comparison say less than it seems: a run listed twice, the
        baseline among the runs, a run sharing no datapoint with the baseline.
        ``compare_many`` also issues each as a Python warning (``ComparisonWarning``)."""
        names = {info.run_id: info.name for info in self.runs}
        found = []
        for run_id, times in Counter(self.listed_run_ids).items():
            if run_id == self.baseline_id:
                found.append(
                    f"the baseline {names[run_id]!r} is also listed among the runs; it is "
                    "the baseline only (a run compared with itself says nothing)"
                )
            elif times > 1:
                found.append(f"run {names[run_id]!r} is listed {times} times; it is compared once")
        where = "" if self.step is None else f" at step {self.step!r}"
        for run_id, comparison in self.comparisons.items():
            if not comparison.common_datapoints:
                found.append(
                    f"run {names[run_id]!r} shares no datapoints with the baseline{where}: "
                    "nothing can be paired, so none of its metrics was tested; compare runs "
                    "of the same dataset (datapoints are matched by datapoint_id)"
                )
        return found

    def verdicts(self) -> dict[str, dict[str, Verdict | None]]:
        """Each run's verdict on each metric (by run id, then metric name)."""
        return {run_id: c.verdicts() for run_id, c in self.comparisons.items()}

    def regressed_metrics(self) -> dict[str, list[str]]:
        """The metrics that regressed, by run id, for the runs with any: the metrics whose
        family verdict is regressed (except a non-inferior metric with a tolerance)."""
        found = {run_id: c.regressed_metrics() for run_id, c in self.comparisons.items()}
        return {run_id: names for run_id, names in found.items() if names}

    def has_regression(self) -> bool:
        """Whether any run regressed on any metric: what ``--fail-on regression`` decides."""
        return any(c.has_regression() for c in self.comparisons.values())

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-serialisable data (``evalyard compare A B --with BASE
        --format json``): the leaderboards, and each run's whole comparison."""
        return {
            "baseline_run_id": self.baseline_id,
            "run_ids": self.run_ids,
            "runs": [info.to_dict() for info in self.runs],
            "step": self.step,
            "aggregate_function": self.aggregate_function,
            "alpha": self.alpha,
            "steps": self.steps,
            "family_size": self.family_size,
            "verdicts": {
                run_id: {name: None if v is None else v.value for name, v in found.items()}
                for run_id, found in self.verdicts().items()
            },
            "regressed_metrics": self.regressed_metrics(),
            "warnings": self.warnings,
            "leaderboards": {name: board.to_dict() for name, board in self.leaderboards.items()},
            "comparisons": {run_id: c.to_dict() for run_id, c in self.comparisons.items()},
        }


def _judged_comparisons(
    runs: Sequence[RunInfo],
    scoped: Sequence[ScopeValues],
    *,
    union: DatapointUnion,
    definitions: Mapping[str, MetricDefinition],
    steps: list[str],
    aggregate_function: str,
    step: str | None,
    alpha: float,
) -> dict[str, RunComparisonResult]:
    """Each run (after the first, the baseline) compared with the baseline, its verdicts
    judged across the family of every run's tests."""
    found = [
        compare_scopes(
            scoped[i],
            scoped[0],
            definitions=definitions,
            aggregate_function=aggregate_function,
            step=step,
            alpha=alpha,
            alignment=union.alignment(i, 0),
        )
        for i in range(1, len(runs))
    ]
    flat = [(i, name, d) for i, f in enumerate(found) for name, d in f.metric_deltas.items()]
    judged = judge_family([d for _, _, d in flat], alpha=alpha)
    by_run: list[dict[str, MetricDelta]] = [{} for _ in found]
    for (i, name, _), delta in zip(flat, judged, strict=True):
        assert delta is not None  # judge_family passes every delta through
        by_run[i][name] = delta
    baseline = runs[0]
    return {
        info.run_id: RunComparisonResult.of_scope(
            f,
            new_run=info,
            old_run=baseline,
            step=step,
            aggregate_function=aggregate_function,
            steps=steps,
            alpha=alpha,
            metric_deltas=deltas,
        )
        for info, f, deltas in zip(runs[1:], found, by_run, strict=True)
    }


def compare_many_values(
    infos: Sequence[RunInfo],
    *,
    baseline: RunInfo,
    values: Mapping[str, ScopeValues],
    definitions: Mapping[str, MetricDefinition],
    steps: list[str],
    aggregate_function: str = "average",
    step: str | None = None,
    alpha: float = ALPHA,
) -> MultiComparison:
    """Compare many runs with one baseline from values already loaded.

    Args:
        infos: the runs to compare with the baseline, in order. A run listed again, and
            the baseline if listed, are compared once and not at all (and warned about).
        baseline: the run the others are compared with.
        values: every run's values at the scope, by run id (the baseline's included).
        definitions: the metric definitions (direction, tolerance) by metric name.
        steps: the step names of any of the runs, sorted.
        aggregate_function: average, median, sum, min, max, p90 or p95.
        step: the step the values are of, or None for the session level.
        alpha: significance level of the verdicts, for the family of all tests.

    Raises:
        InvalidInputError: without runs, or when a run's values are missing.
    """
    check_aggregate_function(aggregate_function)
    check_alpha(alpha)
    if not infos:
        raise InvalidInputError("give at least one run to compare with the baseline")
    others = list({info.run_id: info for info in infos if info.run_id != baseline.run_id}.values())
    runs = [baseline, *others]
    missing = [info.name for info in runs if info.run_id not in values]
    if missing:
        raise InvalidInputError(f"no values were given for the runs {missing!r}")
    scoped = [values[info.run_id] for info in runs]
    union = datapoint_union([v.ids for v in scoped])
    comparisons = _judged_comparisons(
        runs,
        scoped,
        union=union,
        definitions=definitions,
        steps=steps,
        aggregate_function=aggregate_function,
        step=step,
        alpha=alpha,
    )
    boards = leaderboards(
        [info.run_id for info in runs],
        scoped,
        [c.metric_deltas for c in comparisons.values()],
        definitions=definitions,
        aggregate_function=aggregate_function,
        step=step,
        alpha=alpha,
    )
    judged = [d for c in comparisons.values() for d in c.metric_deltas.values()]
    return MultiComparison(
        baseline_id=baseline.run_id,
        run_ids=[info.run_id for info in others],
        runs=runs,
        step=step,
        aggregate_function=aggregate_function,
        alpha=alpha,
        steps=steps,
        comparisons=comparisons,
        leaderboards=boards,
        family_size=sum(d.p_value is not None for d in judged),
        listed_run_ids=[info.run_id for info in infos],
        values=scoped,
        union=union,
        definitions=dict(definitions),
    )
