"""The read side shared by the SDK, the CLI and the UI: finding, summarising and comparing
runs.

Every surface reads through here: ``evalyard show`` and the run pages summarise a run with
:func:`summarise_run`; ``compare_runs``, ``evalyard compare`` and the comparison pages all
end in :func:`compare_values`, which the web server calls directly with values it has
cached, so a page never loads a run's values twice.

Example:
    >>> import evalyard
    >>> cmp = evalyard.compare_runs("gpt-4o-temp-0.3", "gpt-4o-temp-0.7")  # doctest: +SKIP
    >>> cmp.list_degraded_metrics()  # doctest: +SKIP
    ['accuracy']
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from evalyard.core.aggregate import check_aggregate_function
from evalyard.core.columns import ScopeValues
from evalyard.core.compare import RunComparisonResult, check_alpha, compare_scopes
from evalyard.core.model import MetricDefinition, Result, RunInfo
from evalyard.core.names import close_names
from evalyard.core.stats import ALPHA
from evalyard.core.summary import MetricSummary, summarise_scope
from evalyard.errors import (
    AmbiguousRunError,
    ComparisonWarning,
    EvalyardError,
    InvalidInputError,
    InvalidReferenceError,
    RunNotFoundError,
    UnknownMetricError,
)
from evalyard.store import SESSION_SCOPE, Store, get_store

__all__ = [
    "SUGGESTION_POOL",
    "RunReference",
    "RunSummary",
    "compare_runs",
    "compare_values",
    "definitions_for",
    "get_results",
    "get_run",
    "list_runs",
    "resolve_run",
    "summarise_run",
]


class _HasRunId(Protocol):
    @property
    def run_id(self) -> str: ...


#: How many of the newest runs a reference that matches none is compared with, to suggest
#: close names.
SUGGESTION_POOL = 1_000

RunReference = str | _HasRunId
"""A run id, a run name (unique in the store, or the newest with ``latest``), a unique id
prefix (6+ characters), or a run object."""


def resolve_run(
    reference: RunReference,
    *,
    latest: bool = False,
    project: str | None = None,
    store: Store | str | None = None,
) -> RunInfo:
    """Find the one run a reference means.

    Args:
        reference: a run id, a run name, an id prefix (6+ characters), or a run object.
        latest: when several runs match (a name used in several projects, or a store from
            before names were unique within a project), take the newest instead of refusing.
        project: look in this project only.
        store: a store, or a store URL.

    Raises:
        RunNotFoundError: when no run matches (also a LookupError); the message suggests
            up to 3 close names from the newest 1,000 runs (of ``project``, if given).
        AmbiguousRunError: when several runs match and ``latest`` is not set; the message
            lists them with their ids.
    """
    target = get_store(store)
    if not isinstance(reference, str):
        return target.get_run(reference.run_id)
    if not reference.strip():
        raise InvalidReferenceError("a run reference is empty; give a run id or name")
    matches = target.find_runs(reference, project=project)
    if not matches:
        raise RunNotFoundError(
            reference, project=project, suggestions=_close_runs(target, reference, project)
        )
    if len(matches) > 1:
        if latest:
            return max(matches, key=lambda info: (info.created_at, info.run_id))
        raise AmbiguousRunError(
            reference, [(info.run_id, info.name, info.project) for info in matches]
        )
    return matches[0]


def _close_runs(target: Store, reference: str, project: str | None) -> list[tuple[str, str]]:
    """``(name, run_id)`` of the runs whose names are close to ``reference``: among the
    newest runs (of the project, when one is given), the newest run of each name."""
    try:
        candidates = target.list_runs(project=project, limit=SUGGESTION_POOL)
    except EvalyardError:  # suggestions are a courtesy: the error about the run comes first
        return []
    newest: dict[str, str] = {}
    for info in candidates:
        newest.setdefault(info.name, info.run_id)
    return [(name, newest[name]) for name in close_names(reference, list(newest))]


def get_run(
    reference: RunReference, *, latest: bool = False, store: Store | str | None = None
) -> RunInfo:
    """The run a reference means (see :func:`resolve_run`); ``latest`` takes the newest of
    several matching runs."""
    return resolve_run(reference, latest=latest, store=store)


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


def definitions_for(store: Store, *infos: RunInfo) -> dict[str, MetricDefinition]:
    """The metric definitions that apply to a comparison of these runs: their projects'
    definitions, the first run's project winning a conflict."""
    definitions: dict[str, MetricDefinition] = {}
    for project in dict.fromkeys(info.project for info in reversed(infos)):
        definitions.update(store.metric_definitions(project))
    return definitions


def _check_step(step: str | None, steps: list[str]) -> None:
    if step is not None and step not in steps:
        known = ", ".join(repr(s) for s in steps) if steps else "none"
        raise InvalidInputError(
            f"neither run has a step named {step!r}; the steps of these runs: {known}"
        )


def load_pair(
    store: Store, new_run_id: str, old_run_id: str, scope: str
) -> tuple[ScopeValues, ScopeValues]:
    """Two runs' values at one scope, read at the same time: the database works (and
    SQLite and psycopg let go of the interpreter lock) for one run while the other's
    bytes are decoded: reading two runs of 1M datapoints took about a quarter less time
    on two cores."""
    if new_run_id == old_run_id:
        values = store.load_scope(new_run_id, scope)
        return values, values
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalyard-read") as pool:
        old_values = pool.submit(store.load_scope, old_run_id, scope)
        new_values = store.load_scope(new_run_id, scope)
        return new_values, old_values.result()


def compare_values(
    new_info: RunInfo,
    old_info: RunInfo,
    *,
    new_values: ScopeValues,
    old_values: ScopeValues,
    definitions: Mapping[str, MetricDefinition],
    steps: list[str],
    aggregate_function: str = "average",
    step: str | None = None,
    alpha: float = ALPHA,
) -> RunComparisonResult:
    """Compare two runs from values already loaded (docs/comparison.md §2).

    What :func:`compare_runs` does once it has read the runs; a caller that keeps values
    (the web server's cache) passes them in and nothing is read again.

    Args:
        new_info: the run under test.
        old_info: the baseline.
        new_values: the new run's values at the scope (the session, or ``step``).
        old_values: the baseline's values at the same scope.
        definitions: the metric definitions (see :func:`definitions_for`).
        steps: the step names of either run, sorted.
        aggregate_function: average, median, sum, min, max, p90 or p95.
        step: the step the values are of, or None for the session level.
        alpha: significance level of the verdicts.
    """
    found = compare_scopes(
        new_values,
        old_values,
        definitions=definitions,
        aggregate_function=aggregate_function,
        step=step,
        alpha=alpha,
    )
    return RunComparisonResult.of_scope(
        found,
        new_run=new_info,
        old_run=old_info,
        step=step,
        aggregate_function=aggregate_function,
        steps=steps,
        alpha=alpha,
    )


def compare_runs(
    new_run: RunReference,
    old_run: RunReference,
    *,
    aggregate_function: str = "average",
    step: str | None = None,
    store: Store | str | None = None,
    alpha: float = ALPHA,
) -> RunComparisonResult:
    """Compare a new run with an old (baseline) run, datapoint by datapoint (docs/comparison.md §2).

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
    _check_step(step, steps)
    scope = SESSION_SCOPE if step is None else step
    new_values, old_values = load_pair(target, new_info.run_id, old_info.run_id, scope)
    result = compare_values(
        new_info,
        old_info,
        new_values=new_values,
        old_values=old_values,
        definitions=definitions_for(target, new_info, old_info),
        steps=steps,
        aggregate_function=aggregate_function,
        step=step,
        alpha=alpha,
    )
    for message in result.warnings:
        warnings.warn(message, ComparisonWarning, stacklevel=2)
    return result


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run and its metrics at every scope: what ``evalyard show`` and a run's page
    show, and what ``evaluate`` prints at its end."""

    run: RunInfo
    """The run."""
    metrics: list[MetricSummary]
    """The session-level metrics, then each step's, by step name and metric name."""
    steps: dict[str, int]
    """Each step name, with how many datapoints have a step of that name."""

    def metric(self, name: str, *, step: str | None = None) -> MetricSummary:
        """The summary of one metric (at the session level, or of one step).

        Raises:
            UnknownMetricError: when the run has no such metric there.
        """
        for summary in self.metrics:
            if summary.metric == name and summary.step == step:
                return summary
        known = [m.metric for m in self.metrics if m.step == step]
        where = f"run {self.run.name!r}" + ("" if step is None else f" at step {step!r}")
        raise UnknownMetricError(name, known, where=where)

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-serialisable data."""
        return {
            "run": self.run.to_dict(),
            "metrics": [m.to_dict() for m in self.metrics],
            "steps": self.steps,
        }


def summarise_run(
    reference: RunReference,
    *,
    aggregate_function: str = "average",
    steps: bool = True,
    alpha: float = ALPHA,
    store: Store | str | None = None,
) -> RunSummary:
    """Summarise a run's metrics: each one's aggregate, interval and count, per scope.

    Args:
        reference: a run id, a unique name or id prefix, or a run object.
        aggregate_function: average, median, sum, min, max, p90 or p95.
        steps: also summarise the metrics of each step.
        alpha: the intervals (of the mean, with ``average``) have confidence 1 − alpha.
        store: a store, or a store URL.
    """
    check_aggregate_function(aggregate_function)
    target = get_store(store)
    info = resolve_run(reference, store=target)
    definitions = definitions_for(target, info)
    scopes: list[str | None] = [None]
    if steps:
        scopes += target.list_steps(info.run_id)
    metrics: list[MetricSummary] = []
    counts: dict[str, int] = {}
    for step in scopes:
        values = target.load_scope(info.run_id, SESSION_SCOPE if step is None else step)
        if step is not None:
            counts[step] = len(values.ids)
        metrics += summarise_scope(
            values,
            definitions=definitions,
            step=step,
            aggregate_function=aggregate_function,
            alpha=alpha,
        )
    return RunSummary(info, metrics, counts)
