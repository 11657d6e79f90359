"""The background sender of an HTTP store: batching, retrying, spooling, in order.

``Run.log`` hands each checked result to :meth:`Uploader.put` and returns. One thread
gathers what was handed over into batches (up to :data:`MAX_RECORDS` results or
:data:`MAX_BYTES` of JSON, or what arrived within :data:`INTERVAL_S`), gives each batch a
fresh idempotency key, and sends it; the transport retries connection errors and 5xx with
exponential backoff for ``EVALYARD_RETRY_SECONDS``. A batch the server still cannot take
goes to the spool file (:mod:`.spool`), and so does every batch after it, so that results
reach the server in the order they were logged (logging a datapoint again must replace it,
never be replaced by an older copy). A run created while the server was unreachable waits
in the spool the same way, ahead of its batches. While the spool holds operations the
thread tries to send them every :data:`PROBE_S` seconds; once all are sent it sends
directly again.

The guarantee: when :meth:`Uploader.flush` returns, every result handed over before it is
on the server or in the spool (written and fsync'ed). A result the server refuses as bad
input (which local checks make rare: a metric whose kind another process changed, a
server with a smaller size limit) is dropped alone, and the error is raised by the next
``put`` or ``flush``.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from evalyard.errors import EvalyardError, InvalidInputError, StoreError
from evalyard.store.spool import Spool, SpoolEntry
from evalyard.store.wire import batch_body

__all__ = [
    "INTERVAL_S",
    "MAX_BYTES",
    "MAX_PENDING",
    "MAX_RECORDS",
    "PROBE_S",
    "AccessRefusedError",
    "BodyTooLarge",
    "ServerUnreachableError",
    "Transport",
    "Uploader",
]

#: Results per request at most.
MAX_RECORDS = 5000
#: JSON bytes of results per request at most (a single larger result goes alone).
MAX_BYTES = 8 * 1024 * 1024
#: The longest a handed-over result waits for others before it is sent, in seconds.
INTERVAL_S = 0.1
#: How often a process with a spool tries to send it, in seconds.
PROBE_S = 1.0
#: Results waiting to be sent at most: a caller logging faster than the server takes them
#: waits in ``put`` (memory stays bounded, and the server gets the CPU it needs).
MAX_PENDING = 50_000


class ServerUnreachableError(StoreError):
    """The team server could not be reached (or kept answering 5xx) for the retry time."""


class AccessRefusedError(StoreError):
    """The team server refused the access token (401) or its scope or project (403)."""


class BodyTooLarge(InvalidInputError):
    """The server refused a request body as too large (413)."""


class Transport(Protocol):
    """What sends the operations to the server (the HTTP store)."""

    def post_create(self, run_id: str, name: str, body: bytes, *, retry: bool) -> None:
        """Create a run from a spooled body (under another name if that one was taken)."""
        ...

    def post_batch(self, run_id: str, body: bytes, *, retry: bool) -> None:
        """Send one batch body; ``retry`` False makes one attempt only."""
        ...

    def post_finish(
        self, run_id: str, status: str, shard: tuple[int, int] | None, *, retry: bool
    ) -> None:
        """Finish a run, or one shard of it."""
        ...


@dataclass(slots=True)
class _Pending:
    run_id: str
    record: bytes


class Uploader:
    """Sends the results handed to it in the background (see the module docstring).

    Args:
        transport: sends to the server (raises ServerUnreachableError, or the server's
            error).
        spool: where batches wait while the server is unreachable.
    """

    def __init__(self, transport: Transport, spool: Spool) -> None:
        self._transport = transport
        self.spool = spool
        self._cond = threading.Condition()
        self._pending: deque[_Pending] = deque()
        self._handed = 0
        self._settled = 0
        self._oldest = 0.0
        self._flushing = 0
        self._closed = False
        self._failures: list[EvalyardError] = []
        self._next_probe = 0.0
        self._draining = False
        self._thread: threading.Thread | None = None

    # -- the caller's side ------------------------------------------------------------------

    def put(self, run_id: str, records: list[bytes]) -> None:
        """Hand results over (as batch-record JSON), then raise the refusal of an earlier
        result, if the server refused one since the last call."""
        if records:
            self._hand_over(run_id, records)
        if self._failures:
            failure = self._failures.pop(0)
            failure.add_note(
                "evalyard: this refers to a result logged earlier and sent in the background; "
                "the results of this call were handed over"
            )
            raise failure

    def _hand_over(self, run_id: str, records: list[bytes]) -> None:
        with self._cond:
            if self._closed:
                raise StoreError("this store is closed; open another to log more")
            while (
                len(self._pending) >= MAX_PENDING
                and self._thread is not None
                and self._thread.is_alive()
            ):
                self._cond.wait(timeout=1.0)
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.extend(_Pending(run_id, record) for record in records)
            self._handed += len(records)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="evalyard-uploader", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def flush(self) -> None:
        """Return once everything handed over is on the server or in the spool."""
        with self._cond:
            target = self._handed
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._settled < target:
                    if self._thread is None or not self._thread.is_alive():
                        raise StoreError("the background sender of this store stopped")
                    self._cond.wait(timeout=1.0)
            finally:
                self._flushing -= 1
        self._raise_failure()

    def drain_spool(self) -> bool:
        """Try to send what the spool holds now (the caller waits); True when it is empty."""
        with self._cond:
            return self._drain()

    def spool_entry(self, entry: SpoolEntry) -> None:
        """Append an operation to the spool, behind what it holds (a run's creation or
        finish)."""
        with self._cond:
            self.spool.append(entry)

    def creation_spooled(self, run_id: str) -> bool:
        """Whether the creation of this run waits in the spool (not on the server yet)."""
        with self._cond:
            return any(e.op == "create" and e.run_id == run_id for e in self.spool.entries)

    def close(self) -> None:
        """Flush, try to send the spool once more, then stop the thread and let go of the
        spool file (what is left in it waits for ``evalyard sync``)."""
        try:
            self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            if self._thread is not None:
                self._thread.join(timeout=5)
            with self._cond:
                if len(self.spool):
                    self._drain()
                self.spool.close()

    def reset_after_fork(self) -> None:
        """Forget the parent's queue, thread and spool (the parent sends them)."""
        self._cond = threading.Condition()
        self._pending = deque()
        self._handed = self._settled = self._flushing = 0
        self._closed = False
        self._failures = []
        self._draining = False
        self._thread = None
        self.spool.forget()

    def _raise_failure(self) -> None:
        if self._failures:
            failure = self._failures.pop(0)
            raise failure

    # -- the thread ---------------------------------------------------------------------------

    def _take(self) -> tuple[str, list[bytes]]:
        """The oldest run's consecutive pending results, up to the batch limits."""
        run_id = self._pending[0].run_id
        records: list[bytes] = []
        size = 0
        while self._pending and self._pending[0].run_id == run_id:
            record = self._pending[0].record
            if records and (len(records) >= MAX_RECORDS or size + len(record) > MAX_BYTES):
                break
            self._pending.popleft()
            records.append(record)
            size += len(record)
        if self._pending:
            self._oldest = time.monotonic()
        return run_id, records

    def _loop(self) -> None:
        with self._cond:
            while True:
                if self._pending:
                    ready = (
                        self._flushing
                        or self._closed
                        or len(self._pending) >= MAX_RECORDS
                        or time.monotonic() - self._oldest >= INTERVAL_S
                    )
                    if not ready:
                        self._cond.wait(timeout=INTERVAL_S)
                        continue
                    run_id, records = self._take()
                    try:
                        self._deliver(run_id, records)
                    except BaseException as exc:  # the boundary: never die silently
                        self._failures.append(
                            exc if isinstance(exc, EvalyardError) else StoreError(repr(exc))
                        )
                    self._settled += len(records)
                    self._cond.notify_all()
                    continue
                if self._closed:
                    return
                if len(self.spool) and time.monotonic() >= self._next_probe:
                    self._drain()
                    continue
                self._cond.wait(timeout=PROBE_S if len(self.spool) else None)

    def _unlocked(self, action: Callable[[], None]) -> None:
        # Network calls happen without the lock, so callers can keep handing results over.
        self._cond.release()
        try:
            action()
        finally:
            self._cond.acquire()

    def _deliver(self, run_id: str, records: list[bytes]) -> None:
        key = uuid.uuid4().hex
        body = batch_body(key, records)
        if len(self.spool) and not self._drain():
            self.spool.append(SpoolEntry("batch", run_id, body=body, count=len(records)))
            return
        try:
            self._unlocked(lambda: self._transport.post_batch(run_id, body, retry=True))
        except (ServerUnreachableError, AccessRefusedError) as exc:
            # Kept for later: the server comes back, or `evalyard sync` runs with a token
            # the server takes.
            self.spool.append(SpoolEntry("batch", run_id, body=body, count=len(records)))
            self._next_probe = time.monotonic() + PROBE_S
            if isinstance(exc, AccessRefusedError):
                self._failures.append(exc)
        except BodyTooLarge as exc:
            if len(records) == 1:
                self._failures.append(exc)
                return
            half = len(records) // 2
            self._deliver(run_id, records[:half])
            self._deliver(run_id, records[half:])
        except InvalidInputError as exc:
            # The whole batch was refused for one record: keep the others, report it.
            self._failures.append(exc)
            index = exc.index
            if index is None or not 0 <= index < len(records):
                return
            exc.index = None  # its index in a background batch means nothing to the caller
            for part in (records[:index], records[index + 1 :]):
                if part:
                    self._deliver(run_id, part)

    def _drain(self) -> bool:
        """Send the spool's entries in order (one attempt each); True when none are left.

        Called with the lock held; one drain at a time (the lock is let go while sending).
        """
        while self._draining:
            self._cond.wait()
        if not len(self.spool):
            return True
        self._draining = True
        sent = 0
        try:
            for entry in self.spool.entries:
                self._unlocked(functools.partial(self._replay, entry))
                sent += 1
        except (ServerUnreachableError, AccessRefusedError):
            self._next_probe = time.monotonic() + PROBE_S
            return False
        except EvalyardError as exc:
            # Refused for good (a bad record, a deleted run): report it, do not block on it.
            self._failures.append(exc)
            sent += 1
        finally:
            if sent:
                self.spool.sent(sent)
            self._draining = False
            self._cond.notify_all()
        return not len(self.spool)

    def _replay(self, entry: SpoolEntry) -> None:
        if entry.op == "batch":
            self._transport.post_batch(entry.run_id, entry.body, retry=False)
        elif entry.op == "create":
            assert entry.name is not None
            self._transport.post_create(entry.run_id, entry.name, entry.body, retry=False)
        else:
            assert entry.status is not None
            self._transport.post_finish(entry.run_id, entry.status, entry.shard, retry=False)
