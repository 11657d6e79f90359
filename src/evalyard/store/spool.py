"""The spool: operations a team server could not take yet, kept in a local file until it can.

Each :class:`~evalyard.store.http.HTTPStore` that needs one writes its own file,
``<spool dir>/<pid>-<random>.jsonl`` (``.evalyard/spool`` by default), holding an exclusive
lock on it while the process lives. The first line names the server; each further line is
one operation, appended and fsync'ed before the call that spooled it returns:

    {"evalyard_spool": 1, "server": "http://host:8000", "created_at": 1700000000.0}
    {"op": "create", "run_id": "...", "name": "...", "body": {...}}
    {"op": "batch", "run_id": "...", "count": 500, "body": {...}}
    {"op": "finish", "run_id": "...", "status": "completed", "shard": null}

``body`` is the request body exactly as it was first sent, and it is read back and sent
again as those bytes, never decoded and encoded again. A batch keeps the idempotency key it
was first sent with, so sending it again (from the process that spooled it when the server
comes back, or from ``evalyard sync`` after that process ended) never writes it twice.

A last line cut short by a crash is ignored: its call had not returned. Any other line
that cannot be read is skipped and named (``file:line``); the operations around it are
still sent. ``evalyard sync`` skips the files a live process still holds, and moves a file
it could not send whole into ``<spool dir>/failed/`` instead of deleting it.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol

import orjson

from evalyard.errors import EvalyardError, StoreError

__all__ = [
    "FAILED_DIR",
    "Replay",
    "Spool",
    "SpoolContents",
    "SpoolEntry",
    "SpoolFileError",
    "SpoolSender",
    "move_aside",
    "read_spool",
    "replay",
    "spool_files",
]

#: The folder, inside the spool folder, that keeps files ``evalyard sync`` could not send.
FAILED_DIR = "failed"

_BODY = b',"body":'


class SpoolFileError(StoreError):
    """A file in the spool folder that is not a readable spool file (empty, or damaged)."""


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One spooled operation."""

    op: str
    """``create``, ``batch`` or ``finish``."""
    run_id: str
    """The run it is for."""
    body: bytes = b""
    """A create or a batch: its request body, as first sent (a batch's key included)."""
    count: int = 0
    """A batch: how many results it holds."""
    status: str | None = None
    """A finish: the final status."""
    shard: tuple[int, int] | None = None
    """A finish of one shard: (index, count)."""
    name: str | None = None
    """A create: the run's name."""

    def describe(self) -> str:
        """What the operation is, for messages."""
        if self.op == "batch":
            return f"a batch of {self.count:,} results of run {self.run_id!r}"
        if self.op == "create":
            return f"the creation of run {self.run_id!r} ({self.name!r})"
        return f"the finish of run {self.run_id!r}"


class SpoolSender(Protocol):
    """What sends spooled operations to the server (an HTTP store)."""

    def send_create(self, run_id: str, name: str, body: bytes) -> None:
        """Create a run from its spooled body; raise when the server does not take it."""
        ...

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
    """One line of the file: the operation's fields, then its body as raw bytes."""
    if entry.op == "batch":
        head: dict[str, Any] = {"op": "batch", "run_id": entry.run_id, "count": entry.count}
    elif entry.op == "create":
        head = {"op": "create", "run_id": entry.run_id, "name": entry.name}
    else:
        head = {
            "op": "finish",
            "run_id": entry.run_id,
            "status": entry.status,
            "shard": list(entry.shard) if entry.shard else None,
        }
        return orjson.dumps(head) + b"\n"
    # The body is JSON already: it goes in as it is, and is read back as the same bytes.
    return orjson.dumps(head)[:-1] + _BODY + entry.body + b"}\n"


def _entry(line: bytes) -> SpoolEntry:
    """The operation of one line; ValueError (or KeyError, TypeError) when it is damaged.

    The body is cut out as bytes: ``,"body":`` cannot occur inside a JSON string (its quote
    would be escaped), so its first occurrence ends the fields.
    """
    split = line.find(_BODY)
    if split < 0:
        data = orjson.loads(line)
        body = b""
    else:
        if not line.endswith(b"}"):
            raise ValueError("the line does not end its body")
        data = orjson.loads(line[:split] + b"}")
        body = line[split + len(_BODY) : -1]
    if not isinstance(data, dict):
        raise TypeError("the line is not an object")
    op, run_id = data["op"], data["run_id"]
    if not isinstance(run_id, str):
        raise TypeError("run_id is not text")
    if op in ("batch", "create") and not body.strip():
        raise ValueError(f"a {op} without a body")
    if op == "batch":
        return SpoolEntry("batch", run_id, body=body, count=int(data["count"]))
    if op == "create":
        return SpoolEntry("create", run_id, body=body, name=str(data["name"]))
    if op == "finish":
        shard = data.get("shard")
        return SpoolEntry(
            "finish",
            run_id,
            status=str(data["status"]),
            shard=(int(shard[0]), int(shard[1])) if shard else None,
        )
    raise ValueError(f"unknown operation {op!r}")


@dataclass(frozen=True, slots=True)
class SpoolContents:
    """What a spool file holds."""

    server: str
    """The server it was written for."""
    entries: list[tuple[int, SpoolEntry]]
    """Its operations, in order, each with its line number (1 is the header)."""
    damaged: list[int]
    """The numbers of the lines that could not be read (a last line cut short by a crash
    is not among them: its call never returned)."""


def read_spool(path: Path) -> SpoolContents:
    """The server a spool file is for, its operations and its damaged lines.

    Raises:
        SpoolFileError: the file is empty, or its first line does not name a server.
    """
    data = path.read_bytes()
    if not data:
        raise SpoolFileError(f"{path} is empty (nothing was written to it)")
    lines = data.split(b"\n")
    try:
        header = orjson.loads(lines[0])
        server = header["server"]
        if not isinstance(server, str):
            raise TypeError(server)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise SpoolFileError(
            f"{path}:1 does not name a server: not an evalyard spool file"
        ) from None
    entries: list[tuple[int, SpoolEntry]] = []
    damaged: list[int] = []
    last = len(lines) - 1  # after the final newline: empty, or a line cut short
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            entries.append((number, _entry(line)))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError):
            if number - 1 != last:
                damaged.append(number)
    return SpoolContents(server, entries, damaged)


def spool_files(directory: Path) -> Iterator[Path]:
    """The spool files in a folder, oldest first."""
    if not directory.is_dir():
        return iter(())
    found: list[tuple[float, str, Path]] = []
    for path in directory.glob("*.jsonl"):
        try:
            found.append((path.stat().st_mtime, path.name, path))
        except FileNotFoundError:
            continue  # sent and removed by its process meanwhile
    return iter(path for _, _, path in sorted(found))


def move_aside(path: Path) -> Path:
    """Move a spool file into ``failed/`` beside it (never over another); return where."""
    folder = path.parent / FAILED_DIR
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    while target.exists():
        target = folder / f"{path.stem}-{uuid.uuid4().hex[:6]}{path.suffix}"
    os.replace(path, target)
    return target


Outcome = Literal["sent", "failed", "left", "busy", "gone"]


@dataclass(slots=True)
class Replay:
    """What :func:`replay` did with one file."""

    path: Path
    outcome: Outcome
    """``sent`` (and deleted), ``failed`` (moved to ``moved_to``), ``left`` (kept where it
    is: another server, or the server is away), ``busy`` (a live process holds it) or
    ``gone`` (sent by its process since it was listed)."""
    server: str | None = None
    """The server the file names."""
    results: int = 0
    """Results in the batches the server took."""
    problems: list[str] = field(default_factory=list)
    """What went wrong, each naming the file and line."""
    moved_to: Path | None = None


def _send(sender: SpoolSender, entry: SpoolEntry) -> None:
    if entry.op == "batch":
        sender.send_batch(entry.run_id, entry.body)
    elif entry.op == "create":
        assert entry.name is not None
        sender.send_create(entry.run_id, entry.name, entry.body)
    else:
        assert entry.status is not None
        sender.send_finish(entry.run_id, entry.status, entry.shard)


def replay(
    path: Path,
    choose: Callable[[str], SpoolSender | None],
    *,
    away: tuple[type[BaseException], ...] = (),
) -> Replay:
    """Send a spool file's operations in order, then delete it.

    Args:
        path: the spool file.
        choose: the sender for the server the file names, or None to leave the file.
        away: the errors that mean the server cannot take anything now (unreachable,
            the token refused): the file is left where it is, to be sent again later
            (which sends nothing twice).

    An operation the server refuses is named in ``problems`` and the ones after it are
    still sent; a damaged line is skipped the same way. A file with any such problem (or
    one that cannot be read at all) is moved into ``failed/``, never deleted.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below, after the unlink)
    except FileNotFoundError:
        return Replay(path, "gone")
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return Replay(path, "busy")
        if not path.exists():
            return Replay(path, "gone")
        try:
            contents = read_spool(path)
        except SpoolFileError as exc:
            return Replay(path, "failed", problems=[str(exc)], moved_to=move_aside(path))
        done = Replay(path, "sent", server=contents.server)
        sender = choose(contents.server)
        if sender is None:
            done.outcome = "left"
            return done
        done.problems.extend(f"{path}:{n}: a damaged line, skipped" for n in contents.damaged)
        for number, entry in contents.entries:
            try:
                _send(sender, entry)
            except away as exc:
                done.outcome = "left"
                done.problems.append(f"{path}:{number}: {entry.describe()} was not sent: {exc}")
                return done
            except EvalyardError as exc:
                done.problems.append(
                    f"{path}:{number}: the server refused {entry.describe()}: {exc}"
                )
                continue
            done.results += entry.count
        if done.problems:
            done.outcome = "failed"
            done.moved_to = move_aside(path)
        else:
            path.unlink()
    return done
