"""``evalyard sync``: send the batches a team server could not take when they were logged.

Example:
    $ evalyard sync
    sent 12,500 results from 2 spool files

When the server stays unreachable, the SDK keeps its batches in ``.evalyard/spool`` (see
:mod:`evalyard.store.spool`) and sends them itself when the server is back; a process that
ended first leaves them to this command. Each batch keeps its idempotency key, so syncing
twice (or a batch that had reached the server after all) never writes a result twice.
Files that a running process still holds are left to it.
"""

from __future__ import annotations

from pathlib import Path

import click

from evalyard.config import spool_dir
from evalyard.store.http import HTTPStore
from evalyard.store.spool import read_spool, replay, spool_files

__all__ = ["sync"]


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
    help="Send to this server instead of the one each spool file names.",
)
def sync(folder: Path | None, server_url: str | None) -> None:
    """Send spooled batches to the team server (the token comes from EVALYARD_TOKEN)."""
    directory = spool_dir(folder)
    sent_results = 0
    sent_files = 0
    busy = 0
    stores: dict[str, HTTPStore] = {}
    try:
        for path in spool_files(directory):
            server, _ = read_spool(path)
            url = server_url or server
            store = stores.get(url) or stores.setdefault(url, HTTPStore(url, spool=directory))
            done = replay(path, store)
            if done is None:
                busy += 1
                continue
            sent_results += done
            sent_files += 1
    finally:
        for store in stores.values():
            store.close()
    message = f"sent {sent_results:,} results from {sent_files} spool files"
    if busy:
        message += f"; {busy} files are still held by running processes, which send them"
    if not sent_files and not busy:
        message = f"nothing to send: no spool files in {directory}"
    click.echo(message)
