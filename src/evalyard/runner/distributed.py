"""Running datapoints as Ray tasks (``evaluate(..., executor="ray")``; docs/scale.md).

Each (datapoint, epoch) pair is one Ray task: the worker runs the application in a fresh
trace and the evaluators, exactly as a thread would (:class:`DatapointTask`), and returns
the finished result record. The records come back to the driver, whose one writer thread
logs them into the run (:mod:`evalyard.runner.writer`), so a run on a Ray cluster is
written to any store the driver can write to: an SQLite file, PostgreSQL, a team server.

Exactly once: the driver hands the writer the one value Ray returns for a task, however
many times the task was retried after a worker died; and a result is keyed by its
(datapoint, epoch), which logging again replaces, so even a driver killed outright and
resumed writes nothing twice.

Ray is imported only here, and only when ``executor="ray"`` is asked for.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

from evalyard.core.model import Direction
from evalyard.core.otel import PriceTable
from evalyard.errors import InvalidInputError
from evalyard.runner import capture
from evalyard.runner.evaluator import Evaluator
from evalyard.runner.execution import DatapointTask, Tally, WorkItem

__all__ = ["TASK_RETRIES", "run_ray"]

#: How many times a task is run again when its worker process dies.
TASK_RETRIES = 3

_MISSING = (
    "evaluate(executor='ray') needs Ray: pip install 'evalyard[ray]' (or 'ray>=2.30'), "
    "on the driver and on every node of the cluster"
)


def _import_ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise InvalidInputError(_MISSING) from None


def _work(
    shipped: tuple[Callable[[Any, Any], Any], list[Evaluator], PriceTable | None, bool],
    item: WorkItem,
) -> tuple[dict[str, Any], bool, int, dict[str, Direction]]:
    """One datapoint on a Ray worker: its record, whether it failed, its evaluator
    errors, and the directions its evaluators' dict metrics asked for."""
    call, evaluators, prices, is_async = shipped
    capture.install()
    records: list[dict[str, Any]] = []
    tally = Tally()
    task = DatapointTask(
        call, evaluators, deliver=records.append, tally=tally, on_done=_nothing, prices=prices
    )
    if is_async:
        asyncio.run(task.run_async(item))
    else:
        task.run(item)
    return records[0], tally.errors > 0, tally.evaluator_errors, task.later_directions


def _nothing(failed: bool) -> None:
    del failed


def run_ray(
    items: list[WorkItem],
    shipped: tuple[Callable[[Any, Any], Any], list[Evaluator], PriceTable | None, bool],
    *,
    deliver: Callable[[dict[str, Any]], None],
    tally: Tally,
    on_done: Callable[[bool], None],
    later_directions: dict[str, Direction],
    max_workers: int,
    stop: threading.Event,
    address: str | None,
    options: Mapping[str, Any] | None,
) -> None:
    """Run ``items`` as Ray tasks, at most ``max_workers`` in flight, handing each record
    to ``deliver`` in the driver as it comes back.

    Connects to the cluster at ``address`` (else ``RAY_ADDRESS``, else a new local one)
    unless Ray is already initialised in this process; a cluster connected to here is
    disconnected from at the end.

    Raises:
        InvalidInputError: when Ray is not installed, or the function or an evaluator
            cannot be pickled to be sent to the workers.
        KeyboardInterrupt: on Ctrl-C (the tasks in flight are cancelled).
        the first exception that escaped a task (not the application's: that is data).
    """
    ray = _import_ray()
    connected_here = False
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
        connected_here = True
    try:
        try:
            shared = ray.put(shipped)
        except Exception as exc:
            raise InvalidInputError(
                "evaluate(executor='ray') sends the function and the evaluators to the Ray "
                "workers, so they must be picklable (by cloudpickle): define them at module "
                "level and create clients (HTTP, database) inside the function rather than "
                f"capturing open ones; pickling failed with: {exc}"
            ) from None
        remote = ray.remote(_work).options(
            max_retries=TASK_RETRIES, **dict(options or {"num_cpus": 1})
        )
        pending = iter(items)
        in_flight: list[Any] = []
        try:
            while True:
                while not stop.is_set() and len(in_flight) < max_workers:
                    item = next(pending, None)
                    if item is None:
                        break
                    in_flight.append(remote.remote(shared, item))
                if not in_flight:
                    return
                ready, in_flight = ray.wait(in_flight, num_returns=1, timeout=0.1)
                for ref in ready:
                    record, failed, evaluator_errors, directions = ray.get(ref)
                    deliver(record)
                    tally.add(failed=failed, evaluator_errors=evaluator_errors)
                    for metric, direction in directions.items():
                        later_directions.setdefault(metric, direction)
                    on_done(failed)
        except BaseException:
            stop.set()
            for ref in in_flight:
                ray.cancel(ref)
            raise
    finally:
        if connected_here:
            ray.shutdown()
