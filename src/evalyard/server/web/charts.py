"""Metric distributions as small SVG charts, built by pure functions (docs/comparison.md §7).

One chart per metric, two panels: both runs' histograms on the same bins (the baseline in
grey, this run in blue), and the histogram of the per-datapoint deltas (this run minus the
baseline, over the shared datapoints having the metric in both), its bars coloured by
whether that side of zero is better for the metric's direction. Every text in the SVG goes
through :func:`markupsafe.escape`; the result is :class:`markupsafe.Markup`, so templates
insert it as is. Colours come from CSS classes (the Content-Security-Policy forbids style
attributes).

Example:
    >>> import numpy as np
    >>> svg = distribution_chart("accuracy", new=np.array([1.0, 0.0]), old=np.array([0.0, 0.0]),
    ...                          deltas=np.array([1.0, 0.0]), direction="higher", kind="bool")
    >>> 'aria-label="Distribution of accuracy"' in svg
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from markupsafe import Markup, escape

from evalyard.core.formats import format_number, format_tick

__all__ = ["Bins", "distribution_chart", "histogram_bins"]

FloatArray = npt.NDArray[np.float64]

#: Most bins of a histogram.
MAX_BINS = 20

_LEFT = 34  # room for the count axis of the first panel
_PANEL = 250
_GAP = 70  # between the panels, with room for the second count axis
_WIDTH = _LEFT + 2 * _PANEL + _GAP + 6
_HEIGHT = 150
_TOP = 22
_PLOT = 96  # height of the bars' area
_AXIS = _TOP + _PLOT


@dataclass(frozen=True, slots=True)
class Bins:
    """Histogram bins: ``edges`` (len n+1) and a short label for each end of the axis."""

    edges: FloatArray
    """The bin edges, increasing."""
    low_label: str
    """The label under the left end of the axis."""
    high_label: str
    """The label under the right end of the axis."""


def histogram_bins(values: FloatArray, *, kind: str, symmetric: bool = False) -> Bins:
    """Bins for ``values``: pass/fail for bools, one per whole number when few, else up to
    :data:`MAX_BINS` equal-width bins. ``symmetric`` centres them on zero (for deltas)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Bins(np.array([0.0, 1.0]), "", "")
    low, high = float(finite.min()), float(finite.max())
    if symmetric:
        # Never narrower than one unit each side, so "no change at all" is one bar among three.
        reach = max(abs(low), abs(high)) or 1.0
        low, high = -reach, reach
    integral = bool(np.all(finite == np.round(finite)))
    if kind == "bool" and not symmetric and low >= 0 and high <= 1 and integral:
        return Bins(np.array([-0.5, 0.5, 1.5]), "fail", "pass")
    if integral and high - low <= MAX_BINS:
        edges = np.arange(low - 0.5, high + 1.0, 1.0)
        return Bins(edges, format_tick(low), format_tick(high))
    if high == low:
        return Bins(np.array([low - 0.5, high + 0.5]), format_tick(low), format_tick(high))
    count = MAX_BINS + 1 if symmetric else MAX_BINS  # an odd count keeps a bin on zero
    edges = np.linspace(low, high, count + 1)
    return Bins(edges, format_tick(low), format_tick(high))


def _counts(values: FloatArray, edges: FloatArray) -> npt.NDArray[np.int64]:
    finite = values[np.isfinite(values)]
    counts, _ = np.histogram(finite, bins=edges)
    return counts.astype(np.int64)


def distribution_chart(
    metric: str,
    *,
    new: FloatArray,
    old: FloatArray | None,
    deltas: FloatArray | None,
    direction: str,
    kind: str,
) -> Markup:
    """The SVG chart of one metric: both runs' histograms on shared bins, and the deltas.

    Args:
        metric: the metric's name (shown in the label; escaped).
        new: this run's per-datapoint values (NaN for missing).
        old: the baseline's per-datapoint values, or None on a single run's page.
        deltas: per shared datapoint, this run's value minus the baseline's, or None.
        direction: ``higher``, ``lower`` or ``none``: which side of zero is better.
        kind: ``number`` or ``bool``.
    """
    both = new if old is None else np.concatenate([new, old])
    bins = histogram_bins(both, kind=kind)
    new_counts = _counts(new, bins.edges)
    old_counts = None if old is None else _counts(old, bins.edges)
    label = f"Distribution of {metric}"
    n_new = int(np.isfinite(new).sum())
    summary = [f"this run: {n_new:,} datapoints"]
    if old is not None:
        summary.append(f"baseline: {int(np.isfinite(old).sum()):,} datapoints")
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="{_WIDTH}" height="{_HEIGHT}">',
        f"<title>{escape(label)}</title>",
    ]
    parts.extend(_value_panel(bins, new_counts, old_counts))
    if deltas is not None:
        finite = deltas[np.isfinite(deltas)]
        zero = int((finite == 0).sum())
        summary.append(f"{finite.size:,} paired deltas, {zero:,} of them zero")
        parts.extend(_delta_panel(finite, direction=direction))
    parts.insert(2, f"<desc>{escape('; '.join(summary))}</desc>")
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True, slots=True)
class _Bar:
    index: int
    count: int
    x: float
    y: float
    w: float
    h: float


def _bars(
    counts: npt.NDArray[np.int64], *, x0: float, width: float, top: int, slot: int, slots: int
) -> list[_Bar]:
    """The non-empty bars of ``counts`` scaled to ``top``; bar ``slot`` of ``slots`` side by
    side in each bin."""
    step = width / len(counts)
    bar = max(step / slots - 1.0, 0.5)
    out = []
    for i, count in enumerate(counts.tolist()):
        if count == 0:
            continue
        h = max(_PLOT * count / top, 1.0)
        x = x0 + i * step + slot * (step / slots) + 0.5
        out.append(_Bar(i, count, x, _AXIS - h, bar, h))
    return out


def _rect(bar: _Bar, css: str, tip: str) -> str:
    return (
        f'<rect class="{css}" x="{bar.x:.1f}" y="{bar.y:.1f}" width="{bar.w:.1f}" '
        f'height="{bar.h:.1f}"><title>{escape(tip)}</title></rect>'
    )


def _count_axis(x0: float, top: int) -> list[str]:
    """The vertical axis of a panel: how many datapoints the tallest bar stands for."""
    return [
        f'<line class="axis" x1="{x0 - 0.5}" y1="{_TOP}" x2="{x0 - 0.5}" y2="{_AXIS}"/>',
        f'<line class="axis" x1="{x0 - 4}" y1="{_TOP + 0.5}" x2="{x0}" y2="{_TOP + 0.5}"/>',
        f'<text class="tick" x="{x0 - 6}" y="{_TOP + 4}" text-anchor="end">{top:,}</text>',
        f'<text class="tick" x="{x0 - 6}" y="{_AXIS}" text-anchor="end">0</text>',
        f'<text class="tick axis-title" x="{x0 - 6}" y="{_TOP + _PLOT / 2 + 4}" '
        'text-anchor="end">n</text>',
    ]


def _axis(x0: float, low: str, high: str, caption: str) -> list[str]:
    return [
        f'<line class="axis" x1="{x0}" y1="{_AXIS + 0.5}" x2="{x0 + _PANEL}" y2="{_AXIS + 0.5}"/>',
        f'<text class="tick" x="{x0}" y="{_AXIS + 14}">{escape(low)}</text>',
        f'<text class="tick" x="{x0 + _PANEL}" y="{_AXIS + 14}" text-anchor="end">'
        f"{escape(high)}</text>",
        f'<text class="caption" x="{x0}" y="12">{escape(caption)}</text>',
    ]


def _value_panel(
    bins: Bins, new_counts: npt.NDArray[np.int64], old_counts: npt.NDArray[np.int64] | None
) -> list[str]:
    top = int(max(new_counts.max(initial=0), 0 if old_counts is None else old_counts.max()))
    top = max(top, 1)
    slots = 1 if old_counts is None else 2
    x0 = _LEFT
    out = _axis(x0, bins.low_label, bins.high_label, "Values (datapoints per bin)")
    out += _count_axis(x0, top)
    right = x0 + _PANEL
    if old_counts is not None:
        out.append(f'<rect class="key-old" x="{right - 118}" y="4" width="9" height="9"/>')
        out.append(f'<text class="tick" x="{right - 106}" y="12">baseline</text>')
    out.append(f'<rect class="key-new" x="{right - 52}" y="4" width="9" height="9"/>')
    out.append(f'<text class="tick" x="{right - 40}" y="12">this run</text>')
    edges = bins.edges
    if old_counts is not None:
        for bar in _bars(old_counts, x0=x0, width=_PANEL, top=top, slot=0, slots=2):
            tip = f"baseline: {bar.count:,} in {_range(edges, bar.index)}"
            out.append(_rect(bar, "bar-old", tip))
    slot = 0 if old_counts is None else 1
    for bar in _bars(new_counts, x0=x0, width=_PANEL, top=top, slot=slot, slots=slots):
        tip = f"this run: {bar.count:,} in {_range(edges, bar.index)}"
        out.append(_rect(bar, "bar-new", tip))
    return out


def _range(edges: FloatArray, i: int) -> str:
    return f"[{format_number(float(edges[i]))}, {format_number(float(edges[i + 1]))})"


def _delta_panel(deltas: FloatArray, *, direction: str) -> list[str]:
    x0 = _LEFT + _PANEL + _GAP
    if deltas.size == 0:
        out = _axis(x0, "", "", "Change per shared datapoint")
        out.append(
            f'<text class="tick" x="{x0 + _PANEL / 2}" y="{_TOP + _PLOT / 2}" '
            'text-anchor="middle">no paired values</text>'
        )
        return out
    bins = histogram_bins(deltas, kind="number", symmetric=True)
    counts = _counts(deltas, bins.edges)
    top = max(int(counts.max(initial=0)), 1)
    high = bins.high_label if bins.high_label in ("", "0") else "+" + bins.high_label
    out = _axis(x0, bins.low_label, high, "Change per shared datapoint")
    out += _count_axis(x0, top)
    middle = x0 + _PANEL / 2
    out.append(f'<line class="zero" x1="{middle}" y1="{_TOP}" x2="{middle}" y2="{_AXIS}"/>')
    edges = bins.edges
    for bar in _bars(counts, x0=x0, width=_PANEL, top=top, slot=0, slots=1):
        i = bar.index
        centre = float(edges[i] + edges[i + 1]) / 2
        css = _delta_class(centre, float(edges[i + 1] - edges[i]), direction)
        tip = f"{bar.count:,} datapoints changed by {_range(edges, i)}"
        out.append(_rect(bar, css, tip))
    return out


def _delta_class(centre: float, width: float, direction: str) -> str:
    if abs(centre) < width / 2 or direction not in ("higher", "lower"):
        return "bar-same"
    better = centre > 0 if direction == "higher" else centre < 0
    return "bar-better" if better else "bar-worse"
