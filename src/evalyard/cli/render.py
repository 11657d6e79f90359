"""Renderers of runs, one run's summary and comparisons: rich tables, JSON and Markdown.

Pure: each takes values and returns a rich renderable or a string; the commands print them.
A comparison is rendered from its :class:`~evalyard.core.report.ComparisonReport`, the
same lines the web page shows. Every string that comes from users or models (run names,
metric names, metadata, inputs and outputs) goes into a :class:`rich.text.Text`, never into
console markup, so a run named ``[red]x`` prints as ``[red]x``; in Markdown it is escaped
(:func:`~evalyard.cli.text.markdown_escape`).

Example:
    >>> comparison = evalyard.compare_runs("candidate", "baseline")  # doctest: +SKIP
    >>> print(comparison_markdown(comparison))  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from evalyard.cli.fit import Column, fit_tables, new_table
from evalyard.cli.text import excerpt, markdown_escape, printable
from evalyard.core.compare import RunComparisonResult
from evalyard.core.formats import MISSING, format_count, format_number, format_time, unit_of
from evalyard.core.ids import natural_sorted
from evalyard.core.model import Result, RunInfo, RunStatus
from evalyard.core.report import (
    ComparisonReport,
    MetricLine,
    comparison_report,
    format_summary,
    short_id,
)
from evalyard.core.stats import Verdict
from evalyard.core.words import Tone, direction_word
from evalyard.runs import RunSummary

__all__ = [
    "TONE_STYLES",
    "comparison_json",
    "comparison_markdown",
    "comparison_table",
    "render_text",
    "runs_json",
    "runs_table",
    "summary_json",
    "summary_table",
]

#: How each tone of :mod:`evalyard.core.words` is coloured in a terminal.
TONE_STYLES = {
    Tone.BETTER: "green",
    Tone.WORSE: "red",
    Tone.SAME: "dim",
    Tone.CHANGED: "yellow",
    Tone.MUTED: "dim",
    Tone.PLAIN: "",
}
_STATUS_STYLES = {
    RunStatus.COMPLETED: "green",
    RunStatus.RUNNING: "yellow",
    RunStatus.FAILED: "red",
    RunStatus.CANCELLED: "dim",
}
_METADATA_DIFFERENCES_SHOWN = 8
#: How many regressed datapoints the Markdown report lists per metric.
REGRESSIONS_LISTED = 10


def _text(value: str, style: str = "") -> Text:
    # Text is never parsed as console markup; printable() keeps escapes off the terminal.
    return Text(printable(value), style=style)


def render_text(renderable: RenderableType, *, width: int = 200) -> str:
    """A renderable as plain text (no colour), as a pipe or a test would see it."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, highlight=False)
    console.print(renderable)
    return buffer.getvalue()


def _to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


# -- runs ------------------------------------------------------------------------------------


def runs_table(runs: Sequence[RunInfo]) -> RenderableType:
    """The runs as a table: short id, name, project, dataset, status, datapoints, created."""
    if not runs:
        return Text("No runs yet. `evalyard demo` logs two runs to compare.")
    table = new_table()
    table.add_column("id", no_wrap=True)
    table.add_column("name")
    table.add_column("project")
    table.add_column("dataset")
    table.add_column("status")
    table.add_column("datapoints", justify="right")
    table.add_column("created", no_wrap=True)
    for info in runs:
        table.add_row(
            _text(short_id(info.run_id), "cyan"),
            _text(info.name, "bold"),
            _text(info.project),
            _text(info.dataset or MISSING),
            _text(info.status.value, _STATUS_STYLES[info.status]),
            _text(format_count(info.datapoint_count)),
            _text(format_time(info.created_at)),
        )
    return table


def runs_json(runs: Sequence[RunInfo]) -> str:
    """The runs as a JSON list of :meth:`RunInfo.to_dict`."""
    return _to_json([info.to_dict() for info in runs])


# -- one run -------------------------------------------------------------------------------


def _metric_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(float(value), unit=unit_of(name))
    if value is None:
        return MISSING
    return excerpt(value, width=24)


def summary_table(summary: RunSummary, results: Sequence[Result] = ()) -> RenderableType:
    """One run: its header, its metrics per scope, its steps and the results given."""
    info = summary.run
    header = Table.grid(padding=(0, 2))
    header.add_column(style="dim")
    header.add_column()
    header.add_row("run", Text.assemble(_text(info.name, "bold"), "  ", _text(info.run_id, "cyan")))
    header.add_row("project", _text(info.project))
    header.add_row("status", _text(info.status.value, _STATUS_STYLES[info.status]))
    header.add_row("dataset", _text(info.dataset or MISSING))
    header.add_row("created", _text(format_time(info.created_at)))
    header.add_row("finished", _text(format_time(info.finished_at)))
    header.add_row(
        "datapoints",
        _text(
            f"{format_count(info.datapoint_count)} "
            f"({format_count(info.result_count)} results over all epochs)"
        ),
    )
    if summary.steps:
        listing = ", ".join(
            f"{name} ({format_count(count)} datapoints)" for name, count in summary.steps.items()
        )
        header.add_row("steps", _text(listing))
    for position, (key, value) in enumerate(sorted(info.metadata.items())):
        header.add_row(
            "metadata" if position == 0 else "",
            Text.assemble((printable(key), "bold"), ": ", excerpt(value, width=80)),
        )
    parts: list[RenderableType] = [header]

    if summary.metrics:
        metrics = new_table(title="Metrics")
        metrics.add_column("scope")
        metrics.add_column("metric")
        metrics.add_column("kind")
        metrics.add_column("direction")
        metrics.add_column("mean [95% CI]", justify="right")
        metrics.add_column("datapoints", justify="right")
        for metric in summary.metrics:
            metrics.add_row(
                _text(metric.step or "session", "" if metric.step else "dim"),
                _text(metric.metric, "bold"),
                _text(metric.kind.value),
                _text(direction_word(metric.direction, metric.kind)),
                _text(format_summary(metric)),
                _text(format_count(metric.count)),
            )
        parts += [Text(), metrics]

    if results:
        shown = len({result.datapoint_id for result in results})
        title = f"Results of the first {shown} of {info.datapoint_count} datapoints"
        table = new_table(title=title)
        show_epochs = any(result.epoch for result in results)
        table.add_column("datapoint", no_wrap=True)
        if show_epochs:
            table.add_column("epoch", justify="right")
        table.add_column("inputs")
        table.add_column("outputs")
        table.add_column("metrics")
        for result in results:
            scores = " ".join(f"{k}={_metric_value(k, v)}" for k, v in result.metrics.items())
            outputs = _text(excerpt(result.outputs, width=40))
            if result.error is not None:
                outputs = _text(f"error: {excerpt(result.error, width=33)}", "red")
            row = [_text(result.datapoint_id, "cyan")]
            if show_epochs:
                row.append(_text(str(result.epoch)))
            row += [_text(excerpt(result.inputs, width=40)), outputs, _text(scores or MISSING)]
            table.add_row(*row)
        parts += [Text(), table]
    return Group(*parts)


def summary_json(summary: RunSummary, results: Sequence[Result] = ()) -> str:
    """One run's summary as JSON (:meth:`RunSummary.to_dict`, with the results given)."""
    data = summary.to_dict()
    data["results"] = [result.to_dict() for result in results]
    return _to_json(data)


def first_datapoints(ids: Sequence[str], limit: int) -> list[str]:
    """The first ``limit`` datapoint ids in natural order (``q2`` before ``q10``)."""
    return natural_sorted(ids)[: max(limit, 0)]


# -- comparisons ---------------------------------------------------------------------------


def _count_cell(count: int, text: str, style: str) -> Text:
    return _text(text, style if count else "dim")


def _columns(report: ComparisonReport) -> list[Column[MetricLine]]:
    def verdict(line: MetricLine) -> Text:
        return _text(line.verdict.text, TONE_STYLES[line.verdict.tone])

    def difference(line: MetricLine) -> Text:
        tone = line.trend.tone
        return _text(line.difference_with_percent, TONE_STYLES[tone] if tone in _JUDGED else "")

    columns: list[Column[MetricLine]] = [
        Column("metric", lambda line: _text(line.metric, "bold"), 0, right=False, wraps=True),
        Column("baseline", lambda line: _text(line.baseline), 1),
        Column("this run", lambda line: _text(line.new), 1),
        Column("delta (change)", difference, 3),
        Column(
            "trend", lambda line: _text(line.trend.text, TONE_STYLES[line.trend.tone]), 9, False
        ),
        Column(report.interval_header, lambda line: _text(line.interval), 6),
        Column("p (Holm)", lambda line: _text(line.p_adjusted), 7),
        Column("verdict", verdict, 2, right=False),
        Column(
            "improved",
            lambda line: _count_cell(line.delta.improved_count, line.improved, "green"),
            5,
        ),
        Column(
            "degraded",
            lambda line: _count_cell(line.delta.degraded_count, line.degraded, "red"),
            4,
        ),
        Column("same", lambda line: _count_cell(line.delta.same_count, line.same, ""), 8),
    ]
    if report.shows_changed:
        columns.append(
            Column(
                "changed",
                lambda line: _count_cell(line.delta.changed_count, line.changed, "yellow"),
                10,
            )
        )
    return columns


_JUDGED = (Tone.BETTER, Tone.WORSE)


def comparison_table(comparison: RunComparisonResult, *, width: int = 200) -> RenderableType:
    """A comparison as a terminal table that fits ``width`` columns.

    Both runs, the datapoint counts, the scope, and one row per metric. Improvements are
    green and regressions red, and each also says so in words (``▲ improved``, ``▼ worse``),
    so the table reads the same without colour. On a narrow terminal the least needed
    columns are left out, and a note says which.
    """
    report = comparison_report(comparison)
    runs = [report.new, report.old]
    name_width = max(len(printable(run.name)) for run in runs)
    header = Table.grid(padding=(0, 2))
    header.add_column(style="dim", no_wrap=True)
    header.add_column()
    for run in runs:
        header.add_row(
            run.role,
            Text.assemble(
                (printable(run.name).ljust(name_width), "bold"),
                "  ",
                (run.short_id, "cyan"),
                "  ",
                printable(run.facts),
            ),
        )
    header.add_row("datapoints", _text(report.datapoints))
    header.add_row("scope", _text(report.scope))
    differences = report.metadata_differences
    if differences:
        shown = [excerpt(d, width=64) for d in differences[:_METADATA_DIFFERENCES_SHOWN]]
        more = len(differences) - len(shown)
        header.add_row(
            "metadata", _text(" · ".join(shown) + (f" · and {more} more" if more else ""))
        )
    parts: list[RenderableType] = [header]
    parts += [_text(f"warning: {w}", "yellow") for w in report.warnings]
    parts.append(Text())
    if not report.lines:
        parts.append(Text("Neither run has metrics at this scope.", style="dim"))
        return Group(*parts)
    tables, dropped = fit_tables([(None, report.lines)], _columns(report), width)
    parts += tables
    parts.append(_text(report.verdicts))
    notes = list(report.notes)
    if "trend" not in dropped:
        notes.append("trend: how the aggregate moved, judged by each metric's direction")
    if dropped:
        notes.append(dropped_note(width, dropped))
    parts += [_text(note, "dim") for note in notes]
    return Group(*parts)


def dropped_note(width: int, dropped: Sequence[str]) -> str:
    """What a table left out to fit the terminal, and where to see it whole."""
    return (
        f"left out to fit {width} columns: {', '.join(dropped)} "
        "(a wider terminal, or --format markdown or json, shows them)"
    )


def comparison_json(comparison: RunComparisonResult) -> str:
    """A comparison as JSON: exactly :meth:`RunComparisonResult.to_dict`."""
    return _to_json(comparison.to_dict())


def comparison_markdown(comparison: RunComparisonResult) -> str:
    """A comparison as GitHub-flavoured Markdown, for a CI comment: both runs, one row per
    metric, and the datapoints that regressed most on each metric."""
    report = comparison_report(comparison)
    new, old = report.new, report.old
    lines = [
        f"### evalyard: {markdown_escape(new.name)} vs baseline {markdown_escape(old.name)}",
        "",
        "| | run | id | details |",
        "|:--|:--|:--|:--|",
        f"| **this run** | {markdown_escape(new.name)} | {markdown_escape(new.short_id)} "
        f"| {markdown_escape(new.facts)} |",
        f"| **baseline** | {markdown_escape(old.name)} | {markdown_escape(old.short_id)} "
        f"| {markdown_escape(old.facts)} |",
        "",
        f"**Datapoints:** {markdown_escape(report.datapoints)}  ",
        f"**Scope:** {markdown_escape(report.scope)}",
    ]
    if report.metadata_differences:
        lines[-1] += "  "
        lines.append(
            f"**Metadata:** {' · '.join(markdown_escape(d) for d in report.metadata_differences)}"
        )
    for warning in report.warnings:
        lines += ["", f"> **Warning:** {markdown_escape(warning)}"]
    lines.append("")
    if not report.lines:
        lines.append("Neither run has metrics at this scope.")
        return "\n".join(lines) + "\n"
    columns = ["metric", "baseline", "this run", "delta", "change", "trend"]
    columns += [report.interval_header, "p (Holm)", "verdict", "improved", "degraded", "same"]
    alignment = [":--", "--:", "--:", "--:", "--:", ":--", "--:", "--:", ":--", "--:", "--:"]
    alignment += ["--:"]
    if report.shows_changed:
        columns.append("changed")
        alignment.append("--:")
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join(alignment) + "|")
    for line in report.lines:
        d = line.delta
        cells = [
            markdown_escape(line.metric),
            line.baseline,
            line.new,
            line.difference,
            line.percent,
            line.trend.text,
            line.interval,
            line.p_adjusted,
            f"**{line.verdict.text}**" if d.verdict is Verdict.REGRESSED else line.verdict.text,
            line.improved,
            f"**{line.degraded}**" if d.degraded_count else line.degraded,
            line.same,
        ]
        if report.shows_changed:
            cells.append(line.changed)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", markdown_escape(report.verdicts) + "."]
    if report.notes:
        note = markdown_escape("; ".join(report.notes))
        lines += ["", note[:1].upper() + note[1:] + "."]
    if report.regressions:
        lines += ["", "#### Regressed datapoints", ""]
        for regression in report.regressions:
            shown = regression.top[:REGRESSIONS_LISTED]
            more = regression.count - len(shown)
            lines.append(
                f"**{markdown_escape(regression.metric)}**: {format_count(regression.count)} "
                "got worse" + (f"; the {len(shown)} that moved most:" if more else ":")
            )
            lines += ["", "| datapoint | baseline | this run | change |", "|:--|--:|--:|--:|"]
            for change in shown:
                lines.append(
                    f"| {markdown_escape(change.datapoint_id)} | {change.baseline} "
                    f"| {change.new} | {change.change} |"
                )
            if more:
                lines += ["", f"…and {format_count(more)} more."]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
