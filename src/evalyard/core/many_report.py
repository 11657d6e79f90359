"""A comparison of many runs as text: the leaderboard lines every surface renders.

:func:`many_report` writes a :class:`~evalyard.core.many.MultiComparison` out once — the
baseline and the runs, the scope, and per metric one :class:`StandingLine` per run — with
every number written by :mod:`evalyard.core.formats` (through the same lines a comparison of
two runs uses, :func:`~evalyard.core.report.metric_line`) and every verdict in the words of
:mod:`evalyard.core.words`. The terminal tables and the Markdown of ``evalyard compare A B
--with BASE`` render these lines; the JSON carries the exact values they were written from.

Example:
    >>> report = many_report(evalyard.compare_many(["a", "b"], baseline="base"))  # doctest: +SKIP
    >>> lines = report.boards[0].lines  # doctest: +SKIP
    >>> [(line.rank, line.run.name, line.verdict.text) for line in lines]  # doctest: +SKIP
    [('1', 'a', '▲ improved'), ('2', 'base', 'baseline'), ('3', 'b', '≈ inconclusive')]
"""

from __future__ import annotations

from dataclasses import dataclass

from evalyard.core.formats import MISSING, format_count
from evalyard.core.leaderboard import Leaderboard, Standing
from evalyard.core.many import MultiComparison
from evalyard.core.model import Direction, RunInfo
from evalyard.core.report import RunLine, format_summary, metric_line, run_line, verdict_counts
from evalyard.core.words import BASELINE, Word, direction_word, verdict_word

__all__ = [
    "BoardLines",
    "ManyReport",
    "StandingLine",
    "aggregate_header",
    "many_report",
    "verdicts_sentence",
]


def _confidence(alpha: float) -> str:
    return f"{(1 - alpha) * 100:g}% CI"


def aggregate_header(aggregate_function: str, alpha: float) -> str:
    """The heading of a column of aggregates: ``mean [95% CI]``, or ``median``.

    Only the average has an interval (of the mean), at confidence ``1 − alpha``.
    """
    if aggregate_function != "average":
        return aggregate_function
    return f"mean [{_confidence(alpha)}]"


@dataclass(frozen=True, slots=True)
class StandingLine:
    """One run on one metric's leaderboard, every value written out."""

    standing: Standing
    """The exact values the line is written from."""
    rank: str
    """The run's rank (``1``; runs that tie show the same rank), or ``—``."""
    run: RunLine
    """The run: its name, short id and facts."""
    aggregate: str
    """The aggregate with its interval: ``83.3% [74.1%, 89.8%]``; ``mostly yes (12)``."""
    count: str
    """How many of the run's datapoints have the metric."""
    delta: str
    """The change of the aggregate from the baseline's: ``+0.05 (+7.1%)``; ``—`` for the
    baseline."""
    interval: str
    """The paired mean difference from the baseline with its confidence interval."""
    p_adjusted: str
    """The p-value, Holm-adjusted across every test of the comparison."""
    verdict: Word
    """The verdict against the baseline, or ``baseline``."""


@dataclass(frozen=True, slots=True)
class BoardLines:
    """One metric's leaderboard, written out."""

    board: Leaderboard
    """The exact values."""
    metric: str
    """The metric's name."""
    direction: str
    """Which way is better, in words (``higher is better``, or ``—``)."""
    lines: list[StandingLine]
    """One line per run, in the leaderboard's order."""


@dataclass(frozen=True, slots=True)
class ManyReport:
    """A comparison of many runs, written out once for every surface."""

    result: MultiComparison
    """The comparison, with the exact values."""
    baseline: RunLine
    """The baseline."""
    runs: list[RunLine]
    """The runs compared with it, in order; their facts say how many datapoints each
    shares with the baseline."""
    scope: str
    """``session · aggregate average · steps: answer, retrieve (--step NAME)``."""
    aggregate_header: str
    """The heading of the aggregate column (``mean [95% CI]``)."""
    interval_header: str
    """The heading of the paired mean differences (``mean diff [95% CI]``)."""
    boards: list[BoardLines]
    """One leaderboard per metric, by name."""
    verdicts: str
    """One sentence: how many tests improved, regressed or were inconclusive, and how."""
    notes: list[str]
    """What else a reader needs (how runs are ranked, which metrics are better lower)."""
    warnings: list[str]
    """Why this comparison may say less than it seems (``MultiComparison.warnings``)."""


def _standing_line(standing: Standing, info: RunInfo) -> StandingLine:
    role = "baseline" if standing.baseline else "run"
    summary = standing.summary
    aggregate = MISSING if summary is None else format_summary(summary)
    if standing.delta is None:
        return StandingLine(
            standing=standing,
            rank=MISSING if standing.rank is None else str(standing.rank),
            run=run_line(role, info, info.run_id),
            aggregate=aggregate,
            count=format_count(standing.count),
            delta=MISSING,
            interval=MISSING,
            p_adjusted=MISSING,
            verdict=BASELINE if standing.baseline else verdict_word(None, found_count=0),
        )
    line = metric_line(standing.delta)
    return StandingLine(
        standing=standing,
        rank=MISSING if standing.rank is None else str(standing.rank),
        run=run_line(role, info, info.run_id),
        aggregate=aggregate,
        count=format_count(standing.count),
        delta=line.difference_with_percent,
        interval=line.interval,
        p_adjusted=line.p_adjusted,
        verdict=line.verdict,
    )


def verdicts_sentence(result: MultiComparison) -> str:
    """One sentence: how the tests of every run against the baseline came out, and how."""
    verdicts = (d.verdict for c in result.comparisons.values() for d in c.metric_deltas.values())
    return (
        f"verdicts: {verdict_counts(verdicts)} (each run against the baseline, paired tests over "
        f"shared datapoints, Holm-adjusted across all {format_count(result.family_size)} "
        f"tests, α={result.alpha:g})"
    )


def many_report(result: MultiComparison) -> ManyReport:
    """Write a comparison of many runs out: see the module docstring."""
    infos = {info.run_id: info for info in result.runs}
    scope = f"step {result.step}" if result.step else "session"
    scope_line = f"{scope} · aggregate {result.aggregate_function}"
    if result.steps and result.step is None:
        scope_line += f" · steps: {', '.join(result.steps)} (--step NAME)"
    runs = []
    for run_id, comparison in result.comparisons.items():
        line = run_line("run", infos[run_id], run_id)
        shared = f"{format_count(len(comparison.common_datapoints))} shared"
        facts = f"{line.facts} · {shared}" if line.facts else shared
        runs.append(RunLine(line.role, line.name, line.run_id, line.short_id, facts))
    boards = [
        BoardLines(
            board=board,
            metric=name,
            direction=direction_word(board.direction, board.kind),
            lines=[_standing_line(s, infos[s.run_id]) for s in board.standings],
        )
        for name, board in result.leaderboards.items()
    ]
    lower = [n for n, b in result.leaderboards.items() if b.direction is Direction.LOWER]
    notes = [
        f"rank: by each run's {result.aggregate_function}, in the metric's direction; "
        "runs that tie share a rank"
    ]
    if lower:
        notes.append(f"lower is better for {', '.join(lower)}")
    return ManyReport(
        result=result,
        baseline=run_line("baseline", result.baseline, result.baseline_id),
        runs=runs,
        scope=scope_line,
        aggregate_header=aggregate_header(result.aggregate_function, result.alpha),
        interval_header=f"mean diff [{_confidence(result.alpha)}]",
        boards=boards,
        verdicts=verdicts_sentence(result),
        notes=notes,
        warnings=result.warnings,
    )
