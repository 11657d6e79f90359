"""What differs between the SQL databases evalyard runs on, as one small interface.

Everything dialect-specific lives in :mod:`.sqlite` and :mod:`.postgres`; the SQL store
itself (:mod:`.sql`) is written once against this interface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Select, Table
from sqlalchemy.sql.dml import Insert

from evalyard.core.columns import StoredValue
from evalyard.errors import StoreError

__all__ = ["Dialect", "on_conflict_update", "upsert_many"]


class Dialect(Protocol):
    """The dialect bits: engines, upserts and locks."""

    name: str

    def create_engine(self, url: str) -> Engine:
        """An engine for ``url``, configured for safe concurrent use."""
        ...

    def upsert(
        self, table: Table, *, keys: Sequence[str], update: Sequence[str], newer_than: str | None
    ) -> Insert:
        """INSERT that replaces the row with the same ``keys``.

        With ``newer_than`` (a column), the stored row is replaced only by a row whose value
        in that column is greater, so writes that commit out of order keep the latest.
        """
        ...

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
        """Write many rows (tuples of ``columns``) as :meth:`upsert` would, one by one.

        The rows hold each ``keys`` at most once. The fast path of a batch's results.
        """
        ...

    def insert_ignore(self, table: Table, *, keys: Sequence[str]) -> Insert:
        """INSERT that leaves an existing row with the same ``keys`` alone."""
        ...

    def fetch_blobs(self, connection: Connection, statement: Select[Any]) -> Sequence[Any]:
        """Run a query whose rows hold large binary columns; rows have attribute access."""
        ...

    def block_reader(
        self, connection: Connection
    ) -> Callable[[int], AbstractContextManager[StoredValue]] | None:
        """What opens the ``columns`` of the metric block at a rowid, to read it a part at a
        time within this transaction; None where values are only fetched whole."""
        ...

    def read_options(self) -> dict[str, str]:
        """Execution options for a read transaction that sees one consistent snapshot."""
        ...

    def lock_schema(self, connection: Connection) -> None:
        """Serialise schema migrations across processes, within the current transaction."""
        ...

    def lock_run(self, connection: Connection, run_id: str) -> None:
        """Serialise the writes and merges of one run, within the current transaction."""
        ...

    def lock_run_name(self, connection: Connection, project: str, name: str) -> None:
        """Serialise the creation of runs of one name in one project, within the current
        transaction, so that two writers cannot both create it."""
        ...

    def display_url(self, url: str) -> str:
        """The URL without any password, for messages."""
        ...

    def missing_location(self, url: str) -> str | None:
        """Where the store of ``url`` would be, when it is certainly not there yet (an
        SQLite file that does not exist); None when it may be (connect to find out)."""
        ...


_compiled_upserts: dict[tuple[Any, ...], tuple[str, bool]] = {}


def upsert_many(
    dialect: Dialect,
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    keys: Sequence[str],
    update: Sequence[str],
    newer_than: str | None,
) -> None:
    """:meth:`Dialect.bulk_upsert` as one ``executemany`` of the dialect's upsert.

    The statement goes to the driver as plain SQL with tuples (compiled once per table and
    columns): building SQLAlchemy parameters row by row would cost more than the insert.
    """
    if not rows:
        return
    engine_dialect = connection.dialect
    cache_key = (
        engine_dialect.name,
        engine_dialect.paramstyle,
        table.name,
        tuple(columns),
        tuple(keys),
        tuple(update),
        newer_than,
    )
    compiled_sql = _compiled_upserts.get(cache_key)
    if compiled_sql is None:
        statement = dialect.upsert(table, keys=keys, update=update, newer_than=newer_than)
        compiled = statement.compile(dialect=engine_dialect, column_keys=list(columns))
        positional = bool(compiled.positional)
        if positional and tuple(compiled.positiontup or ()) != tuple(columns):
            raise StoreError(f"unexpected parameter order in {compiled}")
        compiled_sql = (str(compiled), positional)
        _compiled_upserts[cache_key] = compiled_sql
    sql, positional = compiled_sql
    if positional:
        connection.exec_driver_sql(sql, list(rows))
    else:
        names = tuple(columns)
        connection.exec_driver_sql(sql, [dict(zip(names, row, strict=True)) for row in rows])


def on_conflict_update(
    connection: Connection,
    table: Table,
    *,
    keys: Sequence[str],
    update: Sequence[str],
    newer_than: str | None,
) -> str:
    """The ``ON CONFLICT ... DO UPDATE`` clause of :meth:`Dialect.upsert`, as SQL text for
    the bulk upserts written by hand (SQLite and PostgreSQL spell it alike)."""
    quote = connection.dialect.identifier_preparer.quote
    target = quote(table.name)
    assignments = ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in update)
    condition = ""
    if newer_than is not None:
        condition = f" WHERE excluded.{quote(newer_than)} > {target}.{quote(newer_than)}"
    return (
        f" ON CONFLICT ({', '.join(quote(key) for key in keys)}) "
        f"DO UPDATE SET {assignments}{condition}"
    )
