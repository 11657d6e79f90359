"""A run whose merged metric block would be too large for one stored value is kept as
several pieces in id order: reading it, comparing it and logging into it again behave as
for a run kept in one block. The size limit is lowered so a few hundred records split."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

import evalyard
from evalyard.core.model import MetricKind
from evalyard.store import SQLStore
from evalyard.store import sql as sql_module
from evalyard.store.schema import metric_blocks


def _records(count: int, *, offset: int = 0, tag: str = "") -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for i in range(count):
        n = i + offset
        record: dict[str, Any] = {
            "id": f"q{n:04d}",
            "metrics": {"score": (n % 17) / 16, "ok": n % 3 == 0, "label": f"c{n % 4}{tag}"},
        }
        if n % 5 == 0:
            record["steps"] = [{"name": "retrieve", "metrics": {"hits": float(n % 7)}}]
        records.append(record)
    return records


def _epoch_records() -> list[dict[str, Any]]:
    return [
        {"id": f"e{i:03d}", "epoch": epoch, "metrics": {"score": (i + epoch) / 10}}
        for i in range(40)
        for epoch in range(3)
    ]


def _log(store: SQLStore, name: str, batches: list[list[dict[str, Any]]]) -> str:
    with evalyard.start_run(name, store=store) as run:
        for batch in batches:
            run.log_many(batch)
    return run.run_id


def _blocks(store: SQLStore, run_id: str, scope: str = "") -> int:
    with store.engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).where(
                    metric_blocks.c.run_id == run_id, metric_blocks.c.scope == scope
                )
            ).scalar_one()
        )


def _same_values(store: SQLStore, first: str, second: str, scope: str = "") -> None:
    a, b = store.load_scope(first, scope), store.load_scope(second, scope)
    assert a.ids == b.ids
    assert a.columns.keys() == b.columns.keys()
    for name, column in a.columns.items():
        other = b.columns[name]
        assert column.kind is other.kind
        assert np.array_equal(
            column.values, other.values, equal_nan=column.kind is not MetricKind.STRING
        )


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_module, "MAX_BLOCK_BYTES", 4_096)


def _whole_and_split(
    store: SQLStore,
    monkeypatch: pytest.MonkeyPatch,
    batches: list[list[dict[str, Any]]],
    limit: int = 4_096,
) -> tuple[str, str]:
    whole = _log(store, "whole", batches)
    monkeypatch.setattr(sql_module, "MAX_BLOCK_BYTES", limit)
    split = _log(store, "split", batches)
    return whole, split


def test_a_large_run_is_stored_in_pieces_and_reads_as_one(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = [_records(200), _records(150, offset=100, tag="x"), _records(250, offset=300)]
    whole, split = _whole_and_split(store, monkeypatch, batches)
    assert _blocks(store, whole) == 1
    assert _blocks(store, split) > 3
    _same_values(store, whole, split)
    _same_values(store, whole, split, "retrieve")
    logged = [f"q{n:04d}" for n in [*range(250), *range(300, 550)]]
    assert evalyard.get_run(split, store=store).datapoint_count == len(logged) == 500
    assert sorted(r.datapoint_id for r in store.get_results(split)) == logged


def test_pieces_keep_epochs_together_with_their_averages(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _epoch_records()
    whole, split = _whole_and_split(store, monkeypatch, [records[:70], records[70:]], 512)
    assert _blocks(store, split) > 1
    _same_values(store, whole, split)
    assert store.load_block(split).epochs.tolist() == store.load_block(whole).epochs.tolist()


def test_comparing_a_run_in_pieces_gives_the_same_comparison(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline = _log(store, "baseline", [_records(500, offset=40, tag="b")])
    whole, split = _whole_and_split(store, monkeypatch, [_records(300), _records(300, offset=250)])
    for scope in (None, "retrieve"):
        ours = evalyard.compare_runs(split, baseline, store=store, step=scope)
        theirs = evalyard.compare_runs(whole, baseline, store=store, step=scope)
        assert ours.common_datapoints == theirs.common_datapoints
        assert {k: d.to_dict() for k, d in ours.metric_deltas.items()} == {
            k: d.to_dict() for k, d in theirs.metric_deltas.items()
        }


def test_logging_again_into_a_run_in_pieces_replaces_records_whole(
    store: SQLStore, small_blocks: None
) -> None:
    run_id = _log(store, "again", [_records(200), _records(200, offset=200)])
    assert _blocks(store, run_id) > 1
    run = evalyard.start_run("again", resume=True, store=store)
    # q0005 had a step; logged again without it, the step row goes too.
    run.log_many([{"id": "q0005", "metrics": {"score": 5.0}}, {"id": "z9999", "metrics": {}}])
    run.finish()
    values = store.load_scope(run_id)
    row = values.ids.index("q0005")
    assert values.columns["score"].values[row] == 5.0
    assert np.isnan(values.columns["ok"].values[row])
    assert "z9999" in values.ids
    steps = store.load_scope(run_id, "retrieve")
    assert "q0005" not in steps.ids
    assert "q0010" in steps.ids
