"""Nothing lost, nothing duplicated: many writers through the server, a server killed and
restarted while a client logs, and a server that stays down (spool, then sync)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

import evalyard
from evalyard.cli.main import cli
from evalyard.store import SQLStore, close_stores, get_store, open_store, schema
from tests.api.conftest import ServerProcess

WRITERS = 8
PER_WRITER = 5_000


def _count_batches(store_url: str, run_id: str) -> tuple[int, int]:
    """(batch keys, results they hold) of a run, as the server stored them."""
    store = open_store(store_url)
    assert isinstance(store, SQLStore)
    try:
        k = schema.batch_keys
        with store.engine.connect() as connection:
            row = connection.execute(
                select(func.count(), func.coalesce(func.sum(k.c.record_count), 0)).where(
                    k.c.run_id == run_id
                )
            ).one()
        return int(row[0]), int(row[1])
    finally:
        store.close()


def _check_exactly(store_url: str, run_id: str, expected: int) -> None:
    store = open_store(store_url)
    try:
        keys = store.result_keys(run_id)
        assert len(keys) == expected
        assert len(set(keys)) == expected
    finally:
        store.close()
    keys, held = _count_batches(store_url, run_id)
    # Every batch was written under one key, once: no result was sent under two keys.
    assert held == expected, (keys, held)


def _writer(url: str, run_id: str, writer: int, folder: str) -> None:
    import os

    os.chdir(folder)
    run = evalyard.start_run(run_id=run_id, store=url)
    records = [
        {"id": f"w{writer}-{i:05d}", "metrics": {"v": float(i), "w": writer}}
        for i in range(PER_WRITER)
    ]
    for start in range(0, PER_WRITER - 20, 495):
        run.log_many(records[start : min(start + 495, PER_WRITER - 20)])
    for record in records[PER_WRITER - 20 :]:
        run.log(record["id"], metrics=record["metrics"])
    run.flush()
    close_stores()


@pytest.mark.slow
def test_eight_processes_log_into_one_run_through_the_server(
    server: ServerProcess, tmp_path: Path
) -> None:
    run = evalyard.start_run("eight-writers", store=server.url)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_writer, args=(server.url, run.run_id, w, str(tmp_path)))
        for w in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
        assert worker.exitcode == 0
    info = run.finish()
    assert info.result_count == WRITERS * PER_WRITER
    _check_exactly(server.store_url, run.run_id, WRITERS * PER_WRITER)


@pytest.mark.slow
def test_a_server_killed_and_restarted_while_a_client_logs_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALYARD_RETRY_SECONDS", "20")
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    server = ServerProcess(url, tmp_path).start()
    try:
        run = evalyard.start_run("through-a-crash", store=server.url)
        total = 0
        chunks = 60
        for chunk in range(chunks):
            records = [
                {"id": f"c{chunk:03d}-{i:03d}", "metrics": {"v": float(i)}} for i in range(250)
            ]
            run.log_many(records)
            total += len(records)
            if chunk in (15, 40):
                time.sleep(0.15)  # let batches be in flight
                server.kill()
                time.sleep(0.5)
                server.start()
            elif chunk % 5 == 0:
                time.sleep(0.05)
        info = run.finish()
        assert info.result_count == total
    finally:
        server.stop()
    _check_exactly(url, run.run_id, total)


def test_a_server_that_stays_down_gets_the_spool_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALYARD_RETRY_SECONDS", "0.3")
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    server = ServerProcess(url, tmp_path).start()
    try:
        run = evalyard.start_run("spooled", store=server.url)
        run.log_many([{"id": f"a{i}", "metrics": {"v": 1.0}} for i in range(300)])
        run.flush()
        server.kill()
        run.log_many([{"id": f"b{i}", "metrics": {"v": 2.0}} for i in range(300)])
        run.log("a0", metrics={"v": 3.0}, epoch=1)
        run.flush()  # returns: the batches are in the spool
        spooled = list((tmp_path / ".evalyard" / "spool").glob("*.jsonl"))
        assert len(spooled) == 1
        with pytest.raises(evalyard.StoreError, match="evalyard sync"):
            run.finish()
        close_stores()  # the process ends: its spool file is left for `evalyard sync`
        server.start()
        monkeypatch.setenv("EVALYARD_RETRY_SECONDS", "5")
        result = CliRunner().invoke(cli, ["sync", "--server", server.url])
        assert result.exit_code == 0, result.output
        assert "sent 301 results from 1 spool files" in result.output
        assert not list((tmp_path / ".evalyard" / "spool").glob("*.jsonl"))
        again = CliRunner().invoke(cli, ["sync", "--server", server.url])
        assert "nothing to send" in again.output
        info = evalyard.get_run(run.run_id, store=url)
        assert info.status is evalyard.RunStatus.COMPLETED  # the spooled finish was sent
        assert info.result_count == 601
        assert evalyard.get_results(run.run_id, ["a0"], store=url)[1].metrics == {"v": 3.0}
    finally:
        server.stop()
    _check_exactly(url, run.run_id, 601)


def test_the_spool_is_sent_when_the_server_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALYARD_RETRY_SECONDS", "0.3")
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    server = ServerProcess(url, tmp_path).start()
    try:
        run = evalyard.start_run("comes-back", store=server.url)
        run.log_many([{"id": f"a{i}", "metrics": {"v": 1.0}} for i in range(100)])
        server.kill()
        run.log_many([{"id": f"b{i}", "metrics": {"v": 2.0}} for i in range(100)])
        run.flush()
        server.start()
        run.log_many([{"id": f"c{i}", "metrics": {"v": 3.0}} for i in range(100)])
        info = run.finish()  # sends the spool first, then the rest, then finishes
        assert info.result_count == 300
        assert not list((tmp_path / ".evalyard" / "spool").glob("*.jsonl"))
    finally:
        server.stop()
    _check_exactly(url, run.run_id, 300)


def test_logging_returns_while_the_sender_works(server: ServerProcess) -> None:
    store = get_store(server.url)
    run = evalyard.start_run("background", store=store)
    started = time.perf_counter()
    for i in range(2000):
        run.log(f"d{i}", metrics={"v": float(i)})
    handed_over = time.perf_counter() - started
    info = run.finish()
    assert info.result_count == 2000
    assert handed_over < 5  # 2,000 requests would take longer: they were batched
    assert threading.active_count() >= 1


def _spooled(tmp_path: Path) -> list[Path]:
    return list((tmp_path / ".evalyard" / "spool").glob("*.jsonl"))


def test_a_run_started_while_the_server_is_down_is_spooled_and_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALYARD_RETRY_SECONDS", "0.3")
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    server = ServerProcess(url, tmp_path)  # not started yet: the server is down
    run = evalyard.start_run("born-offline", store=server.url, metadata={"model": "m"})
    run.log("first", metrics={"v": 1.0})
    run.log_many([{"id": f"d{i}", "metrics": {"v": float(i)}} for i in range(50)])
    with pytest.raises(evalyard.StoreError, match="evalyard sync"):
        run.finish()
    close_stores()
    assert len(_spooled(tmp_path)) == 1
    server.start()
    try:
        monkeypatch.setenv("EVALYARD_STORE", server.url)
        result = CliRunner().invoke(cli, ["sync"])
        assert result.exit_code == 0, result.output
        assert "sent 51 results from 1 spool files" in result.output
        info = evalyard.get_run(run.run_id, store=url)
        assert (info.name, info.metadata) == ("born-offline", {"model": "m"})
        assert info.status is evalyard.RunStatus.COMPLETED
        assert info.result_count == 51
        assert not _spooled(tmp_path)
    finally:
        server.stop()
    _check_exactly(url, run.run_id, 51)


def test_a_run_started_offline_is_created_when_the_server_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALYARD_RETRY_SECONDS", "0.3")
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    server = ServerProcess(url, tmp_path)
    run = evalyard.start_run("back-soon", store=server.url)
    run.log_many([{"id": f"a{i}", "metrics": {"v": 1.0}} for i in range(100)])
    run.flush()
    server.start()
    try:
        run.log_many([{"id": f"b{i}", "metrics": {"flag": True}} for i in range(100)])
        info = run.finish()  # the creation first, then the spooled batches, then the rest
        assert (info.name, info.result_count) == ("back-soon", 200)
        assert info.status is evalyard.RunStatus.COMPLETED
        assert not _spooled(tmp_path)
    finally:
        server.stop()
    _check_exactly(url, run.run_id, 200)


def test_an_offline_run_whose_name_was_taken_meanwhile_gets_another_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALYARD_RETRY_SECONDS", "0.3")
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    server = ServerProcess(url, tmp_path)
    offline = evalyard.start_run("nightly", store=server.url)
    offline.log("q1", metrics={"v": 1.0})
    offline.flush()
    close_stores()
    taken = evalyard.start_run("nightly", store=url)  # another machine, meanwhile
    taken.finish()
    server.start()
    try:
        result = CliRunner().invoke(cli, ["sync", "--server", server.url])
        assert result.exit_code == 0, result.output
        renamed = f"nightly-{offline.run_id[:8]}"
        assert f"was created as {renamed!r}" in result.stderr
        info = evalyard.get_run(offline.run_id, store=url)
        assert (info.name, info.result_count) == (renamed, 1)
        assert evalyard.get_run(taken.run_id, store=url).name == "nightly"
    finally:
        server.stop()


def test_an_unreachable_server_is_said_once_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVALYARD_RETRY_SECONDS", "0.5")
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    server = ServerProcess(url, tmp_path).start()
    try:
        run = evalyard.start_run("quiet", store=server.url)
        run.log("a", metrics={"v": 1.0})
        run.flush()
        assert capsys.readouterr().err == ""
        server.kill()
        for i in range(3):
            run.log(f"b{i}", metrics={"v": 2.0})
            run.flush()
            time.sleep(0.2)
        said = capsys.readouterr().err.splitlines()
        assert len(said) == 1, said
        assert f"cannot reach the evalyard server at {server.url}" in said[0]
        assert "retrying for 0.5 s" in said[0]
        assert str(tmp_path / ".evalyard" / "spool") in said[0]
    finally:
        server.stop()


def test_going_on_with_a_run_while_the_server_is_down_says_it_needs_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALYARD_RETRY_SECONDS", "0.2")
    down = ServerProcess(f"sqlite:///{tmp_path / 'evalyard.db'}", tmp_path).url
    for how in ({"resume": True}, {"run_id": "r-1"}):
        with pytest.raises(evalyard.StoreError, match="cannot reach") as caught:
            evalyard.start_run("nightly", store=down, **how)  # type: ignore[arg-type]
        assert "must be reachable" in "\n".join(caught.value.__notes__)
    assert not _spooled(tmp_path)  # nothing was created in the spool under that name
