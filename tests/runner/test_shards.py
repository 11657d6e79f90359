"""Sharded evaluation: n disjoint slices by a stable hash of the datapoint id, one shared
run, completed when the last shard finishes (locally, and through the team server)."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

import evalyard
from evalyard.runner.shards import check_shard, in_shard, shard_of
from evalyard.store import close_stores, open_store

SHARDS = 4
DATASET = [{"id": f"dp-{i:04d}", "inputs": {"n": i}, "ground_truth": 2 * i} for i in range(400)]


def _app(inputs: dict[str, int]) -> int:
    return inputs["n"] * 2 if inputs["n"] % 7 else 0


def _exact(outputs: int, ground_truth: int) -> bool:
    return outputs == ground_truth


def _evaluate_shard(url: str, run_id: str, index: int, folder: str) -> None:
    os.chdir(folder)
    evalyard.evaluate(
        _app,
        dataset=DATASET,
        evaluators=[_exact],
        name="sharded",
        run_id=run_id,
        shard=(index, SHARDS),
        store=url,
        print_results=False,
    )
    close_stores()


def test_shards_are_disjoint_cover_the_dataset_and_ignore_order() -> None:
    ids = [d["id"] for d in DATASET]
    slices = [[i for i in ids if in_shard(i, (k, SHARDS))] for k in range(SHARDS)]
    assert sorted(i for part in slices for i in part) == sorted(ids)
    assert all(len(s) > 50 for s in slices)  # roughly even
    assert [shard_of(i, SHARDS) for i in reversed(ids)] == [shard_of(i, SHARDS) for i in ids][::-1]


@pytest.mark.parametrize("bad", [(4, 4), (-1, 2), (0, 0), (1,), "0/4", (True, 2)])
def test_a_bad_shard_is_refused(bad: object) -> None:
    with pytest.raises(evalyard.InvalidInputError, match="shard"):
        check_shard(bad)


def test_a_shard_needs_the_shared_run_id(store_url: str) -> None:
    with pytest.raises(evalyard.InvalidInputError, match="run_id"):
        evalyard.evaluate(_app, dataset=DATASET, shard=(0, 2), store=store_url)


def test_the_run_completes_when_the_last_shard_finishes(store_url: str) -> None:
    statuses = []
    for index in (2, 0, 1):
        result = evalyard.evaluate(
            _app,
            dataset=DATASET[:40],
            evaluators=[_exact],
            run_id="seq-shards",
            shard=(index, 3),
            store=store_url,
            print_results=False,
        )
        statuses.append(result.status)
    assert statuses == [evalyard.RunStatus.RUNNING] * 2 + [evalyard.RunStatus.COMPLETED]
    info = evalyard.get_run("seq-shards", store=store_url)
    assert (info.status, info.result_count) == (evalyard.RunStatus.COMPLETED, 40)
    # Running a shard again (say, after a crash) runs nothing twice and completes again.
    again = evalyard.evaluate(
        _app,
        dataset=DATASET[:40],
        run_id="seq-shards",
        shard=(1, 3),
        store=store_url,
        print_results=False,
    )
    assert (again.result_count, again.status) == (0, evalyard.RunStatus.COMPLETED)


def _run_shards_in_processes(url: str, run_id: str, folder: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_evaluate_shard, args=(url, run_id, i, str(folder)))
        for i in range(SHARDS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
        assert worker.exitcode == 0


def _check_sharded_run(store_url: str, run_id: str) -> None:
    store = open_store(store_url)
    try:
        info = store.get_run(run_id)
        assert info.status is evalyard.RunStatus.COMPLETED
        keys = store.result_keys(run_id)
        assert sorted(k for k, _ in keys) == sorted(d["id"] for d in DATASET)
        values = store.load_scope(run_id)
        exact = dict(zip(values.ids, values.columns["_exact"].values.tolist(), strict=True))
        assert exact["dp-0007"] == 0.0
        assert exact["dp-0008"] == 1.0
    finally:
        store.close()


@pytest.mark.slow
def test_four_processes_evaluate_one_dataset_into_one_run(store_url: str, tmp_path: Path) -> None:
    open_store(store_url).close()
    _run_shards_in_processes(store_url, "four-shards", tmp_path)
    _check_sharded_run(store_url, "four-shards")


@pytest.mark.slow
def test_four_processes_evaluate_through_the_server(tmp_path: Path) -> None:
    from tests.api.conftest import running_server

    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    open_store(url).close()
    with running_server(url, tmp_path) as server:
        _run_shards_in_processes(server.url, "four-remote-shards", tmp_path)
    _check_sharded_run(url, "four-remote-shards")
