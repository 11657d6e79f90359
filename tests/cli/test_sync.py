"""`evalyard sync` against a real server on loopback: what it sends, to whom, and what it
keeps when it cannot send a file whole."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner, Result

import evalyard
from evalyard.cli.exit_codes import SYNC_INCOMPLETE
from evalyard.cli.main import cli
from evalyard.store import open_store
from evalyard.store.spool import Spool, SpoolEntry
from tests.api.conftest import ServerProcess, free_port, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A team server without auth on an SQLite file."""
    folder = tmp_path_factory.mktemp("sync")
    url = f"sqlite:///{folder / 'evalyard.db'}"
    open_store(url).close()
    with running_server(url, folder) as found:
        yield found


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request 200 and keeps its path and Authorization header."""

    seen: ClassVar[list[tuple[str, str | None]]] = []

    def _answer(self) -> None:
        self.seen.append((self.path, self.headers.get("authorization")))
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        body = b'{"run": {}}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    """Another HTTP server on loopback, which records what it is sent."""
    seen: ClassVar[list[tuple[str, str | None]]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def _record(datapoint_id: str, value: str = "1.0") -> bytes:
    return (
        f'{{"datapoint_id":"{datapoint_id}","epoch":0,"inputs":null,"outputs":null,'
        f'"ground_truth":null,"metadata":null,"metrics":{{"v":{value}}},"steps":null,'
        '"error":null,"duration_ms":null}'
    ).encode()


def _batch(*records: bytes) -> SpoolEntry:
    key = uuid.uuid4().hex.encode()
    body = b'{"idempotency_key":"' + key + b'","records":[' + b",".join(records) + b"]}"
    return SpoolEntry("batch", "", body=body, count=len(records))


def _spool_file(folder: Path, server_url: str, run_id: str, *entries: SpoolEntry) -> Path:
    """A spool file left by a process that ended: these operations, for this server."""
    spool = Spool(folder, server_url)
    for entry in entries:
        spool.append(
            SpoolEntry(
                entry.op,
                run_id,
                body=entry.body,
                count=entry.count,
                status=entry.status,
                name=entry.name,
            )
        )
    path = spool.path
    assert path is not None
    spool.close()
    return path


def _finish() -> SpoolEntry:
    return SpoolEntry("finish", "", status="completed")


def _sync(*args: str) -> Result:
    return CliRunner().invoke(cli, ["sync", *args])


def _started(server: ServerProcess, name: str) -> str:
    run = evalyard.start_run(f"{name}-{uuid.uuid4().hex[:6]}", store=server.url)
    return run.run_id


def test_sync_sends_what_follows_a_batch_the_server_refuses_and_keeps_the_file(
    server: ServerProcess, tmp_path: Path
) -> None:
    run_id = _started(server, "refused")
    folder = tmp_path / ".evalyard" / "spool"
    # An escaped lone surrogate: the server refuses that body (422) as it is.
    refused = _batch(_record("x", '"\\ud800"'))
    path = _spool_file(
        folder, server.url, run_id, _batch(_record("a")), refused, _batch(_record("b")), _finish()
    )

    result = _sync("--server", server.url)

    assert result.exit_code == SYNC_INCOMPLETE, result.output
    assert f"{path}:3: the server refused a batch of 1 results" in result.stderr
    assert "sent 2 results from 0 spool files" in result.stdout
    info = evalyard.get_run(run_id, store=server.store_url)
    assert info.result_count == 2
    assert info.status is evalyard.RunStatus.COMPLETED
    assert not path.exists()
    kept = folder / "failed" / path.name
    assert kept.read_bytes().count(b"\n") == 5
    assert str(kept) in result.stderr


def test_sync_skips_a_damaged_line_names_it_and_sends_the_rest(
    server: ServerProcess, tmp_path: Path
) -> None:
    run_id = _started(server, "damaged")
    folder = tmp_path / ".evalyard" / "spool"
    path = _spool_file(folder, server.url, run_id, _batch(_record("a")))
    with path.open("ab") as handle:
        handle.write(b'{"op":"batch","run_id":\x00\xff garbage\n')
    spool = Spool(folder, server.url)
    spool.path, spool._file = path, path.open("ab")  # go on with the same file
    for entry in (_batch(_record("b"), _record("c")), _finish()):
        spool.append(
            SpoolEntry(entry.op, run_id, body=entry.body, count=entry.count, status=entry.status)
        )
    spool.close()

    result = _sync("--server", server.url)

    assert result.exit_code == SYNC_INCOMPLETE, result.output
    assert f"{path}:3: a damaged line, skipped" in result.stderr
    info = evalyard.get_run(run_id, store=server.store_url)
    assert info.result_count == 3
    assert info.status is evalyard.RunStatus.COMPLETED
    assert (folder / "failed" / path.name).exists()
    assert not path.exists()


def test_sync_sends_the_token_only_to_the_configured_server(
    server: ServerProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    recorder: tuple[str, list[tuple[str, str | None]]],
) -> None:
    other_url, seen = recorder
    run_id = _started(server, "token")
    folder = tmp_path / ".evalyard" / "spool"
    elsewhere = _spool_file(folder, other_url, run_id, _batch(_record("x")), _finish())
    here = _spool_file(folder, server.url + "/", run_id, _batch(_record("a")), _finish())
    monkeypatch.setenv("EVALYARD_TOKEN", "eyd_secret")
    monkeypatch.setenv("EVALYARD_STORE", server.url)

    result = _sync()

    assert seen == []  # not a request, let alone the token
    assert result.exit_code == SYNC_INCOMPLETE, result.output
    assert f"{elsewhere} is for the server at {other_url}" in result.stderr
    assert elsewhere.exists()
    assert not here.exists()
    info = evalyard.get_run(run_id, store=server.store_url)
    assert info.result_count == 1
    assert info.status is evalyard.RunStatus.COMPLETED


def test_sync_without_a_configured_server_sends_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    recorder: tuple[str, list[tuple[str, str | None]]],
) -> None:
    other_url, seen = recorder
    folder = tmp_path / ".evalyard" / "spool"
    path = _spool_file(folder, other_url, "r1", _batch(_record("x")), _finish())
    monkeypatch.setenv("EVALYARD_TOKEN", "eyd_secret")

    result = _sync()

    assert seen == []
    assert result.exit_code == SYNC_INCOMPLETE, result.output
    assert "no team server to send them to" in result.stderr
    assert "--server" in result.stderr
    assert path.exists()


def test_sync_of_files_for_a_server_that_stays_down_leaves_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    folder = tmp_path / ".evalyard" / "spool"
    first = _spool_file(folder, down, "r1", _batch(_record("a")), _finish())
    second = _spool_file(folder, down, "r2", _batch(_record("b")), _finish())
    monkeypatch.setenv("EVALYARD_RETRY_SECONDS", "0.3")

    result = _sync("--server", down)

    assert result.exit_code == SYNC_INCOMPLETE, result.output
    assert f"cannot reach the evalyard server at {down}" in result.stderr
    assert "1 more spool files left as they are" in result.stderr
    assert "2 files left for a later sync" in result.stdout
    assert first.read_bytes().count(b"\n") == 3
    assert second.read_bytes().count(b"\n") == 3
    assert not (folder / "failed").exists()


def test_sync_skips_empty_and_damaged_spool_files_and_sends_the_rest(
    server: ServerProcess, tmp_path: Path
) -> None:
    run_id = _started(server, "empty")
    folder = tmp_path / ".evalyard" / "spool"
    folder.mkdir(parents=True)
    empty = folder / "1-empty.jsonl"
    empty.write_bytes(b"")  # a disk that was full when the process wanted its header
    damaged = folder / "2-damaged.jsonl"
    damaged.write_bytes(b'{"evalyard_spool": 1, "ser\x00\n')
    for age, path in enumerate((empty, damaged)):
        os.utime(path, (1_000_000 + age, 1_000_000 + age))  # the oldest: listed first
    good = _spool_file(folder, server.url, run_id, _batch(_record("a"), _record("b")), _finish())

    result = _sync("--server", server.url)

    assert result.exit_code == SYNC_INCOMPLETE, result.output
    assert f"{empty} is empty" in result.stderr
    assert f"{damaged}:1 does not name a server" in result.stderr
    assert "sent 2 results from 1 spool files" in result.stdout
    assert not good.exists()
    assert sorted(p.name for p in (folder / "failed").iterdir()) == [empty.name, damaged.name]
    info = evalyard.get_run(run_id, store=server.store_url)
    assert info.result_count == 2
    assert info.status is evalyard.RunStatus.COMPLETED
