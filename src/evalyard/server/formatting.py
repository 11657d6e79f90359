"""How numbers, times and stored values read on the pages: pure functions to text.

Numbers get a precision that suits their size (tables right-align them in tabular figures);
a bool metric's average is a pass rate and reads as a percentage, its change in percentage
points. Values logged by users or models become plain text here; the templates escape it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from evalyard.core.model import MetricKind

__all__ = [
    "MISSING",
    "clip",
    "compact_json",
    "format_aggregate",
    "format_count",
    "format_delta",
    "format_number",
    "format_p_value",
    "format_percent_change",
    "format_tick",
    "format_time",
    "format_value",
    "value_text",
]

#: What a missing value reads as.
MISSING = "—"

# A real minus sign lines up with the plus sign in tabular figures.
_MINUS = "\u2212"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def format_number(value: float | None) -> str:
    """A number with a precision that suits its size: ``1,234``, ``12.35``, ``0.7312``."""
    if value is None or not _finite(value):
        return MISSING
    size = abs(value)
    if size < 1e-12:
        # Float rounding of a difference (means of equal values), not a number to read.
        text = "0"
    elif float(value).is_integer() and size < 1e15:
        text = f"{int(size):,}"
    elif size >= 1e6 or size < 1e-3:
        text = f"{size:.3g}"
    elif size >= 100:
        text = f"{size:,.1f}"
    elif size >= 1:
        text = f"{size:.3f}"
    else:
        text = f"{size:.4f}"
    return (_MINUS + text) if value < 0 else text


def _is_rate(kind: MetricKind | str, aggregate_function: str | None) -> bool:
    # A bool averages to a pass rate (SPEC §2); its median and percentiles are rates too,
    # while its sum counts passes and min/max are 0 or 1.
    return str(kind) == MetricKind.BOOL.value and aggregate_function not in ("sum",)


def format_tick(value: float) -> str:
    """A compact axis label: three significant digits."""
    if not _finite(value):
        return MISSING
    text = f"{abs(value):.3g}"
    return (_MINUS + text) if value < 0 else text


def format_aggregate(
    value: float | None, *, kind: MetricKind | str, aggregate_function: str | None
) -> str:
    """An aggregate of a metric: a pass rate as ``83.3%``, other numbers by size."""
    if value is None or not _finite(value):
        return MISSING
    if _is_rate(kind, aggregate_function):
        return f"{value * 100:.1f}%".replace("-", _MINUS)
    return format_number(value)


def format_value(value: Any, *, kind: MetricKind | str) -> str:
    """One datapoint's value of a metric: pass/fail for a bool, text for a category."""
    if value is None:
        return MISSING
    if str(kind) == MetricKind.STRING.value:
        return str(value)
    number = float(value)
    if not math.isfinite(number):
        return MISSING
    if str(kind) == MetricKind.BOOL.value:
        if number == 1.0:
            return "pass"
        if number == 0.0:
            return "fail"
        return f"{number * 100:.0f}% pass"  # a pass fraction over epochs
    return format_number(number)


def format_delta(
    value: float | None,
    *,
    kind: MetricKind | str = MetricKind.NUMBER,
    aggregate_function: str | None,
) -> str:
    """A signed change: ``+0.0312``, ``−2.5 pp`` (percentage points, for pass rates)."""
    if value is None or not _finite(value):
        return MISSING
    if abs(value) < 1e-12:
        return "0"
    sign = "+" if value > 0 else _MINUS
    if _is_rate(kind, aggregate_function):
        return f"{sign}{abs(value) * 100:.1f} pp"
    return sign + format_number(abs(value))


def format_percent_change(value: float | None) -> str:
    """A relative change in percent, signed: ``+5.2%``; empty when there is none."""
    if value is None or not _finite(value):
        return ""
    if value == 0:
        return "0%"
    sign = "+" if value > 0 else _MINUS
    size = abs(value)
    digits = 0 if size >= 100 else 1
    return f"{sign}{size:,.{digits}f}%"


def format_p_value(value: float | None) -> str:
    """A p-value: ``0.032``, ``<0.001``."""
    if value is None or not _finite(value):
        return MISSING
    if value < 0.001:
        return "<0.001"
    return f"{value:.3f}"


def format_count(value: int) -> str:
    """A count with thousands separators."""
    return f"{value:,}"


def format_time(timestamp: float | None) -> str:
    """Seconds since the Unix epoch as ``2025-11-27 06:18 UTC``."""
    if timestamp is None or not _finite(timestamp):
        return MISSING
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def value_text(value: Any) -> str:
    """A logged value as text: a string as is, anything else as pretty-printed JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def compact_json(value: Any) -> str:
    """A logged value as one line of JSON (for table cells); None as empty text."""
    if value is None:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    except (TypeError, ValueError):
        return repr(value)


def clip(text: str, limit: int) -> tuple[str, bool]:
    """The first ``limit`` characters of ``text``, and whether anything was cut."""
    if len(text) <= limit:
        return text, False
    return text[:limit].rstrip() + "…", True
