"""Renderers of runs, one run's overview and comparisons: rich tables, JSON and Markdown.

Pure: each takes values and returns a rich renderable or a string; the commands print them.
Every string that comes from users or models (run names, metric names, metadata, inputs
and outputs) goes into a :class:`rich.text.Text`, never into console markup, so a run named
``[red]x`` prints as ``[red]x``; in Markdown it is escaped (:func:`markdown_escape`).

Example:
    >>> comparison = evalyard.compare_runs("candidate", "baseline")  # doctest: +SKIP
    >>> print(comparison_markdown(comparison))  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from evalyard.cli.formatting import (
    MISSING,
    Trend,
    excerpt,
    format_count,
    format_delta,
    format_interval,
    format_number,
    format_p,
    format_percent,
    format_time,
    markdown_escape,
    printable,
    short_id,
    trend,
)
from evalyard.cli.overview import RunOverview
from evalyard.core.compare import MetricDelta, RunComparisonResult
from evalyard.core.model import Direction, MetricKind, RunInfo, RunStatus
from evalyard.core.stats import Verdict

__all__ = [
    "comparison_json",
    "comparison_markdown",
    "comparison_table",
    "overview_json",
    "overview_table",
    "render_text",
    "runs_json",
    "runs_table",
]

_TREND_LABELS = {
    Trend.BETTER: ("▲ better", "green"),
    Trend.WORSE: ("▼ worse", "red"),
    Trend.SAME: ("= same", "dim"),
    Trend.CHANGED: ("≠ changed", "yellow"),
}
_VERDICT_LABELS = {
    Verdict.IMPROVED: ("▲ improved", "green"),
    Verdict.REGRESSED: ("▼ regressed", "red"),
    Verdict.INCONCLUSIVE: ("≈ inconclusive", ""),
    Verdict.INSUFFICIENT_DATA: ("· too few pairs", "dim"),
}
_STATUS_STYLES = {
    RunStatus.COMPLETED: "green",
    RunStatus.RUNNING: "yellow",
    RunStatus.FAILED: "red",
    RunStatus.CANCELLED: "dim",
}
_METADATA_DIFFERENCES_SHOWN = 8


def _text(value: str, style: str = "") -> Text:
    # Text is never parsed as console markup; printable() keeps escapes off the terminal.
    return Text(printable(value), style=style)


def _table(*, title: str | None = None) -> Table:
    return Table(
        title=None if title is None else Text(title, style="bold"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )


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
    table = _table()
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


def _metric_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(float(value))
    if value is None:
        return MISSING
    return excerpt(value, width=24)


def overview_table(overview: RunOverview) -> RenderableType:
    """One run: its header, its metrics per scope, its steps and its first results."""
    info = overview.run
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
    if overview.steps:
        listing = ", ".join(
            f"{name} ({format_count(count)} datapoints)" for name, count in overview.steps.items()
        )
        header.add_row("steps", _text(listing))
    for position, (key, value) in enumerate(sorted(info.metadata.items())):
        header.add_row(
            "metadata" if position == 0 else "",
            Text.assemble((printable(key), "bold"), ": ", excerpt(value, width=80)),
        )
    parts: list[RenderableType] = [header]

    if overview.metrics:
        metrics = _table(title="Metrics")
        metrics.add_column("scope")
        metrics.add_column("metric")
        metrics.add_column("kind")
        metrics.add_column("better")
        metrics.add_column("average", justify="right")
        metrics.add_column("datapoints", justify="right")
        for summary in overview.metrics:
            metrics.add_row(
                _text(summary.step or "session", "" if summary.step else "dim"),
                _text(summary.metric, "bold"),
                _text(summary.kind.value),
                _text(_better(summary.direction, summary.kind)),
                _text(format_number(summary.average)),
                _text(format_count(summary.count)),
            )
        parts += [Text(), metrics]

    if overview.results:
        total = info.datapoint_count
        title = f"Results of the first {overview.shown_datapoints} of {total} datapoints"
        results = _table(title=title)
        show_epochs = any(result.epoch for result in overview.results)
        results.add_column("datapoint", no_wrap=True)
        if show_epochs:
            results.add_column("epoch", justify="right")
        results.add_column("inputs")
        results.add_column("outputs")
        results.add_column("metrics")
        for result in overview.results:
            scores = " ".join(f"{k}={_metric_value(v)}" for k, v in result.metrics.items())
            outputs = _text(excerpt(result.outputs, width=40))
            if result.error is not None:
                outputs = _text(f"error: {excerpt(result.error, width=33)}", "red")
            row = [_text(result.datapoint_id, "cyan")]
            if show_epochs:
                row.append(_text(str(result.epoch)))
            row += [_text(excerpt(result.inputs, width=40)), outputs, _text(scores or MISSING)]
            results.add_row(*row)
        parts += [Text(), results]
    return Group(*parts)


def overview_json(overview: RunOverview) -> str:
    """One run's overview as JSON (:meth:`RunOverview.to_dict`)."""
    return _to_json(overview.to_dict())


def _better(direction: Direction, kind: MetricKind) -> str:
    if kind is MetricKind.STRING or direction is Direction.NONE:
        return "–"
    return direction.value


# -- comparisons ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _MetricRow:
    """One metric's row of a comparison, as text, shared by the table and Markdown."""

    delta: MetricDelta
    baseline: str
    new: str
    difference: str
    percent: str
    trend: Trend | None
    interval: str
    p_adjusted: str
    verdict: str
    verdict_style: str


def _metric_rows(comparison: RunComparisonResult) -> list[_MetricRow]:
    rows = []
    for delta in comparison.metric_deltas.values():
        scale = max(abs(delta.old_aggregate or 0.0), abs(delta.new_aggregate or 0.0))
        rows.append(
            _MetricRow(
                delta=delta,
                baseline=format_number(delta.old_aggregate),
                new=format_number(delta.new_aggregate),
                difference=format_delta(delta.delta, reference=scale),
                percent=format_percent(delta.percent_change),
                trend=trend(delta),
                interval=format_interval(delta),
                p_adjusted=format_p(delta.p_adjusted),
                verdict=_verdict_label(delta)[0],
                verdict_style=_verdict_label(delta)[1],
            )
        )
    return rows


def _with_percent(row: _MetricRow) -> str:
    return row.difference if row.percent == MISSING else f"{row.difference} ({row.percent})"


def _verdict_label(delta: MetricDelta) -> tuple[str, str]:
    if delta.verdict is None:
        return "not tested", "dim"
    if delta.verdict is Verdict.INSUFFICIENT_DATA and delta.found_count >= 2:
        # Enough pairs, but not one of them changed: nothing for a test to work on.
        return "= no change", "dim"
    label, style = _VERDICT_LABELS[delta.verdict]
    if delta.verdict is Verdict.INCONCLUSIVE and delta.mde is not None:
        # The smallest change this sample could have detected (80% power).
        scale, unit = (100.0, " pp") if delta.kind is MetricKind.BOOL else (1.0, "")
        label += f" ±{format_number(delta.mde * scale)}{unit}"
    return label, style


def verdict_summary(comparison: RunComparisonResult) -> str:
    """One line: how many metrics improved, regressed or were inconclusive, and how judged."""
    verdicts = [v for v in comparison.verdicts().values() if v is not None]
    counts = [
        f"{sum(v is kind for v in verdicts)} {kind.value}"
        for kind in (Verdict.IMPROVED, Verdict.REGRESSED, Verdict.INCONCLUSIVE)
    ]
    short = sum(v is Verdict.INSUFFICIENT_DATA for v in verdicts)
    if short:
        counts.append(f"{short} not testable (too few pairs, or no change)")
    return (
        f"verdicts: {', '.join(counts)} (paired tests over shared datapoints, "
        f"Holm-adjusted, α={comparison.alpha:g})"
    )


def _shows_changed(comparison: RunComparisonResult) -> bool:
    # The "changed" column only means something for direction-none and string metrics.
    return any(d.direction is Direction.NONE for d in comparison.metric_deltas.values())


def _run_label(info: RunInfo | None, run_id: str) -> tuple[str, str]:
    return (info.name if info is not None else run_id), short_id(run_id)


def _run_facts(info: RunInfo | None) -> str:
    if info is None:
        return ""
    facts = [info.status.value]
    if info.dataset:
        facts.append(f"dataset {info.dataset}")
    facts.append(f"{format_count(info.datapoint_count)} datapoints")
    return " · ".join(facts)


def _metadata_differences(comparison: RunComparisonResult) -> list[str]:
    new, old = comparison.new_run, comparison.old_run
    if new is None or old is None:
        return []
    differences = []
    for key in sorted(set(new.metadata) | set(old.metadata)):
        before, after = old.metadata.get(key), new.metadata.get(key)
        if before != after:
            differences.append(f"{key}: {excerpt(before, width=30)} → {excerpt(after, width=30)}")
    return differences


def _scope_line(comparison: RunComparisonResult) -> str:
    scope = f"step {comparison.step}" if comparison.step else "session"
    line = f"{scope} · aggregate {comparison.aggregate_function}"
    if comparison.steps and comparison.step is None:
        line += f" · steps: {', '.join(comparison.steps)} (--step NAME)"
    return line


def _datapoints_line(comparison: RunComparisonResult) -> str:
    return (
        f"{format_count(len(comparison.common_datapoints))} shared · "
        f"{format_count(len(comparison.new_only_datapoints))} only in this run · "
        f"{format_count(len(comparison.old_only_datapoints))} only in the baseline"
    )


def _lower_is_better(comparison: RunComparisonResult) -> list[str]:
    return [name for name, d in comparison.metric_deltas.items() if d.direction is Direction.LOWER]


def comparison_table(comparison: RunComparisonResult) -> RenderableType:
    """A comparison as a terminal table: both runs, the datapoint counts, one row per metric.

    Improvements are green and regressions red, and each also says so in words
    (``▲ better``, ``▼ worse``, and the ``improved`` / ``degraded`` columns), so the table
    reads the same without colour.
    """
    labels = [
        ("this run", *_run_label(comparison.new_run, comparison.new_run_id), comparison.new_run),
        ("baseline", *_run_label(comparison.old_run, comparison.old_run_id), comparison.old_run),
    ]
    name_width = max(len(printable(name)) for _, name, _, _ in labels)
    header = Table.grid(padding=(0, 2))
    header.add_column(style="dim", no_wrap=True)
    header.add_column()
    for label, name, identifier, info in labels:
        header.add_row(
            label,
            Text.assemble(
                (printable(name).ljust(name_width), "bold"),
                "  ",
                (identifier, "cyan"),
                "  ",
                printable(_run_facts(info)),
            ),
        )
    header.add_row("datapoints", _text(_datapoints_line(comparison)))
    header.add_row("scope", _text(_scope_line(comparison)))
    differences = _metadata_differences(comparison)
    if differences:
        shown = differences[:_METADATA_DIFFERENCES_SHOWN]
        more = len(differences) - len(shown)
        header.add_row(
            "metadata", _text(" · ".join(shown) + (f" · and {more} more" if more else ""))
        )
    parts: list[RenderableType] = [header, Text()]

    rows = _metric_rows(comparison)
    if not rows:
        parts.append(Text("Neither run has metrics at this scope.", style="dim"))
        return Group(*parts)
    changed_column = _shows_changed(comparison)
    table = _table()
    table.add_column(
        "metric", no_wrap=True, min_width=min(40, max(len(r.delta.metric) for r in rows))
    )
    for name in ("baseline", "this run", "delta (change)"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("trend", no_wrap=True)
    table.add_column("mean diff [95% CI]", justify="right", no_wrap=True)
    table.add_column("p (Holm)", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for name in ("improved", "degraded", "same"):
        table.add_column(name, justify="right")
    if changed_column:
        table.add_column("changed", justify="right")
    for row in rows:
        d = row.delta
        label, style = _TREND_LABELS[row.trend] if row.trend else (MISSING, "dim")
        judged = row.trend in (Trend.BETTER, Trend.WORSE)
        cells = [
            _text(d.metric, "bold"),
            _text(row.baseline),
            _text(row.new),
            _text(_with_percent(row), style if judged else ""),
            _text(label, style),
            _text(row.interval),
            _text(row.p_adjusted),
            _text(row.verdict, row.verdict_style),
            _text(format_count(d.improved_count), "green" if d.improved_count else "dim"),
            _text(format_count(d.degraded_count), "red" if d.degraded_count else "dim"),
            _text(format_count(d.same_count), "" if d.same_count else "dim"),
        ]
        if changed_column:
            cells.append(
                _text(format_count(d.changed_count), "yellow" if d.changed_count else "dim")
            )
        table.add_row(*cells)
    parts.append(table)
    parts.append(_text(verdict_summary(comparison)))
    lower = _lower_is_better(comparison)
    note = (
        "trend: how the aggregate moved, judged by each metric's direction; "
        "± after inconclusive: the smallest change this sample could detect"
    )
    if lower:
        note += f" (lower is better for {', '.join(lower)})"
    parts.append(_text(note, "dim"))
    return Group(*parts)


def comparison_json(comparison: RunComparisonResult) -> str:
    """A comparison as JSON: exactly :meth:`RunComparisonResult.to_dict`."""
    return _to_json(comparison.to_dict())


def comparison_markdown(comparison: RunComparisonResult) -> str:
    """A comparison as a GitHub-flavoured Markdown table, for a CI comment."""
    new_name, new_id = _run_label(comparison.new_run, comparison.new_run_id)
    old_name, old_id = _run_label(comparison.old_run, comparison.old_run_id)
    lines = [
        f"### evalyard: {markdown_escape(new_name)} vs baseline {markdown_escape(old_name)}",
        "",
        "| | run | id | details |",
        "|:--|:--|:--|:--|",
        f"| **this run** | {markdown_escape(new_name)} | {markdown_escape(new_id)} "
        f"| {markdown_escape(_run_facts(comparison.new_run))} |",
        f"| **baseline** | {markdown_escape(old_name)} | {markdown_escape(old_id)} "
        f"| {markdown_escape(_run_facts(comparison.old_run))} |",
        "",
        f"**Datapoints:** {markdown_escape(_datapoints_line(comparison))}  ",
        f"**Scope:** {markdown_escape(_scope_line(comparison))}",
    ]
    differences = _metadata_differences(comparison)
    if differences:
        lines[-1] += "  "
        lines.append(f"**Metadata:** {' · '.join(markdown_escape(d) for d in differences)}")
    lines.append("")
    rows = _metric_rows(comparison)
    if not rows:
        lines.append("Neither run has metrics at this scope.")
        return "\n".join(lines) + "\n"
    changed_column = _shows_changed(comparison)
    columns = ["metric", "baseline", "this run", "delta", "change", "trend"]
    columns += ["mean diff [95% CI]", "p (Holm)", "verdict"]
    columns += ["improved", "degraded", "same"] + (["changed"] if changed_column else [])
    alignment = [":--", "--:", "--:", "--:", "--:", ":--", "--:", "--:", ":--", "--:", "--:"]
    alignment += ["--:"]
    alignment += ["--:"] if changed_column else []
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join(alignment) + "|")
    for row in rows:
        d = row.delta
        cells = [
            markdown_escape(d.metric),
            row.baseline,
            row.new,
            row.difference,
            row.percent,
            _TREND_LABELS[row.trend][0] if row.trend else MISSING,
            row.interval,
            row.p_adjusted,
            f"**{row.verdict}**" if d.verdict is Verdict.REGRESSED else row.verdict,
            format_count(d.improved_count),
            f"**{format_count(d.degraded_count)}**" if d.degraded_count else "0",
            format_count(d.same_count),
        ]
        if changed_column:
            cells.append(format_count(d.changed_count))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", markdown_escape(verdict_summary(comparison)) + "."]
    lower = _lower_is_better(comparison)
    if lower:
        lines += ["", f"Lower is better for {markdown_escape(', '.join(lower))}."]
    return "\n".join(lines) + "\n"
