"""``evalyard ui`` and ``evalyard server`` for real: a port in use is one line and exit 2,
before any banner; ``--port 0`` serves on a free port that the banner names; Ctrl-C stops
them cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evalyard.store import open_store

_MAIN = "from evalyard.cli.main import main; main()"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EVALYARD_")}


@pytest.fixture
def occupied() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.mark.parametrize("command", ["ui", "server"])
def test_a_port_in_use_is_one_line_before_any_banner(
    command: str, occupied: int, store_url: str, tmp_path: Path
) -> None:
    open_store(store_url).close()
    done = subprocess.run(
        [sys.executable, "-c", _MAIN, command, "--port", str(occupied), "--store", store_url],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"error: cannot listen on 127.0.0.1:{occupied}: the port is in use; pick another "
        "with --port\n"
    )


def test_an_address_of_another_machine_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    open_store(url).close()
    done = subprocess.run(
        [sys.executable, "-c", _MAIN, "ui", "--host", "192.0.2.1", "--store", url],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: cannot listen on 192.0.2.1:8000: ")
    assert done.stderr.endswith(
        "check --host (an address of this machine, such as 127.0.0.1 or 0.0.0.0)\n"
    )


@pytest.mark.parametrize("command", ["ui", "server"])
def test_port_0_serves_on_the_free_port_the_banner_names(
    command: str, store_url: str, tmp_path: Path
) -> None:
    open_store(store_url).close()
    with subprocess.Popen(
        [sys.executable, "-c", _MAIN, command, "--port", "0", "--store", store_url],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            found = re.search(r"on http://127\.0\.0\.1:(\d+)/ ", banner)
            assert found is not None, banner
            port = int(found.group(1))
            assert port != 0
            answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/run-search", timeout=30)
            assert answer.status_code == 200
            assert answer.json() == {"runs": []}
            process.send_signal(signal.SIGINT)  # Ctrl-C stops it, as the banner says
            assert process.wait(timeout=30) == 0
            assert process.stderr is not None
            assert process.stderr.read() == ""
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
