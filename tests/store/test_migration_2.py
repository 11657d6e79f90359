"""Migration 2 brings a store made by migration 1 up to date, keeping its runs."""

from __future__ import annotations

import time

from sqlalchemy import inspect

import evalyard
from evalyard.store import SQLStore, open_store, schema
from evalyard.store.migrations import MIGRATIONS, schema_version


def test_a_version_1_store_gets_the_team_server_tables(store_url: str) -> None:
    first = open_store(store_url)
    assert isinstance(first, SQLStore)
    with first.engine.begin() as connection:
        # Back to what migration 1 alone made: drop the later tables and their records.
        for table in (
            schema.login_sessions,
            schema.access_tokens,
            schema.batch_keys,
            schema.run_shards,
        ):
            table.drop(connection)
        connection.execute(
            schema.schema_migrations.delete().where(schema.schema_migrations.c.version >= 2)
        )
        assert schema_version(connection) == 1
    with evalyard.start_run("old", store=first) as run:
        run.log("a", metrics={"m": 1.0})
    first.close()
    again = open_store(store_url)
    assert isinstance(again, SQLStore)
    try:
        with again.engine.connect() as connection:
            assert schema_version(connection) == MIGRATIONS[-1].version
            names = set(inspect(connection).get_table_names())
        assert {"access_tokens", "batch_keys", "run_shards"} <= names
        assert again.get_run(run.run_id).result_count == 1
        assert (
            again.add_token(
                token_id="t1", token_hash="h" * 64, scope="read", project=None, name=None
            ).created_at
            <= time.time()
        )
    finally:
        again.close()
