"""Running one datapoint: the application, its trace, its evaluators, and its result record.

:class:`DatapointTask` does the work of one (datapoint, epoch) pair, sync or async; the
drivers of :mod:`evalyard.runner.workers` run many at once.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from evalyard.core.model import Direction
from evalyard.core.otel import LOWER_IS_BETTER, PriceTable
from evalyard.core.steps import walk_steps
from evalyard.errors import InvalidInputError
from evalyard.runner import capture
from evalyard.runner.datasets import Datapoint
from evalyard.runner.evaluator import Evaluator, to_metrics
from evalyard.runner.tracing import end_trace, error_text, start_trace

__all__ = [
    "EVALUATOR_ERRORS_KEY",
    "RESERVED_METRICS",
    "DatapointTask",
    "Tally",
    "WorkItem",
    "application_caller",
]

#: Metrics evaluate sets itself (docs/comparison.md §5); evaluators may not return them.
RESERVED_METRICS = frozenset({"error", "latency_ms"})
#: The metadata key under which a result records its evaluators' errors.
EVALUATOR_ERRORS_KEY = "evaluator_errors"


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One (datapoint, epoch) pair to run."""

    datapoint: Datapoint
    """The datapoint."""
    epoch: int
    """The epoch, from 0."""


@dataclass(frozen=True, slots=True)
class _Job:
    """One evaluator call to make for a datapoint."""

    target: dict[str, Any]
    """The metrics dict its metrics go into: the result's, or a step's."""
    evaluator: Evaluator
    """The evaluator."""
    available: dict[str, Any]
    """What its parameters are bound from."""


class Tally:
    """Counts shared by the workers: done, errors, evaluator errors (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.done = 0
        """Datapoints (× epochs) finished."""
        self.errors = 0
        """Of those, how many raised in the application."""
        self.evaluator_errors = 0
        """Evaluator calls that raised or returned something unusable."""

    def add(self, *, failed: bool, evaluator_errors: int) -> None:
        """Count one finished datapoint."""
        with self._lock:
            self.done += 1
            self.errors += failed
            self.evaluator_errors += evaluator_errors


def application_caller(function: Callable[..., Any]) -> Callable[[Any, Any], Any]:
    """How to call the application: ``(inputs)`` or ``(inputs, ground_truth)``, by signature.

    A parameter named ``ground_truth`` gets the ground truth; otherwise a function with two
    required positional parameters gets it second.

    Raises:
        InvalidInputError: when the function cannot take the inputs.
    """
    name = getattr(function, "__name__", type(function).__name__)
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return lambda inputs, ground_truth: function(inputs)
    kinds = inspect.Parameter
    positional = [
        p for p in parameters if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    ]
    named = {p.name: p for p in parameters}
    varargs = any(p.kind is kinds.VAR_POSITIONAL for p in parameters)
    truth = named.get("ground_truth")
    if truth is not None and truth.kind is not kinds.POSITIONAL_ONLY:
        if not positional or positional[0] is truth:
            raise InvalidInputError(
                f"the function {name!r} takes ground_truth but no inputs; it is called as "
                "function(inputs) or function(inputs, ground_truth)"
            )
        return lambda inputs, ground_truth: function(inputs, ground_truth=ground_truth)
    required = [p for p in positional if p.default is kinds.empty]
    if len(required) == 2:
        return lambda inputs, ground_truth: function(inputs, ground_truth)
    if len(required) > 2 or not (positional or varargs):
        raise InvalidInputError(
            f"the function {name!r} takes {len(required)} required arguments; evaluate calls "
            "it as function(inputs) or function(inputs, ground_truth)"
        )
    return lambda inputs, ground_truth: function(inputs)


class DatapointTask:
    """Runs datapoints: the application in a fresh trace, then the evaluators.

    Args:
        call: the application, as made by :func:`application_caller`.
        evaluators: the evaluators, session-level and step-scoped.
        deliver: takes each finished result record (a ``log_many`` dict).
        tally: where the counts go.
        on_done: called after each datapoint with whether the application raised.
        prices: the price table of the captured model steps' ``cost_usd``.
    """

    def __init__(
        self,
        call: Callable[[Any, Any], Any],
        evaluators: Iterable[Evaluator],
        *,
        deliver: Callable[[dict[str, Any]], None],
        tally: Tally,
        on_done: Callable[[bool], None],
        prices: PriceTable | None = None,
    ) -> None:
        self._call = call
        self._prices = prices
        evaluators = list(evaluators)
        self._session = [e for e in evaluators if e.step is None]
        self._scoped = [e for e in evaluators if e.step is not None]
        self._deliver = deliver
        self._tally = tally
        self._on_done = on_done
        self.later_directions: dict[str, Direction] = {}
        """Directions for the metrics evaluators returned in dicts, declared at the end."""

    def run(self, item: WorkItem) -> None:
        """Run one datapoint in this thread."""
        datapoint = item.datapoint
        steps, token = start_trace()
        collector, spans_token = capture.begin()
        started = time.perf_counter()
        try:
            outputs = self._call(datapoint.inputs, datapoint.ground_truth)
            if inspect.isawaitable(outputs):  # a sync function handing back a coroutine
                outputs = _await_in_thread(outputs)
            error = None
        except Exception as exc:  # the boundary: a failed datapoint is data (docs/comparison.md §5)
            outputs, error = None, exc
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            end_trace(token)
            steps, totals = capture.finish(collector, spans_token, steps, prices=self._prices)
        metrics = self._metrics(error is not None, elapsed_ms, totals)
        failures: list[tuple[Evaluator, str]] = []
        if error is None:
            for job in self._jobs(datapoint, outputs, steps, metrics):
                try:
                    self._merge(job.target, job.evaluator, job.evaluator.score(job.available))
                except Exception as exc:  # an evaluator's failure is data on its result
                    failures.append((job.evaluator, error_text(exc)))
        self._finish(item, outputs, error, elapsed_ms, steps, metrics, failures)

    async def run_async(self, item: WorkItem) -> None:
        """Run one datapoint in the running event loop."""
        datapoint = item.datapoint
        steps, token = start_trace()
        collector, spans_token = capture.begin()
        started = time.perf_counter()
        try:
            outputs = self._call(datapoint.inputs, datapoint.ground_truth)
            if inspect.isawaitable(outputs):
                outputs = await outputs
            error = None
        except Exception as exc:  # the boundary: a failed datapoint is data (docs/comparison.md §5)
            outputs, error = None, exc
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            end_trace(token)
            steps, totals = capture.finish(collector, spans_token, steps, prices=self._prices)
        metrics = self._metrics(error is not None, elapsed_ms, totals)
        failures: list[tuple[Evaluator, str]] = []
        if error is None:
            for job in self._jobs(datapoint, outputs, steps, metrics):
                try:
                    scored = await job.evaluator.score_async(job.available)
                    self._merge(job.target, job.evaluator, scored)
                except Exception as exc:  # an evaluator's failure is data on its result
                    failures.append((job.evaluator, error_text(exc)))
        self._finish(item, outputs, error, elapsed_ms, steps, metrics, failures)

    def _metrics(self, failed: bool, elapsed_ms: float, totals: dict[str, float]) -> dict[str, Any]:
        # comparison.md §5, and the captured spans' totals (docs/tracing.md), lower is better.
        for name in totals:
            if name in LOWER_IS_BETTER and name not in self.later_directions:
                self.later_directions[name] = Direction.LOWER
        return {"error": failed, "latency_ms": elapsed_ms, **totals}

    def _jobs(
        self,
        datapoint: Datapoint,
        outputs: Any,
        steps: list[dict[str, Any]],
        metrics: dict[str, Any],
    ) -> Iterator[_Job]:
        """Each evaluator call to make, session-level evaluators first."""
        for evaluator in self._session:
            available = {
                "outputs": outputs,
                "inputs": datapoint.inputs,
                "ground_truth": datapoint.ground_truth,
                "metadata": datapoint.metadata,
                "steps": steps,
            }
            yield _Job(metrics, evaluator, available)
        if not self._scoped:
            return
        for _, record in walk_steps(steps):
            for evaluator in self._scoped:
                if record["name"] != evaluator.step:
                    continue
                # comparison.md §5: the step's inputs and outputs, the datapoint's ground truth and
                # metadata; the metrics land on the step.
                available = {
                    "outputs": record.get("outputs"),
                    "inputs": record.get("inputs"),
                    "ground_truth": datapoint.ground_truth,
                    "metadata": datapoint.metadata,
                    "steps": record.get("children", []),
                }
                yield _Job(record.setdefault("metrics", {}), evaluator, available)

    def _merge(self, target: dict[str, Any], evaluator: Evaluator, value: Any) -> None:
        scored = to_metrics(evaluator, value)
        clash = RESERVED_METRICS.intersection(scored)
        if clash:
            raise InvalidInputError(
                f"evaluator {evaluator.name!r} returned metric {sorted(clash)[0]!r}, which "
                "evaluate records itself; name it otherwise"
            )
        if evaluator.direction is not None:
            for metric in scored:
                if metric != evaluator.name and metric not in self.later_directions:
                    self.later_directions[metric] = evaluator.direction
        target.update(scored)

    def _finish(
        self,
        item: WorkItem,
        outputs: Any,
        error: BaseException | None,
        elapsed_ms: float,
        steps: list[dict[str, Any]],
        metrics: dict[str, Any],
        failures: list[tuple[Evaluator, str]],
    ) -> None:
        datapoint = item.datapoint
        metadata = datapoint.metadata
        if failures:
            # The result records which evaluators failed next to the datapoint's metadata
            # (a result has one error field, and it is the application's).
            base = metadata if isinstance(metadata, dict) else {"metadata": metadata}
            metadata = {
                **(base if metadata is not None else {}),
                EVALUATOR_ERRORS_KEY: {_label(evaluator): text for evaluator, text in failures},
            }
        self._deliver(
            {
                "datapoint_id": datapoint.datapoint_id,
                "epoch": item.epoch,
                "inputs": datapoint.inputs,
                "outputs": outputs,
                "ground_truth": datapoint.ground_truth,
                "metadata": metadata,
                "metrics": metrics,
                "steps": steps or None,
                "error": None if error is None else error_text(error),
                "duration_ms": elapsed_ms,
            }
        )
        self._tally.add(failed=error is not None, evaluator_errors=len(failures))
        self._on_done(error is not None)


def _label(evaluator: Evaluator) -> str:
    return evaluator.name if evaluator.step is None else f"{evaluator.name} (step {evaluator.step})"


def _await_in_thread(awaitable: Awaitable[Any]) -> Any:
    async def wait() -> Any:
        return await awaitable

    return asyncio.run(wait())
