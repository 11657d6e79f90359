"""Two traces side by side: steps paired by their place in the tree (pure).

A step is matched with the step of the other trace that has the same name and the same
occurrence among its siblings, under matched parents; unmatched steps get an empty cell
on the other side. The pairs come out in reading order (depth first), each with its depth,
so a template draws both trees as aligned rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evalyard.core.diff import Diff, diff_values
from evalyard.core.formats import clip, format_number, format_value, value_text

__all__ = ["StepPair", "StepView", "pair_traces", "step_outputs"]

#: Characters of a step's inputs or outputs shown in a trace.
STEP_TEXT_LIMIT = 4_000
#: Deepest level of a trace drawn.
MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class StepView:
    """One step of one trace, ready to show."""

    name: str
    """The step's name."""
    type: str
    """model, tool, chain or other."""
    metrics: list[tuple[str, str]]
    """``(metric, value as text)``, by metric name."""
    inputs: str
    """The step's inputs as text (clipped)."""
    outputs: str
    """The step's outputs as text (clipped)."""
    error: str | None
    """The step's error, if it had one."""
    duration: str | None
    """How long it took, as text, when known."""


@dataclass(frozen=True, slots=True)
class StepPair:
    """A row of the side-by-side traces: the baseline's step and this run's, or one alone."""

    depth: int
    """Nesting level, from 0."""
    name: str
    """The steps' name."""
    old: StepView | None
    """The baseline's step, or None."""
    new: StepView | None
    """This run's step, or None."""
    diff: Diff | None
    """The difference of their outputs, when both exist and differ."""
    differing_metrics: frozenset[str]
    """The metrics whose values differ between the two."""


def _metric_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string"


def _view(step: Mapping[str, Any]) -> StepView:
    metrics = step.get("metrics") or {}
    shown = []
    if isinstance(metrics, Mapping):
        for name in sorted(metrics, key=str):
            value = metrics[name]
            shown.append((str(name), format_value(value, kind=_metric_kind(value))))
    duration = step.get("duration_ms")
    error = step.get("error")
    return StepView(
        name=str(step.get("name", "")),
        type=str(step.get("type") or "other"),
        metrics=shown,
        inputs=clip(value_text(step.get("inputs")), STEP_TEXT_LIMIT)[0],
        outputs=clip(value_text(step.get("outputs")), STEP_TEXT_LIMIT)[0],
        error=None if error is None else str(error),
        duration=f"{format_number(float(duration))} ms"
        if isinstance(duration, int | float) and not isinstance(duration, bool)
        else None,
    )


def _keyed(steps: Sequence[Any]) -> list[tuple[tuple[str, int], Mapping[str, Any]]]:
    seen: dict[str, int] = {}
    out = []
    for step in steps:
        if not isinstance(step, Mapping):
            continue
        name = str(step.get("name", ""))
        nth = seen.get(name, 0)
        seen[name] = nth + 1
        out.append(((name, nth), step))
    return out


def _order(old: list[tuple[str, int]], new: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """This run's keys in order, with the baseline's other keys after their predecessor."""
    order = list(new)
    known = set(new)
    previous: tuple[str, int] | None = None
    for key in old:
        if key not in known:
            at = order.index(previous) + 1 if previous is not None else 0
            order.insert(at, key)
            known.add(key)
        previous = key
    return order


def pair_traces(old: Sequence[Any] | None, new: Sequence[Any] | None) -> list[StepPair]:
    """The rows that draw two traces side by side (either may be None or empty)."""
    rows: list[StepPair] = []
    _pair(list(old or []), list(new or []), 0, rows)
    return rows


def _pair(old: Sequence[Any], new: Sequence[Any], depth: int, rows: list[StepPair]) -> None:
    if depth > MAX_DEPTH:
        return
    old_keyed, new_keyed = dict(_keyed(old)), dict(_keyed(new))
    for key in _order(list(old_keyed), list(new_keyed)):
        a, b = old_keyed.get(key), new_keyed.get(key)
        old_view = None if a is None else _view(a)
        new_view = None if b is None else _view(b)
        diff = None
        differing: frozenset[str] = frozenset()
        if a is not None and b is not None:
            if a.get("outputs") != b.get("outputs"):
                diff = diff_values(_clipped(a.get("outputs")), _clipped(b.get("outputs")))
            a_metrics = dict(old_view.metrics) if old_view else {}
            b_metrics = dict(new_view.metrics) if new_view else {}
            differing = frozenset(
                name
                for name in a_metrics.keys() | b_metrics.keys()
                if a_metrics.get(name) != b_metrics.get(name)
            )
        rows.append(StepPair(depth, key[0], old_view, new_view, diff, differing))
        _pair(
            _children(a),
            _children(b),
            depth + 1,
            rows,
        )


def _children(step: Mapping[str, Any] | None) -> Sequence[Any]:
    if step is None:
        return []
    children = step.get("children")
    return children if isinstance(children, list | tuple) else []


def _clipped(value: Any) -> Any:
    if isinstance(value, str):
        return clip(value, STEP_TEXT_LIMIT)[0]
    text = value_text(value)
    if len(text) <= STEP_TEXT_LIMIT:
        return value
    return clip(text, STEP_TEXT_LIMIT)[0]


def step_outputs(steps: Sequence[Any] | None, name: str) -> tuple[bool, Any]:
    """The outputs of the steps called ``name`` in a trace, depth first: ``(found, value)``
    where value is the one step's outputs, or the list of them when there are several."""
    found: list[Any] = []
    _collect(steps or [], name, found, 0)
    if not found:
        return False, None
    return True, found[0] if len(found) == 1 else found


def _collect(steps: Sequence[Any], name: str, found: list[Any], depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    for step in steps:
        if not isinstance(step, Mapping):
            continue
        if step.get("name") == name:
            found.append(step.get("outputs"))
        _collect(_children(step), name, found, depth + 1)
