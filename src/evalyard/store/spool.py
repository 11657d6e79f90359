"""The spool: batches a team server could not take yet, kept in a local file until it can.

Each :class:`~evalyard.store.http.HTTPStore` that needs one writes its own file,
``<spool dir>/<pid>-<random>.jsonl`` (``.evalyard/spool`` by default), holding an exclusive
lock on it while the process lives. The first line names the server; each further line is
one operation, appended and fsync'ed before the call that spooled it returns:

    {"evalyard_spool": 1, "server": "http://host:8000", "created_at": 1700000000.0}
    {"op": "batch", "run_id": "...", "key": "...", "count": 500, "body": {...}}
    {"op": "finish", "run_id": "...", "status": "completed", "shard": null}

A batch keeps the idempotency key it was first sent with, so sending it again (from the
process that spooled it when the server comes back, or from ``evalyard sync`` after that
process ended) never writes it twice. A last line cut short by a crash is ignored: its call
had not returned. ``evalyard sync`` skips the files a live process still holds.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from evalyard.errors import StoreError

__all__ = ["Spool", "SpoolEntry", "SpoolSender", "replay", "spool_files"]


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One spooled operation."""

    op: str
    """``batch`` or ``finish``."""
    run_id: str
    """The run it is for."""
    body: bytes = b""
    """A batch: its request body (idempotency key included)."""
    count: int = 0
    """A batch: how many results it holds."""
    status: str | None = None
    """A finish: the final status."""
    shard: tuple[int, int] | None = None
    """A finish of one shard: (index, count)."""


class SpoolSender(Protocol):
    """What sends spooled operations to the server (an HTTP store)."""

    def send_batch(self, run_id: str, body: bytes) -> None:
        """Send one batch body; raise when the server does not take it."""
        ...

    def send_finish(self, run_id: str, status: str, shard: tuple[int, int] | None) -> None:
        """Finish a run (or a shard of it); raise when the server does not take it."""
        ...


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """This process's spool file for one server (created when first needed)."""

    def __init__(self, directory: Path, server: str) -> None:
        self.directory = directory
        self.server = server
        self.path: Path | None = None
        self._file: IO[bytes] | None = None
        self._entries: list[SpoolEntry] = []

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> list[SpoolEntry]:
        """The operations spooled and not yet sent, oldest first."""
        return list(self._entries)

    def _open(self) -> IO[bytes]:
        if self._file is not None:
            return self._file
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
            handle = open(path, "ab")  # noqa: SIM115 (kept open, and locked, while we live)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            header = {"evalyard_spool": 1, "server": self.server, "created_at": time.time()}
            handle.write(orjson.dumps(header) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
            _fsync_dir(self.directory)
        except OSError as exc:
            raise StoreError(
                f"cannot write the spool in {self.directory} ({exc}); the team server at "
                f"{self.server} is unreachable and the results could not be kept"
            ) from None
        self.path, self._file = path, handle
        return handle

    def append(self, entry: SpoolEntry) -> None:
        """Append an operation durably (written and fsync'ed when this returns)."""
        handle = self._open()
        try:
            handle.write(_line(entry))
            handle.flush()
            os.fsync(handle.fileno())
        except OSError as exc:
            raise StoreError(f"cannot write the spool file {self.path}: {exc}") from None
        self._entries.append(entry)

    def sent(self, count: int) -> None:
        """The oldest ``count`` entries reached the server; with none left, drop the file."""
        del self._entries[:count]
        if self._entries or self._file is None or self.path is None:
            return
        # Unlink first, then unlock by closing: no other process can pick up a stale file.
        self.path.unlink(missing_ok=True)
        self._file.close()
        self._file, self.path = None, None

    def close(self) -> None:
        """Let go of the file (unlocked, kept): ``evalyard sync`` sends what it holds."""
        if self._file is not None:
            self._file.close()
        self._file, self.path, self._entries = None, None, []

    def forget(self) -> None:
        """Drop this spool without touching its file (a forked child: the parent owns it)."""
        self._file, self.path, self._entries = None, None, []


def _line(entry: SpoolEntry) -> bytes:
    if entry.op == "batch":
        head = orjson.dumps(
            {"op": "batch", "run_id": entry.run_id, "count": entry.count}
        )  # body appended raw: it is JSON already
        return head[:-1] + b',"body":' + entry.body + b"}\n"
    return (
        orjson.dumps(
            {
                "op": "finish",
                "run_id": entry.run_id,
                "status": entry.status,
                "shard": list(entry.shard) if entry.shard else None,
            }
        )
        + b"\n"
    )


def _entry(data: dict[str, Any]) -> SpoolEntry:
    if data["op"] == "batch":
        return SpoolEntry(
            "batch", data["run_id"], body=orjson.dumps(data["body"]), count=int(data["count"])
        )
    shard = data.get("shard")
    return SpoolEntry(
        "finish",
        data["run_id"],
        status=data["status"],
        shard=(int(shard[0]), int(shard[1])) if shard else None,
    )


def read_spool(path: Path) -> tuple[str, list[SpoolEntry]]:
    """The server a spool file is for, and its entries (a cut-short last line dropped)."""
    lines = path.read_bytes().split(b"\n")
    try:
        header = orjson.loads(lines[0])
        server = str(header["server"])
    except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
        raise StoreError(f"{path} is not an evalyard spool file") from None
    entries = []
    for line in lines[1:]:
        if not line:
            continue
        try:
            entries.append(_entry(orjson.loads(line)))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            break  # cut short by a crash: its call never returned
    return server, entries


def spool_files(directory: Path) -> Iterator[Path]:
    """The spool files in a folder, oldest first."""
    if not directory.is_dir():
        return iter(())
    return iter(sorted(directory.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name)))


def replay(path: Path, sender: SpoolSender) -> int | None:
    """Send a spool file's operations in order and delete it; None when a live process
    holds it. Returns how many results its batches held.

    Raises:
        the sender's error when the server does not take an operation; the file stays,
        and replaying it again later sends nothing twice.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below, after the unlink)
    except FileNotFoundError:
        return 0  # sent and removed by its process since it was listed
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        if not path.exists():
            return 0
        _, entries = read_spool(path)
        results = 0
        for entry in entries:
            if entry.op == "batch":
                sender.send_batch(entry.run_id, entry.body)
                results += entry.count
            else:
                assert entry.status is not None
                sender.send_finish(entry.run_id, entry.status, entry.shard)
        path.unlink()
    return results
