"""``log_many`` over several chunks: each chunk is written on a background thread while the
next is prepared; what is committed, what an error reports, and the order rows are stored in."""

from __future__ import annotations

import gc
import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import evalyard
import evalyard.runner.logging as logging_module
from evalyard.errors import InvalidMetricError, InvalidRecordError
from evalyard.runner.collector import collector_paused
from evalyard.runner.records import build_batch, prepare_mapping
from evalyard.store import SQLStore

CHUNK = 7


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Chunks of 7 records, so a few dozen records make several transactions."""
    monkeypatch.setattr(logging_module, "LOG_MANY_CHUNK", CHUNK)
    return CHUNK


def _records(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"id": f"q{i}", "metrics": {"score": i / 100, "ok": i % 3 == 0}, "outputs": f"a{i}"}
        for i in range(start, start + count)
    ]


def _stored_ids(store: SQLStore, run_id: str) -> list[str]:
    return sorted(r.datapoint_id for r in store.get_results(run_id))


def test_every_chunk_is_committed_once_with_its_values(store: SQLStore, small_chunks: int) -> None:
    records = _records(50)
    random.Random(3).shuffle(records)
    with evalyard.start_run("chunks", store=store) as run:
        assert run.log_many(iter(records)) == 50
    assert _stored_ids(store, run.run_id) == sorted(f"q{i}" for i in range(50))
    values = store.load_scope(run.run_id)
    scores = dict(zip(values.ids, values.columns["score"].values.tolist(), strict=True))
    passed = dict(zip(values.ids, values.columns["ok"].values.tolist(), strict=True))
    assert scores == {f"q{i}": i / 100 for i in range(50)}
    assert passed == {f"q{i}": float(i % 3 == 0) for i in range(50)}


def test_a_bad_record_in_a_later_chunk_counts_every_chunk_before_it(
    store: SQLStore, small_chunks: int
) -> None:
    records: list[Any] = _records(30)
    records[23] = {"id": "bad", "metrics": {"score": float("nan")}}
    with evalyard.start_run("bad-late", store=store) as run:
        with pytest.raises(InvalidMetricError, match="is NaN") as caught:
            run.log_many(records)
        assert caught.value.index == 23
        assert caught.value.logged_count == 23
    assert _stored_ids(store, run.run_id) == sorted(f"q{i}" for i in range(23))


def test_a_kind_change_in_a_later_chunk_stops_the_call_with_the_whole_count(
    store: SQLStore, small_chunks: int
) -> None:
    records = _records(30)
    records[17]["metrics"] = {"score": "high"}  # text where earlier chunks wrote numbers
    with evalyard.start_run("kind-late", store=store) as run:
        with pytest.raises(
            InvalidMetricError, match="'score' on datapoint 'q17' is a string"
        ) as caught:
            run.log_many(records)
        assert caught.value.index == 17
        assert caught.value.logged_count == 17
    assert _stored_ids(store, run.run_id) == sorted(f"q{i}" for i in range(17))


def test_an_iterable_that_fails_keeps_the_committed_chunks_and_writes_nothing_after(
    store: SQLStore, small_chunks: int
) -> None:
    def records() -> Iterator[dict[str, Any]]:
        yield from _records(16)  # two whole chunks, and two records of a third
        raise RuntimeError("the source broke")

    with evalyard.start_run("broken-source", store=store) as run:
        with pytest.raises(RuntimeError, match="the source broke"):
            run.log_many(records())
        committed = _stored_ids(store, run.run_id)
        assert not any(t.name == "evalyard-log-many" for t in threading.enumerate())
    assert committed == sorted(f"q{i}" for i in range(14))
    assert _stored_ids(store, run.run_id) == committed


def test_a_record_logged_twice_across_chunks_keeps_the_last(
    store: SQLStore, small_chunks: int
) -> None:
    records = [*_records(10), {"id": "q2", "metrics": {"score": 9.0, "ok": False}}]
    with evalyard.start_run("twice", store=store) as run:
        run.log_many(records)
    (row,) = [r for r in store.get_results(run.run_id) if r.datapoint_id == "q2"]
    assert row.metrics == {"score": 9.0, "ok": False}
    values = store.load_scope(run.run_id)
    assert values.columns["score"].values[values.ids.index("q2")] == 9.0


def test_a_batch_is_stored_in_key_order_with_its_values_alongside() -> None:
    records = [
        {"id": "b", "epoch": 1, "metrics": {"m": 1.0, "n": 2.0}},
        {"id": "a", "metrics": {"n": 3.0, "m": 4.0}},  # same names, another order
        {"id": "b", "metrics": {"m": 5.0}},  # one missing
        {"id": "c", "metrics": {"m": 6.0, "n": 7.0}, "steps": [{"name": "s", "metrics": {"x": 1}}]},
        {"id": "a", "epoch": 2, "metrics": {"m": 8.0, "n": 9.0}},
    ]
    batch = build_batch([prepare_mapping(r, i, limit=10_000) for i, r in enumerate(records)])
    keys = [(row.datapoint_id, row.epoch) for row in batch.rows]
    assert keys == [("a", 0), ("a", 2), ("b", 0), ("b", 1), ("c", 0)]
    session = batch.blocks[""]
    assert list(zip(session.ids, session.epochs.tolist(), strict=True)) == keys
    columns = {name: column.values.tolist() for name, column in session.columns.items()}
    assert columns["m"] == [4.0, 8.0, 5.0, 1.0, 6.0]
    assert columns["n"][:2] == [3.0, 9.0]
    assert columns["n"][2] != columns["n"][2]  # NaN: b, epoch 0 has no n
    assert columns["n"][3:] == [2.0, 7.0]
    assert batch.blocks["s"].ids == ["c"]


def test_the_collector_is_paused_while_logging_and_restored_after(
    store: SQLStore, small_chunks: int
) -> None:
    seen: list[bool] = []

    def records() -> Iterator[dict[str, Any]]:
        for record in _records(3):
            seen.append(gc.isenabled())
            yield record

    assert gc.isenabled()
    with evalyard.start_run("gc", store=store) as run:
        run.log_many(records())
    assert seen == [False, False, False]
    assert gc.isenabled()


def test_pausing_the_collector_nests_and_keeps_a_program_s_own_choice() -> None:
    assert gc.isenabled()
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_refused_record_in_the_first_chunk_writes_nothing_in_the_background(
    store: SQLStore, small_chunks: int
) -> None:
    with evalyard.start_run("first", store=store) as run:
        with pytest.raises(InvalidRecordError) as caught:
            run.log_many([{"id": "q0"}, {"id": ""}])
        assert caught.value.logged_count == 1
    assert _stored_ids(store, run.run_id) == ["q0"]
