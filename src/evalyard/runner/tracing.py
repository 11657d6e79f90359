"""Traced steps: ``step`` (a context manager) and ``trace`` (a decorator).

Example:
    >>> import evalyard
    >>> def answer(inputs):
    ...     with evalyard.step("retrieve", type="tool") as s:
    ...         docs = ["passage 1", "passage 2"]
    ...         s.log(outputs=docs, metrics={"hits": len(docs)})
    ...     return docs[0]
    >>> answer({"question": "?"})  # outside evaluate: runs as is, records nothing
    'passage 1'

Inside :func:`evalyard.evaluate`, each datapoint runs with its own trace held in a context
variable, so steps land on the right datapoint however many run at once: asyncio tasks
copy the context they were created in, and evaluate's worker threads start each datapoint
with its own trace. A thread you start yourself inside the application starts with an empty
context (its steps are not recorded); run its work with ``contextvars.copy_context().run``,
or use ``asyncio.to_thread``, which does that for you.

A step becomes a dict of the result's trace (docs/comparison.md §1): ``name``, ``type``, ``inputs``,
``outputs``, ``metrics`` (with ``latency_ms``, its duration, docs/comparison.md §5), ``error``,
``duration_ms`` and ``children``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from evalyard.core.ids import check_name
from evalyard.errors import InvalidInputError
from evalyard.runner import capture
from evalyard.runner.records import STEP_TYPES

__all__ = ["StepRecorder", "end_trace", "error_text", "jsonable", "start_trace", "step", "trace"]

P = ParamSpec("P")
R = TypeVar("R")

#: Where new steps go: the children list of the innermost open step, or the datapoint's
#: list of top-level steps; None outside evaluate (steps are then no-ops).
_CURRENT: ContextVar[list[dict[str, Any]] | None] = ContextVar("evalyard_trace", default=None)

#: How deep :func:`jsonable` converts the containers of a traced value (a limit on values;
#: how deep steps nest is ``evalyard.core.steps.MAX_STEP_DEPTH``).
_MAX_VALUE_DEPTH = 32
_MAX_REPR = 1_000


def start_trace() -> tuple[list[dict[str, Any]], Token[list[dict[str, Any]] | None]]:
    """Open a datapoint's trace in the current context: its step list, and the token that
    :func:`end_trace` takes to close it."""
    steps: list[dict[str, Any]] = []
    return steps, _CURRENT.set(steps)


def end_trace(token: Token[list[dict[str, Any]] | None]) -> None:
    """Close the trace opened by :func:`start_trace`."""
    _CURRENT.reset(token)


def error_text(error: BaseException) -> str:
    """How an exception is recorded: ``"ValueError: the message"``."""
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class StepRecorder:
    """One step being recorded; what ``evalyard.step(...)`` returns.

    Outside ``evaluate`` it records nothing, and :meth:`log` does nothing. A recorded step
    is read back from its result as an ``evalyard.Step`` (``Result.step_tree()``).
    """

    __slots__ = ("_record", "_span", "_started", "_token", "name", "type")

    def __init__(self, name: str, *, type: str = "other", inputs: Any = None) -> None:
        self.name = check_name(name, what="step name")
        if type not in STEP_TYPES:
            raise InvalidInputError(
                f"step {name!r} has type {type!r}; use one of {', '.join(STEP_TYPES)}"
            )
        self.type = type
        self._record: dict[str, Any] | None = None
        self._token: Token[list[dict[str, Any]] | None] | None = None
        self._span: Any = None
        self._started = 0.0
        parent = _CURRENT.get()
        if parent is not None:
            self._record = {
                "name": name,
                "type": type,
                "inputs": inputs,
                "outputs": None,
                "metrics": {},
                "children": [],
            }

    @property
    def recording(self) -> bool:
        """Whether this step is recorded (it is inside ``evaluate``)."""
        return self._record is not None

    def log(
        self,
        *,
        inputs: Any = None,
        outputs: Any = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        """Record the step's inputs, outputs or metrics; what is None is left as it was.

        Args:
            inputs: what the step was given.
            outputs: what it produced.
            metrics: ``{name: value}`` added to the step's metrics (a number, bool, string
                or None each); a step-scoped evaluator's metrics land here too.
        """
        record = self._record
        if record is None:
            return
        if inputs is not None:
            record["inputs"] = inputs
        if outputs is not None:
            record["outputs"] = outputs
        if metrics:
            record["metrics"].update(metrics)

    def __enter__(self) -> StepRecorder:
        record = self._record
        if record is not None:
            parent = _CURRENT.get()
            if parent is None:  # entered in another context than the one it was made in
                self._record = None
                return self
            # Appended when it starts, so the trace keeps the order steps started in.
            parent.append(record)
            self._token = _CURRENT.set(record["children"])
            # With OpenTelemetry capture on, the step is also a span, so that the spans
            # started inside it are its children (docs/tracing.md).
            self._span = capture.open_step_span(self.name, self.type, record)
            self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        record = self._record
        if record is None:
            return
        elapsed_ms = (time.perf_counter() - self._started) * 1000
        record["duration_ms"] = elapsed_ms
        # comparison.md §5: each step's duration is its latency_ms, unless the step logged its own.
        record["metrics"].setdefault("latency_ms", elapsed_ms)
        if exc is not None:
            record["error"] = error_text(exc)
        if not record["children"]:
            del record["children"]
        if self._span is not None:
            capture.close_step_span(self._span, exc)
            self._span = None
        if self._token is not None:
            # ValueError: exited in another context (a generator resumed elsewhere).
            with contextlib.suppress(ValueError):
                _CURRENT.reset(self._token)
            self._token = None


def step(name: str, *, type: str = "other", inputs: Any = None) -> StepRecorder:
    """Record a step of the current datapoint's trace.

    Example:
        >>> import evalyard
        >>> with evalyard.step("retrieve", type="tool", inputs={"k": 3}) as s:
        ...     s.log(outputs=["doc"], metrics={"hits": 1})

    Args:
        name: the step's name; steps are compared across runs by name.
        type: ``model``, ``tool``, ``chain`` or ``other``.
        inputs: what the step is given (can also be logged later with ``StepRecorder.log``).

    Returns:
        the step, to use in a ``with`` block. Steps opened inside it become its children;
        an exception leaving it is recorded as the step's error and goes on.

    Raises:
        InvalidInputError: for an empty or over-long name, or an unknown type.
    """
    return StepRecorder(name, type=type, inputs=inputs)


@overload
def trace(function: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def trace(
    *, name: str | None = None, type: str = "other"
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def trace(
    function: Callable[P, R] | None = None, /, *, name: str | None = None, type: str = "other"
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Record each call of a function as a step: its arguments, return value and error.

    Example:
        >>> import evalyard
        >>> @evalyard.trace(type="tool")
        ... def search(query: str, k: int = 3) -> list[str]:
        ...     return [query] * k
        >>> search("tides", k=2)  # outside evaluate: a plain call
        ['tides', 'tides']

    Works on sync and async functions. The step's inputs are the call's arguments by
    parameter name (``self`` and ``cls`` left out), its outputs the return value; values
    that are not JSON data are recorded by their ``repr``.

    Args:
        function: the function (when used as ``@trace`` without parentheses).
        name: the step's name; by default the function's name.
        type: ``model``, ``tool``, ``chain`` or ``other``.
    """

    def decorate(target: Callable[P, R]) -> Callable[P, R]:
        step_name = check_name(name or getattr(target, "__name__", "step"), what="step name")
        if type not in STEP_TYPES:
            raise InvalidInputError(
                f"step {step_name!r} has type {type!r}; use one of {', '.join(STEP_TYPES)}"
            )
        try:
            signature: inspect.Signature | None = inspect.signature(target)
        except (TypeError, ValueError):
            signature = None

        def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if signature is None:
                return jsonable({"args": list(args), "kwargs": kwargs})
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return jsonable({"args": list(args), "kwargs": kwargs})
            return {
                key: jsonable(value)
                for key, value in bound.arguments.items()
                if key not in ("self", "cls")
            }

        if inspect.iscoroutinefunction(target):

            @functools.wraps(target)
            async def traced_async(*args: Any, **kwargs: Any) -> Any:
                if _CURRENT.get() is None:
                    return await target(*args, **kwargs)
                with StepRecorder(step_name, type=type, inputs=arguments(args, kwargs)) as s:
                    value = await target(*args, **kwargs)
                    s.log(outputs=jsonable(value))
                    return value

            return traced_async  # type: ignore[return-value]

        @functools.wraps(target)
        def traced(*args: P.args, **kwargs: P.kwargs) -> R:
            if _CURRENT.get() is None:
                return target(*args, **kwargs)
            with StepRecorder(step_name, type=type, inputs=arguments(args, kwargs)) as s:
                value = target(*args, **kwargs)
                s.log(outputs=jsonable(value))
                return value

        return traced

    if function is not None:
        return decorate(function)
    return decorate


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data: containers converted, anything else by its (bounded) repr.

    Used for what :func:`trace` captures, which may be any object (a client, a model).
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth >= _MAX_VALUE_DEPTH:
        return _short_repr(value)
    if isinstance(value, dict):
        return {str(key): jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item, depth + 1) for item in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        try:
            return jsonable(value.tolist(), depth + 1)
        except (TypeError, ValueError):
            return _short_repr(value)
    return _short_repr(value)


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break the application being traced
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."
