"""The datapoint page: inputs, ground truth, both outputs with their diff, per-datapoint
metrics and both traces side by side (pure)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalyard.core.columns import ScopeValues
from evalyard.core.diff import Diff, diff_values
from evalyard.core.formats import MISSING, clip, format_delta, format_number, unit_of, value_text
from evalyard.core.model import Direction, MetricKind, Result, RunInfo
from evalyard.server.reader import Comparison
from evalyard.server.web.datapoints import datapoint_status, status_label, value_number
from evalyard.server.web.parts import Number, Option, RunHeader, make_number, run_header
from evalyard.server.web.query import RunQuery, datapoint_path, run_path
from evalyard.server.web.traces import StepPair, pair_traces

__all__ = [
    "DETAIL_TEXT_LIMIT",
    "DatapointMetric",
    "DatapointSide",
    "DatapointView",
    "datapoint_view",
]

#: Characters of each output shown (and diffed) on a datapoint page.
DETAIL_TEXT_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class DatapointMetric:
    """A metric of a datapoint in both runs."""

    metric: str
    """The metric's name."""
    old: Number
    """The baseline's value (epochs averaged)."""
    new: Number
    """This run's value."""
    delta: Number
    """This run's value minus the baseline's."""
    status: str
    """improved, regressed, unchanged, changed, new_only, old_only or missing."""
    status_label: str
    """The status in words, with a symbol."""


@dataclass(frozen=True, slots=True)
class DatapointSide:
    """One run's result of the datapoint (one epoch)."""

    header: RunHeader
    """The run."""
    present: bool
    """Whether the run has this datapoint (at this epoch)."""
    outputs: str
    """Its output as text."""
    truncated: bool
    """Whether the text was cut."""
    error: str | None
    """Its error, if any."""
    duration: str | None
    """How long it took, as text."""


@dataclass(frozen=True, slots=True)
class DatapointView:
    """A datapoint's page: inputs, ground truth, both outputs, metrics and traces."""

    datapoint_id: str
    """The datapoint's id."""
    back_url: str
    """The run (or comparison) page it came from."""
    query: RunQuery
    """The page's state."""
    inputs: str
    """The inputs as text."""
    ground_truth: str | None
    """The ground truth as text, if any."""
    metadata: str | None
    """The datapoint's metadata as text, if any."""
    new: DatapointSide
    """This run's result."""
    old: DatapointSide | None
    """The baseline's result, when comparing."""
    diff: Diff | None
    """The outputs' differences, when both exist."""
    metrics: list[DatapointMetric]
    """Each metric in both runs."""
    traces: list[StepPair]
    """Both traces, step by step."""
    epochs: list[Option]
    """Links to each epoch."""
    epoch: int
    """The epoch shown."""
    step: str | None
    """The step the metrics are scoped to, or None."""
    api_url: str
    """The JSON twin of the page."""
    notices: list[str]
    """What the page changed in the request, and why."""
    data: dict[str, Any] = field(default_factory=dict, repr=False)
    """The datapoint's results in both runs, as exact JSON data."""

    def to_json(self) -> dict[str, Any]:
        """The page's JSON twin: both runs and the datapoint's results (every epoch)."""
        return self.data


def _pick_epoch(results: list[Result] | None, epoch: int) -> Result | None:
    if not results:
        return None
    return next((r for r in results if r.epoch == epoch), None)


def _side(info: RunInfo, result: Result | None) -> DatapointSide:
    if result is None:
        return DatapointSide(run_header(info), False, "", False, None, None)
    text, truncated = clip(value_text(result.outputs), DETAIL_TEXT_LIMIT)
    duration = None if result.duration_ms is None else f"{format_number(result.duration_ms)} ms"
    return DatapointSide(run_header(info), True, text, truncated, result.error, duration)


def datapoint_view(
    info: RunInfo,
    datapoint_id: str,
    query: RunQuery,
    *,
    results_new: list[Result],
    baseline: RunInfo | None,
    results_old: list[Result],
    comparison: Comparison | None,
    values: ScopeValues | None,
    directions: Mapping[str, Direction] | None = None,
    notices: Sequence[str] = (),
) -> DatapointView:
    """A datapoint of a run, compared with the baseline's when there is one."""
    epochs = sorted({r.epoch for r in results_new} | {r.epoch for r in results_old})
    epoch = query.epoch if query.epoch is not None else (epochs[0] if epochs else 0)
    new_result = _pick_epoch(results_new, epoch)
    old_result = _pick_epoch(results_old, epoch)
    either = new_result or old_result
    diff = None
    if new_result is not None and old_result is not None and baseline is not None:
        diff = diff_values(_detail(old_result.outputs), _detail(new_result.outputs))
    ground = (
        None if either is None or either.ground_truth is None else value_text(either.ground_truth)
    )
    metadata = None if either is None or either.metadata is None else value_text(either.metadata)
    path = datapoint_path(info.run_id, datapoint_id)
    return DatapointView(
        datapoint_id=datapoint_id,
        back_url=query.url(run_path(info.run_id), fragment="datapoints", epoch=None),
        query=query,
        inputs=value_text(None if either is None else either.inputs),
        ground_truth=ground,
        metadata=metadata,
        new=_side(info, new_result),
        old=None if baseline is None else _side(baseline, old_result),
        diff=diff,
        metrics=_datapoint_metrics(datapoint_id, comparison, values, directions or {}),
        traces=pair_traces(
            None if old_result is None or baseline is None else old_result.steps,
            None if new_result is None else new_result.steps,
        ),
        epochs=[Option(query.url(path, epoch=e), f"epoch {e}", e == epoch) for e in epochs],
        epoch=epoch,
        step=query.step,
        api_url="/api/v1" + query.url(path, metric=None, show="all", sort="id", page=1, diff=False),
        notices=list(notices),
        data={
            "datapoint_id": datapoint_id,
            "run": info.to_dict(),
            "results": [r.to_dict() for r in results_new],
            "baseline": None if baseline is None else baseline.to_dict(),
            "baseline_results": [r.to_dict() for r in results_old],
            "notices": list(notices),
        },
    )


def _detail(value: Any) -> Any:
    if isinstance(value, str):
        return clip(value, DETAIL_TEXT_LIMIT)[0]
    text = value_text(value)
    return value if len(text) <= DETAIL_TEXT_LIMIT else clip(text, DETAIL_TEXT_LIMIT)[0]


def _datapoint_metrics(
    datapoint_id: str,
    comparison: Comparison | None,
    values: ScopeValues | None,
    directions: Mapping[str, Direction],
) -> list[DatapointMetric]:
    """Each metric's per-datapoint value (epochs averaged) in both runs, and its status."""
    out = []
    if comparison is not None:
        frame = comparison.frame
        rows = frame.rows_of([datapoint_id])
        if not len(rows):
            return []
        row = int(rows[0])
        for name, delta in comparison.result.metric_deltas.items():
            new_col = comparison.new.columns.get(name)
            old_col = comparison.old.columns.get(name)
            kind = delta.kind
            a = frame.values(None if new_col is None else new_col.as_kind(kind))[row]
            b = frame.values(None if old_col is None else old_col.as_kind(kind), baseline=True)[row]
            in_new, in_old = bool(frame.new_rows[row] >= 0), bool(frame.old_rows[row] >= 0)
            status = datapoint_status(datapoint_id, delta, in_new, in_old)
            d = None
            if kind is not MetricKind.STRING and a == a and b == b:
                d = float(a) - float(b)
            css = {"improved": "better", "regressed": "worse", "changed": "changed"}.get(status, "")
            out.append(
                DatapointMetric(
                    name,
                    value_number(b, kind, delta.direction, unit=unit_of(name)),
                    value_number(a, kind, delta.direction, unit=unit_of(name)),
                    make_number(
                        d,
                        format_delta(
                            d, kind=MetricKind.NUMBER, aggregate_function=None, unit=unit_of(name)
                        ),
                        css=css,
                    ),
                    status,
                    status_label(status),
                )
            )
        return out
    if values is None:
        return []
    at = bisect.bisect_left(values.ids, datapoint_id)
    if at >= len(values.ids) or values.ids[at] != datapoint_id:
        return []
    for name, column in values.columns.items():
        v = column.values[at]
        out.append(
            DatapointMetric(
                name,
                Number(MISSING),
                value_number(
                    v, column.kind, directions.get(name, Direction.HIGHER), unit=unit_of(name)
                ),
                Number(""),
                "missing",
                "",
            )
        )
    return out
