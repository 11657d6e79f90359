"""The read side shared by the SDK, the CLI and the UI: finding runs and comparing them.

Example:
    >>> import evalyard
    >>> cmp = evalyard.compare_runs("gpt-4o-temp-0.3", "gpt-4o-temp-0.7")  # doctest: +SKIP
    >>> cmp.list_degraded_metrics()  # doctest: +SKIP
    ['accuracy']
"""

from __future__ import annotations

from typing import Protocol

from evalyard.core.aggregate import check_aggregate_function
from evalyard.core.compare import RunComparisonResult, check_alpha, compare_scopes
from evalyard.core.model import Result, RunInfo
from evalyard.core.stats import ALPHA
from evalyard.errors import (
    AmbiguousRunError,
    InvalidInputError,
    InvalidReferenceError,
    RunNotFoundError,
)
from evalyard.store import SESSION_SCOPE, Store, get_store

__all__ = ["RunReference", "compare_runs", "get_results", "get_run", "list_runs", "resolve_run"]


class _HasRunId(Protocol):
    @property
    def run_id(self) -> str: ...


RunReference = str | _HasRunId
"""A run id, a unique run name, a unique id prefix (6+ characters), or a run object."""


def resolve_run(
    reference: RunReference, *, project: str | None = None, store: Store | str | None = None
) -> RunInfo:
    """Find the one run a reference means.

    Raises:
        RunNotFoundError: when no run matches (also a LookupError).
        AmbiguousRunError: when several runs match; the message lists them with their ids.
    """
    target = get_store(store)
    if not isinstance(reference, str):
        return target.get_run(reference.run_id)
    if not reference.strip():
        raise InvalidReferenceError("a run reference is empty; give a run id or name")
    matches = target.find_runs(reference, project=project)
    if not matches:
        raise RunNotFoundError(reference, project=project)
    if len(matches) > 1:
        raise AmbiguousRunError(
            reference, [(info.run_id, info.name, info.project) for info in matches]
        )
    return matches[0]


def get_run(reference: RunReference, *, store: Store | str | None = None) -> RunInfo:
    """The run a reference means (see :func:`resolve_run`)."""
    return resolve_run(reference, store=store)


def list_runs(
    *, project: str | None = None, limit: int | None = None, store: Store | str | None = None
) -> list[RunInfo]:
    """The runs of a project (or of every project), newest first."""
    return get_store(store).list_runs(project=project, limit=limit)


def get_results(
    reference: RunReference,
    datapoint_ids: list[str] | None = None,
    *,
    store: Store | str | None = None,
) -> list[Result]:
    """A run's stored results (all, or of some datapoints), by datapoint id and epoch."""
    target = get_store(store)
    return target.get_results(resolve_run(reference, store=target).run_id, datapoint_ids)


def compare_runs(
    new_run: RunReference,
    old_run: RunReference,
    *,
    aggregate_function: str = "average",
    step: str | None = None,
    store: Store | str | None = None,
    alpha: float = ALPHA,
) -> RunComparisonResult:
    """Compare a new run with an old (baseline) run, datapoint by datapoint (SPEC §2).

    Args:
        new_run: the run under test: an id, a unique name, or a run object.
        old_run: the baseline to compare it with.
        aggregate_function: average, median, sum, min, max, p90 or p95.
        step: scope the comparison to the steps of this name; None for the session level.
        store: a store, or a store URL.
        alpha: significance level of the verdicts (intervals have confidence 1 − alpha).

    Returns:
        the comparison: shared and unshared datapoints, and a ``MetricDelta`` per metric.
    """
    check_aggregate_function(aggregate_function)
    check_alpha(alpha)
    target = get_store(store)
    new_info = resolve_run(new_run, store=target)
    old_info = resolve_run(old_run, store=target)
    steps = sorted(
        set(target.list_steps(new_info.run_id)) | set(target.list_steps(old_info.run_id))
    )
    if step is not None and step not in steps:
        known = ", ".join(repr(s) for s in steps) if steps else "none"
        raise InvalidInputError(
            f"neither run has a step named {step!r}; the steps of these runs: {known}"
        )
    scope = SESSION_SCOPE if step is None else step
    definitions = target.metric_definitions(old_info.project)
    if new_info.project != old_info.project:
        definitions.update(target.metric_definitions(new_info.project))
    found = compare_scopes(
        target.load_scope(new_info.run_id, scope),
        target.load_scope(old_info.run_id, scope),
        definitions=definitions,
        aggregate_function=aggregate_function,
        step=step,
        alpha=alpha,
    )
    return RunComparisonResult(
        new_run_id=new_info.run_id,
        old_run_id=old_info.run_id,
        step=step,
        aggregate_function=aggregate_function,
        common_datapoints=found.common_datapoints,
        new_only_datapoints=found.new_only_datapoints,
        old_only_datapoints=found.old_only_datapoints,
        metric_deltas=found.metric_deltas,
        steps=steps,
        new_run=new_info,
        old_run=old_info,
        alpha=alpha,
    )
