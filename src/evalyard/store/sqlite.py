"""SQLite: the embedded store. WAL, a busy timeout and ``BEGIN IMMEDIATE`` for writes.

Several processes may write one file at once: WAL lets readers go on while one writer
writes, and taking the write lock at ``BEGIN`` (rather than on the first write inside a
transaction) means two writers wait for each other instead of failing with "database is
locked" when both try to upgrade a read lock.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, Select, Table, create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.sql.dml import Insert

from evalyard.core.columns import StoredValue
from evalyard.errors import StoreError
from evalyard.store.dialect import on_conflict_update, upsert_many

__all__ = ["SQLiteDialect"]

_BUSY_TIMEOUT_S = 60.0
#: Fewer rows than this are written by one ``executemany`` (the statement is cached).
_MULTI_ROW_MIN = 64
#: Rows per INSERT statement of a bulk write, at most (fewer when SQLite allows fewer
#: bound values).
_ROWS_PER_STATEMENT = 6500


class SQLiteDialect:
    """The dialect bits for SQLite files."""

    name = "sqlite"

    def create_engine(self, url: str) -> Engine:
        parsed = make_url(url)
        path = _file_path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of the store {path}: {exc}") from None
        engine = create_engine(
            parsed.set(drivername="sqlite+pysqlite"),
            connect_args={"timeout": _BUSY_TIMEOUT_S, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is DEFERRED).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # 64 MiB of page cache (the default is 2 MiB): inserting into the results
            # index of a run with a million rows otherwise goes back to disk constantly.
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            write = connection.get_execution_options().get("evalyard_write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def upsert(
        self, table: Table, *, keys: Sequence[str], update: Sequence[str], newer_than: str | None
    ) -> Insert:
        statement = sqlite_insert(table)
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
        if len(rows) < _MULTI_ROW_MIN:
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
        # Many rows per statement rather than one ``executemany``: the driver lets other
        # threads run while SQLite executes a statement, and a statement per row handed the
        # interpreter back and forth at every row, so a ``log_many`` checking the next
        # chunk meanwhile slowed the write instead of overlapping it. The values are bound
        # in one C-level pass, and the inserts run without holding the interpreter.
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        width = len(columns)
        per = max(1, min(_ROWS_PER_STATEMENT, _variable_limit(driver) // width))
        quote = connection.dialect.identifier_preparer.quote
        head = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES "
        tail = on_conflict_update(
            connection, table, keys=keys, update=update, newer_than=newer_than
        )
        full = f"{head}{', '.join([_placeholders(width)] * per)}{tail}"
        cursor = driver.cursor()
        try:
            for start in range(0, len(rows), per):
                part = rows[start : start + per]
                sql = full
                if len(part) != per:
                    sql = f"{head}{', '.join([_placeholders(width)] * len(part))}{tail}"
                cursor.execute(sql, list(itertools.chain.from_iterable(part)))
        finally:
            cursor.close()

    def insert_ignore(self, table: Table, *, keys: Sequence[str]) -> Insert:
        return sqlite_insert(table).on_conflict_do_nothing(index_elements=list(keys))

    def fetch_blobs(self, connection: Connection, statement: Select[Any]) -> Sequence[Any]:
        return connection.execute(statement).all()

    def block_reader(
        self, connection: Connection
    ) -> Callable[[int], AbstractContextManager[StoredValue]] | None:
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)

        @contextmanager
        def opened(rowid: int) -> Iterator[StoredValue]:
            with driver.blobopen("metric_blocks", "columns", rowid, readonly=True) as blob:
                yield _Blob(blob)

        return opened

    def read_options(self) -> dict[str, str]:
        # A deferred BEGIN takes its snapshot at the first read and keeps it (WAL).
        return {}

    def lock_schema(self, connection: Connection) -> None:
        # BEGIN IMMEDIATE already holds the database's single write lock.
        return None

    def lock_run(self, connection: Connection, run_id: str) -> None:
        return None

    def lock_run_name(self, connection: Connection, project: str, name: str) -> None:
        # BEGIN IMMEDIATE already holds the database's single write lock.
        return None

    def display_url(self, url: str) -> str:
        return url

    def missing_location(self, url: str) -> str | None:
        path = _file_path(url)
        return None if path.exists() else str(path.absolute())


def _file_path(url: str) -> Path:
    """The file of an ``sqlite:///PATH`` URL."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise StoreError(
            f"the SQLite store needs a file path, as in sqlite:///path/to/evalyard.db (got {url!r})"
        )
    return Path(database)


def _variable_limit(driver: sqlite3.Connection) -> int:
    """How many values one statement may bind on this connection (32,766 by default)."""
    return int(driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


def _placeholders(width: int) -> str:
    return f"({', '.join(['?'] * width)})"


#: Bytes read from a BLOB at a time: each read's buffer is reused by the allocator and
#: stays in the CPU's cache while it is copied to its place.
_READ_BYTES = 1 << 20


class _Blob:
    """A metric block's ``columns`` read a part at a time (:class:`StoredValue`)."""

    __slots__ = ("_blob",)

    def __init__(self, blob: sqlite3.Blob) -> None:
        self._blob = blob

    def read(self, offset: int, size: int) -> bytes:
        self._blob.seek(offset)
        found = self._blob.read(size)
        if len(found) != size:
            raise ValueError(
                f"a stored block ends at byte {offset + len(found)}, before the {size} bytes "
                f"its header announces from byte {offset}; the store is damaged"
            )
        return found

    def read_into(self, offset: int, into: npt.NDArray[np.uint8]) -> None:
        for start in range(0, into.size, _READ_BYTES):
            part = self.read(offset + start, min(_READ_BYTES, into.size - start))
            into[start : start + len(part)] = np.frombuffer(part, dtype=np.uint8)
