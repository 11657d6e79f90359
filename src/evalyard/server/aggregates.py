"""The aggregated-metrics part of a comparison page: the metrics table, the summary strip
and the distribution charts (pure).

Every number is a field of the comparison's :class:`~evalyard.core.compare.MetricDelta`;
the statistics fields (``mean_diff``, ``ci_low``, ``ci_high``, ``p_value``,
``p_adjusted``, ``verdict``, ``mde``, ``flips``) are read with ``getattr``, so the page
works with and without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from markupsafe import Markup

from evalyard.core.columns import MetricColumn
from evalyard.core.compare import MetricDelta, RunComparisonResult
from evalyard.core.model import MetricKind
from evalyard.server.charts import distribution_chart
from evalyard.server.formatting import (
    MISSING,
    format_aggregate,
    format_count,
    format_delta,
    format_number,
    format_p_value,
    format_percent_change,
)
from evalyard.server.parts import Number, make_number
from evalyard.server.query import RunQuery
from evalyard.server.reader import Comparison

__all__ = [
    "Chart",
    "CountLink",
    "MetricRow",
    "Summary",
    "charts",
    "has_statistics",
    "metric_rows",
    "summary",
]

_VERDICTS = {
    "improved": ("▲ improved", "better"),
    "regressed": ("▼ regressed", "worse"),
    "inconclusive": ("≈ inconclusive", "same"),
    "insufficient_data": ("insufficient data", "muted"),
}


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
    """higher, lower or none."""
    old: Number
    """The baseline's aggregate."""
    new: Number
    """This run's aggregate."""
    delta: Number
    """This run's aggregate minus the baseline's."""
    percent: str
    """The relative change, as text."""
    change: Number
    """The overall change: the verdict when statistics exist, else the direction of the
    aggregate's move with words."""
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
    stats: dict[str, str]
    """``ci``, ``p``, ``mde``, ``flips`` as text, when the comparison has statistics."""


def _change(delta: MetricDelta) -> Number:
    verdict = getattr(delta, "verdict", None)
    if verdict is not None:
        text, css = _VERDICTS.get(str(verdict), (str(verdict), ""))
        return Number(text, None, css, "verdict of the paired test")
    if hasattr(delta, "verdict") and delta.direction.value == "none":
        return Number("not tested", None, "muted", "metrics without a direction are not tested")
    d = delta.delta
    if d is None:
        return Number(MISSING, None, "muted")
    if d == 0:
        return Number("= no change", None, "same")
    if delta.direction.value == "none":
        return Number("≠ changed", None, "changed")
    better = (d > 0) == (delta.direction.value == "higher")
    return Number(
        "▲ better" if better else "▼ worse",
        None,
        "better" if better else "worse",
        "which way the aggregate moved; the counts say how many datapoints did",
    )


def _stats(delta: MetricDelta) -> dict[str, str]:
    out: dict[str, str] = {}
    rate = delta.kind is MetricKind.BOOL  # a pass rate: its differences in percentage points
    low, high = getattr(delta, "ci_low", None), getattr(delta, "ci_high", None)
    mean_diff = getattr(delta, "mean_diff", None)
    if mean_diff is not None:
        out["mean_diff"] = format_delta(mean_diff, kind=delta.kind, aggregate_function="average")
    if low is not None and high is not None:
        if rate:
            out["ci"] = f"[{_pp(low)}, {_pp(high)}] pp"
        else:
            out["ci"] = f"[{format_number(low)}, {format_number(high)}]"
    p = getattr(delta, "p_adjusted", None)
    if p is None:
        p = getattr(delta, "p_value", None)
    if p is not None:
        out["p"] = format_p_value(p)
    mde = getattr(delta, "mde", None)
    if mde is not None:
        out["mde"] = format_number(mde * 100) + " pp" if rate else format_number(mde)
    flips = getattr(delta, "flips", None)
    if isinstance(flips, Mapping) and flips:
        # The discordant pairs are what the exact test counts.
        worse, better = flips.get("pass->fail", 0), flips.get("fail->pass", 0)
        out["flips"] = f"{better:,} fail→pass · {worse:,} pass→fail"
    return out


def _pp(value: float) -> str:
    return f"{value * 100:.1f}".replace("-", "−")


def has_statistics(result: RunComparisonResult) -> bool:
    """Whether this evalyard's comparisons carry statistics (a ``verdict`` field)."""
    return any(hasattr(d, "verdict") for d in result.metric_deltas.values())


def metric_rows(result: RunComparisonResult, query: RunQuery, path: str) -> list[MetricRow]:
    """The aggregated metrics table of a comparison."""
    rows = []
    for name, delta in result.metric_deltas.items():
        kind, fn = delta.kind.value, delta.aggregate_function

        def link(show: str, count: int, label: str, css: str, metric: str = name) -> CountLink:
            url = query.url(path, fragment="datapoints", metric=metric, show=show, page=1)
            return CountLink(
                count, f"{label} {format_count(count)}", url, css if count else "muted"
            )

        change = _change(delta)
        rows.append(
            MetricRow(
                metric=name,
                kind=kind,
                direction=delta.direction.value,
                old=make_number(
                    delta.old_aggregate,
                    format_aggregate(delta.old_aggregate, kind=kind, aggregate_function=fn),
                ),
                new=make_number(
                    delta.new_aggregate,
                    format_aggregate(delta.new_aggregate, kind=kind, aggregate_function=fn),
                ),
                delta=make_number(
                    delta.delta,
                    format_delta(delta.delta, kind=kind, aggregate_function=fn),
                    css=change.css if change.css in ("better", "worse") else "",
                ),
                percent=format_percent_change(delta.percent_change),
                change=change,
                improved=link("improved", delta.improved_count, "▲", "better"),
                regressed=link("regressed", delta.degraded_count, "▼", "worse"),
                unchanged=link("unchanged", delta.same_count, "=", "same"),
                changed=(
                    CountLink(
                        delta.changed_count,
                        f"≠ {format_count(delta.changed_count)}",
                        query.url(path, fragment="datapoints", metric=name, show="all", page=1),
                        "changed" if delta.changed_count else "muted",
                    )
                    if delta.changed_count
                    else None
                ),
                found=format_count(delta.found_count),
                stats=_stats(delta),
            )
        )
    return rows


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
    """Metrics that improved."""
    regressed: list[str]
    """Metrics that regressed."""
    inconclusive: list[str]
    """Metrics whose change is not clear (with statistics only)."""
    by_verdict: bool
    """Whether the metric lists come from verdicts (else: metrics with at least one
    improved / degraded datapoint, as ``list_improved_metrics`` says)."""


def summary(result: RunComparisonResult) -> Summary:
    """Shared and unshared datapoints, and which metrics moved."""
    if has_statistics(result):
        verdicts = {name: getattr(d, "verdict", None) for name, d in result.metric_deltas.items()}
        return Summary(
            len(result.common_datapoints),
            len(result.new_only_datapoints),
            len(result.old_only_datapoints),
            [n for n, v in verdicts.items() if v == "improved"],
            [n for n, v in verdicts.items() if v == "regressed"],
            [n for n, v in verdicts.items() if v == "inconclusive"],
            True,
        )
    return Summary(
        len(result.common_datapoints),
        len(result.new_only_datapoints),
        len(result.old_only_datapoints),
        result.list_improved_metrics(),
        result.list_degraded_metrics(),
        [],
        False,
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
