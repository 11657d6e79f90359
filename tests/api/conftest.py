"""Fixtures of the team server tests: a real ``evalyard server`` process on loopback.

Each server runs as a subprocess on 127.0.0.1 and a free port, backed by an SQLite file or
a fresh PostgreSQL schema, and can be killed (SIGKILL) and started again on the same port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from evalyard.server.tokens import create_token
from evalyard.store import SQLStore, open_store
from tests.conftest import postgres_schema_url

_MAIN = "from evalyard.cli.main import main; main()"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: no EVALYARD_* settings but ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVALYARD_")}
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    """An ``evalyard server`` subprocess."""

    store_url: str
    folder: Path
    port: int = field(default_factory=free_port)
    args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        log = open(self.folder / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _MAIN,
                "server",
                "--port",
                str(self.port),
                "--store",
                self.store_url,
                *self.args,
            ],
            cwd=self.folder,
            env=clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start: {self.log()}") from None
                time.sleep(0.05)

    def log(self) -> str:
        path = self.folder / f"server-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, timeout=60, headers=headers)


@contextmanager
def running_server(store_url: str, folder: Path, *args: str) -> Iterator[ServerProcess]:
    server = ServerProcess(store_url, folder, args=args).start()
    try:
        yield server
    finally:
        server.stop()


def _store_urls(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("server")
    if request.param == "sqlite":
        yield f"sqlite:///{folder / 'evalyard.db'}", folder
    else:
        for url in postgres_schema_url():
            yield url, folder


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A team server without auth on loopback, on SQLite then PostgreSQL."""
    for url, folder in _store_urls(request, tmp_path_factory):
        # Migrate first, so that parallel test processes never race on an empty schema.
        open_store(url).close()
        with running_server(url, folder) as found:
            yield found


@dataclass(frozen=True)
class Tokens:
    """Tokens of the auth server, by role."""

    write: str
    read: str
    other_write: str
    other_read: str


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Tokens]]:
    """A team server with --auth on an SQLite store, and tokens for projects a and b."""
    folder = tmp_path_factory.mktemp("auth")
    url = f"sqlite:///{folder / 'evalyard.db'}"
    store = open_store(url)
    assert isinstance(store, SQLStore)
    tokens = Tokens(
        write=create_token(store, scope="write", project="a")[0],
        read=create_token(store, scope="read", project="a")[0],
        other_write=create_token(store, scope="write", project="b")[0],
        other_read=create_token(store, scope="read", project="b")[0],
    )
    store.close()
    with running_server(url, folder, "--auth") as found:
        yield found, tokens
