"""The aggregated-metrics part of a comparison page: the metrics table, the summary strip
and the distribution charts (pure).

Every number and word comes from the comparison's
:class:`~evalyard.core.report.ComparisonReport`: the lines ``evalyard compare`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from markupsafe import Markup

from evalyard.core.columns import MetricColumn
from evalyard.core.compare import RunComparisonResult
from evalyard.core.formats import MISSING
from evalyard.core.model import MetricKind
from evalyard.core.report import ComparisonReport, MetricLine
from evalyard.core.stats import Verdict
from evalyard.core.words import Tone, Word
from evalyard.server.reader import Comparison
from evalyard.server.web.charts import distribution_chart
from evalyard.server.web.parts import Number, make_number
from evalyard.server.web.query import RunQuery

__all__ = [
    "Chart",
    "CountLink",
    "MetricRow",
    "Summary",
    "charts",
    "metric_rows",
    "summary",
]


@dataclass(frozen=True, slots=True)
class CountLink:
    """A count of datapoints that links to the table filtered to them."""

    count: int
    """How many datapoints."""
    text: str
    """The count with its symbol."""
    url: str
    """The comparison page with the table filtered to them."""
    css: str
    """How to colour it."""


@dataclass(frozen=True, slots=True)
class MetricRow:
    """A row of the aggregated metrics table."""

    metric: str
    """The metric's name."""
    kind: str
    """number, bool or string."""
    direction: str
    """Which way is better, in words."""
    old: Number
    """The baseline's aggregate."""
    new: Number
    """This run's aggregate."""
    delta: Number
    """This run's aggregate minus the baseline's."""
    percent: str
    """The relative change, as text (empty when there is none)."""
    verdict: Number
    """The verdict of the paired test, in words."""
    interval: str
    """The paired mean difference with its confidence interval."""
    p: str
    """The Holm-adjusted p-value."""
    mde: str
    """The smallest change these pairs detect (empty when unknown)."""
    flips: str
    """For a pass/fail metric: its discordant pairs (empty otherwise)."""
    improved: CountLink
    """Datapoints that improved."""
    regressed: CountLink
    """Datapoints that got worse."""
    unchanged: CountLink
    """Datapoints that stayed within the tolerance."""
    changed: CountLink | None
    """For ``none``-direction and string metrics: datapoints whose value changed."""
    found: str
    """Shared datapoints having the metric in both runs."""


def word_number(word: Word) -> Number:
    """A word of :mod:`evalyard.core.words` as a page shows it (its tone is the CSS class)."""
    return Number(word.text, None, "" if word.tone is Tone.PLAIN else word.tone.value, word.title)


def _blank(text: str) -> str:
    return "" if text == MISSING else text


def _row(line: MetricLine, query: RunQuery, path: str) -> MetricRow:
    delta, name = line.delta, line.metric

    def link(show: str, count: int, text: str, css: str) -> CountLink:
        url = query.url(path, fragment="datapoints", metric=name, show=show, page=1)
        return CountLink(count, text, url, css if count else "muted")

    judged = line.trend.tone in (Tone.BETTER, Tone.WORSE)
    return MetricRow(
        metric=name,
        kind=line.kind,
        direction=line.direction,
        old=make_number(delta.old_aggregate, line.baseline),
        new=make_number(delta.new_aggregate, line.new),
        delta=make_number(
            delta.delta,
            line.difference,
            css=line.trend.tone.value if judged else "",
            title=line.trend.title,
        ),
        percent=_blank(line.percent),
        verdict=word_number(line.verdict),
        interval=line.interval,
        p=line.p_adjusted,
        mde=_blank(line.mde),
        flips=_blank(line.flips),
        improved=link("improved", delta.improved_count, f"▲ {line.improved}", "better"),
        regressed=link("regressed", delta.degraded_count, f"▼ {line.degraded}", "worse"),
        unchanged=link("unchanged", delta.same_count, f"= {line.same}", "same"),
        changed=(
            CountLink(
                delta.changed_count,
                f"≠ {line.changed}",
                query.url(path, fragment="datapoints", metric=name, show="all", page=1),
                "changed",
            )
            if delta.changed_count
            else None
        ),
        found=line.found,
    )


def metric_rows(report: ComparisonReport, query: RunQuery, path: str) -> list[MetricRow]:
    """The aggregated metrics table of a comparison, from its report."""
    return [_row(line, query, path) for line in report.lines]


@dataclass(frozen=True, slots=True)
class Summary:
    """The summary strip of a comparison."""

    shared: int
    """Datapoints in both runs."""
    new_only: int
    """Datapoints only in this run."""
    old_only: int
    """Datapoints only in the baseline."""
    improved: list[str]
    """Metrics whose verdict is improved."""
    regressed: list[str]
    """Metrics whose verdict is regressed."""
    inconclusive: list[str]
    """Metrics whose change the data cannot tell from noise."""
    verdicts: str
    """The sentence ``evalyard compare`` ends with (how many metrics improved...)."""


def summary(report: ComparisonReport) -> Summary:
    """Shared and unshared datapoints, and which metrics moved."""
    result: RunComparisonResult = report.result
    verdicts = result.verdicts()
    return Summary(
        len(result.common_datapoints),
        len(result.new_only_datapoints),
        len(result.old_only_datapoints),
        [n for n, v in verdicts.items() if v is Verdict.IMPROVED],
        [n for n, v in verdicts.items() if v is Verdict.REGRESSED],
        [n for n, v in verdicts.items() if v is Verdict.INCONCLUSIVE],
        report.verdicts,
    )


@dataclass(frozen=True, slots=True)
class Chart:
    """A metric's distribution chart, or why there is none."""

    metric: str
    """The metric's name."""
    svg: Markup | None
    """The chart."""
    note: str = ""


def charts(comparison: Comparison) -> list[Chart]:
    """One distribution chart per metric (cached with the comparison)."""
    cached = comparison.memo.get("charts")
    if isinstance(cached, list):
        return cached
    made = []
    frame = comparison.frame
    for name, delta in comparison.result.metric_deltas.items():
        if delta.kind is MetricKind.STRING:
            continue
        new_col = comparison.new.columns.get(name)
        old_col = comparison.old.columns.get(name)
        new_values = _floats(new_col)
        old_values = _floats(old_col)
        paired = np.asarray(frame.values(new_col), dtype=np.float64) - np.asarray(
            frame.values(old_col, baseline=True), dtype=np.float64
        )
        made.append(
            Chart(
                name,
                distribution_chart(
                    name,
                    new=new_values,
                    old=old_values,
                    deltas=paired[np.isfinite(paired)],
                    direction=delta.direction.value,
                    kind=delta.kind.value,
                ),
            )
        )
    comparison.memo["charts"] = made
    return made


def _floats(column: MetricColumn | None) -> np.ndarray[Any, np.dtype[np.float64]]:
    if column is None or column.kind is MetricKind.STRING:
        return np.zeros(0, dtype=np.float64)
    return np.asarray(column.values, dtype=np.float64)
