"""``evaluate``: run an application over a dataset, score it, and log the run (comparison.md §5).

Example:
    >>> import evalyard
    >>> from evalyard.evaluators import exact_match
    >>> def my_app(inputs):
    ...     return {"2+2?": "4"}.get(inputs["question"], "I don't know")
    >>> result = evalyard.evaluate(  # doctest: +SKIP
    ...     my_app,
    ...     dataset=[{"inputs": {"question": "2+2?"}, "ground_truth": "4"}],
    ...     evaluators=[exact_match],
    ...     name="calculator-v1",
    ... )
    >>> result.aggregates["exact_match"], result.error_count  # doctest: +SKIP
    (1.0, 0)
    >>> result.compare_with("calculator-v0").list_degraded_metrics()  # doctest: +SKIP
    []

Each datapoint runs the application in its own trace (see :mod:`evalyard.runner.tracing`),
then the evaluators; its result is written by one writer thread in small batches
(:mod:`evalyard.runner.writer`). The run ends ``completed``; ``cancelled`` on Ctrl-C and
``failed`` when evaluate itself fails (the store, not the application), with every
finished datapoint kept in both cases.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from evalyard.core.compare import RunComparisonResult
from evalyard.core.ids import canonical_json
from evalyard.core.model import Direction, RunStatus
from evalyard.core.otel import PriceTable
from evalyard.core.summary import MetricSummary
from evalyard.errors import InvalidInputError, InvalidRecordError, RunNameTakenError
from evalyard.runner import capture
from evalyard.runner.datasets import Dataset, as_dataset
from evalyard.runner.distributed import run_ray
from evalyard.runner.evaluator import Evaluator, as_evaluator, is_async_callable
from evalyard.runner.execution import (
    RESERVED_METRICS,
    DatapointTask,
    Tally,
    WorkItem,
    application_caller,
)
from evalyard.runner.logging import Run, define_metric, start_run
from evalyard.runner.progress import ProgressDisplay
from evalyard.runner.shards import check_shard, in_shard
from evalyard.runner.summary import print_summary
from evalyard.runner.workers import run_async, run_threads
from evalyard.runner.writer import ResultWriter
from evalyard.runs import RunReference, compare_runs, resolve_run, summarise_run
from evalyard.store import Store, get_store

__all__ = ["EvaluationResult", "evaluate"]

_MAX_REPEATS = 100_000


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """What :func:`evaluate` did: the run it logged and what the run holds."""

    run_id: str
    """The run's id (pass it to ``compare_runs``, or to ``evaluate(resume=...)``)."""
    name: str
    """The run's name."""
    project: str
    """The run's project."""
    status: RunStatus
    """The run's final status (``completed``)."""
    aggregates: dict[str, float]
    """The average of each number and bool metric at the result level, over all of the
    run's datapoints (epochs averaged first; a bool gives its pass rate)."""
    step_aggregates: dict[str, dict[str, float]] = field(repr=False)
    """The same per step name: ``{step: {metric: average}}``."""
    metrics: list[MetricSummary] = field(repr=False)
    """Every metric of the run, with its count (and a string metric's most common value)."""
    result_count: int
    """How many results (datapoint × epoch) this call logged."""
    skipped_count: int
    """How many the resumed run already had, and were not run again."""
    error_count: int
    """How many of this call's results are errors: the application raised (or its outputs
    could not be stored)."""
    evaluator_error_count: int
    """How many evaluator calls of this call failed (raised, or returned no metric value)."""
    duration_s: float
    """How long the call took, in seconds."""
    store: Store = field(repr=False, compare=False)
    """The store the run is in."""

    def compare_with(
        self,
        baseline: RunReference,
        *,
        aggregate_function: str = "average",
        step: str | None = None,
    ) -> RunComparisonResult:
        """Compare this run with a baseline run (see :func:`evalyard.compare_runs`)."""
        return compare_runs(
            self.run_id,
            baseline,
            aggregate_function=aggregate_function,
            step=step,
            store=self.store,
        )

    def to_pandas(self) -> Any:
        """The run's results as a ``pandas.DataFrame``, one row per result (see
        :meth:`evalyard.Run.to_pandas`)."""
        from evalyard.exports import results_frame

        return results_frame(self.run_id, store=self.store)


def evaluate(
    function: Callable[..., Any],
    *,
    dataset: Dataset | Iterable[Mapping[str, Any]],
    evaluators: Iterable[Evaluator | Callable[..., Any]] = (),
    name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    project: str | None = None,
    max_workers: int = 8,
    repeats: int = 1,
    resume: RunReference | None = None,
    run_id: str | None = None,
    shard: tuple[int, int] | None = None,
    store: Store | str | None = None,
    print_results: bool = True,
    prices: PriceTable | None = None,
    executor: str = "threads",
    ray_address: str | None = None,
    ray_options: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """Run ``function`` on every datapoint, score it with ``evaluators``, and log a run.

    Example:
        >>> import evalyard
        >>> result = evalyard.evaluate(  # doctest: +SKIP
        ...     my_app, dataset=records, evaluators=[exact_match], name="gpt-4o-temp-0.3",
        ...     metadata={"model": "gpt-4o", "temperature": 0.3}, max_workers=8,
        ... )

    Args:
        function: the application: ``(inputs)`` or ``(inputs, ground_truth)`` (read from
            its signature), sync or async. What it returns is the datapoint's outputs; an
            exception it raises is recorded as the datapoint's error and the run goes on.
        dataset: a list of dicts (``inputs``, optional ``ground_truth``, ``metadata``,
            ``id``) or an :class:`evalyard.Dataset`.
        evaluators: functions or :func:`evalyard.evaluator` objects; see there.
        name: the run's name, unique in the project (a name taken there is refused with
            ``RunNameTakenError``; ``resume`` goes on with that run). When resuming it may
            be left out; a different name is an error.
        metadata: facts about the run (model, prompt, parameters...).
        project: the run's project, ``"default"`` unless given (a resumed run keeps its own).
        max_workers: at most this many datapoints at once: threads for a sync function,
            tasks in flight for an async one, Ray tasks in flight with ``executor="ray"``.
        repeats: run each datapoint this many times, as epochs 0 to ``repeats - 1``.
        resume: a run (id, unique name or run object) to go on with, in any status: only
            the (datapoint, epoch) pairs it lacks are run, then it gets its final status.
        run_id: the id of the run to log: it is created, or, when a run has this id, gone
            on with as with ``resume`` (same project and name).
        shard: ``(i, n)``: run only the i-th of n disjoint slices of the dataset (by a
            stable hash of each datapoint id) into the shared run ``run_id``, so that n
            processes or machines evaluate one dataset together. The run is completed
            when the last of the n shards finishes (``failed`` if one failed); until
            then it is ``running``, and this call's ``status`` says so.
        store: a store, or a store URL; by default ``EVALYARD_STORE`` or the embedded file.
        print_results: draw a progress bar (on a terminal) and print a summary at the end.
        prices: the prices per model that give the model steps captured from OpenTelemetry
            their ``cost_usd`` (:class:`evalyard.PriceTable`); by default the built-in
            table. With the OpenTelemetry SDK installed, the spans started while a
            datapoint runs become its steps (docs/tracing.md).
        executor: ``"threads"`` (threads for a sync function, an event loop for an async
            one, in this process) or ``"ray"``: each datapoint is a Ray task on a Ray
            cluster, at most ``max_workers`` in flight, its result sent back to this
            process, which logs it (so any store works: SQLite, PostgreSQL, a team
            server). The function and evaluators must then be picklable (cloudpickle).
            Needs ``pip install 'evalyard[ray]'``; see docs/scale.md.
        ray_address: with ``executor="ray"``, the cluster to connect to (``"auto"``,
            ``"ray://head:10001"``...); by default ``RAY_ADDRESS``, else a new local
            cluster. Ignored when Ray is already initialised in this process.
        ray_options: with ``executor="ray"``, the options of each task
            (``{"num_cpus": 0.25}`` for an application that mostly waits on an API);
            by default one CPU per task. A task whose worker dies is retried
            (``max_retries=3``) and its result is still logged once.

    Returns:
        the run's id, its per-metric aggregates and this call's counts; ``compare_with``
        compares it with a baseline.

    Raises:
        InvalidInputError: for a bad dataset, evaluator or argument (before any run starts).
        RunNameTakenError: when the project has a run of this name (before anything runs).
        KeyboardInterrupt: on Ctrl-C, once the run is marked cancelled with every finished
            datapoint kept; resume it with ``resume=run_id``.
    """
    started = time.perf_counter()
    if not callable(function):
        raise InvalidInputError(f"evaluate needs a function, not {type(function).__name__}")
    _check_count("max_workers", max_workers, 10_000)
    _check_count("repeats", repeats, _MAX_REPEATS)
    data = as_dataset(dataset)
    if shard is not None:
        shard = check_shard(shard)
        if run_id is None:
            raise InvalidInputError(
                "evaluate(shard=(i, n)) needs run_id=...: the id of the run the n shards share"
            )
    if resume is not None and run_id is not None:
        raise InvalidInputError("give evaluate either resume or run_id, not both")
    if executor not in ("threads", "ray"):
        raise InvalidInputError(f"executor must be 'threads' or 'ray', not {executor!r}")
    if executor != "ray" and (ray_address is not None or ray_options is not None):
        raise InvalidInputError("ray_address and ray_options need executor='ray'")
    chosen = _evaluators(evaluators)
    call = application_caller(function)
    is_async = is_async_callable(function)
    target = get_store(store)

    run, done = _open_run(
        target,
        resume=resume,
        run_id=run_id,
        name=name,
        metadata=metadata,
        project=project,
        dataset=data,
    )
    mine = [d for d in data if shard is None or in_shard(d.datapoint_id, shard)]
    items = [
        WorkItem(datapoint, epoch)
        for epoch in range(repeats)
        for datapoint in mine
        if (datapoint.datapoint_id, epoch) not in done
    ]
    skipped = len(mine) * repeats - len(items)

    tally = Tally()
    replaced_errors = [0]

    def stand_in(record: dict[str, Any], error: InvalidInputError) -> dict[str, Any]:
        if record.get("error") is None:
            replaced_errors[0] += 1
        return _stand_in(record, error)

    writer = ResultWriter(run, on_refused=stand_in)
    stop = threading.Event()
    progress = ProgressDisplay(len(items), description=run.name, enabled=print_results)
    capture.install()
    task = DatapointTask(
        call, chosen, deliver=writer.put, tally=tally, on_done=progress.advance, prices=prices
    )
    try:
        _declare(target, run.project, _wanted_directions(chosen))
        with progress:
            if executor == "ray":
                run_ray(
                    items,
                    (call, chosen, prices, is_async),
                    deliver=writer.put,
                    tally=tally,
                    on_done=progress.advance,
                    later_directions=task.later_directions,
                    max_workers=max_workers,
                    stop=stop,
                    address=ray_address,
                    options=ray_options,
                )
            elif is_async:
                run_async(items, task.run_async, max_workers=max_workers, stop=stop)
            else:
                run_threads(items, task.run, max_workers=max_workers, stop=stop)
        writer.close()
        _declare(target, run.project, task.later_directions)
        info = run.finish("completed", shard=shard)
    except KeyboardInterrupt as exc:
        _end(run, writer, RunStatus.CANCELLED, exc, print_results, shard)
        raise
    except BaseException as exc:
        _end(run, writer, RunStatus.FAILED, exc, print_results, shard)
        raise

    metrics = summarise_run(run.run_id, store=target).metrics
    result = EvaluationResult(
        run_id=run.run_id,
        name=run.name,
        project=run.project,
        status=info.status,
        aggregates={
            m.metric: m.aggregate for m in metrics if m.step is None and m.aggregate is not None
        },
        step_aggregates=_step_aggregates(metrics),
        metrics=metrics,
        result_count=writer.written,
        skipped_count=skipped,
        error_count=tally.errors + replaced_errors[0],
        evaluator_error_count=tally.evaluator_errors,
        duration_s=time.perf_counter() - started,
        store=target,
    )
    if print_results:
        print_summary(
            Console(),
            info=info,
            metrics=metrics,
            ran=result.result_count,
            skipped=skipped,
            error_count=result.error_count,
            evaluator_error_count=result.evaluator_error_count,
            seconds=result.duration_s,
        )
    return result


def _open_run(
    store: Store,
    *,
    resume: RunReference | None,
    run_id: str | None,
    name: str | None,
    metadata: Mapping[str, Any] | None,
    project: str | None,
    dataset: Dataset,
) -> tuple[Run, set[tuple[str, int]]]:
    """The run to log to, and the (datapoint, epoch) pairs it already holds."""
    if run_id is not None:
        # Created, or gone on with: the shards of one run all start this way, in any order.
        try:
            run = start_run(
                name,
                project=project or "default",
                dataset=dataset.name,
                metadata=metadata,
                run_id=run_id,
                store=store,
            )
        except RunNameTakenError as taken:
            raise _name_taken(taken, "give the run another name") from None
        return run, set(store.result_keys(run.run_id))
    if resume is None:
        try:
            run = start_run(
                name,
                project=project or "default",
                dataset=dataset.name,
                metadata=metadata,
                store=store,
            )
        except RunNameTakenError as taken:
            fix = (
                f"pass resume={taken.run_id!r} to evaluate to go on with it (only what it "
                "lacks is run), or give the new run another name"
            )
            raise _name_taken(taken, fix) from None
        return run, set()
    info = resolve_run(resume, store=store)
    if name is not None and name != info.name:
        raise InvalidInputError(
            f"run {info.run_id} is named {info.name!r}, not {name!r}; leave the name out to "
            "resume it"
        )
    if project is not None and project != info.project:
        raise InvalidInputError(
            f"run {info.run_id} ({info.name!r}) belongs to project {info.project!r}, "
            f"not {project!r}"
        )
    if metadata is not None and json.loads(canonical_json(dict(metadata))) != info.metadata:
        raise InvalidInputError(
            f"run {info.run_id} ({info.name!r}) was started with other metadata "
            f"({info.metadata!r}); leave metadata out to resume it"
        )
    # A run killed outright is still "running": reopening it is what resuming means.
    run = start_run(run_id=info.run_id, project=info.project, store=store)
    return run, set(store.result_keys(info.run_id))


def _name_taken(taken: RunNameTakenError, fix: str) -> RunNameTakenError:
    """The same refusal, saying how to go on through ``evaluate``."""
    return RunNameTakenError(
        taken.name,
        project=taken.project,
        run_id=taken.run_id,
        status=taken.status,
        created_at=taken.created_at,
        fix=fix,
    )


def _end(
    run: Run,
    writer: ResultWriter,
    status: RunStatus,
    error: BaseException,
    print_results: bool,
    shard: tuple[int, int] | None = None,
) -> None:
    """Keep what finished and give the run its status; say what happened and how to go on."""
    try:
        writer.close()
    except Exception as exc:  # the original error matters more; say what was lost
        error.add_note(f"evalyard could not write the last results of the run: {exc}")
    try:
        run.finish(status, shard=shard)
    except Exception as exc:
        error.add_note(f"evalyard could not mark run {run.run_id} {status.value}: {exc}")
        return
    note = (
        f"evalyard: run {run.name!r} ({run.run_id}) {status.value} with {writer.written} results "
        f"written; go on with evaluate(..., resume={run.run_id!r})"
    )
    if print_results:
        Console(stderr=True).print(note, markup=False, highlight=False)
    else:  # said once: printed, or carried by the error
        error.add_note(note)


def _evaluators(evaluators: Iterable[Evaluator | Callable[..., Any]]) -> list[Evaluator]:
    if isinstance(evaluators, Evaluator) or callable(evaluators):
        evaluators = [evaluators]
    chosen = [as_evaluator(value) for value in evaluators]
    seen: set[tuple[str, str | None]] = set()
    for evaluator in chosen:
        key = (evaluator.name, evaluator.step)
        if key in seen:
            where = f" for step {evaluator.step!r}" if evaluator.step else ""
            raise InvalidInputError(
                f"two evaluators are named {evaluator.name!r}{where}; give one another name "
                "with @evalyard.evaluator(name=...)"
            )
        seen.add(key)
        if evaluator.name in RESERVED_METRICS:
            raise InvalidInputError(
                f"evaluator {evaluator.name!r} has the name of a metric evaluate records "
                "itself; name it otherwise"
            )
    return chosen


def _wanted_directions(evaluators: list[Evaluator]) -> dict[str, Direction]:
    # comparison.md §5: the automatic error and latency_ms metrics are lower-is-better, everywhere.
    wanted = {"error": Direction.LOWER, "latency_ms": Direction.LOWER}
    for evaluator in evaluators:
        if evaluator.direction is not None:
            wanted[evaluator.name] = evaluator.direction
    return wanted


def _declare(store: Store, project: str, wanted: Mapping[str, Direction]) -> None:
    """Define the metrics' directions in the project, keeping the tolerances set there."""
    if not wanted:
        return
    existing = store.metric_definitions(project)
    for metric, direction in dict(wanted).items():
        current = existing.get(metric)
        if current is None or current.direction is not direction:
            define_metric(
                metric,
                direction=direction,
                tolerance=current.tolerance if current is not None else 0.0,
                project=project,
                store=store,
            )


def _stand_in(record: dict[str, Any], error: InvalidInputError) -> dict[str, Any]:
    """What is logged for a result the store refused: the datapoint, and why, as its error."""
    bad = error.field if isinstance(error, InvalidRecordError) else None
    metrics = record.get("metrics") or {}
    return {
        "datapoint_id": record["datapoint_id"],
        "epoch": record["epoch"],
        "inputs": None if bad == "inputs" else record.get("inputs"),
        "ground_truth": None if bad == "ground_truth" else record.get("ground_truth"),
        "metadata": None if bad == "metadata" else record.get("metadata"),
        "error": (record.get("error") or f"evalyard could not store this result: {error}")[:2_000],
        "metrics": {"error": True, "latency_ms": metrics.get("latency_ms")},
        "duration_ms": record.get("duration_ms"),
    }


def _step_aggregates(metrics: list[MetricSummary]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for summary in metrics:
        if summary.step is not None and summary.aggregate is not None:
            out.setdefault(summary.step, {})[summary.metric] = summary.aggregate
    return out


def _check_count(what: str, value: Any, limit: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise InvalidInputError(f"{what} must be a whole number from 1 to {limit}, not {value!r}")
