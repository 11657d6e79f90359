"""The datapoint table of a run page: which rows, and what each row shows (pure).

:func:`plan_table` filters with the comparison's own id lists, sorts and pages on columns
(:mod:`.table`), and names the ids of the page; the handler reads those results only, and
:func:`table_view` turns them into rows: an input excerpt, both outputs (clipped, or diffed
word by word when Diff is on), both values of the metric and the change marker.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalyard.core.columns import ScopeValues, merge_kinds
from evalyard.core.compare import MetricDelta, RunComparisonResult
from evalyard.core.diff import Diff, DiffLevel, diff_texts, diff_values
from evalyard.core.formats import (
    MISSING,
    clip,
    compact_json,
    format_delta,
    format_value,
    unit_of,
    value_text,
)
from evalyard.core.model import Direction, MetricKind, Result
from evalyard.core.words import STATUS_WORDS
from evalyard.server.web.parts import Number, Pagination, make_number, make_pagination
from evalyard.server.web.query import RunQuery, datapoint_path
from evalyard.server.web.table import PAGE_SIZE, Frame, PageSlice, order_rows, page_slice
from evalyard.server.web.traces import step_outputs

__all__ = [
    "INPUT_EXCERPT_LIMIT",
    "TABLE_DIFF_LIMIT",
    "TABLE_TEXT_LIMIT",
    "OutputCell",
    "SortHeader",
    "TablePlan",
    "TableRow",
    "TableView",
    "datapoint_status",
    "plan_table",
    "resolve_metric",
    "status_label",
    "table_view",
    "value_number",
]

#: Characters of an output shown in a table cell (the datapoint page shows it all).
TABLE_TEXT_LIMIT = 280
#: Characters of each output diffed in a table row.
TABLE_DIFF_LIMIT = 1_500
#: Characters of an input excerpt in a table row.
INPUT_EXCERPT_LIMIT = 120


def resolve_metric(
    names: Sequence[str], kinds: Mapping[str, MetricKind], wanted: str | None
) -> tuple[str | None, str | None]:
    """The table's metric: ``wanted`` when the scope has it, else the first non-category
    metric (else the first). Returns ``(metric, notice)``; the notice says why ``wanted``
    was not used."""
    default = next((n for n in names if kinds.get(n) is not MetricKind.STRING), None)
    if default is None and names:
        default = names[0]
    if wanted is None:
        return default, None
    if wanted in names:
        return wanted, None
    if default is None:
        return None, f"metric {wanted!r} is not recorded here: no metrics at this level"
    return default, f"metric {wanted!r} is not recorded at this level; showing {default!r}"


@dataclass(frozen=True, slots=True)
class TablePlan:
    """Which datapoints the table's page shows, before their results are read."""

    metric: str | None
    """The metric whose values the table shows, sorts and filters by."""
    kind: MetricKind
    """That metric's kind across both runs."""
    direction: Direction
    """Which way it gets better."""
    rows: np.ndarray[Any, np.dtype[np.int64]]
    """The frame rows of the page, in order."""
    ids: list[str]
    """Their datapoint ids."""
    part: PageSlice
    """Where the page is among all the filtered rows."""
    new_values: np.ndarray[Any, Any]
    """This run's value of the metric on every frame row (NaN or None when missing)."""
    old_values: np.ndarray[Any, Any]
    """The baseline's value on every frame row."""


def plan_table(
    frame: Frame,
    query: RunQuery,
    *,
    metric: str | None,
    new: ScopeValues,
    old: ScopeValues | None,
    comparison: RunComparisonResult | None,
    direction: Direction = Direction.HIGHER,
) -> TablePlan:
    """Filter (with the comparison's id lists), sort and page the table's rows."""
    new_col = new.columns.get(metric) if metric else None
    old_col = old.columns.get(metric) if (metric and old is not None) else None
    kinds = [c.kind for c in (new_col, old_col) if c is not None]
    kind = MetricKind.NUMBER if not kinds else kinds[0]
    if len(kinds) == 2:
        kind = merge_kinds(kinds[0], kinds[1])
    if new_col is not None:
        new_col = new_col.as_kind(kind)
    if old_col is not None:
        old_col = old_col.as_kind(kind)
    rows = frame.all_rows()
    if comparison is not None and query.show != "all":
        delta = comparison.metric_deltas.get(metric) if metric else None
        lists: dict[str, Sequence[str]] = {
            "new_only": comparison.new_only_datapoints,
            "old_only": comparison.old_only_datapoints,
            "improved": delta.improved if delta else [],
            "regressed": delta.degraded if delta else [],
            "unchanged": delta.same if delta else [],
        }
        rows = frame.rows_of(lists[query.show])
    new_values = frame.values(new_col)
    old_values = frame.values(old_col, baseline=True)
    key = query.sort_key
    if key == "delta" and kind is MetricKind.STRING:
        key = "id"
    ordered = order_rows(
        rows,
        key=key,
        descending=query.descending,
        new_values=new_values,
        old_values=old_values,
        natural=frame.natural_rank(),
    )
    part = page_slice(len(ordered), query.page)
    page_rows = ordered[part.start : part.stop]
    ids = [frame.ids[i] for i in page_rows.tolist()]
    return TablePlan(metric, kind, direction, page_rows, ids, part, new_values, old_values)


@dataclass(frozen=True, slots=True)
class OutputCell:
    """An output as a table cell shows it."""

    text: str
    """The output as text, clipped for the table."""
    truncated: bool
    """Whether it was clipped."""
    error: str | None
    """The error of the result, if it had one."""
    missing: bool = False
    """Whether the run has no output here (the text then says why)."""


@dataclass(frozen=True, slots=True)
class TableRow:
    """A row of the datapoint table."""

    datapoint_id: str
    """The datapoint's id."""
    url: str
    """Its datapoint page, in the same state."""
    inputs: str
    """An excerpt of its inputs."""
    new_output: OutputCell
    """This run's output."""
    old_output: OutputCell | None
    """The baseline's output, or None on a run's own page."""
    diff: Diff | None
    """Both outputs' differences, when Diff is on and both exist."""
    new_value: Number
    """This run's value of the metric."""
    old_value: Number
    """The baseline's value of the metric."""
    delta: Number
    """This run's value minus the baseline's."""
    status: str
    """improved, regressed, unchanged, changed, new_only, old_only or missing."""
    status_label: str
    """The status as words with a symbol (a second cue besides colour)."""
    epochs: int
    """How many epochs the datapoint has."""
    data: dict[str, Any] = field(default_factory=dict, repr=False)
    """The row as exact JSON data (the page's JSON twin)."""


@dataclass(frozen=True, slots=True)
class SortHeader:
    """A sortable column header."""

    label: str
    """The column's name."""
    url: str
    """The page sorted by this column (toggling the direction when it already is)."""
    aria_sort: str
    """``ascending``, ``descending`` or ``none``."""
    arrow: str
    """▲ or ▼ on the sorted column."""


@dataclass(frozen=True, slots=True)
class TableView:
    """The datapoint table."""

    metric: str | None
    """The metric shown."""
    kind: str
    """Its kind."""
    rows: list[TableRow]
    """The rows of this page."""
    pagination: Pagination
    """Where this page is."""
    headers: dict[str, SortHeader]
    """The sortable headers, by sort key."""
    empty_message: str
    """What to say when no row matches."""
    comparing: bool
    """Whether a baseline is chosen."""
    diff: bool
    """Whether Diff is on."""
    step: str | None
    """The step the table is scoped to, or None."""
    show: str = "all"
    """Which datapoints it shows (a key of ``SHOW_OPTIONS``)."""
    sort: str = "id"
    """Its order (a key of ``SORT_KEYS``, ``-`` first for descending)."""

    def to_json(self) -> dict[str, Any]:
        """The table's page as exact JSON data (what the page's JSON twin carries)."""
        part = self.pagination
        return {
            "metric": self.metric,
            "show": self.show,
            "sort": self.sort,
            "page": part.page,
            "page_count": part.page_count,
            "page_size": PAGE_SIZE,
            "total": part.total,
            "rows": [row.data for row in self.rows],
        }


def status_label(status: str) -> str:
    """A datapoint's status in words, with its symbol (see ``core.words.STATUS_WORDS``)."""
    return STATUS_WORDS[status].text


def datapoint_status(
    datapoint_id: str, delta: MetricDelta | None, in_new: bool, in_old: bool
) -> str:
    """How a datapoint fared on a metric, read from the comparison's sorted id lists."""
    if not in_old:
        return "new_only"
    if not in_new:
        return "old_only"
    if delta is None:
        return "missing"
    for status, ids in (
        ("improved", delta.improved),
        ("regressed", delta.degraded),
        ("unchanged", delta.same),
        ("changed", delta.changed),
    ):
        at = bisect.bisect_left(ids, datapoint_id)
        if at < len(ids) and ids[at] == datapoint_id:
            return status
    return "missing"


def _output_of(results: list[Result] | None, step: str | None) -> tuple[bool, Any, str | None]:
    """``(present, outputs, error)`` of a datapoint's first epoch, at the scope."""
    if not results:
        return False, None, None
    first = results[0]
    if step is None:
        return True, first.outputs, first.error
    found, outputs = step_outputs(first.steps, step)
    return found, outputs, first.error


def _cell(present: bool, outputs: Any, error: str | None) -> OutputCell:
    if not present:
        return OutputCell(MISSING, False, None, missing=True)
    # One line of JSON reads better in a table cell than the pretty-printed form.
    text = outputs if isinstance(outputs, str) else compact_json(outputs)
    text, truncated = clip(text, TABLE_TEXT_LIMIT)
    return OutputCell(text, truncated, error)


def _diff_cell(old: Any, new: Any) -> Diff:
    if isinstance(old, str) and isinstance(new, str):
        return diff_values(clip(old, TABLE_DIFF_LIMIT)[0], clip(new, TABLE_DIFF_LIMIT)[0])
    old_text, new_text = value_text(old), value_text(new)
    if len(old_text) <= TABLE_DIFF_LIMIT and len(new_text) <= TABLE_DIFF_LIMIT:
        return diff_values(old, new)
    return diff_texts(
        clip(old_text, TABLE_DIFF_LIMIT)[0],
        clip(new_text, TABLE_DIFF_LIMIT)[0],
        level=DiffLevel.LINE,
    )


def _inputs_excerpt(results: list[Result] | None) -> str:
    if not results:
        return ""
    inputs = results[0].inputs
    if isinstance(inputs, Mapping) and len(inputs) == 1:
        inputs = next(iter(inputs.values()))
    text = value_text(inputs)
    return clip(" ".join(text.split()), INPUT_EXCERPT_LIMIT)[0]


def table_view(
    plan: TablePlan,
    query: RunQuery,
    *,
    path: str,
    frame: Frame,
    run_id: str,
    comparison: RunComparisonResult | None,
    results_new: Mapping[str, list[Result]],
    results_old: Mapping[str, list[Result]],
) -> TableView:
    """The rows of the table's page, with their outputs, values and change markers."""
    delta = comparison.metric_deltas.get(plan.metric) if (comparison and plan.metric) else None
    kind = plan.kind.value
    unit = unit_of(plan.metric)
    rows = []
    for row, datapoint_id in zip(plan.rows.tolist(), plan.ids, strict=True):
        in_new = bool(frame.new_rows[row] >= 0)
        in_old = bool(frame.old_rows[row] >= 0)
        new_results = results_new.get(datapoint_id)
        old_results = results_old.get(datapoint_id)
        new_present, new_out, new_error = _output_of(new_results, query.step)
        old_present, old_out, old_error = _output_of(old_results, query.step)
        new_v = plan.new_values[row]
        old_v = plan.old_values[row]
        status = datapoint_status(datapoint_id, delta, in_new, in_old) if comparison else "missing"
        diff = None
        if comparison is not None and query.diff and new_present and old_present:
            diff = _diff_cell(old_out, new_out)
        delta_value: float | None = None
        if plan.kind is not MetricKind.STRING and new_v == new_v and old_v == old_v:
            delta_value = float(new_v) - float(old_v)
        css = {"improved": "better", "regressed": "worse", "changed": "changed"}.get(status, "")
        data: dict[str, Any] = {
            "datapoint_id": datapoint_id,
            "inputs": _first(new_results or old_results, "inputs"),
            "value": _plain(new_v),
            "outputs": new_out if new_present else None,
        }
        if comparison is not None:
            data["baseline_value"] = _plain(old_v)
            data["baseline_outputs"] = old_out if old_present else None
            data["status"] = None if status == "missing" else status
        rows.append(
            TableRow(
                datapoint_id=datapoint_id,
                url=query.url(
                    datapoint_path(run_id, datapoint_id),
                    metric=None,
                    show="all",
                    sort="id",
                    page=1,
                    diff=False,
                ),
                inputs=_inputs_excerpt(new_results or old_results),
                new_output=_cell(new_present, new_out, new_error)
                if in_new
                else OutputCell("not in this run", False, None, missing=True),
                old_output=(
                    None
                    if comparison is None
                    else _cell(old_present, old_out, old_error)
                    if in_old
                    else OutputCell("not in baseline", False, None, missing=True)
                ),
                diff=diff,
                new_value=value_number(new_v, plan.kind, plan.direction, unit=unit),
                old_value=value_number(old_v, plan.kind, plan.direction, unit=unit),
                # Per datapoint a bool moves by whole passes (or pass fractions over epochs).
                delta=make_number(
                    delta_value,
                    format_delta(
                        delta_value, kind=MetricKind.NUMBER, aggregate_function=None, unit=unit
                    ),
                    css=css,
                ),
                status=status,
                status_label=status_label(status),
                epochs=len(new_results or old_results or []),
                data=data,
            )
        )
    hidden = query.pairs(metric=plan.metric)
    pagination = make_pagination(
        plan.part, lambda page: query.url(path, fragment="datapoints", page=page), hidden
    )
    headers = {}
    labels = {"id": "Datapoint", "value": "This run", "baseline": "Baseline", "delta": "Change"}
    for key, label in labels.items():
        current = query.sort_key == key
        descending = query.descending if current else key != "id"
        next_sort = (
            (key if descending else "-" + key) if current else ("-" + key if descending else key)
        )
        aria = ("descending" if descending else "ascending") if current else "none"
        arrow = ("▼" if descending else "▲") if current else ""
        headers[key] = SortHeader(
            label,
            query.url(path, fragment="datapoints", sort=next_sort, page=1, metric=plan.metric),
            aria,
            arrow,
        )
    return TableView(
        metric=plan.metric,
        kind=kind,
        rows=rows,
        pagination=pagination,
        headers=headers,
        empty_message=_empty_message(query, plan.metric, comparison),
        comparing=comparison is not None,
        diff=query.diff,
        step=query.step,
        show=query.show,
        sort=query.sort,
    )


def _plain(value: Any) -> Any:
    """A numpy scalar as plain JSON data (NaN as None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _first(results: list[Result] | None, name: str) -> Any:
    return getattr(results[0], name) if results else None


def value_number(
    value: Any,
    kind: MetricKind,
    direction: Direction = Direction.HIGHER,
    *,
    unit: str | None = None,
) -> Number:
    """A datapoint's value of a metric as shown: pass/fail (ok / not ok when lower is
    better), a number (in ``unit``), a category."""
    if value is None or (isinstance(value, float) and value != value):
        return Number(MISSING, None, "muted")
    if kind is MetricKind.STRING:
        return Number(str(value), None)
    shown = format_value(float(value), kind=kind, direction=direction, unit=unit)
    return make_number(float(value), shown)


def _empty_message(
    query: RunQuery, metric: str | None, comparison: RunComparisonResult | None
) -> str:
    if comparison is None:
        return "This run has no datapoints at this level yet."
    on = f" on {metric}" if metric else ""
    return {
        "all": "Neither run has datapoints at this level.",
        "improved": f"No datapoint improved{on}.",
        "regressed": f"No datapoint regressed{on}.",
        "unchanged": f"No datapoint stayed the same{on}.",
        "new_only": "Every datapoint of this run is in the baseline too.",
        "old_only": "Every datapoint of the baseline is in this run too.",
    }[query.show]
