"""Migration 3 brings a store made by migration 2 up to date: login sessions, kept by hash."""

from __future__ import annotations

import time

from sqlalchemy import inspect, select

import evalyard
from evalyard.server.tokens import create_token, hash_token
from evalyard.store import SQLStore, open_store, schema
from evalyard.store.migrations import MIGRATIONS, schema_version


def test_a_version_2_store_gets_login_sessions(store_url: str) -> None:
    first = open_store(store_url)
    assert isinstance(first, SQLStore)
    with first.engine.begin() as connection:
        # Back to what migrations 1 and 2 made: drop the later tables and their records.
        schema.login_sessions.drop(connection)
        schema.otlp_spans.drop(connection)
        connection.execute(
            schema.schema_migrations.delete().where(schema.schema_migrations.c.version >= 3)
        )
        assert schema_version(connection) == 2
    with evalyard.start_run("old", store=first) as run:
        run.log("a", metrics={"m": 1.0})
    _, kept = create_token(first, scope="read")
    _, other = create_token(first, scope="read")
    first.close()
    again = open_store(store_url)
    assert isinstance(again, SQLStore)
    try:
        with again.engine.connect() as connection:
            assert schema_version(connection) == MIGRATIONS[-1].version
            assert "login_sessions" in set(inspect(connection).get_table_names())
        assert again.get_run(run.run_id).result_count == 1
        assert [t.token_id for t in again.list_tokens()] == [kept.token_id, other.token_id]
        now = time.time()
        again.add_session(
            session_hash=hash_token("s1"), token_id=kept.token_id, expires_at=now + 60
        )
        again.add_session(
            session_hash=hash_token("s2"), token_id=kept.token_id, expires_at=now + 60
        )
        again.add_session(session_hash=hash_token("old"), token_id=kept.token_id, expires_at=now)
        again.add_session(
            session_hash=hash_token("o"), token_id=other.token_id, expires_at=now + 60
        )
        found = again.find_session(hash_token("s1"))
        assert found is not None
        assert found.token_id == kept.token_id
        assert again.find_session(hash_token("old")) is None  # expired
        assert again.find_session("s1") is None  # looked up by hash only
        with again.engine.connect() as connection:
            stored = set(connection.execute(select(schema.login_sessions.c.session_hash)).scalars())
        assert "s1" not in stored
        assert hash_token("s1") in stored
        assert again.end_session(hash_token("s1"))
        assert not again.end_session(hash_token("s1"))
        assert again.find_session(hash_token("s1")) is None
        assert again.find_session(hash_token("s2")) is not None
        assert again.revoke_token(kept.token_id)
        assert again.find_session(hash_token("s2")) is None  # revoking ends its sessions
        assert again.find_session(hash_token("o")) is not None
    finally:
        again.close()
