"""Steps: the spans of a result's trace, and the one way to walk a tree of them (pure).

A result stores its trace as a list of step dicts (``name``, ``type``, ``inputs``,
``outputs``, ``metrics``, ``error``, ``duration_ms``, ``children``), where ``children``
holds the steps opened inside a step. :class:`Step` is the same step as a value.
:func:`walk_steps` visits a trace in either form, depth first; the checks that refuse a
record, the step-scoped evaluators and the web pages all walk traces through it, so they
agree on the order of steps and on how deep a trace goes (:data:`MAX_STEP_DEPTH`).

Example:
    >>> from evalyard.core.steps import Step, walk_steps
    >>> trace = [{"name": "plan", "type": "chain", "children": [{"name": "search"}]}]
    >>> [(depth, step["name"]) for depth, step in walk_steps(trace)]
    [(0, 'plan'), (1, 'search')]
    >>> Step.from_dict(trace[0]).children[0].type
    <StepType.OTHER: 'other'>
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

__all__ = ["MAX_STEP_DEPTH", "Step", "StepType", "steps_from_dicts", "walk_steps"]

#: The deepest level a step may sit at, a top-level step being at level 0. Logging refuses
#: a deeper trace, and a walk of a trace stops there.
MAX_STEP_DEPTH = 64

T = TypeVar("T")


class StepType(StrEnum):
    """What kind of work a step did."""

    MODEL = "model"
    TOOL = "tool"
    CHAIN = "chain"
    OTHER = "other"


# Plain strings: a StrEnum member hashes by its name, so a set of members would not find
# the stored text "model".
_TYPE_VALUES = frozenset(kind.value for kind in StepType)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a result's trace: a model or tool call, or a stage of the application.

    ``Result.steps`` holds a trace as stored (a list of dicts); ``Result.step_tree()`` reads
    it as steps. Steps are recorded with ``evalyard.step`` and ``evalyard.trace``.

    Example:
        >>> step = Step("retrieve", StepType.TOOL, outputs=["doc"], metrics={"hits": 1})
        >>> Step.from_dict(step.to_dict()) == step
        True
    """

    name: str
    """The step's name; steps are compared across runs by name."""
    type: StepType = StepType.OTHER
    """What kind of step it is: model, tool, chain or other."""
    inputs: Any = None
    """What the step was given."""
    outputs: Any = None
    """What the step produced."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """The step's metrics by name; a traced step has its duration as ``latency_ms``."""
    error: str | None = None
    """The error the step raised (``"ValueError: the message"``), if it raised one."""
    duration_ms: float | None = None
    """How long the step took, in milliseconds, when known."""
    children: tuple[Step, ...] = ()
    """The steps opened inside this one, in the order they started."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        """A step read from its stored dict, leniently (a stored trace was checked when it
        was logged, so this reads rather than judges).

        A missing or unknown ``type`` reads as ``other``, metrics that are not a dict as
        none, a ``duration_ms`` that is not a number as unknown, and ``children`` that are
        not a list as none; a child that is not a dict is left out, and so are the steps
        below :data:`MAX_STEP_DEPTH`.

        Raises:
            TypeError: when ``data`` is not a mapping.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a step is read from a dict, not a {type(data).__name__}")
        return steps_from_dicts([data])[0]

    def to_dict(self) -> dict[str, Any]:
        """The step as stored: a dict with every field, ``children`` a list of step dicts."""
        # A plain recursion: this writes out a value evalyard holds (read by from_dict, or
        # built in code) whole, where walk_steps bounds what is read from outside.
        return {
            "name": self.name,
            "type": self.type.value,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "metrics": dict(self.metrics),
            "error": self.error,
            "duration_ms": self.duration_ms,
            "children": [child.to_dict() for child in self.children],
        }


def walk_steps(
    steps: Iterable[T],
    *,
    children: Callable[[T], Sequence[T]] | None = None,
    on_too_deep: Callable[[T], object] | None = None,
) -> Iterator[tuple[int, T]]:
    """Each step of a trace with its depth (0 for a top-level step), depth first: a step,
    then its children and theirs, then its next sibling, which is the order steps start in.

    Items are yielded as they are, whatever they hold, so a caller may judge them; the walk
    goes into the children of a :class:`Step` and into a step dict's ``children`` when it
    is a list or tuple. It goes no deeper than :data:`MAX_STEP_DEPTH`: the children of a
    step at that depth are left out, after ``on_too_deep`` is called with the step.

    Example:
        >>> trace = [{"name": "a", "children": [{"name": "b"}]}, {"name": "c"}]
        >>> [(depth, step["name"]) for depth, step in walk_steps(trace)]
        [(0, 'a'), (1, 'b'), (0, 'c')]

    Args:
        steps: the top-level steps: step dicts (as stored) or :class:`Step` values.
        children: an item's children, to walk something shaped like a trace (two traces
            paired step by step); by default a step's children, as above.
        on_too_deep: called with a step at :data:`MAX_STEP_DEPTH` that has children; raise
            from it to refuse a trace that nests too deep rather than cut it.
    """
    children_of: Callable[[T], Sequence[T]] = children or _children
    # One iterator per level being walked: no recursion, and a trace that nests too deep
    # (or a dict that contains itself) costs no more than MAX_STEP_DEPTH + 1 of them.
    stack: list[Iterator[T]] = [iter(steps)]
    while stack:
        depth = len(stack) - 1
        for step in stack[-1]:
            yield depth, step
            below = children_of(step)
            if not below:
                continue
            if depth < MAX_STEP_DEPTH:
                stack.append(iter(below))
                break  # walk the children; this level resumes after them
            if on_too_deep is not None:
                on_too_deep(step)
        else:
            stack.pop()


def steps_from_dicts(steps: Iterable[Any]) -> tuple[Step, ...]:
    """A stored trace (a list of step dicts) as steps, read as leniently as
    :meth:`Step.from_dict` reads one step; an item that is not a dict is left out."""
    top: list[Step] = []
    # The dicts whose subtree the walk is in, outermost first, each with its children made
    # so far; a step is made once the walk has left its subtree, as a Step is immutable.
    open_steps: list[tuple[Mapping[str, Any], list[Step]]] = []

    def close(depth: int) -> None:
        while len(open_steps) > depth:
            data, made = open_steps.pop()
            siblings = open_steps[-1][1] if open_steps else top
            siblings.append(_step(data, tuple(made)))

    for depth, item in walk_steps(steps):
        if isinstance(item, Mapping):
            close(depth)
            open_steps.append((item, []))
    close(0)
    return tuple(top)


def _children(step: object) -> Sequence[Any]:
    if isinstance(step, Step):
        return step.children
    if isinstance(step, Mapping):
        children = step.get("children")
        if isinstance(children, list | tuple):
            return children
    return ()


def _step(data: Mapping[str, Any], children: tuple[Step, ...]) -> Step:
    kind = data.get("type")
    metrics = data.get("metrics")
    error = data.get("error")
    duration = data.get("duration_ms")
    return Step(
        name=str(data.get("name", "")),
        type=StepType(kind) if isinstance(kind, str) and kind in _TYPE_VALUES else StepType.OTHER,
        inputs=data.get("inputs"),
        outputs=data.get("outputs"),
        metrics={str(name): value for name, value in metrics.items()}
        if isinstance(metrics, Mapping)
        else {},
        error=None if error is None else str(error),
        duration_ms=float(duration)
        if isinstance(duration, int | float) and not isinstance(duration, bool)
        else None,
        children=children,
    )
