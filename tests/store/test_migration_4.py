"""Migration 4 brings a store made by migration 3 up to date: spans received over OTLP,
kept once per (project, trace, span)."""

from __future__ import annotations

from sqlalchemy import func, inspect, select

import evalyard
from evalyard.store import SQLStore, open_store, schema
from evalyard.store.base import StoredSpan
from evalyard.store.migrations import MIGRATIONS, schema_version


def test_a_version_3_store_gets_the_span_table(store_url: str) -> None:
    first = open_store(store_url)
    assert isinstance(first, SQLStore)
    with first.engine.begin() as connection:
        # Back to what migrations 1 to 3 made: drop the table and the record of 4.
        schema.otlp_spans.drop(connection)
        connection.execute(
            schema.schema_migrations.delete().where(schema.schema_migrations.c.version >= 4)
        )
        assert schema_version(connection) == 3
    with evalyard.start_run("old", store=first) as run:
        run.log("a", metrics={"m": 1.0})
    first.close()
    again = open_store(store_url)
    assert isinstance(again, SQLStore)
    try:
        with again.engine.connect() as connection:
            assert schema_version(connection) == MIGRATIONS[-1].version == 4
            assert "otlp_spans" in set(inspect(connection).get_table_names())
        assert again.get_run(run.run_id).result_count == 1
        root = StoredSpan("t" * 32, "a" * 16, '{"name": "root"}', run.run_id, "x", 0, 1.0)
        child = StoredSpan("t" * 32, "b" * 16, '{"name": "child"}', received_at=1.0)
        for _ in range(2):  # the second time, nothing is stored twice
            with again.span_session("p") as session:
                session.add_spans([root, child])
        with again.span_session("other") as session:
            session.add_spans([child])  # another project's span of the same ids
        with again.span_session("p") as session:
            assert sorted(s.span_id for s in session.spans_of_traces(["t" * 32])) == [
                "a" * 16,
                "b" * 16,
            ]
            assert session.pending_count() == 1
            session.assign([StoredSpan("t" * 32, "b" * 16, "", run.run_id, "x", 0)])
            assert session.pending_count() == 0
            found = session.spans_of_results([(run.run_id, "x", 0)])
            assert sorted(s.span for s in found) == ['{"name": "child"}', '{"name": "root"}']
            assert session.spans_of_results([(run.run_id, "x", 1)]) == []
        with again.span_session("other") as session:
            assert session.pending_count() == 1
            assert session.purge_pending(before=0.5) == 0
            assert session.purge_pending(before=2.0) == 1
        with again.engine.connect() as connection:
            count = connection.execute(
                select(func.count()).select_from(schema.otlp_spans)
            ).scalar_one()
        assert count == 2
    finally:
        again.close()
