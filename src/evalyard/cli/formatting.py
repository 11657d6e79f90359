"""How the CLI writes values: numbers, ids, times, excerpts, and text safe for Markdown.

Pure functions; :mod:`evalyard.cli.render` builds tables out of them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from enum import StrEnum
from typing import Any

from evalyard.core.compare import MetricDelta
from evalyard.core.model import Direction, MetricKind

__all__ = [
    "MISSING",
    "Trend",
    "excerpt",
    "format_count",
    "format_delta",
    "format_interval",
    "format_number",
    "format_p",
    "format_percent",
    "format_time",
    "markdown_escape",
    "printable",
    "short_id",
    "trend",
]

#: What stands for a missing value (an en dash), in every format but JSON.
MISSING = "–"

#: How many characters of a run id identify it in tables (a unique prefix resolves).
SHORT_ID_LENGTH = 8

# An aggregate delta this small relative to the aggregates is float rounding, not change.
_RELATIVE_EPSILON = 1e-12
_WHITESPACE = re.compile(r"\s+")
# C0 and C1 control characters: user text must not move the cursor or recolour a terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def format_number(value: float | None) -> str:
    """A number with about 4 significant digits, grouped thousands; ``–`` for None.

    Examples: ``0.4250``-like values print as ``0.425``, ``1234.5`` as ``1235``,
    ``123456.7`` as ``123,457``.
    """
    if value is None or math.isnan(value):
        return MISSING
    if value == 0:
        return "0"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def format_delta(value: float | None, *, reference: float = 0.0) -> str:
    """A signed difference (``+0.075``, ``-12``); ``0`` for a change within float rounding.

    Args:
        value: the difference.
        reference: the magnitude of the values compared, to tell rounding from change.
    """
    if value is None or math.isnan(value):
        return MISSING
    if abs(value) <= _RELATIVE_EPSILON * abs(reference) or value == 0:
        return "0"
    if abs(value) >= 10_000:
        return f"{value:+,.0f}"
    return f"{value:+.4g}"


def format_percent(value: float | None) -> str:
    """A signed percentage with one decimal (``+21.4%``); ``–`` for None."""
    if value is None or math.isnan(value):
        return MISSING
    if abs(value) < 0.05:
        return "0%"
    return f"{value:+,.1f}%"


def format_count(value: int) -> str:
    """A whole count, with grouped thousands."""
    return f"{value:,}"


def format_time(timestamp: float | None) -> str:
    """A time (seconds since the Unix epoch) as local ``YYYY-MM-DD HH:MM:SS``; ``–`` for None."""
    if timestamp is None:
        return MISSING
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def printable(text: str) -> str:
    """User text with control characters shown as ``\\xNN`` escapes, never sent raw."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def short_id(run_id: str) -> str:
    """The first characters of a run id: enough to tell runs apart and to refer to one."""
    return run_id[:SHORT_ID_LENGTH]


def excerpt(value: Any, *, width: int = 60) -> str:
    """A one-line excerpt of a value: text as is, other data as compact JSON.

    Whitespace (newlines included) collapses to single spaces; a longer excerpt is cut at
    ``width`` characters and ends with ``…``.
    """
    if value is None:
        return MISSING
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    text = printable(_WHITESPACE.sub(" ", text).strip())
    if len(text) > width:
        return text[: width - 1].rstrip() + "…"
    return text


def markdown_escape(text: str) -> str:
    """User text made safe for a GitHub-flavoured Markdown table cell.

    Newlines become spaces (a table row is one line), ``|`` and Markdown punctuation are
    escaped with a backslash, and ``&``, ``<``, ``>`` become HTML entities so that user
    text cannot open a tag.
    """
    text = printable(_WHITESPACE.sub(" ", text).strip())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


class Trend(StrEnum):
    """Which way a metric's aggregate moved, read through the metric's direction."""

    BETTER = "better"
    WORSE = "worse"
    SAME = "same"
    CHANGED = "changed"
    """Moved, for a metric that has no better way (direction ``none``, or a string)."""


def trend(delta: MetricDelta) -> Trend | None:
    """How the aggregate of a metric moved; None when a run lacks the metric.

    A string metric has no aggregate: it is ``changed`` when any datapoint's value changed.
    """
    if delta.new_aggregate is None or delta.old_aggregate is None or delta.delta is None:
        if delta.kind is MetricKind.STRING and delta.found_count:
            return Trend.CHANGED if delta.changed_count else Trend.SAME
        return None
    scale = max(abs(delta.new_aggregate), abs(delta.old_aggregate))
    slack = _RELATIVE_EPSILON * scale
    if delta.direction is Direction.NONE:
        return Trend.SAME if abs(delta.delta) <= slack else Trend.CHANGED
    if abs(delta.delta) <= delta.tolerance + slack:
        return Trend.SAME
    rose = delta.delta > 0
    return Trend.BETTER if rose == (delta.direction is Direction.HIGHER) else Trend.WORSE


def format_interval(delta: MetricDelta) -> str:
    """The paired mean difference with its confidence interval: ``+0.05 [+0.01, +0.09]``.

    Pass/fail metrics read in percentage points (``+6.6 pp [−2.1, +15]``); ``–`` when the
    metric was not tested.
    """
    if delta.mean_diff is None:
        return MISSING
    scale = 100.0 if delta.kind is MetricKind.BOOL else 1.0
    reference = max(abs(delta.old_aggregate or 0.0), abs(delta.new_aggregate or 0.0)) * scale
    mean = format_delta(delta.mean_diff * scale, reference=reference)
    unit = " pp" if delta.kind is MetricKind.BOOL else ""
    if delta.ci_low is None or delta.ci_high is None:
        return f"{mean}{unit}"
    low = format_delta(delta.ci_low * scale, reference=reference)
    high = format_delta(delta.ci_high * scale, reference=reference)
    return f"{mean}{unit} [{low}, {high}]"


def format_p(value: float | None) -> str:
    """A p-value with two significant digits (``0.031``, ``<0.001``); ``–`` for None."""
    if value is None or math.isnan(value):
        return MISSING
    if value < 0.001:
        return "<0.001"
    return f"{value:.2g}" if value < 0.1 else f"{value:.2f}"
