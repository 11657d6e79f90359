"""``evalyard sync``: send what a team server could not take when it was logged.

Example:
    $ EVALYARD_STORE=http://evalyard.internal:8000 evalyard sync
    sent 12,500 results from 2 spool files

When the server stays unreachable, the SDK keeps the creation of runs, their batches and
finishes in ``.evalyard/spool`` (see :mod:`evalyard.store.spool`) and sends them itself
when the server is back; a process that ended first leaves them to this command. Each
batch keeps its idempotency key, so syncing twice (or a batch that had reached the server
after all) never writes a result twice.

- Only the configured server (``--server``, else ``EVALYARD_STORE`` when it is an
  ``http(s)://`` URL) gets the token (``EVALYARD_TOKEN``). A file written for another
  server is left where it is, with a warning; without a configured server nothing is sent.
- Files that a running process still holds are left to it; a server that stays
  unreachable leaves its files where they are, for the next sync.
- A damaged line is skipped and named (``file:line``), and what follows it is sent; so is
  what follows an operation the server refuses. Such a file, and one that cannot be read at
  all (empty, damaged), is moved into ``<spool>/failed/``, never deleted.
- Exit code 0 when every file was sent (or there was none), 1 (``SYNC_INCOMPLETE``) when
  any file was left behind or moved aside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import click

from evalyard.cli.exit_codes import SYNC_INCOMPLETE
from evalyard.config import resolve_store_url, spool_dir
from evalyard.store.http import HTTPStore
from evalyard.store.spool import Replay, SpoolSender, replay, spool_files
from evalyard.store.uploader import AccessRefusedError, ServerUnreachableError

__all__ = ["sync"]


def _same_server(a: str, b: str) -> bool:
    """Whether two base URLs name the same server (case of scheme and host, a final
    slash and a default port aside)."""

    def key(url: str) -> tuple[str, str, int | None, str]:
        parts = urlsplit(url.strip().rstrip("/"))
        scheme = parts.scheme.lower()
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
        return scheme, (parts.hostname or "").lower(), port, parts.path

    try:
        return key(a) == key(b)
    except ValueError:  # a port that is not a number
        return False


def configured_server(server_url: str | None) -> str | None:
    """The server sync may send to: ``--server``, else ``EVALYARD_STORE`` when it is a
    team server's URL, else None."""
    if server_url:
        return server_url.rstrip("/")
    store = resolve_store_url()
    if store.startswith(("http://", "https://")):
        return store.rstrip("/")
    return None


@dataclass
class _Tally:
    """What one sync did, for its summary."""

    results: int = 0
    sent: int = 0
    busy: int = 0
    left: list[Path] = field(default_factory=list)
    failed: list[Path] = field(default_factory=list)
    other_servers: set[str] = field(default_factory=set)

    def add(self, done: Replay) -> None:
        self.results += done.results
        for problem in done.problems:
            click.echo(f"warning: {problem}", err=True)
        if done.outcome == "sent":
            self.sent += 1
        elif done.outcome == "busy":
            self.busy += 1
        elif done.outcome == "failed":
            assert done.moved_to is not None
            self.failed.append(done.moved_to)
            click.echo(
                f"warning: {done.path} could not be sent whole; it is kept as {done.moved_to}",
                err=True,
            )
        elif done.outcome == "left":
            self.left.append(done.path)
            if done.server is not None and not done.problems:
                self.other_servers.add(done.server)
                click.echo(
                    f"warning: {done.path} is for the server at {done.server}, not the "
                    "configured one; left as it is (sync with --server "
                    f"{done.server} to send it there)",
                    err=True,
                )


@click.command("sync")
@click.option(
    "--spool-dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The spool folder; default: EVALYARD_SPOOL_DIR, else .evalyard/spool here.",
)
@click.option(
    "--server",
    "server_url",
    metavar="URL",
    default=None,
    help="The team server to send to (and give the token to); default: EVALYARD_STORE "
    "when it is an http(s) URL. Files written for another server are left as they are.",
)
def sync(folder: Path | None, server_url: str | None) -> None:
    """Send spooled runs, batches and finishes to the team server.

    The token comes from EVALYARD_TOKEN and goes only to the configured server. Exits
    with 1 when any spool file was left behind or moved into failed/.
    """
    directory = spool_dir(folder)
    paths = list(spool_files(directory))
    if not paths:
        click.echo(f"nothing to send: no spool files in {directory}")
        return
    server = configured_server(server_url)
    if server is None:
        click.echo(
            f"error: {len(paths)} spool files in {directory} and no team server to send "
            "them to: pass --server URL or set EVALYARD_STORE to the server's URL (the "
            "token is sent only there); nothing was sent",
            err=True,
        )
        raise SystemExit(SYNC_INCOMPLETE)
    tally = _Tally()
    store = HTTPStore(server, spool=directory)

    def choose(named: str) -> SpoolSender | None:
        return store if _same_server(named, server) else None

    away = (ServerUnreachableError, AccessRefusedError)
    try:
        for index, path in enumerate(paths):
            done = replay(path, choose, away=away)
            tally.add(done)
            if done.outcome == "left" and done.problems:
                # The server is away (or refuses the token): the others wait for it too,
                # rather than each retrying for the whole retry time.
                _leave(tally, paths[index + 1 :], server)
                break
    finally:
        store.close()
    click.echo(_summary(tally, server))
    if tally.left or tally.failed:
        raise SystemExit(SYNC_INCOMPLETE)


def _leave(tally: _Tally, paths: list[Path], server: str) -> None:
    """Leave these files for a later sync, saying so once."""
    if not paths:
        return
    tally.left.extend(paths)
    click.echo(
        f"warning: {len(paths)} more spool files left as they are, for the server at "
        f"{server} to take later",
        err=True,
    )


def _summary(tally: _Tally, server: str) -> str:
    message = f"sent {tally.results:,} results from {tally.sent} spool files to {server}"
    if tally.busy:
        message += f"; {tally.busy} files are still held by running processes, which send them"
    if tally.left:
        message += f"; {len(tally.left)} files left for a later sync"
    if tally.failed:
        message += (
            f"; {len(tally.failed)} files could not be sent whole and were moved to "
            f"{tally.failed[0].parent}"
        )
    return message
