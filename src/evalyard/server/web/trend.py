"""A metric's trend over a series of runs, as a small SVG line chart (pure).

The runs of one project, oldest first: one point per run at its aggregate, with its 95%
interval as a vertical bar when there is one, the runs being compared drawn larger, and
each point a link to its run. Every text goes through :func:`markupsafe.escape`; colours
come from CSS classes (the Content-Security-Policy forbids style attributes).

Example:
    >>> point = TrendPoint("r1", "first", 0.0, 0.5, 0.4, 0.6, True, "/runs/r1")
    >>> 'aria-label="Trend of accuracy"' in trend_chart("accuracy", [point], kind="number")
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from evalyard.core.formats import format_aggregate, format_time, unit_of

__all__ = ["TrendPoint", "trend_chart"]

_WIDTH = 620
_HEIGHT = 190
_LEFT = 58
_RIGHT = 16
_TOP = 18
_PLOT = 120
_AXIS = _TOP + _PLOT
#: Characters of a run name under the axis.
_LABEL = 22


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One run of the series."""

    run_id: str
    """The run's id."""
    name: str
    """The run's name."""
    created_at: float
    """When it started (the series is ordered by it)."""
    value: float | None
    """Its aggregate of the metric, or None when it lacks the metric."""
    ci_low: float | None
    """The lower end of the aggregate's interval, when it has one."""
    ci_high: float | None
    """The upper end."""
    selected: bool
    """Whether the run is one of those being compared (drawn larger)."""
    url: str
    """The run's page."""


def _short(text: str) -> str:
    return text if len(text) <= _LABEL else text[: _LABEL - 1] + "…"


def trend_chart(
    metric: str,
    points: Sequence[TrendPoint],
    *,
    kind: str,
    aggregate_function: str = "average",
) -> Markup:
    """The SVG line chart of ``metric`` over ``points`` (already in time order).

    Args:
        metric: the metric's name (in the label; escaped).
        points: one per run, oldest first.
        kind: ``number`` or ``bool`` (a bool's aggregate reads as a pass rate).
        aggregate_function: what the values are (for the axis labels).
    """
    label = f"Trend of {metric}"
    present = [p for p in points if p.value is not None]
    lows = [p.ci_low if p.ci_low is not None else p.value for p in present]
    highs = [p.ci_high if p.ci_high is not None else p.value for p in present]
    parts = [
        f'<svg class="chart trend" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="{_WIDTH}" height="{_HEIGHT}">',
        f"<title>{escape(label)}</title>",
        f"<desc>{escape(f'{len(present):,} of {len(points):,} runs have {metric}, oldest first')}"
        "</desc>",
    ]
    right = _WIDTH - _RIGHT
    parts.append(
        f'<line class="axis" x1="{_LEFT}" y1="{_AXIS + 0.5}" x2="{right}" y2="{_AXIS + 0.5}"/>'
    )
    if not present:
        parts.append(
            f'<text class="tick" x="{(_LEFT + right) / 2}" y="{_TOP + _PLOT / 2}" '
            f'text-anchor="middle">no run has {escape(metric)}</text></svg>'
        )
        return Markup("".join(parts))
    low = min(v for v in lows if v is not None)
    high = max(v for v in highs if v is not None)
    if high == low:
        low, high = low - 0.5 if kind != "bool" else max(0.0, low - 0.05), high + 0.5
    span = high - low

    def y(value: float) -> float:
        return _AXIS - (value - low) / span * _PLOT

    step = (right - _LEFT) / max(len(points) - 1, 1)

    def x(index: int) -> float:
        return _LEFT + (index * step if len(points) > 1 else (right - _LEFT) / 2)

    def text(value: float) -> str:
        return format_aggregate(
            value, kind=kind, aggregate_function=aggregate_function, unit=unit_of(metric)
        )

    parts += [
        f'<line class="axis" x1="{_LEFT - 0.5}" y1="{_TOP}" x2="{_LEFT - 0.5}" y2="{_AXIS}"/>',
        f'<text class="tick" x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end">'
        f"{escape(text(high))}</text>",
        f'<text class="tick" x="{_LEFT - 6}" y="{_AXIS}" text-anchor="end">'
        f"{escape(text(low))}</text>",
        f'<text class="caption" x="{_LEFT}" y="11">{escape(aggregate_function)} of '
        f"{escape(metric)} per run, oldest first</text>",
    ]
    line = [f"{x(i):.1f},{y(p.value):.1f}" for i, p in enumerate(points) if p.value is not None]
    if len(line) > 1:
        parts.append(f'<polyline class="trend-line" points="{" ".join(line)}"/>')
    for i, p in enumerate(points):
        if p.value is None:
            continue
        cx, cy = x(i), y(p.value)
        tip = f"{p.name} · {format_time(p.created_at)}: {text(p.value)}"
        if p.ci_low is not None and p.ci_high is not None:
            tip += f" [{text(p.ci_low)}, {text(p.ci_high)}]"
            parts.append(
                f'<line class="trend-ci" x1="{cx:.1f}" y1="{y(p.ci_low):.1f}" '
                f'x2="{cx:.1f}" y2="{y(p.ci_high):.1f}"/>'
            )
        css = "trend-point selected" if p.selected else "trend-point"
        radius = 5 if p.selected else 3
        parts.append(
            f'<a href="{escape(p.url)}"><circle class="{css}" cx="{cx:.1f}" cy="{cy:.1f}" '
            f'r="{radius}"><title>{escape(tip)}</title></circle></a>'
        )
    first, last = points[0], points[-1]
    parts.append(
        f'<text class="tick" x="{_LEFT}" y="{_AXIS + 14}">{escape(_short(first.name))}</text>'
    )
    if len(points) > 1:
        parts.append(
            f'<text class="tick" x="{right}" y="{_AXIS + 14}" text-anchor="end">'
            f"{escape(_short(last.name))}</text>"
        )
    parts.append(
        f'<text class="tick" x="{_LEFT}" y="{_AXIS + 28}">'
        f"{escape(format_time(first.created_at))}</text>"
    )
    if len(points) > 1:
        parts.append(
            f'<text class="tick" x="{right}" y="{_AXIS + 28}" text-anchor="end">'
            f"{escape(format_time(last.created_at))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
