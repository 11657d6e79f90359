"""The store, on SQLite and PostgreSQL alike: runs, results, merging, kinds, migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select, update

import evalyard
from evalyard.core.model import Direction, MetricDefinition, MetricKind, RunStatus
from evalyard.errors import InvalidInputError, InvalidMetricError, RunNotFoundError, StoreError
from evalyard.store import SQLStore, open_store
from evalyard.store import sql as sql_module
from evalyard.store.migrations import MIGRATIONS
from evalyard.store.schema import batches, runs, schema_migrations


def test_runs_are_created_listed_and_finished(store: SQLStore) -> None:
    first = evalyard.start_run("alpha", dataset="qa", metadata={"model": "m1"}, store=store)
    second = evalyard.start_run("beta", project="other", store=store)
    first.log("q1", outputs="x", metrics={"acc": 1.0})
    first.log("q1", epoch=1, outputs="y", metrics={"acc": 0.0})
    first.log("q2", outputs="z")
    info = first.finish()
    assert info.status is RunStatus.COMPLETED
    assert info.finished_at is not None
    assert (info.result_count, info.datapoint_count) == (3, 2)
    assert info.metadata == {"model": "m1"}
    assert info.dataset == "qa"
    listed = store.list_runs()
    assert [r.name for r in listed] == ["beta", "alpha"]
    assert [r.name for r in store.list_runs(project="other")] == ["beta"]
    running = store.get_run(second.run_id)
    assert running.status is RunStatus.RUNNING
    second.log("a", metrics={"m": 1.0})
    assert store.get_run(second.run_id).result_count == 1


def test_results_are_read_back_as_logged(store: SQLStore) -> None:
    with evalyard.start_run("r", store=store) as run:
        run.log(
            "q1",
            inputs={"question": "2+2?", "nul": "a\x00b"},
            outputs={"answer": "4", "tokens": [1, 2]},
            ground_truth="4",
            metrics={"acc": True, "score": 0.5, "label": "ok", "missing": None},
            steps=[{"name": "answer", "type": "model", "outputs": "4", "metrics": {"t": 3}}],
            error=None,
            metadata={"source": "unit"},
            duration_ms=12.5,
        )
    (result,) = store.get_results(run.run_id)
    assert result.inputs == {"question": "2+2?", "nul": "a\x00b"}
    assert result.outputs == {"answer": "4", "tokens": [1, 2]}
    assert result.ground_truth == "4"
    assert result.metrics == {"acc": True, "score": 0.5, "label": "ok"}
    assert result.steps[0]["name"] == "answer"
    assert result.metadata == {"source": "unit"}
    assert result.duration_ms == 12.5
    assert store.get_results(run.run_id, ["nope"]) == []


def test_logging_again_replaces_the_record_as_a_whole(store: SQLStore) -> None:
    run = evalyard.start_run("r", store=store)
    run.log(
        "q1",
        outputs="first",
        metrics={"a": 1.0, "b": 2.0},
        steps=[{"name": "s", "metrics": {"x": 1.0}}],
    )
    run.log("q2", outputs="other", metrics={"a": 5.0})
    run.log("q1", outputs="second", metrics={"a": 3.0})
    values = store.load_scope(run.run_id)
    assert values.ids == ["q1", "q2"]
    assert values.columns["a"].values.tolist() == [3.0, 5.0]
    assert values.columns["b"].present().tolist() == [False, False]
    # q1's step went with the record it belonged to
    assert store.load_scope(run.run_id, "s").ids == []
    results = store.get_results(run.run_id)
    assert [(r.datapoint_id, r.outputs) for r in results] == [("q1", "second"), ("q2", "other")]
    run.finish()
    assert store.load_scope(run.run_id).columns["a"].values.tolist() == [3.0, 5.0]
    assert store.load_scope(run.run_id, "s").ids == []


def test_epochs_are_averaged_per_datapoint(store: SQLStore) -> None:
    run = evalyard.start_run("r", store=store)
    run.log_many(
        [
            {"id": "q1", "epoch": 0, "metrics": {"ok": True, "score": 1.0}},
            {"id": "q1", "epoch": 1, "metrics": {"ok": False, "score": 3.0}},
            {"id": "q1", "epoch": 2, "metrics": {"ok": True}},
            {"id": "q2", "epoch": 0, "metrics": {"ok": False, "score": 2.0}},
        ]
    )
    values = store.load_scope(run.run_id)
    assert values.epochs == 3
    assert values.columns["ok"].kind is MetricKind.BOOL
    assert values.columns["ok"].values.tolist() == pytest.approx([2 / 3, 0.0])
    assert values.columns["score"].values.tolist() == [2.0, 2.0]


def test_steps_of_one_name_are_averaged_within_an_epoch(store: SQLStore) -> None:
    run = evalyard.start_run("r", store=store)
    steps = [
        {"name": "search", "type": "tool", "metrics": {"hits": 2}},
        {
            "name": "plan",
            "type": "chain",
            "children": [{"name": "search", "type": "tool", "metrics": {"hits": 4}}],
        },
    ]
    run.log("q1", steps=steps)
    run.log("q1", epoch=1, steps=[{"name": "search", "metrics": {"hits": 9}}])
    assert store.list_steps(run.run_id) == ["plan", "search"]
    values = store.load_scope(run.run_id, "search")
    assert values.columns["hits"].values.tolist() == [(3 + 9) / 2]
    assert store.load_scope(run.run_id, "plan").ids == ["q1"]


def test_many_small_writes_are_merged_without_changing_values(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_module, "MERGE_THRESHOLD", 4)
    run = evalyard.start_run("r", store=store)
    expected: dict[str, float] = {}
    for i in range(40):
        datapoint_id = f"q{i % 15:02d}"
        value = float(i)
        steps = [{"name": "s", "metrics": {"v": value}}] if i % 2 else None
        run.log(datapoint_id, metrics={"v": value}, steps=steps)
        expected[datapoint_id] = value
    with store.engine.connect() as connection:
        pending = connection.execute(select(batches.c.batch_id)).all()
    assert len(pending) < 40
    values = store.load_scope(run.run_id)
    assert dict(zip(values.ids, values.columns["v"].values.tolist(), strict=True)) == expected
    step_values = store.load_scope(run.run_id, "s")
    assert dict(zip(step_values.ids, step_values.columns["v"].values.tolist(), strict=True)) == {
        k: v for k, v in expected.items() if int(v) % 2
    }
    run.finish()
    assert store.load_scope(run.run_id).ids == sorted(expected)


def test_a_metric_may_not_switch_between_text_and_numbers(store: SQLStore) -> None:
    run = evalyard.start_run("r", store=store)
    run.log("q1", metrics={"grade": "A", "ok": True})
    run.log("q2", metrics={"ok": 0.5})  # bools and numbers mix into numbers
    with pytest.raises(InvalidMetricError, match="metric 'grade' on datapoint 'q3' is a number"):
        run.log("q3", metrics={"grade": 3.0})
    assert [r.datapoint_id for r in store.get_results(run.run_id)] == ["q1", "q2"]
    assert store.metric_kinds(run.run_id)[("", "ok")] is MetricKind.NUMBER


def test_metric_definitions_are_per_project(store: SQLStore) -> None:
    evalyard.define_metric("latency_ms", direction="lower", tolerance=5, store=store)
    evalyard.define_metric("latency_ms", direction="none", project="p2", store=store)
    assert store.metric_definitions("default") == {
        "latency_ms": MetricDefinition("latency_ms", Direction.LOWER, 5.0)
    }
    evalyard.define_metric("latency_ms", direction="higher", store=store)
    assert store.metric_definitions("default")["latency_ms"].direction is Direction.HIGHER
    assert store.metric_definitions("p2")["latency_ms"].direction is Direction.NONE


def test_runs_are_found_by_id_name_or_prefix(store: SQLStore) -> None:
    a = evalyard.start_run("same", store=store)
    b = evalyard.start_run("same", project="other", store=store)
    c = evalyard.start_run("unique", store=store)
    assert [r.run_id for r in store.find_runs(a.run_id)] == [a.run_id]
    assert {r.run_id for r in store.find_runs("same")} == {a.run_id, b.run_id}
    assert [r.run_id for r in store.find_runs(c.run_id[:8])] == [c.run_id]
    assert store.find_runs(c.run_id[:3]) == []  # too short to be a prefix
    assert store.find_runs("100%_") == []
    with pytest.raises(RunNotFoundError):
        store.get_run("nope")
    with pytest.raises(RunNotFoundError):
        store.load_scope("nope")


def test_writing_to_an_unknown_run_fails(store: SQLStore) -> None:
    run = evalyard.start_run("r", store=store)
    with store.engine.begin() as connection:
        connection.execute(update(runs).where(runs.c.run_id == run.run_id).values(run_id="moved"))
    with pytest.raises(RunNotFoundError):
        run.log("q1", metrics={"m": 1.0})


def test_the_schema_is_versioned(store_url: str) -> None:
    opened = open_store(store_url)
    with opened.engine.connect() as connection:
        versions = connection.execute(select(schema_migrations.c.version)).scalars().all()
    assert versions == [m.version for m in MIGRATIONS]
    opened.close()
    reopened = open_store(store_url)  # opening again applies nothing twice
    with reopened.engine.begin() as connection:
        connection.execute(
            schema_migrations.insert().values(version=999, name="future", applied_at=0.0)
        )
    reopened.close()
    with pytest.raises(StoreError, match="newer than this evalyard"):
        open_store(store_url)


def test_a_failing_database_is_a_store_error_naming_the_store(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    store = open_store(f"sqlite:///{path}")
    try:
        with sqlite3.connect(path) as raw:
            raw.execute("DROP TABLE runs")
        with pytest.raises(StoreError, match=r"could not read the store sqlite:///.*no such table"):
            store.list_runs()
        with pytest.raises(StoreError, match="could not write to the store"):
            store.create_run(run_id="r", name="r", project="p", dataset=None, metadata={})
    finally:
        store.close()


def test_integer_edges_are_kept_exactly_and_larger_ones_refused(store: SQLStore) -> None:
    edges = [-(2**63), -(2**53) - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1]
    with evalyard.start_run("ints", metadata={"seeds": edges}, store=store) as run:
        run.log(
            "q1",
            inputs={"ids": edges},
            outputs=edges[-1],
            metadata={"n": edges[0]},
            steps=[{"name": "s", "outputs": {"big": edges[-1]}}],
        )
        with pytest.raises(InvalidInputError) as refused:
            run.log_many(
                [
                    {"id": "q2", "outputs": 1},
                    {"id": "q3", "inputs": {"ids": [1, 2**64]}},
                ]
            )
        assert (refused.value.field, refused.value.index) == ("inputs.ids[1]", 1)  # type: ignore[attr-defined]
        assert "integer outside -2**63..2**64-1" in str(refused.value)
        with pytest.raises(InvalidInputError, match=r"metadata\.n of datapoint .q4. is an integer"):
            run.log("q4", metadata={"n": -(2**63) - 1})
    assert store.get_run(run.run_id).metadata == {"seeds": edges}
    (result,) = store.get_results(run.run_id, ["q1"])
    assert result.inputs == {"ids": edges}
    assert result.outputs == edges[-1]
    assert type(result.outputs) is int
    assert result.metadata == {"n": edges[0]}
    assert result.steps[0]["outputs"] == {"big": edges[-1]}
    assert sorted(r.datapoint_id for r in store.get_results(run.run_id)) == ["q1", "q2"]
    with pytest.raises(InvalidInputError, match=r"run metadata\.seeds\[1\] is an integer"):
        evalyard.start_run("ints-too-big", metadata={"seeds": [0, 2**64]}, store=store)
    assert [r.name for r in store.list_runs()] == ["ints"]


def test_batches_of_several_runs_are_written_together_or_not_at_all(store: SQLStore) -> None:
    from evalyard.runner.records import build_batch, prepare_mapping
    from evalyard.store.base import WriteBatch

    first = evalyard.start_run("first", store=store).run_id
    second = evalyard.start_run("second", store=store).run_id

    def batch(datapoint: str) -> WriteBatch:
        return build_batch(
            [prepare_mapping({"id": datapoint, "metrics": {"m": 1.0}}, 0, limit=10**6)]
        )

    with pytest.raises(RunNotFoundError):
        store.write_keyed_batches(
            [(first, batch("q1"), "key-0001"), ("missing", batch("q1"), "key-0001")]
        )
    assert store.result_keys(first) == []
    both = [(first, batch("q1"), "key-0002"), (second, batch("q2"), "key-0002")]
    receipts = store.write_keyed_batches(both)
    assert [r.duplicate for r in receipts] == [False, False]
    again = store.write_keyed_batches(both)
    assert [r.duplicate for r in again] == [True, True]
    assert store.result_keys(first) == [("q1", 0)]
    assert store.result_keys(second) == [("q2", 0)]
