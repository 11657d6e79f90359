"""The progress bar of a long evaluation: done / total, errors, rate and time left.

Shown on a terminal (standard error) only; elsewhere (a CI log, a pipe, a notebook's
captured output) it stays quiet, and only the summary at the end is printed.
"""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["ProgressDisplay"]


class _RateColumn(ProgressColumn):
    """Datapoints per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("-/s", style="progress.data.speed")
        return Text(f"{speed:,.1f}/s", style="progress.data.speed")


class ProgressDisplay:
    """A progress bar for ``total`` datapoints, or nothing when not on a terminal.

    Use it as a context manager, and call :meth:`advance` as each datapoint finishes (from
    any thread).

    Args:
        total: how many datapoints (× epochs) will run.
        description: the text before the bar (the run's name).
        enabled: False to stay quiet even on a terminal.
        console: where to draw; standard error by default.
    """

    def __init__(
        self,
        total: int,
        *,
        description: str,
        enabled: bool = True,
        console: Console | None = None,
    ) -> None:
        self._console = console if console is not None else Console(stderr=True)
        self._lock = threading.Lock()
        self._errors = 0
        self._task: TaskID | None = None
        self._progress: Progress | None = None
        self.active = enabled and total > 0 and self._console.is_terminal
        """Whether the bar is drawn."""
        if self.active:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("[red]{task.fields[errors]} errors"),
                _RateColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self._console,
                transient=False,
            )
            self._task = self._progress.add_task(description, total=total, errors=0)

    def __enter__(self) -> ProgressDisplay:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, failed: bool) -> None:
        """Count one finished datapoint, and whether the application raised on it."""
        if self._progress is None or self._task is None:
            return
        with self._lock:
            self._errors += failed
            self._progress.update(self._task, advance=1, errors=self._errors)
