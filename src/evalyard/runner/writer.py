"""The single writer of an evaluation: finished datapoints, written in small batches.

Workers hand each finished result to a :class:`ResultWriter`; its thread writes them with
``Run.log_many``, a transaction per batch rather than per datapoint. A batch is written when
it holds :data:`BATCH_SIZE` results or its oldest result has waited :data:`FLUSH_INTERVAL_S`,
and everything is written when the writer closes (at the end, on Ctrl-C, on an error), before
the run gets its status. So a datapoint is committed within about ``FLUSH_INTERVAL_S`` of
finishing: only a process killed outright (SIGKILL, power loss) can lose the datapoints of
that last window, and resuming the run runs them again (logging a datapoint and epoch again
replaces it, so nothing is duplicated).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from evalyard.errors import InvalidInputError
from evalyard.runner.logging import Run

__all__ = ["BATCH_SIZE", "FLUSH_INTERVAL_S", "ResultWriter"]

#: Results per transaction at most.
BATCH_SIZE = 500
#: The longest a finished result waits before it is written, in seconds.
FLUSH_INTERVAL_S = 0.25

_STOP = object()


class ResultWriter:
    """A thread that writes result records (``log_many`` dicts) to a run in batches.

    Args:
        run: the run to write to.
        on_refused: called with a record the store refused and the error; returns the
            record to write in its place (or None to drop it).
    """

    def __init__(
        self,
        run: Run,
        *,
        on_refused: Callable[[dict[str, Any], InvalidInputError], dict[str, Any] | None],
    ) -> None:
        self._run = run
        self._on_refused = on_refused
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._failure: BaseException | None = None
        self.written = 0
        """How many results have been committed."""
        self.replaced = 0
        """How many records were refused and replaced by ``on_refused``."""
        self._thread = threading.Thread(target=self._loop, name="evalyard-writer", daemon=True)
        self._thread.start()

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped the writer, if one did."""
        return self._failure

    def put(self, record: dict[str, Any]) -> None:
        """Hand a finished result over; results handed over after :meth:`close` are dropped.

        Raises:
            the writer's failure, if it stopped on one (so workers stop early too).
        """
        if self._failure is not None:
            raise self._failure
        if not self._closed:
            self._queue.put(record)

    def close(self) -> None:
        """Write what is pending and stop the thread.

        Raises:
            the error that stopped the writer, if one did.
        """
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()
        if self._failure is not None:
            raise self._failure

    def _loop(self) -> None:
        pending: list[dict[str, Any]] = []
        deadline = 0.0
        while True:
            timeout = max(0.0, deadline - time.monotonic()) if pending else None
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._flush(pending)
                return
            if item is not None:
                if not pending:
                    deadline = time.monotonic() + FLUSH_INTERVAL_S
                pending.append(item)
                if len(pending) < BATCH_SIZE and time.monotonic() < deadline:
                    continue
            if not self._flush(pending):
                self._drain()
                return
            pending = []

    def _flush(self, records: list[dict[str, Any]]) -> bool:
        try:
            self._write(records)
        except BaseException as exc:  # the boundary: the worker threads learn of it in put
            self._failure = exc
            return False
        return True

    def _write(self, records: list[dict[str, Any]]) -> None:
        while records:
            try:
                self.written += self._run.log_many(records)
                return
            except InvalidInputError as exc:
                if exc.index is None:
                    raise
                # The records before the refused one are committed; replace it, go on.
                self.written += exc.logged_count
                stand_in = self._on_refused(records[exc.index], exc)
                rest = records[exc.index + 1 :]
                if stand_in is not None:
                    self.replaced += 1
                    self.written += self._log_stand_in(stand_in)
                records = rest

    def _log_stand_in(self, record: dict[str, Any]) -> int:
        try:
            return self._run.log_many([record])
        except InvalidInputError:
            # Even the stand-in is refused (a tiny field size limit): keep the key and metrics.
            keep = ("datapoint_id", "epoch", "metrics", "duration_ms")
            return self._run.log_many([{key: record.get(key) for key in keep}])

    def _drain(self) -> None:
        # After a failure nothing more is written; empty the queue so close() returns.
        self._closed = True
        while True:
            try:
                if self._queue.get_nowait() is _STOP:
                    return
            except queue.Empty:
                return
