"""The supervisor of ``evalyard server --workers N``: uvicorn's own, saying what it does.

uvicorn's ``Multiprocess`` starts the worker processes (spawned, not forked: no database
connection or thread of this process reaches them), hands each the listening socket,
checks every half second that each is alive and answering, replaces one that died, and on
SIGINT or SIGTERM stops them all (SIGTERM, then waits for each). Two things are added
here: a replaced worker is one line on stderr, and a worker that failed before serving
(uvicorn then stops them all, since every replacement would fail the same way) is
remembered, so that the server exits with an error rather than 0.
"""

from __future__ import annotations

import click
from uvicorn.supervisors import Multiprocess

__all__ = ["Workers"]


def _how(exitcode: int | None) -> str:
    if exitcode is None:
        return "stopped answering (killed)"
    if exitcode < 0:
        return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


class Workers(Multiprocess):
    """uvicorn's supervisor of worker processes; ``failed`` after a worker could not
    start."""

    failed = False

    def keep_subprocess_alive(self) -> None:
        """Replace the workers that died, saying so; note a worker that could not start."""
        before = list(self.processes)
        stopping = self.should_exit.is_set()
        super().keep_subprocess_alive()
        if self.should_exit.is_set() and not stopping:
            # uvicorn stops every worker when one fails before serving (said in its log).
            self.failed = True
            return
        for old, new in zip(before, self.processes, strict=True):
            if old is not new:
                click.echo(
                    f"evalyard server: worker process {old.pid} {_how(old.exitcode)}; "
                    f"started worker process {new.pid} in its place",
                    err=True,
                )
