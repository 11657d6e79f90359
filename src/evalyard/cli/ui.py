"""``evalyard ui``: serve the web UI over a store (docs/comparison.md §6, §7).

Example:
    $ evalyard demo
    $ evalyard ui
    evalyard UI on http://127.0.0.1:8000/ (store: sqlite:///…/.evalyard/evalyard.db)

It binds 127.0.0.1 by default and answers only to loopback Host names; serving other
machines is a deliberate choice (``--host 0.0.0.0 --allow-host my-box.example``), and then
access tokens are required, as on the team server (``--auth`` asks for them on loopback
too). ``--allow-host '*'`` needs auth. A port in use is one ``error:`` line and exit code
2; ``--port 0`` takes a free port.
"""

from __future__ import annotations

import ipaddress
from typing import cast

import click

from evalyard.cli.listen import bind, bound_port, serve
from evalyard.config import resolve_store_url
from evalyard.store import get_store
from evalyard.store.base import TokenStore

__all__ = ["allowed_hosts_for", "check_any_host", "is_loopback", "ui"]

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


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (so auth may stay off without ``--auth``)."""
    if host in _WILDCARDS:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_any_host(allow_hosts: tuple[str, ...], *, auth: bool) -> None:
    """Refuse ``--allow-host '*'`` without auth: answering any Host name is what lets a web
    page of another site reach a local server by DNS rebinding (docs/reliability.md)."""
    if "*" in allow_hosts and not auth:
        raise click.UsageError(
            "--allow-host '*' answers requests for any Host name, which lets any web page "
            "reach this server through DNS rebinding; add --auth (and give out access "
            "tokens), or name the hosts with --allow-host NAME"
        )


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
    help="Also answer requests for this Host name (repeatable; '*' for any, behind a proxy "
    "that checks it: needs auth).",
)
@click.option(
    "--auth",
    is_flag=True,
    default=False,
    help="Require access tokens on loopback too (always on for other addresses).",
)
def ui(
    host: str, port: int, store_url: str | None, allow_hosts: tuple[str, ...], auth: bool
) -> None:
    """Serve the web UI: Experiments, runs, and side-by-side comparisons."""
    from evalyard.server.app import create_app

    auth_on = auth or not is_loopback(host)
    check_any_host(allow_hosts, auth=auth_on)
    url = resolve_store_url(store_url)
    store = get_store(url, create=False)  # the UI only reads: it creates no store
    if auth_on and not store.capabilities.tokens:
        raise click.UsageError(
            "with auth on (off loopback, or --auth) the UI checks access tokens, which live "
            "in an SQL store: give --store sqlite:///... or postgresql://..."
        )
    hosts = allowed_hosts_for(host, allow_hosts)
    app = create_app(store, allowed_hosts=hosts, auth=auth_on)
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
        if auth_on and not cast(TokenStore, store).list_tokens():
            click.echo(
                "note: auth is on and the store has no access tokens yet; create one with "
                f"`evalyard token create --scope read --store {_display(url)}`",
                err=True,
            )
        state = "on" if auth_on else "off (loopback; --auth turns it on)"
        click.echo(
            f"evalyard UI on http://{shown}:{port}/ (store: {_display(url)}, auth {state}); "
            "Ctrl-C stops it"
        )
    except BaseException:
        sock.close()
        raise
    serve(app, sock)
