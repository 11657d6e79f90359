"""Processes killed with SIGKILL at seeded points: every result whose call returned is kept,
none is half-written, and going on afterwards ends with every datapoint exactly once.

Each test kills one party — a process in ``log_many``, a process in ``evaluate``, the team
server, a client of the team server — once a seeded number of results is stored, plus a
seeded few milliseconds, so kills land inside transactions as well as between them.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

import evalyard
from evalyard.store import SQLStore, Store, open_store, schema
from tests.api.conftest import ServerProcess, clean_env
from tests.faults.conftest import FAULT_SEEDS, kill_point

pytestmark = pytest.mark.faults

RECORDS = 20_000
CALL = 1_000  # results per log_many call of the killed process
DATAPOINTS = 50
EPOCHS = 2


def _record(i: int) -> dict[str, object]:
    return {
        "id": f"d{i:06d}",
        "outputs": {"text": f"answer {i}"},
        "metrics": {"score": (i % 7) / 7, "ok": i % 3 == 0, "label": "abc"[i % 3]},
    }


LOG_MANY_CHILD = textwrap.dedent(
    """
    import sys
    import evalyard
    from tests.faults.test_kill import CALL, _record

    store, run_id, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run = evalyard.start_run(run_id=run_id, store=store)
    for start in range(0, total, CALL):
        run.log_many(_record(i) for i in range(start, min(start + CALL, total)))
    run.flush()
    """
)

EVALUATE_CHILD = textwrap.dedent(
    """
    import sys, time
    import evalyard

    def app(inputs):
        time.sleep(0.04)
        return {"answer": inputs["n"] * 2}

    evalyard.evaluate(
        app,
        dataset=[{"id": f"q{n:03d}", "inputs": {"n": n}} for n in range(int(sys.argv[3]))],
        name=sys.argv[2],
        repeats=int(sys.argv[4]),
        max_workers=2,
        store=sys.argv[1],
        print_results=False,
    )
    """
)


def _spawn(code: str, *args: str, cwd: Path) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parents[2]
    env = clean_env(PYTHONPATH=str(root))
    with open(cwd / "child.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args], cwd=cwd, env=env, stderr=log, stdout=log
        )


def _kill_when(
    child: subprocess.Popen[bytes], stored: Callable[[], int], threshold: int, extra: float
) -> int:
    """SIGKILL ``child`` once ``stored()`` reaches ``threshold`` (then ``extra`` seconds)."""
    deadline = time.monotonic() + 60
    try:
        while stored() < threshold:
            if child.poll() is not None:
                pytest.fail(f"the child ended before its kill point: {_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{threshold} results were not stored within 60 s")
            time.sleep(0.005)
        time.sleep(extra)
        assert child.poll() is None, f"the child ended before its kill point: {_tail()}"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
    return stored()


def _tail() -> str:
    """The end of what the child printed (it runs in the test's folder)."""
    log = Path("child.log")
    return log.read_text(errors="replace")[-2000:] if log.exists() else ""


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


def _check_prefix_and_values(store: Store, run_id: str, seed: int) -> int:
    """The stored results are whole and are the first ones given; returns how many."""
    results = store.get_results(run_id)
    ids = [r.datapoint_id for r in results]
    assert ids == [f"d{i:06d}" for i in range(len(ids))], f"seed {seed}: not a prefix"
    for result in results:
        expected = _record(int(result.datapoint_id[1:]))
        assert result.outputs == expected["outputs"], f"seed {seed}: {result}"
        assert result.metrics == expected["metrics"], f"seed {seed}: {result}"
    return len(ids)


@pytest.mark.parametrize("seed", FAULT_SEEDS)
def test_a_process_killed_in_log_many_keeps_whole_calls_and_goes_on_exactly(
    store: Store, store_url: str, tmp_path: Path, seed: int
) -> None:
    run = evalyard.start_run("killed-in-log-many", store=store)
    threshold, extra = kill_point(seed, RECORDS)
    child = _spawn(LOG_MANY_CHILD, store_url, run.run_id, str(RECORDS), cwd=tmp_path)
    _kill_when(child, lambda: len(store.result_keys(run.run_id)), threshold, extra)

    kept = _check_prefix_and_values(store, run.run_id, seed)
    assert threshold <= kept < RECORDS, f"seed {seed}"
    assert kept % CALL == 0, f"seed {seed}: a log_many call was half-written"
    again = evalyard.start_run(run_id=run.run_id, store=store)
    stored = {key for key, _ in store.result_keys(run.run_id)}
    again.log_many(_record(i) for i in range(RECORDS) if f"d{i:06d}" not in stored)
    info = again.finish()

    assert info.result_count == RECORDS, f"seed {seed}"
    assert _check_prefix_and_values(store, run.run_id, seed) == RECORDS
    score = evalyard.summarise_run(run.run_id, store=store).metric("score")
    expected = np.mean([(i % 7) / 7 for i in range(RECORDS)])
    assert score.aggregate == pytest.approx(expected, rel=1e-12), f"seed {seed}"


@pytest.mark.parametrize("seed", FAULT_SEEDS)
def test_a_process_killed_in_evaluate_resumes_with_each_pair_exactly_once(
    store: Store, store_url: str, tmp_path: Path, seed: int
) -> None:
    name = f"killed-in-evaluate-{seed}"
    total = DATAPOINTS * EPOCHS
    threshold, extra = kill_point(seed, total)

    def stored() -> int:
        runs = store.find_runs(name)
        return len(store.result_keys(runs[0].run_id)) if runs else 0

    child = _spawn(EVALUATE_CHILD, store_url, name, str(DATAPOINTS), str(EPOCHS), cwd=tmp_path)
    _kill_when(child, stored, threshold, extra)
    (info,) = store.find_runs(name)
    assert info.status is evalyard.RunStatus.RUNNING, f"seed {seed}"
    run_id = info.run_id

    calls: list[int] = []

    def app(inputs: dict[str, int]) -> dict[str, int]:
        calls.append(inputs["n"])
        return {"answer": inputs["n"] * 2}

    kept = len(store.result_keys(run_id))
    assert threshold <= kept < total, f"seed {seed}"
    result = evalyard.evaluate(
        app,
        dataset=[{"id": f"q{n:03d}", "inputs": {"n": n}} for n in range(DATAPOINTS)],
        resume=name,
        repeats=EPOCHS,
        store=store,
        print_results=False,
    )
    assert len(calls) == total - kept, f"seed {seed}: ran again what was stored"
    expected = [(f"q{n:03d}", epoch) for n in range(DATAPOINTS) for epoch in range(EPOCHS)]
    assert store.result_keys(run_id) == expected, f"seed {seed}"
    assert store.get_run(run_id).status is evalyard.RunStatus.COMPLETED
    assert result.skipped_count == kept, f"seed {seed}"
    outputs = [r.outputs for r in store.get_results(run_id)]
    assert outputs == [{"answer": n * 2} for n in range(DATAPOINTS) for _ in range(EPOCHS)]


SERVER_CHILD = textwrap.dedent(
    """
    import sys
    import evalyard
    from tests.faults.test_kill import CALL, _record

    server, run_id, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run = evalyard.start_run(run_id=run_id, store=server)
    for start in range(0, total, CALL):
        run.log_many(_record(i) for i in range(start, min(start + CALL, total)))
        run.flush()
    """
)


def _batches_hold(store: Store, run_id: str) -> int:
    """How many results the run's stored batch keys hold (each batch written once)."""
    assert isinstance(store, SQLStore)
    keys = schema.batch_keys
    with store.engine.connect() as connection:
        held = connection.execute(
            select(func.coalesce(func.sum(keys.c.record_count), 0)).where(keys.c.run_id == run_id)
        ).scalar_one()
    return int(held)


@pytest.mark.parametrize("seed", FAULT_SEEDS)
def test_a_server_killed_while_a_client_logs_loses_and_repeats_nothing(
    store: Store, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setenv("EVALYARD_RETRY_SECONDS", "30")
    server = ServerProcess(store_url, tmp_path).start()
    try:
        run = evalyard.start_run("server-killed", store=server.url)
        threshold, extra = kill_point(seed, RECORDS)
        failures: list[BaseException] = []

        def client() -> None:
            try:
                for start in range(0, RECORDS, CALL):
                    run.log_many(_record(i) for i in range(start, start + CALL))
                    run.flush()
            except BaseException as exc:  # reported by the test below
                failures.append(exc)

        thread = threading.Thread(target=client)
        thread.start()
        deadline = time.monotonic() + 60
        while len(store.result_keys(run.run_id)) < threshold and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(extra)
        server.kill()
        time.sleep(random.Random(seed).uniform(0.1, 0.6))
        server.start()
        thread.join(timeout=120)
        assert not thread.is_alive(), f"seed {seed}: the client is stuck"
        assert not failures, (seed, failures)
        info = run.finish()
    finally:
        server.stop()
    assert info.result_count == RECORDS, f"seed {seed}"
    assert _check_prefix_and_values(store, run.run_id, seed) == RECORDS
    assert _batches_hold(store, run.run_id) == RECORDS, f"seed {seed}: a batch written twice"


@pytest.mark.parametrize("seed", FAULT_SEEDS)
def test_a_client_killed_while_logging_through_the_server_goes_on_exactly(
    store: Store, store_url: str, tmp_path: Path, seed: int
) -> None:
    server = ServerProcess(store_url, tmp_path).start()
    try:
        run = evalyard.start_run("client-killed", store=server.url)
        threshold, extra = kill_point(seed, RECORDS)
        child = _spawn(SERVER_CHILD, server.url, run.run_id, str(RECORDS), cwd=tmp_path)
        _kill_when(child, lambda: len(store.result_keys(run.run_id)), threshold, extra)
        kept = _check_prefix_and_values(store, run.run_id, seed)
        assert kept % CALL == 0, f"seed {seed}"
        assert kept < RECORDS, f"seed {seed}"

        again = evalyard.start_run(run_id=run.run_id, store=server.url)
        again.log_many(_record(i) for i in range(kept, RECORDS))
        info = again.finish()
    finally:
        server.stop()
    assert info.result_count == RECORDS, f"seed {seed}"
    assert _check_prefix_and_values(store, run.run_id, seed) == RECORDS
    # A batch in flight when the client died may land after `kept` was read: sending it
    # again then replaces those results (each once), under a second idempotency key.
    assert len(store.result_keys(run.run_id)) == RECORDS, f"seed {seed}"
