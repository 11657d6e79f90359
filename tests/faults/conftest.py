"""Fixtures of the fault suite: seeded kill points, a database link that can be cut, and a
disk that fills up.

The suite injects faults that a user's machine meets sooner or later — a process killed at
any instant, a disk that fills, a database that goes away — and checks that evalyard keeps
every result whose call returned, refuses clearly what it cannot keep, and never answers a
fault with a 500. Kill points are drawn from seeded generators, so a failure names the seed
that reproduces it: ``EVALYARD_FAULT_SEEDS=7,8 pytest -m faults``.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

#: The seeds of the kill points (a comma-separated list in EVALYARD_FAULT_SEEDS).
FAULT_SEEDS = [
    int(seed) for seed in os.environ.get("EVALYARD_FAULT_SEEDS", "1,2").split(",") if seed
]


def kill_point(seed: int, total: int) -> tuple[int, float]:
    """Where to kill: once this many results are stored, and after this many seconds more."""
    rng = random.Random(seed)
    return rng.randrange(total // 20, total * 3 // 5), rng.uniform(0.0, 0.05)


class TCPLink:
    """A TCP relay on loopback in front of a server, which a test can cut and restore.

    Cutting closes the listening socket and every relayed connection at once, as a database
    that crashed or a network that went away would; restoring listens on the same port again.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
        if listener is not None:
            listener.close()
        for sock in sockets:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(upstream)
                    return
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        return
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 2 MB tmpfs: a disk that fills up (skipped where mount is not allowed)."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("cannot mount a small tmpfs here: no mount command")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() or 'no mount'}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)
