"""``evalyard server``: the team server — the UI and the API the SDK logs through.

Example:
    $ evalyard token create --scope write --store postgresql://evalyard@db/evalyard
    eyd_...
    $ evalyard server --host 0.0.0.0 --store postgresql://evalyard@db/evalyard \\
          --allow-host evalyard.internal
    evalyard server on http://evalyard.internal:8000/ (store: ..., auth on)

Auth is on whenever the server binds an address other than loopback, and ``--auth`` turns
it on for loopback too. The server keeps no state of its own: several processes on one
PostgreSQL database (behind a load balancer) behave as one, and ``--workers N`` runs N of
them on one socket. A port in use is one ``error:`` line and exit code 2, before anything
else is printed.

With ``--workers N`` (N > 1) this process binds the socket, opens (and migrates) the store
and checks the settings, prints the banner, closes its store and starts N worker processes
with uvicorn's supervisor (:mod:`evalyard.cli.workers`). Each worker gets the settings
(:class:`ServerSettings`, pickled) and the socket, opens its own store connections and
makes its own app (:func:`worker_app`); the kernel hands each new connection to one of
them. A worker that dies is replaced (one line on stderr); one that fails before serving
stops the server (one ``error:`` line, exit code 2). Ctrl-C or SIGTERM stops every
worker, each finishing its requests in flight first; a worker whose supervisor is gone
stops by itself.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, cast

import click

from evalyard.cli.listen import bind, bound_port, serve
from evalyard.cli.ui import _WILDCARDS, allowed_hosts_for, check_any_host, is_loopback
from evalyard.cli.ui import _display as display_url
from evalyard.config import resolve_store_url
from evalyard.errors import EvalyardError
from evalyard.store import close_stores, get_store
from evalyard.store.base import TokenStore

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["ServerSettings", "is_loopback", "server", "worker_app"]

_DEFAULT_MAX_BODY = 64 * 1024 * 1024

#: uvicorn's exit code of a worker that failed before serving: its supervisor then stops
#: rather than start another that would fail the same way.
_STARTUP_FAILURE = 3

#: Seconds between a worker's checks that its supervisor is still there.
_PARENT_CHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What every process of the server serves, and how (one object, pickled to each
    worker)."""

    store_url: str
    allowed_hosts: tuple[str, ...]
    auth: bool
    max_body_bytes: int
    session_hours: float


#: Allocations between two collections of the youngest generation while serving (Python's
#: default is 700).
_YOUNG_COLLECTION_EVERY = 10_000


def _collect_for_serving() -> None:
    """Set this serving process's garbage collector for batches of thousands of records.

    What start-up made (modules, the app, its templates, the store) lives as long as the
    process: frozen, it is no longer walked by every full collection, which a batch's
    tens of thousands of new objects set off again and again. The youngest generation is
    collected every :data:`_YOUNG_COLLECTION_EVERY` allocations rather than every 700.
    Together about 3 µs less server CPU per result logged (of 19, one client posting
    5,000-result batches to one worker, SQLite).
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_YOUNG_COLLECTION_EVERY, middle, old)


def build_app(settings: ServerSettings) -> Starlette:
    """The team server's app over this process's store of ``settings.store_url``, with
    this process's garbage collector set for serving (:func:`_collect_for_serving`)."""
    from evalyard.server.app import create_app

    app = create_app(
        get_store(settings.store_url),
        allowed_hosts=settings.allowed_hosts,
        writable=True,
        auth=settings.auth,
        max_body_bytes=settings.max_body_bytes,
        session_hours=settings.session_hours,
    )
    _collect_for_serving()
    return app


def _stop_when_orphaned(parent: int) -> None:
    """SIGTERM this process (uvicorn then stops serving, cleanly) once ``parent`` is gone:
    a supervisor killed outright leaves no worker behind."""
    # uvicorn's handler of SIGTERM is in place by then (the app is made inside its serving
    # loop): the worker finishes its requests in flight and ends.
    while os.getppid() == parent:
        threading.Event().wait(_PARENT_CHECK_S)
    os.kill(os.getpid(), signal.SIGTERM)


def worker_app(settings: ServerSettings, parent: int) -> Starlette:
    """The app of one worker process of ``evalyard server --workers N``: its own store
    connections, the supervisor's settings. A store that cannot be opened exits the worker
    with uvicorn's start-up failure code, which stops the server."""
    threading.Thread(
        target=_stop_when_orphaned, args=(parent,), name="evalyard-orphan-check", daemon=True
    ).start()
    try:
        return build_app(settings)
    except EvalyardError as exc:
        logging.getLogger("evalyard.server").error("a worker could not start: %s", exc)
        sys.exit(_STARTUP_FAILURE)


@click.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to bind (0: a free one, shown in the banner).",
)
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    default=None,
    help="SQL store to serve (sqlite:///PATH, postgresql://...); "
    "default: EVALYARD_STORE, else .evalyard/evalyard.db here.",
)
@click.option(
    "--auth",
    is_flag=True,
    default=False,
    help="Require access tokens on loopback too (always on for other addresses).",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1024),
    default=_DEFAULT_MAX_BODY,
    show_default=True,
    help="Largest request body accepted (413 above it).",
)
@click.option(
    "--session-hours",
    type=click.FloatRange(min=0, min_open=True),
    default=12.0,
    show_default=True,
    help="How long a login session of the web UI lasts; logging out ends it sooner.",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer requests for this Host name (repeatable; '*' for any, behind a proxy).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes serving the port, each with its own store connections "
    "(more take in more writes on a multi-core machine).",
)
def server(
    host: str,
    port: int,
    store_url: str | None,
    auth: bool,
    max_body_bytes: int,
    session_hours: float,
    allow_hosts: tuple[str, ...],
    workers: int,
) -> None:
    """Serve the team server: the web UI and the API (/api/v1) the SDK logs through."""
    url = resolve_store_url(store_url)
    if url.split("://", 1)[0].lower() in ("http", "https"):
        raise click.UsageError("the team server serves an SQL store, not another server")
    auth_on = auth or not is_loopback(host)
    check_any_host(allow_hosts, auth=auth_on)
    settings = ServerSettings(
        store_url=url,
        allowed_hosts=tuple(allowed_hosts_for(host, allow_hosts)),
        auth=auth_on,
        max_body_bytes=max_body_bytes,
        session_hours=session_hours,
    )
    # Opened (and migrated) here, once, and the app made: what is wrong with either is said
    # before the banner, whatever the number of workers.
    store = get_store(url)
    app = build_app(settings)
    # Bound before anything is printed: a port in use is the one line said.
    sock = bind(host, port)
    try:
        port = bound_port(sock)
        if auth_on and store.capabilities.tokens and not cast(TokenStore, store).list_tokens():
            click.echo(
                "note: auth is on and the store has no access tokens yet; create one with "
                f"`evalyard token create --scope write --store {display_url(url)}`",
                err=True,
            )
        shown = "127.0.0.1" if host in _WILDCARDS else (f"[{host}]" if ":" in host else host)
        state = "on" if auth_on else "off (loopback; --auth turns it on)"
        processes = f", {workers} worker processes" if workers > 1 else ""
        click.echo(
            f"evalyard server on http://{shown}:{port}/ (store: {display_url(url)}, "
            f"auth {state}{processes}); Ctrl-C stops it"
        )
    except BaseException:
        sock.close()
        raise
    # Request heads of up to 1 MiB are read, so that a URL over the app's limit (256 KiB)
    # gets its JSON 414 rather than the HTTP layer's bare 400.
    options = {"timeout_graceful_shutdown": 10, "h11_max_incomplete_event_size": 1024 * 1024}
    if workers == 1:
        serve(app, sock, **options)
        return
    # The workers open their own connections; this process only supervises them.
    close_stores()
    serve(partial(worker_app, settings, os.getpid()), sock, workers=workers, **options)
