"""What every handler of the app may use, typed: the store and what it can do, the cache,
the templates and the settings. Made once by ``create_app``; read with :func:`context_of`.

The store's capabilities are checked here, once: a team server that takes writes needs a
store that writes idempotent batches, auth needs one that keeps tokens. Handlers then use
the typed views (``writer``, ``tokens``, ``pager``, ``blocks``) instead of probing the
store at each call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from jinja2 import Environment
from starlette.requests import Request

from evalyard.errors import StoreError
from evalyard.server.reader import Reader
from evalyard.store.base import BlockStore, KeyedBatchStore, ResultPager, Store, TokenStore

__all__ = ["AppContext", "context_of", "make_context"]


@dataclass(frozen=True, slots=True)
class AppContext:
    """The app's parts and settings."""

    store: Store
    """The store served."""
    reader: Reader
    """The store's reads with their cache (the pages and their JSON twins)."""
    templates: Environment
    """The page templates (autoescape on)."""
    writable: bool
    """Whether the SDK's write endpoints are served (the team server)."""
    auth: bool
    """Whether every route but the login form and static files needs a token."""
    max_body_bytes: int
    """The largest request body accepted."""
    session_seconds: float
    """How long a login session of the web UI lasts."""
    openapi: dict[str, Any]
    """The OpenAPI description of the API."""
    writer: KeyedBatchStore | None
    """The store's idempotent batch writes, when the app takes writes."""
    tokens: TokenStore | None
    """Where access tokens are checked, when auth is on."""
    pager: ResultPager | None
    """The store's paged reads of results, when it has them."""
    blocks: BlockStore | None
    """The store's per-(datapoint, epoch) values, when it has them."""
    run_projects: dict[str, str] = field(default_factory=dict)
    """The project of each run this process has found in the store, by run id (see
    :func:`evalyard.server.access.visible_run_id`)."""


def make_context(
    store: Store,
    *,
    reader: Reader,
    templates: Environment,
    writable: bool,
    auth: bool,
    max_body_bytes: int,
    openapi: dict[str, Any],
    session_seconds: float = 12 * 3600,
) -> AppContext:
    """Check what the app needs of the store, once, and gather the app's parts.

    Raises:
        StoreError: when ``writable`` or ``auth`` is asked of a store that cannot do it
            (a team server served from another team server).
    """
    able = store.capabilities
    if (writable and not able.keyed_batches) or (auth and not able.tokens):
        raise StoreError(
            "the team server needs an SQL store (sqlite:///PATH or postgresql://...), "
            f"not {store.url}"
        )
    return AppContext(
        store=store,
        reader=reader,
        templates=templates,
        writable=writable,
        auth=auth,
        max_body_bytes=max_body_bytes,
        session_seconds=session_seconds,
        openapi=openapi,
        writer=cast(KeyedBatchStore, store) if writable else None,
        tokens=cast(TokenStore, store) if auth else None,
        pager=cast(ResultPager, store) if able.result_pages else None,
        blocks=cast(BlockStore, store) if able.blocks else None,
    )


def context_of(request: Request) -> AppContext:
    """The context of the app serving ``request``."""
    found: AppContext = request.app.state.context
    return found
