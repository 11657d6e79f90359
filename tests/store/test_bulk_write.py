"""Writing a batch's results in bulk (COPY on PostgreSQL, executemany on SQLite) keeps the
upsert's semantics: the newer batch wins, values round-trip exactly, failures are
StoreErrors, and concurrent writers of one run keep batch order."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import func, select

import evalyard
from evalyard.errors import StoreError
from evalyard.runner.records import build_batch, prepare_mapping
from evalyard.store import SQLStore, open_store
from evalyard.store import postgres as postgres_module
from evalyard.store.base import ResultRow, WriteBatch
from evalyard.store.schema import batches, results
from tests.conftest import postgres_schema_url


@pytest.fixture
def pg_store() -> Iterator[SQLStore]:
    """An open, empty PostgreSQL store (the COPY path has no SQLite twin)."""
    for url in postgres_schema_url():
        opened = open_store(url)
        try:
            yield opened
        finally:
            opened.close()


#: Enough rows to take PostgreSQL's COPY path; fewer take its executemany.
MANY = postgres_module.COPY_MIN_ROWS + 36
FEW = postgres_module.COPY_MIN_ROWS - 1

#: Text that COPY's text format must escape (or that a hand-made escaper gets wrong).
AWKWARD = [
    "tab\there",
    "new\nline and\r\ncarriage",
    "back\\slash \\N \\\\N \\t \\n \\.",
    "\\N",
    "",
    " leading and trailing ",
    "quotes ' \" and commas, ; |",
    "unicode: é ü ß 東京 🙂 עברית مرحبا \u0301 \u200b \ufeff",
    "control \x01 \x1f \x7f",
    "\\",
    "end backslash\\",
]


def _batch(records: Sequence[dict[str, Any]]) -> WriteBatch:
    return build_batch([prepare_mapping(r, i, limit=10**9) for i, r in enumerate(records)])


def _rows(store: SQLStore, run_id: str) -> dict[tuple[str, int], Any]:
    with store.engine.connect() as connection:
        found = connection.execute(select(results).where(results.c.run_id == run_id)).all()
    return {(row.datapoint_id, row.epoch): row for row in found}


@pytest.mark.parametrize("size", [FEW, MANY])
def test_a_record_logged_again_in_a_later_batch_replaces_the_earlier(
    store: SQLStore, size: int
) -> None:
    with evalyard.start_run("again", store=store) as run:
        run.log_many(
            [
                {"id": f"q{i:04d}", "outputs": f"first {i}", "metrics": {"m": 0.0}}
                for i in range(size)
            ]
        )
        # Half of them again (different fields, some now missing), and as many new ones.
        run.log_many(
            [
                {"id": f"q{i:04d}", "inputs": {"i": i}, "metrics": {"m": 1.0}}
                for i in range(size // 2, size + size // 2)
            ]
        )
    rows = _rows(store, run.run_id)
    assert len(rows) == size + size // 2
    for i in range(size + size // 2):
        row = rows[(f"q{i:04d}", 0)]
        if i < size // 2:
            assert (row.outputs, row.inputs) == (json.dumps(f"first {i}"), None)
        else:
            assert row.outputs is None
            assert json.loads(row.inputs) == {"i": i}
    values = store.load_scope(run.run_id)
    by_id = dict(zip(values.ids, values.columns["m"].values.tolist(), strict=True))
    assert by_id == {f"q{i:04d}": 0.0 if i < size // 2 else 1.0 for i in range(len(rows))}
    assert store.get_run(run.run_id).result_count == len(rows)


def _result_row(datapoint_id: str, text: str | None, duration: float | None) -> ResultRow:
    return ResultRow(
        datapoint_id=datapoint_id,
        epoch=0,
        inputs=text,
        outputs=text,
        ground_truth=text,
        metadata=text,
        metrics=text,
        steps=text,
        error=text,
        duration_ms=duration,
    )


def _bulk(store: SQLStore, run_id: str, batch_id: int, rows: Sequence[ResultRow]) -> None:
    """What SQLStore._upsert_results does, with a batch id of our choosing."""
    with store._write() as connection:
        store._upsert_results(connection, run_id, batch_id, list(rows))


@pytest.mark.parametrize("size", [FEW, MANY])
@pytest.mark.parametrize("temporary_tables", [True, False])
def test_an_older_batch_never_overwrites_a_newer_row(
    store: SQLStore, size: int, temporary_tables: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the TEMPORARY privilege, PostgreSQL upserts later batches with executemany.
    monkeypatch.setattr(postgres_module, "_may_stage", lambda _: temporary_tables)
    run_id = evalyard.start_run("order", store=store).run_id
    ids = [f"d{i:04d}" for i in range(size)]
    _bulk(store, run_id, 10, [_result_row(d, '"ten"', 10.0) for d in ids])
    # An older batch (as one that committed late would be) changes nothing ...
    _bulk(store, run_id, 9, [_result_row(d, '"nine"', 9.0) for d in ids])
    # ... nor does the same batch written again; a newer one replaces every field.
    _bulk(store, run_id, 10, [_result_row(d, '"ten again"', 11.0) for d in ids])
    assert {(r.batch_id, r.outputs, r.duration_ms) for r in _rows(store, run_id).values()} == {
        (10, '"ten"', 10.0)
    }
    _bulk(store, run_id, 12, [_result_row(d, None, None) for d in ids[: size // 2]])
    rows = _rows(store, run_id)
    assert len(rows) == size
    for i, d in enumerate(ids):
        row = rows[(d, 0)]
        if i < size // 2:
            assert (row.batch_id, row.inputs, row.error, row.duration_ms) == (12, None, None, None)
        else:
            assert (row.batch_id, row.inputs, row.duration_ms) == (10, '"ten"', 10.0)


@pytest.mark.parametrize("size", [FEW, MANY])
def test_awkward_text_null_fields_and_large_values_round_trip_exactly(
    store: SQLStore, size: int
) -> None:
    run_id = evalyard.start_run("awkward", store=store).run_id
    large = json.dumps({"text": "x\t\\y\n" * 200_000, "list": list(range(50_000))})
    durations = [0.1 + 0.2, 1e-300, 1.7976931348623157e308, -0.0, 12.5, None]
    texts: list[str | None] = [None, large, *AWKWARD]
    ids = [f"id {i} \\N \\ é 東" if i % 3 == 0 else f"id-{i}\\" for i in range(size)]
    # Into an empty run, then over its rows with every row's values changed.
    for shift in (0, 1):
        expected = [
            _result_row(d, texts[(i + shift) % len(texts)], durations[(i + shift) % len(durations)])
            for i, d in enumerate(ids)
        ]
        _bulk(store, run_id, 1 + shift, expected)
        rows = _rows(store, run_id)
        assert len(rows) == size
        for want in expected:
            row = rows[(want.datapoint_id, 0)]
            for field in ("inputs", "outputs", "ground_truth", "metadata", "metrics", "steps"):
                assert getattr(row, field) == want.inputs, (want.datapoint_id, field)
            assert row.error == want.error
            if want.duration_ms is None:
                assert row.duration_ms is None
            else:
                assert row.duration_ms == want.duration_ms


def test_logged_values_round_trip_exactly(store: SQLStore) -> None:
    weird = {"awkward": AWKWARD, "nested": {"k\t\n\\": ["\\N", None, 1.5, True]}}
    records = [
        {
            "id": f"q{i}\\{AWKWARD[i % len(AWKWARD)][:3].strip() or 'x'}",
            "inputs": weird if i % 2 else None,
            "outputs": AWKWARD[i % len(AWKWARD)],
            "metadata": {"i": i, "big": "z" * (100_000 if i == 7 else 1)},
            "error": AWKWARD[i % len(AWKWARD)] if i % 5 == 0 else None,
            "duration_ms": i / 3 if i % 4 else None,
            "metrics": {"m": i / 7},
        }
        for i in range(MANY)
    ]
    with evalyard.start_run("logged", store=store) as run:
        run.log_many(records)
    by_id = {r.datapoint_id: r for r in store.get_results(run.run_id)}
    assert len(by_id) == MANY
    for i, record in enumerate(records):
        result = by_id[record["id"]]
        assert result.inputs == record["inputs"]
        assert result.outputs == record["outputs"]
        assert result.metadata == record["metadata"]
        assert result.duration_ms == record["duration_ms"]
        assert result.metrics == {"m": i / 7}


def test_batches_of_several_runs_in_one_transaction_each_keep_their_rows(
    store: SQLStore,
) -> None:
    first = evalyard.start_run("first", store=store).run_id
    second = evalyard.start_run("second", store=store).run_id

    def records(tag: str) -> list[dict[str, Any]]:
        return [{"id": f"q{i}", "outputs": tag, "metrics": {"m": 1.0}} for i in range(MANY)]

    store.write_batch(first, _batch(records("first, 1")))
    store.write_batch(second, _batch(records("second, 1")))
    both = [
        (first, _batch(records("first, 2")), "key-1"),
        (second, _batch(records("second, 2")), "key-1"),
    ]
    assert [r.duplicate for r in store.write_keyed_batches(both)] == [False, False]
    assert [r.duplicate for r in store.write_keyed_batches(both)] == [True, True]
    for run_id, tag in ((first, "first, 2"), (second, "second, 2")):
        found = store.get_results(run_id)
        assert len(found) == MANY
        assert {r.outputs for r in found} == {tag}


def test_concurrent_writers_of_one_run_keep_batch_order(store: SQLStore) -> None:
    run_id = evalyard.start_run("concurrent", store=store).run_id
    ids = [f"q{i:04d}" for i in range(MANY)]
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            for round_ in range(6):
                tag = f"{writer}/{round_}"
                store.write_batch(
                    run_id,
                    _batch([{"id": d, "outputs": tag, "metrics": {"w": writer}} for d in ids]),
                )
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    with store.engine.connect() as connection:
        last_batch = connection.execute(
            select(func.max(batches.c.batch_id)).where(batches.c.run_id == run_id)
        ).scalar_one()
    rows = _rows(store, run_id)
    assert len(rows) == MANY
    # Every batch held every datapoint: all rows come from the last batch to commit ...
    assert {row.batch_id for row in rows.values()} == {last_batch}
    assert len({row.outputs for row in rows.values()}) == 1
    writer = int(json.loads(next(iter(rows.values())).outputs).split("/")[0])
    # ... and the metric blocks agree with the rows on which one that was.
    store.compact(run_id)
    values = store.load_scope(run_id)
    assert set(values.columns["w"].values.tolist()) == {writer}


@pytest.mark.postgres
def test_a_failing_copy_is_a_store_error_and_the_next_batch_still_works(
    pg_store: SQLStore,
) -> None:
    store = pg_store
    run_id = evalyard.start_run("failing", store=store).run_id
    good = [_result_row(f"q{i}", '"ok"', 1.0) for i in range(MANY)]
    _bulk(store, run_id, 1, good)
    too_long = [*good, _result_row("x" * 600, '"too long"', 1.0)]
    nul = [*good, _result_row("nul", '"a\x00b"', 1.0)]
    for size in (FEW, MANY):
        for which, rows in enumerate((too_long, nul)):
            chunk = [*rows[: size - 1], rows[-1]]
            with pytest.raises(StoreError, match="could not write to the store"):
                _bulk(store, run_id, 2, chunk)
            # into a run without rows yet (the straight COPY)
            empty = evalyard.start_run(f"empty {size} {which}", store=store).run_id
            with pytest.raises(StoreError, match="could not write to the store"):
                _bulk(store, empty, 3, chunk)
            assert _rows(store, empty) == {}
    assert {row.outputs for row in _rows(store, run_id).values()} == {'"ok"'}
    # The connection (and its temporary table) serves the next batch.
    _bulk(store, run_id, 4, [_result_row(f"q{i}", '"later"', 2.0) for i in range(MANY)])
    assert {row.outputs for row in _rows(store, run_id).values()} == {'"later"'}


@pytest.mark.postgres
def test_a_stored_row_among_new_ones_falls_back_from_the_straight_copy_to_the_upsert(
    pg_store: SQLStore,
) -> None:
    store = pg_store
    run_id = evalyard.start_run("race", store=store).run_id
    _bulk(store, run_id, 1, [_result_row("q5", '"old"', 1.0)])
    # The batch's first row is new, so its COPY goes straight into the table, meets the
    # stored row, is undone, and the upsert takes over.
    _bulk(store, run_id, 2, [_result_row(f"q{i}", '"new"', 2.0) for i in range(MANY)])
    rows = _rows(store, run_id)
    assert len(rows) == MANY
    assert {row.outputs for row in rows.values()} == {'"new"'}
    assert {row.batch_id for row in rows.values()} == {2}


@pytest.mark.postgres
def test_large_values_are_compressed_with_lz4_where_the_server_has_it(
    pg_store: SQLStore,
) -> None:
    store = pg_store
    with store.engine.connect() as connection:
        server = connection.exec_driver_sql("SHOW server_version_num").scalar_one()
        if int(server) < 140000:
            pytest.skip("lz4 TOAST compression needs PostgreSQL 14")
        session = connection.exec_driver_sql("SHOW default_toast_compression").scalar_one()
    assert session == "lz4"
    with evalyard.start_run("lz4", store=store) as run:
        run.log_many([{"id": f"q{i:05d}", "metrics": {"m": 1.0}} for i in range(5_000)])
    with store.engine.connect() as connection:
        methods = connection.exec_driver_sql(
            "SELECT DISTINCT pg_column_compression(ids) FROM metric_blocks"
        ).all()
    assert methods == [("lz4",)]
    assert store.load_scope(run.run_id).columns["m"].values.tolist() == [1.0] * 5_000


#: Rows of one SQLite statement at most, with the key columns and one field.
_SQLITE_STATEMENT_ROWS = 32_766 // 5


@pytest.mark.parametrize("size", [3, MANY, 2 * _SQLITE_STATEMENT_ROWS + 7])
def test_fields_a_batch_leaves_out_are_emptied_in_the_records_it_replaces(
    store: SQLStore, size: int
) -> None:
    full = {
        "inputs": {"q": "x"},
        "outputs": "y",
        "ground_truth": "z",
        "metadata": {"k": 1},
        "steps": [{"name": "s", "type": "model", "metrics": {"t": 1.0}}],
        "error": "boom",
        "duration_ms": 0.0,
    }
    run = evalyard.start_run("fields", store=store)
    run.log_many([{"id": f"d{i:06d}", **full, "metrics": {"m": 1.0}} for i in range(size)])
    before = _rows(store, run.run_id)
    assert {row.duration_ms for row in before.values()} == {0.0}  # 0.0 is a value, kept
    assert {row.error for row in before.values()} == {json.dumps("boom")}
    # Every record again with scores only; then a third of them with a duration alone.
    run.log_many([{"id": f"d{i:06d}", "metrics": {"m": 2.0}} for i in range(size)])
    run.log_many([{"id": f"d{i:06d}", "duration_ms": 0.0} for i in range(0, size, 3)])
    run.finish()
    rows = _rows(store, run.run_id)
    assert len(rows) == size
    for i in range(size):
        row = rows[(f"d{i:06d}", 0)]
        emptied = (row.inputs, row.outputs, row.ground_truth, row.metadata, row.steps, row.error)
        assert emptied == (None,) * 6
        if i % 3 == 0:
            assert (row.metrics, row.duration_ms) == (None, 0.0)
        else:
            assert (json.loads(row.metrics), row.duration_ms) == ({"m": 2.0}, None)
