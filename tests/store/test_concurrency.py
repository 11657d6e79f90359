"""Several processes writing one store at once lose nothing and duplicate nothing."""

from __future__ import annotations

import multiprocessing

import pytest

import evalyard
from evalyard.store import open_store

WRITERS = 4
PER_WRITER = 1_500


def _write(url: str, run_id: str, writer: int) -> None:
    run = evalyard.start_run(run_id=run_id, store=url)
    records = [
        {"id": f"w{writer}-{i:05d}", "metrics": {"v": float(i), "w": writer}}
        for i in range(PER_WRITER)
    ]
    # Batches of different sizes and single logs, so writers interleave and merges happen.
    for start in range(0, PER_WRITER - 50, 150):
        run.log_many(records[start : start + 150])
    for record in records[PER_WRITER - 50 :]:
        run.log(record["id"], metrics=record["metrics"])
    # Each writer also logs one shared datapoint: the store keeps exactly one of them.
    run.log("shared", metrics={"v": -1.0, "w": writer})


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(store_url: str) -> None:
    store = open_store(store_url)
    run = evalyard.start_run("parallel", store=store)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write, args=(store_url, run.run_id, w)) for w in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
        assert worker.exitcode == 0
    info = run.finish()
    assert info.result_count == WRITERS * PER_WRITER + 1
    values = store.load_scope(run.run_id)
    assert len(values.ids) == WRITERS * PER_WRITER + 1
    assert len(set(values.ids)) == len(values.ids)
    by_id = dict(zip(values.ids, values.columns["v"].values.tolist(), strict=True))
    assert by_id["w3-01499"] == 1499.0
    assert by_id["shared"] == -1.0
    results = store.get_results(run.run_id, ["shared"])
    assert len(results) == 1
    # the row and the columns agree on which writer's record won
    shared_writer = values.columns["w"].values[values.ids.index("shared")]
    assert results[0].metrics["w"] == shared_writer
    store.close()
