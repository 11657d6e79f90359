"""Evaluators: functions that score what an application produced (docs/comparison.md §5).

Example:
    >>> import evalyard
    >>> @evalyard.evaluator(direction="higher")
    ... def exact_match(outputs, ground_truth):
    ...     return outputs == ground_truth
    >>> exact_match("4", "4")  # still callable as the function it wraps
    True

An evaluator's parameters are bound by name from ``outputs``, ``inputs``, ``ground_truth``,
``metadata`` and ``steps``; it may be sync or async. It returns a number, a bool, a string,
None (missing), or a dict of several named metrics. With ``step="NAME"`` it scores each step
of that name instead: it sees the step's ``inputs`` and ``outputs`` (and its child
``steps``), the datapoint's ``ground_truth`` and ``metadata``, and its metrics land on
that step.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np

from evalyard.core.ids import check_name
from evalyard.core.model import Direction
from evalyard.core.values import check_metric_value
from evalyard.errors import InvalidInputError

__all__ = [
    "PARAMETERS",
    "Evaluator",
    "as_evaluator",
    "evaluator",
    "is_async_callable",
    "make_evaluator",
    "to_metrics",
]

#: The names an evaluator's parameters are bound by.
PARAMETERS = ("outputs", "inputs", "ground_truth", "metadata", "steps")

DirectionName = Literal["higher", "lower", "none"]


@dataclass(frozen=True, slots=True)
class Evaluator:
    """A scoring function with its metric name, direction and scope.

    Calling it calls the function it wraps.
    """

    function: Callable[..., Any]
    """The function, sync or async."""
    name: str
    """The metric it produces (when it returns a single value), and its name in errors."""
    direction: Direction | None = None
    """Declared for its metric (and each metric of a dict it returns); None leaves them as
    they are (undeclared numbers and bools are ``higher``)."""
    step: str | None = None
    """Score the steps of this name rather than the datapoint."""
    parameters: tuple[str, ...] = PARAMETERS
    """Which of :data:`PARAMETERS` the function takes."""
    is_async: bool = False
    """Whether the function is a coroutine function."""
    async_function: Callable[..., Awaitable[Any]] | None = None
    """An async twin of a sync function, used when evaluating async applications (so a
    slow evaluator, such as an LLM judge, does not block the event loop)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def score(self, available: Mapping[str, Any]) -> Any:
        """Call the function with the parameters it takes; run it to the end if async."""
        kwargs = {name: available[name] for name in self.parameters}
        if self.is_async:
            import asyncio

            return asyncio.run(self.function(**kwargs))
        return self.function(**kwargs)

    async def score_async(self, available: Mapping[str, Any]) -> Any:
        """Like :meth:`score`, from inside an event loop."""
        kwargs = {name: available[name] for name in self.parameters}
        if self.async_function is not None:
            return await self.async_function(**kwargs)
        if self.is_async:
            return await self.function(**kwargs)
        # A sync evaluator runs inline: cheap ones would pay more for a thread than they
        # take; make slow ones async.
        return self.function(**kwargs)


@overload
def evaluator(function: Callable[..., Any], /) -> Evaluator: ...


@overload
def evaluator(
    *,
    name: str | None = None,
    direction: DirectionName | Direction | None = None,
    step: str | None = None,
) -> Callable[[Callable[..., Any]], Evaluator]: ...


def evaluator(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    direction: DirectionName | Direction | None = None,
    step: str | None = None,
) -> Evaluator | Callable[[Callable[..., Any]], Evaluator]:
    """Make a function an evaluator, with a metric name, a direction and a scope.

    Example:
        >>> import evalyard
        >>> @evalyard.evaluator(name="answer_length", direction="lower", step="answer")
        ... def length(outputs):
        ...     return len(outputs)

    Args:
        function: the function (when used as ``@evaluator`` without parentheses).
        name: the metric's name; the function's name by default.
        direction: ``higher``, ``lower`` or ``none``: declared for the project of each run
            the evaluator scores (see :func:`evalyard.define_metric`).
        step: score each step of this name, rather than the datapoint.

    Raises:
        InvalidInputError: for a bad name or direction, or a parameter that cannot be bound.
    """

    def wrap(target: Callable[..., Any]) -> Evaluator:
        return make_evaluator(target, name=name, direction=direction, step=step)

    if function is not None:
        return wrap(function)
    return wrap


def make_evaluator(
    function: Callable[..., Any],
    *,
    name: str | None = None,
    direction: DirectionName | Direction | None = None,
    step: str | None = None,
    async_function: Callable[..., Awaitable[Any]] | None = None,
) -> Evaluator:
    """Build an :class:`Evaluator` (what :func:`evaluator` does); see there.

    Given an evaluator, it makes a copy with the name, direction or step changed.
    """
    if isinstance(function, Evaluator):
        return make_evaluator(
            function.function,
            name=name if name is not None else function.name,
            direction=direction if direction is not None else function.direction,
            step=step if step is not None else function.step,
            async_function=async_function or function.async_function,
        )
    if not callable(function):
        raise InvalidInputError(f"an evaluator must be a function, not {type(function).__name__}")
    metric = check_name(
        name if name is not None else getattr(function, "__name__", type(function).__name__),
        what="evaluator name",
    )
    chosen: Direction | None = None
    if direction is not None:
        try:
            chosen = Direction(direction)
        except ValueError:
            raise InvalidInputError(
                f"direction of evaluator {metric!r} must be higher, lower or none, "
                f"not {direction!r}"
            ) from None
    if step is not None:
        step = check_name(step, what="step name")
    return Evaluator(
        function=function,
        name=metric,
        direction=chosen,
        step=step,
        parameters=_parameters(function, metric),
        is_async=is_async_callable(function),
        async_function=async_function,
    )


def as_evaluator(value: Any) -> Evaluator:
    """An evaluator as is, or a plain function made into one (named after the function)."""
    if isinstance(value, Evaluator):
        return value
    return make_evaluator(value)


def to_metrics(evaluator: Evaluator, value: Any) -> dict[str, Any]:
    """What an evaluator returned, as ``{metric: value}``.

    Raises:
        TypeError: when it returned something that is not a metric value or a dict of them.
        InvalidMetricError: for NaN, infinity, an over-long string or a bad metric name.
    """
    if isinstance(value, Mapping):
        metrics = {}
        for key, item in value.items():
            metric = check_name(key, what=f"metric name returned by evaluator {evaluator.name!r}")
            check_metric_value(metric, item, step=evaluator.step)
            metrics[metric] = item
        return metrics
    if inspect.isawaitable(value):
        # A sync function that returned a coroutine: an async evaluator in disguise.
        close = getattr(value, "close", None)
        if close is not None:
            close()
        raise TypeError(
            f"evaluator {evaluator.name!r} returned an awaitable; declare it with async def"
        )
    if isinstance(value, Evaluator):
        raise TypeError(
            f"evaluator {evaluator.name!r} made an evaluator instead of a score: it is a "
            f"factory, so call it, as in {evaluator.name}(...)"
        )
    if value is not None and not isinstance(value, str | numbers.Real | np.bool_):
        raise TypeError(
            f"evaluator {evaluator.name!r} returned a {type(value).__name__}; return a number, "
            "a bool, a string, None or a dict of them"
        )
    check_metric_value(evaluator.name, value, step=evaluator.step)
    return {evaluator.name: value}


def _parameters(function: Callable[..., Any], name: str) -> tuple[str, ...]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"cannot read the parameters of evaluator {name!r}; wrap it in a def that takes "
            f"some of {', '.join(PARAMETERS)}"
        ) from None
    taken: list[str] = []
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return PARAMETERS
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if parameter.name in PARAMETERS and parameter.kind is not inspect.Parameter.POSITIONAL_ONLY:
            taken.append(parameter.name)
        elif parameter.default is inspect.Parameter.empty:
            raise InvalidInputError(
                f"evaluator {name!r} has a parameter {parameter.name!r} that evalyard cannot "
                f"fill; an evaluator's parameters are bound by name from "
                f"{', '.join(PARAMETERS)} (give other parameters a default)"
            )
    return tuple(taken)


def is_async_callable(function: Callable[..., Any]) -> bool:
    """Whether calling ``function`` gives a coroutine (an async def, or an object whose
    ``__call__`` is one)."""
    if inspect.iscoroutinefunction(function):
        return True
    call = getattr(function, "__call__", None)  # noqa: B004 - callable objects
    return call is not None and inspect.iscoroutinefunction(call)
