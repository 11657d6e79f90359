"""``evalyard ui``: serve the web UI over a store (docs/comparison.md §6, §7).

Example:
    $ evalyard demo
    $ evalyard ui
    evalyard UI on http://127.0.0.1:8000/ (store: sqlite:///…/.evalyard/evalyard.db)

It binds 127.0.0.1 by default and answers only to loopback Host names; serving other
machines is a deliberate choice (``--host 0.0.0.0 --allow-host my-box.example``). A port in
use is one ``error:`` line and exit code 2; ``--port 0`` takes a free port.
"""

from __future__ import annotations

import click

from evalyard.cli.listen import bind, bound_port, serve
from evalyard.config import resolve_store_url
from evalyard.store import get_store

__all__ = ["allowed_hosts_for", "ui"]

_WILDCARDS = ("0.0.0.0", "::", "")


def allowed_hosts_for(host: str, extra: tuple[str, ...]) -> tuple[str, ...]:
    """The Host names to answer: loopback, the address bound (unless a wildcard), and
    ``extra``."""
    # The server is imported when it is used: other commands should not pay for it.
    from evalyard.server.app import DEFAULT_ALLOWED_HOSTS

    hosts = list(DEFAULT_ALLOWED_HOSTS)
    if host not in _WILDCARDS and host not in hosts:
        hosts.append(host)
    hosts.extend(h for h in extra if h not in hosts)
    return tuple(hosts)


def _display(url: str) -> str:
    # Keep a password out of the terminal: postgresql://user:secret@host → user:***@host.
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, location = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    masked = f"{user}:***" if ":" in credentials else user
    return f"{scheme}://{masked}@{location}"


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    default=None,
    help="Store URL (sqlite:///PATH, postgresql://...); "
    "default: EVALYARD_STORE, else .evalyard/evalyard.db here.",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer requests for this Host name (repeatable; '*' for any, behind a proxy).",
)
def ui(host: str, port: int, store_url: str | None, allow_hosts: tuple[str, ...]) -> None:
    """Serve the web UI: Experiments, runs, and side-by-side comparisons."""
    from evalyard.server.app import create_app

    url = resolve_store_url(store_url)
    store = get_store(url, create=False)  # the UI only reads: it creates no store
    hosts = allowed_hosts_for(host, allow_hosts)
    app = create_app(store, allowed_hosts=hosts)
    # Bound before anything is printed: a port in use is the one line said.
    sock = bind(host, port)
    try:
        port = bound_port(sock)
        shown = f"[{host}]" if ":" in host else host
        if host in _WILDCARDS:
            shown = "127.0.0.1"
            if not allow_hosts:
                click.echo(
                    f"note: listening on {host or 'all addresses'}, but answering only to "
                    f"{', '.join(hosts)}; add --allow-host NAME for the name others will use",
                    err=True,
                )
        click.echo(
            f"evalyard UI on http://{shown}:{port}/ (store: {_display(url)}); Ctrl-C stops it"
        )
    except BaseException:
        sock.close()
        raise
    serve(app, sock)
