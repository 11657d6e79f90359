"""``evalyard server --workers N`` for real: N worker processes on one socket and one store.

Several clients log into one run at once, through new connections again and again; every
result is stored exactly once, and each worker process spent CPU time serving them (read
from /proc: the server's children). The settings reach every worker; a worker killed is
replaced; one that cannot start stops the server; SIGINT and SIGTERM stop every worker,
leaving no process behind. The default (one process) serves from the server's own process.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import evalyard
from evalyard.server.tokens import create_token
from evalyard.store import HTTPStore, SQLStore, open_store
from tests.api.conftest import ServerProcess, running_server
from tests.conftest import postgres_schema_url

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")

CLIENTS = 4
ROUNDS = 3
PER_ROUND = 2_000


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store, migrated: an SQLite file, then a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        found = f"sqlite:///{tmp_path / 'evalyard.db'}"
        open_store(found).close()
        yield found
    else:
        for found in postgres_schema_url():
            open_store(found).close()
            yield found


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid``, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None or fields[0] == "Z" or int(fields[1]) != pid:
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        found[int(entry.name)] = command
    return found


def _workers(pid: int, count: int) -> list[int]:
    """The ``count`` worker processes of the server ``pid`` (waiting for them to start)."""
    deadline = time.monotonic() + 30
    while True:
        found = [p for p, command in _children(pid).items() if "spawn_main" in command]
        if len(found) == count or time.monotonic() > deadline:
            return sorted(found)
        time.sleep(0.1)


def _cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    assert fields is not None, f"process {pid} is gone"
    # utime and stime, fields 14 and 15 of /proc/PID/stat (the state is field 3).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _left(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running a few seconds on (multiprocessing's resource tracker
    ends once its pipe from the server closes, a moment after the server)."""
    deadline = time.monotonic() + 10
    while (alive := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def _idle(pids: list[int]) -> dict[int, float]:
    """The CPU time of each process once none of them uses any (done starting)."""
    deadline = time.monotonic() + 30
    before = {p: _cpu_seconds(p) for p in pids}
    while True:
        time.sleep(0.5)
        now = {p: _cpu_seconds(p) for p in pids}
        if now == before or time.monotonic() > deadline:
            return now
        before = now


def _pid(server: ServerProcess) -> int:
    assert server.process is not None
    return server.process.pid


def _stop(server: ServerProcess, sig: signal.Signals) -> int:
    assert server.process is not None
    server.process.send_signal(sig)
    return server.process.wait(timeout=60)


def _log_concurrently(url: str, run_id: str) -> None:
    """CLIENTS threads log ROUNDS x PER_ROUND results each into one run, each round through
    a new SDK store (new connections, which either worker may accept)."""
    errors: list[BaseException] = []

    def client(number: int) -> None:
        try:
            for round_ in range(ROUNDS):
                store = HTTPStore(url)
                try:
                    run = evalyard.start_run(run_id=run_id, store=store)
                    run.log_many(
                        {
                            "id": f"c{number}-r{round_}-{i:05d}",
                            "outputs": f"answer {i}",
                            "metrics": {"score": i % 7 / 7, "ok": i % 2 == 0},
                        }
                        for i in range(PER_ROUND)
                    )
                    run.flush()
                finally:
                    store.close()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_workers_store_every_result_once_and_stop_together(
    url: str, tmp_path: Path, stop: signal.Signals
) -> None:
    with running_server(url, tmp_path, "--workers", "2") as server:
        parent = _pid(server)
        workers = _workers(parent, 2)
        assert len(workers) == 2, _children(parent)
        assert httpx.get(f"{server.url}/api/v1/run-search", timeout=60).status_code == 200
        before = _idle(workers)

        sdk = HTTPStore(server.url)
        run = evalyard.start_run(f"workers-{uuid.uuid4().hex[:6]}", store=sdk)
        _log_concurrently(server.url, run.run_id)
        assert run.finish().result_count == CLIENTS * ROUNDS * PER_ROUND
        sdk.close()

        # Each worker process served part of it: it spent CPU time while the clients logged.
        spent = {p: _cpu_seconds(p) - before[p] for p in workers}
        assert all(seconds >= 0.05 for seconds in spent.values()), spent
        assert _workers(parent, 2) == workers  # none died meanwhile

        others = list(_children(parent))  # the workers and multiprocessing's helper
        assert _stop(server, stop) == 0
        assert _left(others) == [], _children(parent)
        log = server.log()
        assert "Traceback" not in log
        assert "in its place" not in log  # no worker was replaced

    store = open_store(url)
    try:
        results = evalyard.get_results(run.run_id, store=store)
    finally:
        store.close()
    ids = [r.datapoint_id for r in results]
    expected = {
        f"c{n}-r{r}-{i:05d}"
        for n in range(CLIENTS)
        for r in range(ROUNDS)
        for i in range(PER_ROUND)
    }
    assert len(ids) == len(expected)
    assert set(ids) == expected


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None, page
    return found.group(1)


def test_every_worker_has_the_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    store = open_store(url)
    assert isinstance(store, SQLStore)
    token = create_token(store, scope="read")[0]
    store.close()
    args = ("--workers", "2", "--auth", "--max-body-bytes", "4096", "--session-hours", "0.5")
    with running_server(url, tmp_path, *args, "--allow-host", "evalyard.test") as server:
        _workers(_pid(server), 2)
        # New connections each time: the two workers take them as they come.
        for _ in range(12):
            with httpx.Client(base_url=server.url, timeout=60) as client:
                assert client.get("/api/v1/run-search").status_code == 401
                bearer = {"authorization": f"Bearer {token}"}
                assert client.get("/api/v1/run-search", headers=bearer).status_code == 200
                named = {**bearer, "host": "evalyard.test"}
                assert client.get("/api/v1/run-search", headers=named).status_code == 200
                other = {**bearer, "host": "other.test"}
                assert client.get("/api/v1/run-search", headers=other).status_code == 400
                big = client.post("/api/v1/runs", headers=bearer, content=b"x" * 5000)
                assert big.status_code == 413
            with httpx.Client(base_url=server.url, timeout=60) as client:
                csrf = _csrf(client.get("/login").text)
                done = client.post(
                    "/login", data={"csrf": csrf, "token": token}, follow_redirects=False
                )
                assert done.status_code == 303
                assert "max-age=1800" in done.headers["set-cookie"].lower()
                assert client.get("/experiments").status_code == 200


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    open_store(url).close()
    with running_server(url, tmp_path, "--workers", "2") as server:
        parent = _pid(server)
        first, second = _workers(parent, 2)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while "in its place" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        found = re.search(
            rf"evalyard server: worker process {first} was killed by signal 9; started worker "
            r"process (\d+) in its place",
            server.log(),
        )
        assert found is not None, server.log()
        assert _workers(parent, 2) == sorted([second, int(found.group(1))])
        for _ in range(5):
            assert httpx.get(f"{server.url}/api/v1/run-search", timeout=60).status_code == 200
        assert _stop(server, signal.SIGTERM) == 0


def test_a_worker_that_cannot_start_stops_the_server(tmp_path: Path) -> None:
    # A worker whose app cannot be made exits with uvicorn's start-up failure code (3), as
    # worker_app does when its store cannot be opened; the CLI turns the error into one
    # line and its exit code.
    script = (
        "import functools, sys\n"
        "from evalyard.cli.exit_codes import exit_code_for\n"
        "from evalyard.cli.listen import bind, serve\n"
        "try:\n"
        "    serve(functools.partial(sys.exit, 3), bind('127.0.0.1', 0), workers=2)\n"
        "except Exception as exc:\n"
        "    print(f'{type(exc).__name__}: {exc}')\n"
        "    sys.exit(exit_code_for(exc))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == (
        "WorkersFailedError: a worker process could not start (its error is above); the "
        "server stopped\n"
    )


def test_one_worker_by_default_is_the_server_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    open_store(url).close()
    with running_server(url, tmp_path) as server:
        assert httpx.get(f"{server.url}/api/v1/run-search", timeout=60).status_code == 200
        assert not [c for c in _children(_pid(server)).values() if "spawn_main" in c]
        assert "worker processes" not in server.log()  # the banner is as before
        # As before --workers: uvicorn shuts down, then ends by the signal it was sent.
        assert _stop(server, signal.SIGTERM) == -signal.SIGTERM
