"""The table ``evaluate`` prints at its end: the run, the counts, and each metric's summary.

The numbers come from :func:`evalyard.runs.summarise_run` and read as everywhere else
(:mod:`evalyard.core.formats`): a pass rate as ``83.3%``, a mean with its 95% interval.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evalyard.core.formats import format_count
from evalyard.core.model import RunInfo
from evalyard.core.report import format_summary
from evalyard.core.summary import MetricSummary

__all__ = ["print_summary"]


def print_summary(
    console: Console,
    *,
    info: RunInfo,
    metrics: Sequence[MetricSummary],
    ran: int,
    skipped: int,
    error_count: int,
    evaluator_error_count: int,
    seconds: float,
) -> None:
    """Print the end-of-evaluation summary: the run, the counts, and a table of metrics."""
    console.print(
        f"[bold]{_escape(info.name)}[/bold] ({info.run_id}, project {_escape(info.project)}): "
        f"[bold]{info.status.value}[/bold]"
    )
    facts = [f"{ran} results in {seconds:,.2f} s"]
    if skipped:
        facts.append(f"{skipped} already in the run")
    facts.append(f"{error_count} errors")
    facts.append(f"{evaluator_error_count} evaluator errors")
    console.print(", ".join(facts))
    if not metrics:
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("step")
    table.add_column("metric")
    table.add_column("mean [95% CI]", justify="right")
    table.add_column("datapoints", justify="right")
    for summary in metrics:
        table.add_row(
            _escape(summary.step or "(session)"),
            _escape(summary.metric),
            _escape(format_summary(summary)),
            format_count(summary.count),
        )
    console.print(table)


def _escape(text: str) -> str:
    # Names come from users and models: never read them as rich markup.
    return escape(text)
