"""Comparing many runs with one baseline, from a store: the read side of ``compare_many``.

Each run's values are read once (the baseline's too), then
:func:`~evalyard.core.many.compare_many_values` compares every run with the baseline,
judges the verdicts across the family of all their tests, and ranks the runs per metric.
The web server calls that function directly with the values it has cached.

Example:
    >>> many = evalyard.compare_many(["t-0.3", "t-0.7"], baseline="t-0")  # doctest: +SKIP
    >>> [s.run_id for s in many.get_leaderboard("accuracy").standings]  # doctest: +SKIP
    ['run-t-0.7', 'run-t-0', 'run-t-0.3']
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from evalyard.core.aggregate import check_aggregate_function
from evalyard.core.compare import check_alpha
from evalyard.core.many import MultiComparison, compare_many_values
from evalyard.core.stats import ALPHA
from evalyard.errors import ComparisonWarning, InvalidInputError
from evalyard.runs import RunReference, definitions_for, resolve_run
from evalyard.store import SESSION_SCOPE, Store, get_store

__all__ = ["compare_many"]


def compare_many(
    runs: Sequence[RunReference],
    *,
    baseline: RunReference,
    aggregate_function: str = "average",
    step: str | None = None,
    alpha: float = ALPHA,
    store: Store | str | None = None,
) -> MultiComparison:
    """Compare several runs with one baseline, and rank them per metric.

    Every run is compared with the baseline datapoint by datapoint, as ``compare_runs``
    does; the p-values of all those tests (each tested metric of each run) are then
    Holm-adjusted together and the verdicts decided from them, so that ten runs times ten
    metrics do not turn noise into a handful of "significant" changes.

    Args:
        runs: the runs under test: ids, unique names or run objects. A run listed twice is
            compared once, and the baseline, if listed, is left out (both warn).
        baseline: the run to compare them with.
        aggregate_function: average, median, sum, min, max, p90 or p95 (the leaderboards
            rank by it).
        step: scope the comparison to the steps of this name; None for the session level.
        alpha: significance level of the verdicts across the family of all tests.
        store: a store, or a store URL.

    Returns:
        the comparison: each run's comparison with the baseline, a leaderboard per metric,
        and on demand a pairwise verdict matrix and a per-datapoint grid per metric.

    Raises:
        InvalidInputError: without runs, for a bare string instead of a list, or for a step
            no run has.
        RunNotFoundError: when a reference matches no run (AmbiguousRunError: several).
    """
    if isinstance(runs, str):
        raise InvalidInputError(
            f"runs is a list of runs, not the string {runs!r}; "
            f"write compare_many([{runs!r}], baseline=...)"
        )
    check_aggregate_function(aggregate_function)
    check_alpha(alpha)
    if not runs:
        raise InvalidInputError("give at least one run to compare with the baseline")
    target = get_store(store)
    baseline_info = resolve_run(baseline, store=target)
    infos = [resolve_run(reference, store=target) for reference in runs]
    distinct = list({info.run_id: info for info in [baseline_info, *infos]}.values())
    steps = sorted({name for info in distinct for name in target.list_steps(info.run_id)})
    if step is not None and step not in steps:
        known = ", ".join(repr(s) for s in steps) if steps else "none"
        raise InvalidInputError(
            f"no run has a step named {step!r}; the steps of these runs: {known}"
        )
    scope = SESSION_SCOPE if step is None else step
    result = compare_many_values(
        infos,
        baseline=baseline_info,
        values={info.run_id: target.load_scope(info.run_id, scope) for info in distinct},
        definitions=definitions_for(target, *distinct[1:], baseline_info),
        steps=steps,
        aggregate_function=aggregate_function,
        step=step,
        alpha=alpha,
    )
    for message in result.warnings:
        warnings.warn(message, ComparisonWarning, stacklevel=2)
    return result
