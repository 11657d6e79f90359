"""Two traces side by side: steps paired by their place in the tree (pure).

A step is matched with the step of the other trace that has the same name and the same
occurrence among its siblings, under matched parents; unmatched steps get an empty cell
on the other side. The pairs come out in reading order (depth first), each with its depth,
so a template draws both trees as aligned rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalyard.core.diff import Diff, diff_values
from evalyard.core.formats import clip, format_number, format_value, unit_of, value_text
from evalyard.core.steps import Step, StepType, steps_from_dicts, walk_steps

__all__ = ["StepPair", "StepView", "pair_traces", "step_outputs"]

#: Characters of a step's inputs or outputs shown in a trace.
STEP_TEXT_LIMIT = 4_000


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
    settings: list[tuple[str, str]] = field(default_factory=list)
    """A model step's model and request parameters, ``(name, value as text)``: read from
    its inputs' ``model`` and ``params`` (where captured spans put them, docs/tracing.md)."""


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
    differing_settings: frozenset[str] = frozenset()
    """The settings (model, parameters) whose values differ between the two."""


def _metric_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string"


def _view(step: Step) -> StepView:
    shown = [
        (name, format_value(value, kind=_metric_kind(value), unit=unit_of(name)))
        for name, value in sorted(step.metrics.items())
    ]
    return StepView(
        name=step.name,
        type=step.type.value,
        metrics=shown,
        inputs=clip(value_text(step.inputs), STEP_TEXT_LIMIT)[0],
        outputs=clip(value_text(step.outputs), STEP_TEXT_LIMIT)[0],
        error=step.error,
        duration=None if step.duration_ms is None else f"{format_number(step.duration_ms)} ms",
        settings=_settings(step),
    )


def _settings(step: Step) -> list[tuple[str, str]]:
    inputs = step.inputs
    if step.type is not StepType.MODEL or not isinstance(inputs, Mapping):
        return []
    shown: list[tuple[str, str]] = []
    model = inputs.get("model")
    if model is not None:
        shown.append(("model", clip(value_text(model), 200)[0]))
    params = inputs.get("params")
    if isinstance(params, Mapping):
        for name, value in sorted(params.items(), key=lambda item: str(item[0])):
            if str(name) != "model":
                shown.append((str(name), clip(value_text(value), 200)[0]))
    return shown


@dataclass(frozen=True, slots=True)
class _Pair:
    """A step of the baseline's trace and its match in this run's, or one alone."""

    name: str
    """The steps' name."""
    old: Step | None
    """The baseline's step, or None."""
    new: Step | None
    """This run's step, or None."""


def _pairs(old: Sequence[Step], new: Sequence[Step]) -> list[_Pair]:
    old_keyed, new_keyed = dict(_keyed(old)), dict(_keyed(new))
    return [
        _Pair(key[0], old_keyed.get(key), new_keyed.get(key))
        for key in _order(list(old_keyed), list(new_keyed))
    ]


def _child_pairs(pair: _Pair) -> list[_Pair]:
    return _pairs(
        () if pair.old is None else pair.old.children,
        () if pair.new is None else pair.new.children,
    )


def _keyed(steps: Sequence[Step]) -> list[tuple[tuple[str, int], Step]]:
    seen: dict[str, int] = {}
    out = []
    for step in steps:
        nth = seen.get(step.name, 0)
        seen[step.name] = nth + 1
        out.append(((step.name, nth), step))
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
    top = _pairs(steps_from_dicts(old or []), steps_from_dicts(new or []))
    return [_row(depth, pair) for depth, pair in walk_steps(top, children=_child_pairs)]


def _row(depth: int, pair: _Pair) -> StepPair:
    a, b = pair.old, pair.new
    old_view = None if a is None else _view(a)
    new_view = None if b is None else _view(b)
    diff = None
    differing: frozenset[str] = frozenset()
    if a is not None and b is not None:
        if a.outputs != b.outputs:
            diff = diff_values(_clipped(a.outputs), _clipped(b.outputs))
        a_metrics = dict(old_view.metrics) if old_view else {}
        b_metrics = dict(new_view.metrics) if new_view else {}
        differing = frozenset(
            name
            for name in a_metrics.keys() | b_metrics.keys()
            if a_metrics.get(name) != b_metrics.get(name)
        )
    settings: frozenset[str] = frozenset()
    if old_view is not None and new_view is not None:
        a_settings, b_settings = dict(old_view.settings), dict(new_view.settings)
        settings = frozenset(
            name
            for name in a_settings.keys() | b_settings.keys()
            if a_settings.get(name) != b_settings.get(name)
        )
    return StepPair(depth, pair.name, old_view, new_view, diff, differing, settings)


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
    found = [
        step.get("outputs")
        for _, step in walk_steps(steps or [])
        if isinstance(step, Mapping) and step.get("name") == name
    ]
    if not found:
        return False, None
    return True, found[0] if len(found) == 1 else found
