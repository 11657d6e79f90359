"""A comparison as text: the one set of lines every surface renders.

:func:`comparison_report` turns a :class:`~evalyard.core.compare.RunComparisonResult` into
a :class:`ComparisonReport` — both runs, the datapoint counts, the scope, and one
:class:`MetricLine` per metric with every number already written by
:mod:`evalyard.core.formats` and every verdict and trend in the words of
:mod:`evalyard.core.words`. The terminal table and the Markdown report of ``evalyard
compare``, the web comparison page and ``RunComparisonResult.summary()`` all render these
lines, so they cannot state different numbers or words; the JSON outputs carry the exact
values the lines were written from.

Example:
    >>> report = comparison_report(evalyard.compare_runs("new", "old"))  # doctest: +SKIP
    >>> [(line.metric, line.verdict.text) for line in report.lines]  # doctest: +SKIP
    [('accuracy', '≈ inconclusive'), ('latency_ms', '▲ improved')]
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from evalyard.core.compare import DatapointChange, MetricDelta, RunComparisonResult
from evalyard.core.formats import (
    MISSING,
    format_aggregate,
    format_count,
    format_delta,
    format_flips,
    format_interval,
    format_mde,
    format_p,
    format_percent_change,
    format_value,
    unit_of,
)
from evalyard.core.model import Direction, MetricKind, RunInfo
from evalyard.core.stats import Verdict
from evalyard.core.summary import MetricSummary
from evalyard.core.words import Word, direction_word, trend, trend_word, verdict_word

__all__ = [
    "SHORT_ID_LENGTH",
    "ChangeLine",
    "ComparisonReport",
    "MetricLine",
    "RegressionList",
    "RunLine",
    "comparison_report",
    "format_summary",
    "metadata_text",
    "metric_line",
    "report_html",
    "report_text",
    "run_line",
    "short_id",
    "verdict_counts",
    "verdict_summary",
]

#: How many characters of a run id identify it in tables (a unique prefix resolves).
SHORT_ID_LENGTH = 8


def short_id(run_id: str) -> str:
    """The first characters of a run id: enough to tell runs apart and to refer to one."""
    return run_id[:SHORT_ID_LENGTH]


def format_summary(summary: MetricSummary) -> str:
    """A metric's summary in one cell: ``83.3% [74.1%, 89.8%]``, ``mostly yes (12)``."""
    if summary.kind is MetricKind.STRING:
        if summary.most_common is None:
            return MISSING
        return f"mostly {summary.most_common} ({format_count(summary.most_common_count)})"
    kind, fn, unit = summary.kind, summary.aggregate_function, unit_of(summary.metric)
    text = format_aggregate(summary.aggregate, kind=kind, aggregate_function=fn, unit=unit)
    if summary.ci_low is not None and summary.ci_high is not None and summary.count > 1:
        low = format_aggregate(summary.ci_low, kind=kind, aggregate_function=fn, unit=unit)
        high = format_aggregate(summary.ci_high, kind=kind, aggregate_function=fn, unit=unit)
        text += f" [{low}, {high}]"
    return text


def metadata_text(value: Any) -> str:
    """A metadata value as text: a string as is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


@dataclass(frozen=True, slots=True)
class RunLine:
    """One of the two runs, as the head of a comparison names it."""

    role: str
    """``this run`` or ``baseline``."""
    name: str
    """The run's name (its id when the comparison does not know the run)."""
    run_id: str
    """The run's id."""
    short_id: str
    """The first characters of the id."""
    facts: str
    """Status, dataset and datapoint count: ``completed · dataset qa · 60 datapoints``."""


def run_line(role: str, info: RunInfo | None, run_id: str) -> RunLine:
    """A run as the head of a comparison names it (``role``: ``this run``, ``baseline``)."""
    if info is None:
        return RunLine(role, run_id, run_id, short_id(run_id), "")
    facts = [info.status.value]
    if info.dataset:
        facts.append(f"dataset {info.dataset}")
    facts.append(f"{format_count(info.datapoint_count)} datapoints")
    return RunLine(role, info.name, run_id, short_id(run_id), " · ".join(facts))


@dataclass(frozen=True, slots=True)
class MetricLine:
    """One metric of a comparison, every value written out."""

    delta: MetricDelta
    """The exact values the line is written from."""
    metric: str
    """The metric's name."""
    kind: str
    """number, bool or string."""
    direction: str
    """Which way is better, in words (``higher is better``, or ``—``)."""
    baseline: str
    """The baseline's aggregate."""
    new: str
    """This run's aggregate."""
    difference: str
    """The change of the aggregate (this run − baseline)."""
    percent: str
    """The relative change of the aggregate."""
    trend: Word
    """Which way the aggregate moved, read through the direction."""
    interval: str
    """The paired mean difference with its confidence interval."""
    p_adjusted: str
    """The Holm-adjusted p-value."""
    verdict: Word
    """The verdict."""
    mde: str
    """The minimum detectable effect."""
    flips: str
    """The discordant pairs of a pass/fail metric."""
    improved: str
    """How many shared datapoints improved."""
    degraded: str
    """How many got worse."""
    same: str
    """How many stayed within the tolerance."""
    changed: str
    """How many changed, for metrics without a direction."""
    found: str
    """How many shared datapoints have the metric in both runs."""

    @property
    def difference_with_percent(self) -> str:
        """``+0.25 (+50.0%)``, or the difference alone when there is no percentage."""
        if self.percent == MISSING:
            return self.difference
        return f"{self.difference} ({self.percent})"


def metric_line(delta: MetricDelta) -> MetricLine:
    """One metric of a comparison, every value written out."""
    kind, fn, unit = delta.kind, delta.aggregate_function, unit_of(delta.metric)
    scale = max(abs(delta.old_aggregate or 0.0), abs(delta.new_aggregate or 0.0))
    return MetricLine(
        delta=delta,
        metric=delta.metric,
        kind=kind.value,
        direction=direction_word(delta.direction, kind),
        baseline=format_aggregate(delta.old_aggregate, kind=kind, aggregate_function=fn, unit=unit),
        new=format_aggregate(delta.new_aggregate, kind=kind, aggregate_function=fn, unit=unit),
        difference=format_delta(
            delta.delta, kind=kind, aggregate_function=fn, reference=scale, unit=unit
        ),
        percent=format_percent_change(delta.percent_change),
        trend=trend_word(trend(delta)),
        interval=format_interval(
            delta.mean_diff, delta.ci_low, delta.ci_high, kind=kind, reference=scale, unit=unit
        ),
        p_adjusted=format_p(delta.p_adjusted),
        verdict=verdict_word(delta.verdict, found_count=delta.found_count),
        mde=format_mde(delta.mde, kind=kind, unit=unit),
        flips=format_flips(delta.flips),
        improved=format_count(delta.improved_count),
        degraded=format_count(delta.degraded_count),
        same=format_count(delta.same_count),
        changed=format_count(delta.changed_count),
        found=format_count(delta.found_count),
    )


@dataclass(frozen=True, slots=True)
class ChangeLine:
    """One datapoint whose metric moved, written out."""

    datapoint_id: str
    """The datapoint's id."""
    baseline: str
    """Its value in the baseline."""
    new: str
    """Its value in this run."""
    change: str
    """This run's value minus the baseline's."""


@dataclass(frozen=True, slots=True)
class RegressionList:
    """The datapoints that got worse on one metric: how many, and those that moved most."""

    metric: str
    """The metric."""
    count: int
    """How many shared datapoints got worse."""
    top: list[ChangeLine]
    """The ones that moved most (up to ten), largest change first."""


def _change_line(change: DatapointChange, delta: MetricDelta) -> ChangeLine:
    kind, direction, unit = delta.kind, delta.direction, unit_of(delta.metric)
    return ChangeLine(
        change.datapoint_id,
        format_value(change.old, kind=kind, direction=direction, unit=unit),
        format_value(change.new, kind=kind, direction=direction, unit=unit),
        format_delta(change.change, unit=unit),
    )


@dataclass(frozen=True, slots=True)
class ComparisonReport:
    """A comparison, written out once for every surface."""

    result: RunComparisonResult
    """The comparison, with the exact values."""
    new: RunLine
    """This run."""
    old: RunLine
    """The baseline."""
    datapoints: str
    """``60 shared · 1 only in this run · 1 only in the baseline``."""
    scope: str
    """``session · aggregate average · steps: answer, retrieve (--step NAME)``."""
    metadata_differences: list[str]
    """``key: baseline value → this run's value``, for each metadata key that differs."""
    lines: list[MetricLine]
    """One line per metric, by name."""
    verdicts: str
    """One sentence: how many metrics improved, regressed or were inconclusive."""
    notes: list[str]
    """What else a reader needs (which metrics are better lower)."""
    warnings: list[str]
    """Why this comparison may say little (see ``RunComparisonResult.warnings``)."""
    regressions: list[RegressionList]
    """For each metric with datapoints that got worse, the worst of them."""
    shows_changed: bool
    """Whether a metric without direction is present (its ``changed`` count matters)."""
    interval_header: str = "mean diff [95% CI]"
    """The heading of the intervals' column, at the comparison's confidence."""


def verdict_counts(verdicts: Iterable[Verdict | None]) -> str:
    """How many verdicts of each kind: ``1 improved, 0 regressed, 2 inconclusive``, and how
    many could not be tested (metrics that are not judged are left out)."""
    judged = [v for v in verdicts if v is not None]
    counts = [
        f"{sum(v is kind for v in judged)} {kind.value}"
        for kind in (Verdict.IMPROVED, Verdict.REGRESSED, Verdict.INCONCLUSIVE)
    ]
    short = sum(v is Verdict.INSUFFICIENT_DATA for v in judged)
    if short:
        counts.append(f"{short} not testable (too few pairs, or no change)")
    return ", ".join(counts)


def verdict_summary(result: RunComparisonResult) -> str:
    """One sentence: how many metrics improved, regressed or were inconclusive, and how."""
    return (
        f"verdicts: {verdict_counts(result.verdicts().values())} (paired tests over shared "
        f"datapoints, Holm-adjusted, α={result.alpha:g})"
    )


def _metadata_differences(result: RunComparisonResult) -> list[str]:
    new, old = result.new_run, result.old_run
    if new is None or old is None:
        return []
    differences = []
    for key in sorted(set(new.metadata) | set(old.metadata), key=str):
        before = metadata_text(old.metadata[key]) if key in old.metadata else MISSING
        after = metadata_text(new.metadata[key]) if key in new.metadata else MISSING
        if before != after:
            differences.append(f"{key}: {before} → {after}")
    return differences


def comparison_report(result: RunComparisonResult) -> ComparisonReport:
    """Write a comparison out: see the module docstring."""
    scope = f"step {result.step}" if result.step else "session"
    scope_line = f"{scope} · aggregate {result.aggregate_function}"
    if result.steps and result.step is None:
        scope_line += f" · steps: {', '.join(result.steps)} (--step NAME)"
    datapoints = (
        f"{format_count(len(result.common_datapoints))} shared · "
        f"{format_count(len(result.new_only_datapoints))} only in this run · "
        f"{format_count(len(result.old_only_datapoints))} only in the baseline"
    )
    lower = [n for n, d in result.metric_deltas.items() if d.direction is Direction.LOWER]
    notes = [f"lower is better for {', '.join(lower)}"] if lower else []
    regressions = [
        RegressionList(name, d.degraded_count, [_change_line(c, d) for c in d.top_degraded])
        for name, d in result.metric_deltas.items()
        if d.degraded_count and d.kind is not MetricKind.STRING
    ]
    return ComparisonReport(
        result=result,
        new=run_line("this run", result.new_run, result.new_run_id),
        old=run_line("baseline", result.old_run, result.old_run_id),
        datapoints=datapoints,
        scope=scope_line,
        metadata_differences=_metadata_differences(result),
        lines=[metric_line(d) for d in result.metric_deltas.values()],
        verdicts=verdict_summary(result),
        notes=notes,
        warnings=result.warnings,
        regressions=regressions,
        shows_changed=any(d.direction is Direction.NONE for d in result.metric_deltas.values()),
        interval_header=f"mean diff [{(1 - result.alpha) * 100:g}% CI]",
    )


def report_text(report: ComparisonReport) -> str:
    """The report as plain text: what ``RunComparisonResult.summary()`` returns."""
    out = [
        f"{report.new.name} ({report.new.short_id}) vs baseline {report.old.name} "
        f"({report.old.short_id})",
        f"datapoints: {report.datapoints}",
        f"scope: {report.scope}",
    ]
    out += [f"warning: {w}" for w in report.warnings]
    if not report.lines:
        out.append("Neither run has metrics at this scope.")
        return "\n".join(out)
    width = max(len(line.metric) for line in report.lines)
    for line in report.lines:
        out.append(
            f"  {line.metric.ljust(width)}  {line.baseline} → {line.new}  "
            f"{line.difference_with_percent}  {line.verdict.text}"
            + ("" if line.p_adjusted == MISSING else f" (p {line.p_adjusted})")
        )
    out.append(report.verdicts)
    out += report.notes
    return "\n".join(out)


def report_html(report: ComparisonReport) -> str:
    """The report as a small HTML table (for notebooks); every text is escaped."""
    e = html.escape
    head = ["metric", "baseline", "this run", "delta", report.interval_header, "p (Holm)"]
    head += ["verdict", "improved", "degraded", "same"]
    rows = []
    for line in report.lines:
        cells = [
            line.metric,
            line.baseline,
            line.new,
            line.difference_with_percent,
            line.interval,
            line.p_adjusted,
            line.verdict.text,
            line.improved,
            line.degraded,
            line.same,
        ]
        rows.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    caption = (
        f"{e(report.new.name)} vs baseline {e(report.old.name)} · {e(report.datapoints)} · "
        f"{e(report.scope)}"
    )
    warnings = "".join(f"<p><strong>warning:</strong> {e(w)}</p>" for w in report.warnings)
    return (
        f'<div class="evalyard-comparison">{warnings}<table><caption>{caption}</caption>'
        "<thead><tr>"
        + "".join(f"<th>{e(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + f"</tbody></table><p>{e(report.verdicts)}</p></div>"
    )
