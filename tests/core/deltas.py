"""Comparisons built in the test, without a store: for the renderers and the report."""

from __future__ import annotations

from typing import Any

from evalyard.core.compare import MetricDelta, RunComparisonResult
from evalyard.core.model import Direction, MetricKind, RunInfo, RunStatus


def delta(metric: str = "accuracy", **fields: Any) -> MetricDelta:
    values: dict[str, Any] = {
        "metric": metric,
        "step": None,
        "kind": MetricKind.NUMBER,
        "direction": Direction.HIGHER,
        "tolerance": 0.0,
        "aggregate_function": "average",
        "old_aggregate": 0.5,
        "new_aggregate": 0.75,
        "delta": 0.25,
        "percent_change": 50.0,
        "old_count": 2,
        "new_count": 2,
        "found_count": 2,
        "improved_count": 1,
        "degraded_count": 0,
        "same_count": 1,
        "changed_count": 0,
        "improved": ["q1"],
        "degraded": [],
        "same": ["q2"],
        "changed": [],
    }
    values.update(fields)
    return MetricDelta(**values)


def run_info(name: str, run_id: str, **metadata: Any) -> RunInfo:
    return RunInfo(
        run_id=run_id,
        name=name,
        project="default",
        status=RunStatus.COMPLETED,
        created_at=1_700_000_000.0,
        finished_at=1_700_000_060.0,
        dataset="qa",
        metadata=metadata,
        result_count=2,
        datapoint_count=2,
    )


def comparison(*deltas: MetricDelta) -> RunComparisonResult:
    return RunComparisonResult(
        new_run_id="n" * 32,
        old_run_id="o" * 32,
        step=None,
        aggregate_function="average",
        common_datapoints=["q1", "q2"],
        new_only_datapoints=[],
        old_only_datapoints=["q3"],
        metric_deltas={d.metric: d for d in deltas},
        steps=[],
        new_run=run_info("new", "n" * 32, model="large"),
        old_run=run_info("old", "o" * 32, model="small"),
    )
