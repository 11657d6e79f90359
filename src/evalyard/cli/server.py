"""``evalyard server``: the team server — the UI and the API the SDK logs through.

Example:
    $ evalyard token create --scope write --store postgresql://evalyard@db/evalyard
    eyd_...
    $ evalyard server --host 0.0.0.0 --store postgresql://evalyard@db/evalyard \\
          --allow-host evalyard.internal
    evalyard server on http://evalyard.internal:8000/ (store: ..., auth on)

Auth is on whenever the server binds an address other than loopback, and ``--auth`` turns
it on for loopback too. The server keeps no state of its own: several processes on one
PostgreSQL database (behind a load balancer) behave as one. A port in use is one
``error:`` line and exit code 2, before anything else is printed.
"""

from __future__ import annotations

from typing import cast

import click

from evalyard.cli.listen import bind, bound_port, serve
from evalyard.cli.ui import _WILDCARDS, allowed_hosts_for, check_any_host, is_loopback
from evalyard.cli.ui import _display as display_url
from evalyard.config import resolve_store_url
from evalyard.store import get_store
from evalyard.store.base import TokenStore

__all__ = ["is_loopback", "server"]

_DEFAULT_MAX_BODY = 64 * 1024 * 1024


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
def server(
    host: str,
    port: int,
    store_url: str | None,
    auth: bool,
    max_body_bytes: int,
    session_hours: float,
    allow_hosts: tuple[str, ...],
) -> None:
    """Serve the team server: the web UI and the API (/api/v1) the SDK logs through."""
    from evalyard.server.app import create_app

    url = resolve_store_url(store_url)
    if url.split("://", 1)[0].lower() in ("http", "https"):
        raise click.UsageError("the team server serves an SQL store, not another server")
    auth_on = auth or not is_loopback(host)
    check_any_host(allow_hosts, auth=auth_on)
    store = get_store(url)
    app = create_app(
        store,
        allowed_hosts=allowed_hosts_for(host, allow_hosts),
        writable=True,
        auth=auth_on,
        max_body_bytes=max_body_bytes,
        session_hours=session_hours,
    )
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
        click.echo(
            f"evalyard server on http://{shown}:{port}/ (store: {display_url(url)}, "
            f"auth {state}); Ctrl-C stops it"
        )
    except BaseException:
        sock.close()
        raise
    # Request heads of up to 1 MiB are read, so that a URL over the app's limit (256 KiB)
    # gets its JSON 414 rather than the HTTP layer's bare 400.
    serve(app, sock, timeout_graceful_shutdown=10, h11_max_incomplete_event_size=1024 * 1024)
