"""Renderers of a comparison of many runs: leaderboard tables, Markdown and JSON.

What ``evalyard compare A B C --with BASE`` prints: the baseline and the runs, then per
metric the runs ranked, each with its aggregate and interval, its change from the baseline
and its verdict. Rendered from a :class:`~evalyard.core.many_report.ManyReport`, so the
numbers and words are those of every other surface. User text goes into
:class:`rich.text.Text` (never console markup), and is escaped in Markdown.

Example:
    >>> many = evalyard.compare_many(["a", "b"], baseline="base")  # doctest: +SKIP
    >>> print(leaderboards_markdown(many))  # doctest: +SKIP
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from evalyard.cli.fit import Column, fit_tables
from evalyard.cli.render import TONE_STYLES, _text, _to_json, dropped_note
from evalyard.cli.text import markdown_escape, printable
from evalyard.core.many import MultiComparison
from evalyard.core.many_report import BoardLines, ManyReport, StandingLine, many_report
from evalyard.core.model import MetricKind
from evalyard.core.report import RunLine
from evalyard.core.stats import Verdict

__all__ = ["leaderboards_json", "leaderboards_markdown", "leaderboards_table"]


def _columns(report: ManyReport) -> list[Column[StandingLine]]:
    def run(line: StandingLine) -> Text:
        return _text(line.run.name, "bold" if line.standing.baseline else "")

    def verdict(line: StandingLine) -> Text:
        return _text(line.verdict.text, TONE_STYLES[line.verdict.tone])

    return [
        Column("rank", lambda line: _text(line.rank), 0),
        Column("run", run, 0, right=False, wraps=True),
        Column("id", lambda line: _text(line.run.short_id, "cyan"), 5, right=False),
        Column(report.aggregate_header, lambda line: _text(line.aggregate), 1),
        Column("datapoints", lambda line: _text(line.count), 6),
        Column("delta vs baseline", lambda line: _text(line.delta), 3),
        Column(report.interval_header, lambda line: _text(line.interval), 7),
        Column("p (Holm)", lambda line: _text(line.p_adjusted), 8),
        Column("verdict", verdict, 2, right=False),
    ]


def _title(board: BoardLines) -> str:
    return printable(board.metric + ("" if board.direction == "—" else f" · {board.direction}"))


def _run_row(line: RunLine, width: int) -> Text:
    return Text.assemble(
        (printable(line.name).ljust(width), "bold"),
        "  ",
        (line.short_id, "cyan"),
        "  ",
        printable(line.facts),
    )


def leaderboards_table(result: MultiComparison, *, width: int = 200) -> RenderableType:
    """A comparison of many runs as terminal tables that fit ``width`` columns: the runs,
    the scope, then one table per metric with the runs ranked."""
    report = many_report(result)
    name_width = max(len(printable(line.name)) for line in [report.baseline, *report.runs])
    header = Table.grid(padding=(0, 2))
    header.add_column(style="dim", no_wrap=True)
    header.add_column()
    header.add_row("baseline", _run_row(report.baseline, name_width))
    for position, line in enumerate(report.runs):
        header.add_row("runs" if position == 0 else "", _run_row(line, name_width))
    header.add_row("scope", _text(report.scope))
    parts: list[RenderableType] = [header]
    parts += [_text(f"warning: {w}", "yellow") for w in report.warnings]
    if not report.boards:
        parts += [Text(), Text("No run has metrics at this scope.", style="dim")]
        return Group(*parts)
    sections = [(_title(board), board.lines) for board in report.boards]
    tables, dropped = fit_tables(sections, _columns(report), width)
    for table in tables:
        parts += [Text(), table]
    parts += [Text(), _text(report.verdicts)]
    notes = list(report.notes)
    if dropped:
        notes.append(dropped_note(width, dropped))
    parts += [_text(note, "dim") for note in notes]
    return Group(*parts)


def leaderboards_json(result: MultiComparison) -> str:
    """A comparison of many runs as JSON: exactly :meth:`MultiComparison.to_dict`."""
    return _to_json(result.to_dict())


def leaderboards_markdown(result: MultiComparison) -> str:
    """A comparison of many runs as GitHub-flavoured Markdown, for a CI comment: the runs,
    then per metric a table of the runs ranked."""
    report = many_report(result)
    e = markdown_escape
    lines = [
        f"### evalyard: {len(report.runs)} runs vs baseline {e(report.baseline.name)}",
        "",
        "| | run | id | details |",
        "|:--|:--|:--|:--|",
    ]
    for line in [report.baseline, *report.runs]:
        role = "**baseline**" if line is report.baseline else ""
        lines.append(f"| {role} | {e(line.name)} | {e(line.short_id)} | {e(line.facts)} |")
    lines += ["", f"**Scope:** {e(report.scope)}"]
    for warning in report.warnings:
        lines += ["", f"> **Warning:** {e(warning)}"]
    if not report.boards:
        return "\n".join([*lines, "", "No run has metrics at this scope."]) + "\n"
    head = ["rank", "run", "id", report.aggregate_header, "datapoints", "delta vs baseline"]
    head += [report.interval_header, "p (Holm)", "verdict"]
    for board in report.boards:
        title = e(board.metric) + ("" if board.direction == "—" else f" ({board.direction})")
        lines += ["", f"#### {title}", ""]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|--:|:--|:--|--:|--:|--:|--:|--:|:--|")
        text = board.board.kind is MetricKind.STRING  # a category's value is user text
        for row in board.lines:
            regressed = row.standing.verdict is Verdict.REGRESSED
            name = e(row.run.name)
            cells = [
                row.rank,
                f"**{name}**" if row.standing.baseline else name,
                e(row.run.short_id),
                e(row.aggregate) if text else row.aggregate,
                row.count,
                row.delta,
                row.interval,
                row.p_adjusted,
                f"**{row.verdict.text}**" if regressed else row.verdict.text,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", e(report.verdicts) + "."]
    note = e("; ".join(report.notes))
    lines += ["", note[:1].upper() + note[1:] + "."]
    return "\n".join(lines) + "\n"
