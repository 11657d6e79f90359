"""Running many datapoints at once, at most ``max_workers`` of them (comparison.md §5): threads for
a sync application, tasks in flight for an async one.

Both drivers stop taking new datapoints when ``stop`` is set, and return on Ctrl-C without
waiting for the datapoints in flight.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["run_async", "run_threads"]

T = TypeVar("T")


def run_threads(
    items: list[T],
    work: Callable[[T], None],
    *,
    max_workers: int,
    stop: threading.Event,
) -> None:
    """Run ``work`` on each item with at most ``max_workers`` threads; return when all ran.

    The threads are daemons that each take the next item when done with one: a Ctrl-C in
    the calling thread sets ``stop`` and returns at once, without waiting for the items in
    flight (their results are dropped) and without keeping the process alive at exit.

    Raises:
        KeyboardInterrupt: on Ctrl-C (after setting ``stop``).
        the first exception that escaped ``work`` (a store failure: a failing application or
            evaluator is recorded by ``work`` itself).
    """
    iterator = iter(items)
    lock = threading.Lock()
    escaped: list[BaseException] = []

    def worker() -> None:
        while not stop.is_set():
            with lock:
                item = next(iterator, None)
            if item is None:
                return
            try:
                work(item)
            except BaseException as exc:
                escaped.append(exc)
                stop.set()
                return

    # Each thread starts from a copy of the caller's context variables (as asyncio tasks do).
    threads = [
        threading.Thread(
            target=contextvars.copy_context().run,
            args=(worker,),
            name=f"evalyard-worker-{number}",
            daemon=True,
        )
        for number in range(min(max_workers, len(items)))
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                # A timed join: a Ctrl-C reaches this thread between two waits.
                thread.join(0.1)
    except BaseException:
        stop.set()
        raise
    if escaped:
        raise escaped[0]


def run_async(
    items: list[T],
    work: Callable[[T], Awaitable[None]],
    *,
    max_workers: int,
    stop: threading.Event,
) -> None:
    """Run the coroutine ``work`` on each item, at most ``max_workers`` in flight.

    Uses ``asyncio.run``; called from a thread whose event loop is running (a notebook),
    it runs the loop in a helper thread instead.

    Raises:
        KeyboardInterrupt: on Ctrl-C.
        the first exception that escaped ``work``.
    """
    holder: dict[str, Any] = {}

    async def main() -> None:
        holder["loop"] = asyncio.get_running_loop()
        holder["task"] = asyncio.current_task()
        iterator = iter(items)

        async def worker() -> None:
            for item in iterator:
                if stop.is_set():
                    return
                await work(item)

        workers = [asyncio.ensure_future(worker()) for _ in range(min(max_workers, len(items)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(main())
        return
    outcome: list[BaseException] = []

    def in_thread() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            outcome.append(exc)

    helper = threading.Thread(target=in_thread, name="evalyard-event-loop", daemon=True)
    helper.start()
    try:
        while helper.is_alive():
            helper.join(0.1)
    except BaseException:
        stop.set()
        loop, task = holder.get("loop"), holder.get("task")
        if loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)
        raise
    if outcome:
        raise outcome[0]
