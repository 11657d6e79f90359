"""What ``evalyard show`` tells about one run, gathered from the read side.

Example:
    >>> overview = load_run_overview("gpt-4o-temp-0.3", result_limit=5)  # doctest: +SKIP
    >>> [(m.step, m.metric, m.average) for m in overview.metrics]  # doctest: +SKIP
    [(None, 'accuracy', 0.82), ('retrieve', 'hits', 2.6)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalyard.core.compare import MetricDelta
from evalyard.core.model import Direction, MetricKind, Result, RunInfo
from evalyard.runs import RunReference, compare_runs, get_results, resolve_run
from evalyard.store import Store, get_store

__all__ = ["MetricSummary", "RunOverview", "load_run_overview"]


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """One metric of one run at one scope: its average and how many datapoints have it."""

    metric: str
    """The metric's name."""
    step: str | None
    """The step the metric belongs to, or None at the session level."""
    kind: MetricKind
    """number, bool or string."""
    direction: Direction
    """Which way is better."""
    average: float | None
    """The average over the datapoints having it (epochs averaged first); None for strings."""
    count: int
    """How many datapoints have the metric."""

    @classmethod
    def from_delta(cls, delta: MetricDelta) -> MetricSummary:
        """The new run's side of a delta (a run compared with itself gives its summary)."""
        return cls(
            metric=delta.metric,
            step=delta.step,
            kind=delta.kind,
            direction=delta.direction,
            average=delta.new_aggregate,
            count=delta.new_count,
        )

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-serialisable data."""
        return {
            "metric": self.metric,
            "step": self.step,
            "kind": self.kind.value,
            "direction": self.direction.value,
            "average": self.average,
            "count": self.count,
        }


@dataclass(frozen=True, slots=True)
class RunOverview:
    """A run, its metrics at every scope, its steps and its first results."""

    run: RunInfo
    """The run."""
    metrics: list[MetricSummary]
    """The session-level metrics, then each step's, by step name and metric name."""
    steps: dict[str, int]
    """Each step name, with how many datapoints have a step of that name."""
    results: list[Result]
    """The results of the first datapoints (by datapoint id), every epoch."""
    shown_datapoints: int
    """How many datapoints ``results`` covers."""

    def to_dict(self) -> dict[str, Any]:
        """The overview as JSON-serialisable data (``evalyard show --format json``)."""
        return {
            "run": self.run.to_dict(),
            "metrics": [summary.to_dict() for summary in self.metrics],
            "steps": self.steps,
            "results": [result.to_dict() for result in self.results],
        }


def load_run_overview(
    reference: RunReference, *, result_limit: int = 10, store: Store | str | None = None
) -> RunOverview:
    """Gather what ``evalyard show`` prints about a run.

    Args:
        reference: a run id, a unique name or id prefix, or a run object.
        result_limit: how many datapoints' results to include.
        store: a store, or a store URL.
    """
    target = get_store(store)
    info = resolve_run(reference, store=target)
    # A run compared with itself carries its aggregates and counts: one code path for
    # `show` and `compare` (SPEC §2).
    session = compare_runs(info, info, store=target)
    metrics = [MetricSummary.from_delta(d) for d in session.metric_deltas.values()]
    steps: dict[str, int] = {}
    for step in session.steps:
        scoped = compare_runs(info, info, step=step, store=target)
        steps[step] = len(scoped.common_datapoints)
        metrics.extend(MetricSummary.from_delta(d) for d in scoped.metric_deltas.values())
    shown = session.common_datapoints[: max(result_limit, 0)]
    results = get_results(info, shown, store=target) if shown else []
    return RunOverview(
        run=info, metrics=metrics, steps=steps, results=results, shown_datapoints=len(shown)
    )
