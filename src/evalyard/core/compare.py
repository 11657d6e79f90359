"""The comparison of two runs (SPEC §2): shared datapoints, aggregates, per-datapoint changes.

Pure: it takes each run's values at one scope (:class:`~evalyard.core.columns.ScopeValues`)
and the project's metric definitions, and returns plain values. The store, the CLI and the
UI all go through :func:`compare_scopes`, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from evalyard.core.aggregate import aggregate, check_aggregate_function
from evalyard.core.columns import MetricColumn, ScopeValues, merge_kinds, present_mask
from evalyard.core.model import Direction, MetricDefinition, MetricKind, RunInfo, default_direction

__all__ = ["MetricDelta", "RunComparisonResult", "ScopeComparison", "compare_scopes"]

# Differences this small relative to the values compared are float rounding (epoch means,
# pass fractions), not change.
_RELATIVE_EPSILON = 1e-12


@dataclass(frozen=True, slots=True)
class MetricDelta:
    """How one metric moved between the baseline (old) run and the new run."""

    metric: str
    """The metric's name."""
    step: str | None
    """The step the comparison is scoped to, or None for the session (result) level."""
    kind: MetricKind
    """number, bool or string."""
    direction: Direction
    """Which way is better, from the project's metric definition (or the default)."""
    tolerance: float
    """Absolute change still counted as the same."""
    aggregate_function: str
    """The aggregate function of ``old_aggregate`` and ``new_aggregate``."""
    old_aggregate: float | None
    """The aggregate over every datapoint of the old run having the metric."""
    new_aggregate: float | None
    """The aggregate over every datapoint of the new run having the metric."""
    delta: float | None
    """``new_aggregate − old_aggregate``."""
    percent_change: float | None
    """``delta / |old_aggregate| × 100``; None when the old aggregate is 0 or None."""
    old_count: int
    """Datapoints of the old run having the metric."""
    new_count: int
    """Datapoints of the new run having the metric."""
    found_count: int
    """Common datapoints having the metric in both runs."""
    improved_count: int
    """Common datapoints where the metric got better by more than the tolerance."""
    degraded_count: int
    """Common datapoints where the metric got worse by more than the tolerance."""
    same_count: int
    """Common datapoints where the metric stayed within the tolerance (equal, for ``none``)."""
    changed_count: int
    """Datapoints of a ``none``-direction or string metric whose value changed."""
    improved: list[str] = field(repr=False)
    """The ids counted in ``improved_count``, sorted."""
    degraded: list[str] = field(repr=False)
    """The ids counted in ``degraded_count``, sorted."""
    same: list[str] = field(repr=False)
    """The ids counted in ``same_count``, sorted."""
    changed: list[str] = field(repr=False)
    """The ids counted in ``changed_count``, sorted."""

    def to_dict(self) -> dict[str, Any]:
        """The delta as JSON-serialisable data."""
        return {
            "metric": self.metric,
            "step": self.step,
            "kind": self.kind.value,
            "direction": self.direction.value,
            "tolerance": self.tolerance,
            "aggregate_function": self.aggregate_function,
            "old_aggregate": self.old_aggregate,
            "new_aggregate": self.new_aggregate,
            "delta": self.delta,
            "percent_change": self.percent_change,
            "old_count": self.old_count,
            "new_count": self.new_count,
            "found_count": self.found_count,
            "improved_count": self.improved_count,
            "degraded_count": self.degraded_count,
            "same_count": self.same_count,
            "changed_count": self.changed_count,
            "improved": self.improved,
            "degraded": self.degraded,
            "same": self.same,
            "changed": self.changed,
        }


@dataclass(frozen=True, slots=True)
class ScopeComparison:
    """What :func:`compare_scopes` finds: the datapoint sets and each metric's delta."""

    common_datapoints: list[str]
    """Ids present in both runs, sorted."""
    new_only_datapoints: list[str]
    """Ids present only in the new run, sorted."""
    old_only_datapoints: list[str]
    """Ids present only in the old run, sorted."""
    metric_deltas: dict[str, MetricDelta]
    """One delta per metric present in either run, by name (sorted)."""


@dataclass(frozen=True, slots=True)
class RunComparisonResult:
    """The comparison of a new run with an old (baseline) run: what ``compare_runs`` returns.

    Example:
        >>> cmp = evalyard.compare_runs("gpt-4o-temp-0.3", "gpt-4o-temp-0.7")  # doctest: +SKIP
        >>> cmp.get_metric_delta("accuracy").degraded  # doctest: +SKIP
        ['q17', 'q42']
    """

    new_run_id: str
    """The new run's id."""
    old_run_id: str
    """The old (baseline) run's id."""
    step: str | None
    """The step the comparison is scoped to, or None for the session level."""
    aggregate_function: str
    """The aggregate function used for the aggregates."""
    common_datapoints: list[str]
    """Ids present in both runs (at this scope), sorted."""
    new_only_datapoints: list[str]
    """Ids present only in the new run, sorted."""
    old_only_datapoints: list[str]
    """Ids present only in the old run, sorted."""
    metric_deltas: dict[str, MetricDelta]
    """One delta per metric present in either run, by name."""
    steps: list[str]
    """The names of the steps present in either run, sorted."""
    new_run: RunInfo | None = None
    """The new run's description, when the comparison came from a store."""
    old_run: RunInfo | None = None
    """The old run's description, when the comparison came from a store."""

    def get_metric_delta(self, name: str) -> MetricDelta | None:
        """The delta of metric ``name``, or None when neither run has it."""
        return self.metric_deltas.get(name)

    def list_improved_metrics(self) -> list[str]:
        """Names of the metrics where at least one datapoint improved."""
        return [name for name, d in self.metric_deltas.items() if d.improved_count > 0]

    def list_degraded_metrics(self) -> list[str]:
        """Names of the metrics where at least one datapoint degraded."""
        return [name for name, d in self.metric_deltas.items() if d.degraded_count > 0]

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-serialisable data (``evalyard compare --format json``)."""
        return {
            "new_run_id": self.new_run_id,
            "old_run_id": self.old_run_id,
            "new_run": None if self.new_run is None else self.new_run.to_dict(),
            "old_run": None if self.old_run is None else self.old_run.to_dict(),
            "step": self.step,
            "aggregate_function": self.aggregate_function,
            "steps": self.steps,
            "common_datapoints": self.common_datapoints,
            "new_only_datapoints": self.new_only_datapoints,
            "old_only_datapoints": self.old_only_datapoints,
            "improved_metrics": self.list_improved_metrics(),
            "degraded_metrics": self.list_degraded_metrics(),
            "metric_deltas": {name: d.to_dict() for name, d in self.metric_deltas.items()},
        }


def compare_scopes(
    new: ScopeValues,
    old: ScopeValues,
    *,
    definitions: Mapping[str, MetricDefinition],
    aggregate_function: str = "average",
    step: str | None = None,
) -> ScopeComparison:
    """Compare two runs' values at one scope, following SPEC §2 to the letter."""
    check_aggregate_function(aggregate_function)
    old_index = {datapoint_id: i for i, datapoint_id in enumerate(old.ids)}
    match = np.fromiter(
        (old_index.get(datapoint_id, -1) for datapoint_id in new.ids),
        dtype=np.int64,
        count=len(new.ids),
    )
    new_rows = np.flatnonzero(match >= 0)
    old_rows = match[new_rows]
    new_ids = np.array(new.ids, dtype=object)
    common_ids = new_ids[new_rows]
    old_matched = np.zeros(len(old.ids), dtype=bool)
    old_matched[old_rows] = True
    # ScopeValues ids are sorted, so these selections are sorted too.
    common = common_ids.tolist()
    new_only = new_ids[match < 0].tolist()
    old_only = np.array(old.ids, dtype=object)[~old_matched].tolist()

    deltas: dict[str, MetricDelta] = {}
    for name in sorted(set(new.columns) | set(old.columns)):
        deltas[name] = _metric_delta(
            name,
            new.columns.get(name),
            old.columns.get(name),
            new_rows=new_rows,
            old_rows=old_rows,
            common_ids=common_ids,
            definition=definitions.get(name),
            aggregate_function=aggregate_function,
            step=step,
        )
    return ScopeComparison(common, new_only, old_only, deltas)


def _metric_delta(
    name: str,
    new: MetricColumn | None,
    old: MetricColumn | None,
    *,
    new_rows: npt.NDArray[np.int64],
    old_rows: npt.NDArray[np.int64],
    common_ids: npt.NDArray[np.object_],
    definition: MetricDefinition | None,
    aggregate_function: str,
    step: str | None,
) -> MetricDelta:
    if new is not None and old is not None:
        kind = merge_kinds(new.kind, old.kind)
    else:
        kind = (new or old).kind  # type: ignore[union-attr]
    if kind is MetricKind.STRING:
        direction = Direction.NONE
        tolerance = 0.0
    elif definition is not None:
        direction, tolerance = definition.direction, definition.tolerance
    else:
        direction, tolerance = default_direction(kind), 0.0

    new_values = _values_as(new, kind)
    old_values = _values_as(old, kind)
    new_present = present_mask(new_values, kind)
    old_present = present_mask(old_values, kind)
    new_aggregate = old_aggregate = None
    if kind is not MetricKind.STRING:
        new_aggregate = aggregate(new_values[new_present].astype(np.float64), aggregate_function)
        old_aggregate = aggregate(old_values[old_present].astype(np.float64), aggregate_function)
    delta = percent = None
    if new_aggregate is not None and old_aggregate is not None:
        delta = new_aggregate - old_aggregate
        percent = delta / abs(old_aggregate) * 100 if old_aggregate != 0 else None

    if new_values.size and old_values.size:
        a = new_values[new_rows]
        b = old_values[old_rows]
        found = new_present[new_rows] & old_present[old_rows]
    else:
        a = b = np.zeros(len(new_rows), dtype=new_values.dtype)  # type: ignore[assignment]
        found = np.zeros(len(new_rows), dtype=bool)
    found_ids = common_ids[found]
    a, b = a[found], b[found]
    improved = degraded = np.zeros(len(found_ids), dtype=bool)
    if kind is MetricKind.STRING:
        same = np.fromiter((x == y for x, y in zip(a, b, strict=True)), dtype=bool, count=len(a))
    else:
        a = a.astype(np.float64)
        b = b.astype(np.float64)
        d = a - b
        slack = tolerance + _RELATIVE_EPSILON * np.maximum(np.abs(a), np.abs(b))
        if direction is Direction.NONE:
            same = np.abs(d) <= _RELATIVE_EPSILON * np.maximum(np.abs(a), np.abs(b))
        else:
            better = d > slack
            worse = d < -slack
            improved, degraded = (
                (better, worse) if direction is Direction.HIGHER else (worse, better)
            )
            same = ~(improved | degraded)
    changed = ~(improved | degraded | same)
    return MetricDelta(
        metric=name,
        step=step,
        kind=kind,
        direction=direction,
        tolerance=tolerance,
        aggregate_function=aggregate_function,
        old_aggregate=old_aggregate,
        new_aggregate=new_aggregate,
        delta=delta,
        percent_change=percent,
        old_count=int(old_present.sum()),
        new_count=int(new_present.sum()),
        found_count=len(found_ids),
        improved_count=int(improved.sum()),
        degraded_count=int(degraded.sum()),
        same_count=int(same.sum()),
        changed_count=int(changed.sum()),
        improved=found_ids[improved].tolist(),
        degraded=found_ids[degraded].tolist(),
        same=found_ids[same].tolist(),
        changed=found_ids[changed].tolist(),
    )


def _values_as(
    column: MetricColumn | None, kind: MetricKind
) -> npt.NDArray[np.float64] | npt.NDArray[np.object_]:
    if column is None:
        return np.zeros(0, dtype=object if kind is MetricKind.STRING else np.float64)
    return column.as_kind(kind).values
