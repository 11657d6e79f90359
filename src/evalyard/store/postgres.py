"""PostgreSQL: the team store, through psycopg 3.

Locks are transaction-scoped advisory locks, so a crashed process never leaves one behind.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine, Select, Table, create_engine, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.sql.dml import Insert

__all__ = ["PostgresDialect"]

# Advisory lock keys: one for migrations, and namespaces for per-run and per-name locks.
_SCHEMA_LOCK = 0x6576616C  # "eval"
_RUN_LOCK_NAMESPACE = 0x79617264  # "yard"
_NAME_LOCK_NAMESPACE = 0x6E616D65  # "name"


class PostgresDialect:
    """The dialect bits for PostgreSQL."""

    name = "postgresql"

    def create_engine(self, url: str) -> Engine:
        parsed = make_url(url).set(drivername="postgresql+psycopg")
        # Writes run at READ COMMITTED, so that concurrent writers inserting the same
        # metric kinds or results wait for each other instead of failing to serialise.
        return create_engine(parsed, pool_pre_ping=True, isolation_level="READ COMMITTED")

    def upsert(
        self, table: Table, *, keys: Sequence[str], update: Sequence[str], newer_than: str | None
    ) -> Insert:
        statement = pg_insert(table)
        where = None
        if newer_than is not None:
            where = statement.excluded[newer_than] > table.c[newer_than]
        return statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: statement.excluded[name] for name in update},
            where=where,
        )

    def insert_ignore(self, table: Table, *, keys: Sequence[str]) -> Insert:
        return pg_insert(table).on_conflict_do_nothing(index_elements=list(keys))

    def fetch_blobs(self, connection: Connection, statement: Select[Any]) -> Sequence[Any]:
        # bytea in psycopg's default text format arrives hex-encoded: decoding a run's
        # metric blocks that way takes longer than comparing them. A binary cursor on the
        # same connection (and transaction) gets the bytes as they are.
        compiled = statement.compile(dialect=connection.dialect)
        driver = connection.connection.driver_connection
        assert driver is not None
        with driver.cursor(binary=True, row_factory=namedtuple_row) as cursor:
            cursor.execute(str(compiled), compiled.params)
            rows: list[Any] = cursor.fetchall()
        return rows

    def read_options(self) -> dict[str, str]:
        return {"isolation_level": "REPEATABLE READ"}

    def lock_schema(self, connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})

    def lock_run(self, connection: Connection, run_id: str) -> None:
        _lock(connection, _RUN_LOCK_NAMESPACE, run_id)

    def lock_run_name(self, connection: Connection, project: str, name: str) -> None:
        # Two names sharing a hash only wait for each other: correct, if rarely slower.
        _lock(connection, _NAME_LOCK_NAMESPACE, f"{project}\x00{name}")

    def display_url(self, url: str) -> str:
        return make_url(url).render_as_string(hide_password=True)

    def missing_location(self, url: str) -> str | None:
        # The database is there or not; whether it holds a store, only a connection says.
        return None


def _lock(connection: Connection, namespace: int, key: str) -> None:
    """Take the transaction-scoped advisory lock of ``key`` in ``namespace``."""
    number = zlib.crc32(key.encode("utf-8"))
    connection.execute(
        text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
        {"namespace": namespace, "key": number - (1 << 31)},
    )
