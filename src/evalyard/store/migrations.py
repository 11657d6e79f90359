"""Versioned schema migrations, applied in order, one process at a time.

Each migration is a function of a connection inside a transaction; the version table
``evalyard_migrations`` records which ones ran. A store whose schema is newer than this
evalyard refuses to open rather than guess.

To change the schema: append a migration here (never edit one that has shipped), change
:mod:`.schema` to match, and freeze the tables that migration 1 creates inside it if the
change alters them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, inspect, select

from evalyard.errors import StoreError
from evalyard.store import schema
from evalyard.store.dialect import Dialect

__all__ = ["MIGRATIONS", "Migration", "migrate", "schema_version"]


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema's history."""

    version: int
    """Its number; versions run in increasing order."""
    name: str
    """What it does, in a few words."""
    apply: Callable[[Connection], None]
    """The change itself, run inside the migration transaction."""


def _initial(connection: Connection) -> None:
    tables = [
        table for table in schema.metadata.sorted_tables if table is not schema.schema_migrations
    ]
    schema.metadata.create_all(connection, tables=tables)


def _team_server(connection: Connection) -> None:
    # A store created by this evalyard got these tables from migration 1 (which creates
    # every table of the schema module): create only what is missing.
    for table in (schema.access_tokens, schema.batch_keys, schema.run_shards):
        table.create(connection, checkfirst=True)


def _login_sessions(connection: Connection) -> None:
    # As in migration 2: a store created by this evalyard has the table already.
    schema.login_sessions.create(connection, checkfirst=True)


def _otlp_spans(connection: Connection) -> None:
    # As in migration 2: a store created by this evalyard has the table already.
    schema.otlp_spans.create(connection, checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _initial),
    Migration(2, "access tokens, batch idempotency keys, run shards", _team_server),
    Migration(3, "login sessions", _login_sessions),
    Migration(4, "spans received over OTLP", _otlp_spans),
)


def schema_version(connection: Connection) -> int:
    """The highest migration applied to the store behind ``connection`` (0 when none)."""
    if not inspect(connection).has_table(schema.schema_migrations.name):
        return 0
    version = connection.execute(select(func.max(schema.schema_migrations.c.version))).scalar()
    return int(version or 0)


def migrate(engine: Engine, dialect: Dialect) -> int:
    """Bring the store's schema up to date; return the version it is now at.

    Raises:
        StoreError: when the store's schema is newer than this evalyard knows.
    """
    latest = MIGRATIONS[-1].version
    with engine.connect() as probe:
        # Most opens find the schema current: check without taking the write lock.
        if schema_version(probe) == latest:
            return latest
    with (
        engine.connect().execution_options(evalyard_write=True) as connection,
        connection.begin(),
    ):
        dialect.lock_schema(connection)
        schema.schema_migrations.create(connection, checkfirst=True)
        current = schema_version(connection)
        if current > latest:
            raise StoreError(
                f"the store's schema is at version {current}, newer than this evalyard "
                f"knows ({latest}); upgrade evalyard to open it"
            )
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            migration.apply(connection)
            connection.execute(
                schema.schema_migrations.insert().values(
                    version=migration.version, name=migration.name, applied_at=time.time()
                )
            )
    return latest
