"""PostgreSQL: the team store, through psycopg 3.

Locks are transaction-scoped advisory locks, so a crashed process never leaves one behind.

Batches of results are written with COPY (docs/design/001-store-layout.md, "Writing into
PostgreSQL"): straight into the table when the batch's rows are new there, else into a
temporary table that one ``INSERT ... SELECT ... ON CONFLICT`` then upserts from. Either
way the rows are the same as the upsert's, one by one, would make.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine, Select, Table, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Insert

from evalyard.core.columns import StoredValue
from evalyard.store.dialect import on_conflict_update, upsert_many

__all__ = ["PostgresDialect"]

# Advisory lock keys: one for migrations, and namespaces for per-run and per-name locks.
_SCHEMA_LOCK = 0x6576616C  # "eval"
_RUN_LOCK_NAMESPACE = 0x79617264  # "yard"
_NAME_LOCK_NAMESPACE = 0x6E616D65  # "name"

#: Fewer rows than this are upserted with one executemany: COPY's extra round trips (the
#: temporary table, the INSERT from it) cost more than it saves on a handful of rows.
COPY_MIN_ROWS = 64


class PostgresDialect:
    """The dialect bits for PostgreSQL."""

    name = "postgresql"

    def create_engine(self, url: str) -> Engine:
        parsed = make_url(url).set(drivername="postgresql+psycopg")
        # Writes run at READ COMMITTED, so that concurrent writers inserting the same
        # metric kinds or results wait for each other instead of failing to serialise.
        engine = create_engine(parsed, pool_pre_ping=True, isolation_level="READ COMMITTED")

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            _prefer_lz4(dbapi_connection)

        return engine

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

    def bulk_upsert(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        *,
        keys: Sequence[str],
        update: Sequence[str],
        newer_than: str | None,
    ) -> None:
        if len(rows) >= COPY_MIN_ROWS and _copy_new_rows(connection, table, columns, rows, keys):
            return
        if len(rows) < COPY_MIN_ROWS or not _may_stage(connection):
            upsert_many(
                self,
                connection,
                table,
                columns,
                rows,
                keys=keys,
                update=update,
                newer_than=newer_than,
            )
            return
        quote = connection.dialect.identifier_preparer.quote
        target = quote(table.name)
        names = ", ".join(quote(name) for name in columns)
        # A temporary table per connection, kept (and emptied at each commit) rather than
        # created per batch, so writing does not churn the catalog. Created in the batch's
        # transaction when missing, so a rolled-back batch cannot leave it half-made.
        staging = quote(f"evalyard_incoming_{table.name}")
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} (LIKE {target}) ON COMMIT DELETE ROWS"
        )
        _copy(connection, f"COPY {staging} ({names}) FROM STDIN", rows)
        conflict = on_conflict_update(
            connection, table, keys=keys, update=update, newer_than=newer_than
        )
        # The DELETE empties the staging table for the next batch of the same transaction
        # (several runs' batches may share one).
        connection.exec_driver_sql(
            f"WITH incoming AS (DELETE FROM {staging} RETURNING {names}) "
            f"INSERT INTO {target} ({names}) SELECT {names} FROM incoming{conflict}"
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

    def block_reader(
        self, connection: Connection
    ) -> Callable[[int], AbstractContextManager[StoredValue]] | None:
        # A bytea is fetched whole (reading a part of a compressed value decompresses
        # it from the start).
        return None

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


def _prefer_lz4(dbapi_connection: Any) -> None:
    """Compress the large values this session writes (metric blocks, long JSON) with lz4
    rather than the default pglz: as small on metric blocks and about five times faster to
    write (pglz spends ~0.25 s on the 10 MB block of 100k results, mostly failing to
    compress floats). A server without lz4 (built without it, or older than 14) keeps pglz.
    Values already stored stay as they are; reading either kind needs nothing."""
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET default_toast_compression = lz4")
        dbapi_connection.commit()
    except psycopg.Error:
        dbapi_connection.rollback()


def _may_stage(connection: Connection) -> bool:
    """Whether this session may create temporary tables (a database where TEMPORARY was
    revoked from PUBLIC keeps the executemany), asked once per connection."""
    info = connection.connection.info
    allowed = info.get("evalyard_temporary_tables")
    if allowed is None:
        allowed = bool(
            connection.exec_driver_sql(
                "SELECT has_database_privilege(current_database(), 'TEMPORARY')"
            ).scalar_one()
        )
        info["evalyard_temporary_tables"] = allowed
    return bool(allowed)


def _copy_new_rows(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    keys: Sequence[str],
) -> bool:
    """COPY ``rows`` straight into ``table`` when none of their keys is there yet: nothing
    to replace, so no upsert is needed. False (and nothing written) otherwise.

    Rows of one run (their first key) are tried when the first of them is new: a batch of
    new datapoints, the common case, then skips the temporary table and the upsert, which
    cost more than the COPY itself. Should a key be there all the same (a record logged
    again), the COPY fails on the primary key and is undone to a savepoint, and the caller
    upserts.
    """
    lead = list(columns).index(keys[0])
    value = rows[0][lead]
    if any(row[lead] != value for row in rows):
        return False
    if _holds_key(connection, table, columns, keys, rows[0]):
        return False
    quote = connection.dialect.identifier_preparer.quote
    target = quote(table.name)
    names = ", ".join(quote(name) for name in columns)
    connection.exec_driver_sql("SAVEPOINT evalyard_copy")
    try:
        _copy(connection, f"COPY {target} ({names}) FROM STDIN", rows)
    except DBAPIError as exc:
        if not isinstance(exc.orig, psycopg.errors.UniqueViolation):
            raise
        connection.exec_driver_sql("ROLLBACK TO SAVEPOINT evalyard_copy")
        return False
    connection.exec_driver_sql("RELEASE SAVEPOINT evalyard_copy")
    return True


def _holds_key(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    keys: Sequence[str],
    row: tuple[Any, ...],
) -> bool:
    """Whether ``table`` has a row with the key of ``row``."""
    quote = connection.dialect.identifier_preparer.quote
    position = {name: i for i, name in enumerate(columns)}
    condition = " AND ".join(f"{quote(key)} = %(k{i})s" for i, key in enumerate(keys))
    found = connection.exec_driver_sql(
        f"SELECT EXISTS (SELECT 1 FROM {quote(table.name)} WHERE {condition})",
        {f"k{i}": row[position[key]] for i, key in enumerate(keys)},
    ).scalar_one()
    return bool(found)


def _copy(connection: Connection, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Run ``COPY ... FROM STDIN`` (text format: psycopg escapes each value, the server
    parses and checks it as it would a parameter) in the connection's transaction; a
    failure is a DBAPIError, as from any other statement."""
    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)
    except psycopg.Error as exc:
        raise DBAPIError.instance(
            statement, None, exc, psycopg.Error, dialect=connection.dialect
        ) from exc
