"""Stores: where runs live. ``open_store`` turns a URL into a store, once per process.

URLs: ``sqlite:///PATH`` (the embedded default), ``postgresql://...``, and
``http(s)://host:port`` for a team server (:mod:`.http`); a bare path is an SQLite file.
See :mod:`evalyard.config` for how the URL is chosen.
"""

from __future__ import annotations

import os
import threading

from evalyard.config import resolve_store_url
from evalyard.errors import StoreError
from evalyard.store.base import SESSION_SCOPE, Capabilities, ResultRow, Store, WriteBatch
from evalyard.store.http import HTTPStore
from evalyard.store.sql import SQLStore

__all__ = [
    "SESSION_SCOPE",
    "Capabilities",
    "HTTPStore",
    "ResultRow",
    "SQLStore",
    "Store",
    "WriteBatch",
    "close_stores",
    "get_store",
    "open_store",
]

_OPEN: dict[str, Store] = {}
_LOCK = threading.Lock()


def open_store(url: str, *, create: bool = True) -> Store:
    """A new store for ``url`` (an SQL store migrated to the current schema, or a team
    server's API). What it can do beyond :class:`Store` is in its ``capabilities``.

    Args:
        url: the store URL.
        create: create an SQL store that is not there yet (its SQLite file and folder, its
            tables); with False, a missing one raises ``StoreError`` and nothing is
            created, as the read-only commands want.
    """
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("http", "https"):
        return HTTPStore(url)
    if scheme.startswith("sqlite"):
        from evalyard.store.sqlite import SQLiteDialect

        return SQLStore(url, SQLiteDialect(), create=create)
    if scheme.startswith(("postgresql", "postgres")):
        from evalyard.store.postgres import PostgresDialect

        if scheme.startswith("postgres") and not scheme.startswith("postgresql"):
            url = "postgresql" + url[len("postgres") :]
        return SQLStore(url, PostgresDialect(), create=create)
    raise StoreError(
        f"unsupported store URL {url!r}: use sqlite:///PATH, postgresql://USER@HOST/DB or "
        "http(s)://HOST:PORT (a team server)"
    )


def get_store(store: Store | str | None = None, *, create: bool = True) -> Store:
    """The store to use: a store object as is, else the one for a URL (argument >
    ``EVALYARD_STORE`` > embedded default), opened once per process and URL.

    With ``create=False`` a store that is not there yet is a ``StoreError`` rather than
    created (see :func:`open_store`); one this process opened already is returned.
    """
    if store is not None and not isinstance(store, str):
        return store
    url = resolve_store_url(store)
    with _LOCK:
        opened = _OPEN.get(url)
        if opened is None:
            opened = _OPEN[url] = open_store(url, create=create)
        return opened


def _forget_after_fork() -> None:
    # A forked child must not use its parent's database connections: drop them unclosed
    # (closing would close the parent's sockets) and let the pools open new ones.
    for opened in _OPEN.values():
        opened.after_fork()


os.register_at_fork(after_in_child=_forget_after_fork)


def close_stores() -> None:
    """Close every store ``get_store`` opened (tests, and processes that fork); a team
    server's store first sends (or spools) what is pending."""
    with _LOCK:
        stores = list(_OPEN.values())
        _OPEN.clear()
    for opened in stores:
        opened.close()
