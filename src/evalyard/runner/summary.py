"""What an evaluation's run holds, metric by metric, and the table printed at its end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evalyard.core.model import MetricKind, RunInfo
from evalyard.store import SESSION_SCOPE, Store

__all__ = ["MetricSummary", "print_summary", "summarise"]


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """One metric of a run: its mean over datapoints (epochs averaged first, SPEC §1)."""

    metric: str
    """The metric's name."""
    step: str | None
    """The step it belongs to, or None at the result (session) level."""
    kind: MetricKind
    """number, bool or string."""
    mean: float | None
    """The average over the datapoints that have it (a pass rate for a bool); None for a
    string metric."""
    most_common: str | None
    """For a string metric, its most common value."""
    count: int
    """How many datapoints have it."""


def summarise(store: Store, run_id: str) -> list[MetricSummary]:
    """Every metric of the run, session level first, then each step by name."""
    summaries: list[MetricSummary] = []
    for scope in [SESSION_SCOPE, *store.list_steps(run_id)]:
        values = store.load_scope(run_id, scope)
        for name in sorted(values.columns):
            column = values.columns[name]
            present = column.present()
            count = int(present.sum())
            mean: float | None = None
            most_common: str | None = None
            if column.kind is MetricKind.STRING:
                texts = Counter(str(v) for v in column.values[present].tolist())
                most_common = texts.most_common(1)[0][0] if texts else None
            elif count:
                mean = float(np.mean(column.values[present].astype(np.float64)))
            summaries.append(
                MetricSummary(name, scope or None, column.kind, mean, most_common, count)
            )
    return summaries


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
    table.add_column("mean", justify="right")
    table.add_column("datapoints", justify="right")
    for summary in metrics:
        if summary.kind is MetricKind.STRING:
            value = f"mostly {summary.most_common}" if summary.most_common is not None else "-"
        elif summary.mean is None:
            value = "-"
        elif summary.kind is MetricKind.BOOL:
            value = f"{summary.mean:.1%}"
        else:
            value = f"{summary.mean:,.4g}"
        table.add_row(
            _escape(summary.step or "(session)"),
            _escape(summary.metric),
            _escape(value),
            str(summary.count),
        )
    console.print(table)


def _escape(text: str) -> str:
    # Names come from users and models: never read them as rich markup.
    return escape(text)
