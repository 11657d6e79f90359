"""How evalyard writes numbers, rates, p-values, intervals and times, on every surface.

The CLI's tables, the Markdown report, the web pages and ``RunComparisonResult.summary()``
all go through these functions, so a number reads the same wherever it is shown (the JSON
outputs carry the exact values instead). Pure functions; no locale, no clock.

- A number gets a precision that suits its size (``1,234``, ``12.35``, ``0.7312``), with a
  real minus sign (``−``) that lines up with ``+`` in tabular figures.
- A bool metric's average is a pass rate and reads as a percentage (``83.3%``); its
  changes read in percentage points (``+5.0 pp``).
- A p-value reads ``<0.001``, or with three significant digits below 0.1 (``0.0312``, cut
  rather than rounded, so a value just below alpha never reads as alpha) and two decimals
  above (``0.45``).
- Times are UTC: ``2025-11-27 06:18 UTC``.
- A missing value is an em dash, :data:`MISSING`.
- A metric named ``…_usd`` (``cost_usd``) is an amount of US dollars and reads as one
  (``$0.0213``, ``+$1.25``, ``$0.0000213``: no scientific notation); :func:`unit_of` says
  which metrics are, and the formatters take it as ``unit``.
- A logged value reads as itself when it is text, else as pretty-printed JSON.

Example:
    >>> format_aggregate(0.8333, kind="bool", aggregate_function="average")
    '83.3%'
    >>> format_delta(-0.05, kind="bool", aggregate_function="average")
    '−5.0 pp'
    >>> format_delta(-0.42, unit=unit_of("cost_usd"))
    '−$0.42'
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

from evalyard.core.model import Direction, MetricKind

__all__ = [
    "MINUS",
    "MISSING",
    "USD",
    "clip",
    "compact_json",
    "format_aggregate",
    "format_count",
    "format_delta",
    "format_flips",
    "format_interval",
    "format_mde",
    "format_number",
    "format_p",
    "format_percent_change",
    "format_tick",
    "format_time",
    "format_value",
    "is_rate",
    "unit_of",
    "value_text",
]

#: What a missing value reads as (an em dash).
MISSING = "—"
#: The minus sign of every negative number shown (U+2212, as wide as ``+``).
MINUS = "\u2212"

#: The unit of an amount of US dollars (a metric whose name ends in ``_usd``).
USD = "usd"

# A difference this small relative to the values compared is float rounding, not change.
_RELATIVE_EPSILON = 1e-12


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _trim(text: str) -> str:
    """``2.500`` → ``2.5``, ``3.000`` → ``3``: trailing zeros say nothing."""
    if "." not in text or "e" in text:
        return text
    return text.rstrip("0").rstrip(".")


def unit_of(metric: str | None) -> str | None:
    """The unit a metric's name declares: :data:`USD` for ``…_usd`` (``cost_usd``), else None."""
    if metric is not None and metric.endswith("_usd"):
        return USD
    return None


def _dollars(size: float) -> str:
    """A non-negative amount of dollars, without the sign: ``1,234.50``, ``0.0213``,
    ``0.0000213`` (three significant digits below a dollar, never scientific)."""
    if size >= 1:
        return f"{size:,.2f}"
    decimals = min(max(2 - math.floor(math.log10(size)), 2), 12)
    whole, _, cents = f"{size:.{decimals}f}".rstrip("0").partition(".")
    return f"{whole}.{cents.ljust(2, '0')}"


def format_number(value: float | None, *, unit: str | None = None) -> str:
    """A number with a precision that suits its size: ``1,234``, ``12.35``, ``0.7312``.

    Whole numbers keep all their digits (grouped by thousands); others get four
    significant digits or so, and very large or small ones scientific notation. With
    ``unit`` :data:`USD`, an amount of dollars: ``$12.35``, ``$0.0213``, ``−$0.0000213``.
    """
    if value is None or not _finite(value):
        return MISSING
    size = abs(value)
    dollar = "$" if unit == USD else ""
    if size < 1e-12:
        # Float rounding of a difference (means of equal values), not a number to read.
        return dollar + "0"
    if dollar:
        return (MINUS if value < 0 else "") + dollar + _dollars(size)
    if float(value).is_integer() and size < 1e15:
        text = f"{int(size):,}"
    elif size >= 1e6 or size < 1e-3:
        text = f"{size:.3g}"
    elif size >= 100:
        text = _trim(f"{size:,.1f}")
    elif size >= 1:
        text = _trim(f"{size:.3f}")
    else:
        text = _trim(f"{size:.4f}")
    return (MINUS + text) if value < 0 else text


def format_count(value: int) -> str:
    """A count with thousands separators: ``12,345``."""
    return f"{value:,}"


def is_rate(kind: MetricKind | str, aggregate_function: str | None) -> bool:
    """Whether an aggregate of this kind is a pass rate (read as a percentage).

    A bool averages to its pass rate; its median and percentiles are rates too, while its
    sum counts passes.
    """
    return str(kind) == MetricKind.BOOL.value and aggregate_function != "sum"


def format_aggregate(
    value: float | None,
    *,
    kind: MetricKind | str,
    aggregate_function: str | None,
    unit: str | None = None,
) -> str:
    """An aggregate of a metric: a pass rate as ``83.3%``, other numbers by size (in
    ``unit``, see :func:`format_number`)."""
    if value is None or not _finite(value):
        return MISSING
    if is_rate(kind, aggregate_function):
        return f"{value * 100:.1f}%".replace("-", MINUS)
    return format_number(value, unit=unit)


def format_delta(
    value: float | None,
    *,
    kind: MetricKind | str = MetricKind.NUMBER,
    aggregate_function: str | None = None,
    reference: float = 0.0,
    unit: str | None = None,
) -> str:
    """A signed change: ``+0.0312``, ``−12``, ``+2.5 pp`` (percentage points of a rate),
    ``−$0.42`` (``unit`` :data:`USD`).

    Args:
        value: the change.
        kind: the metric's kind; with a rate aggregate, a bool's change is in points.
        aggregate_function: the aggregate the change is of (None: a per-datapoint change).
        reference: the size of the values compared; a change within float rounding of it
            reads ``0``.
        unit: the metric's unit (:func:`unit_of`).
    """
    if value is None or not _finite(value):
        return MISSING
    if abs(value) < 1e-12 or abs(value) <= _RELATIVE_EPSILON * abs(reference):
        return "0"
    sign = "+" if value > 0 else MINUS
    if is_rate(kind, aggregate_function) and aggregate_function is not None:
        return f"{sign}{abs(value) * 100:.1f} pp"
    return sign + format_number(abs(value), unit=unit)


def format_percent_change(value: float | None) -> str:
    """A relative change in percent, signed: ``+5.2%``, ``−250%``; :data:`MISSING` for none."""
    if value is None or not _finite(value):
        return MISSING
    if abs(value) < 0.05:
        return "0%"
    sign = "+" if value > 0 else MINUS
    size = abs(value)
    digits = 0 if size >= 100 else 1
    return f"{sign}{size:,.{digits}f}%"


def format_p(value: float | None) -> str:
    """A p-value: ``<0.001``, ``0.0312``, ``0.45``; :data:`MISSING` when not tested."""
    if value is None or not _finite(value):
        return MISSING
    if value < 0.001:
        return "<0.001"
    if value < 0.1:
        # Three significant digits, cut rather than rounded: 0.04996 reads 0.0499, so a
        # p-value below alpha never reads as alpha.
        exponent = math.floor(math.log10(value))
        decimals = 2 - exponent
        cut = math.floor(value * 10**decimals * (1 + 1e-12)) / 10**decimals
        return f"{cut:.{decimals}f}"
    return f"{value:.2f}"


def _points(kind: MetricKind) -> tuple[float, str]:
    # A bool's mean difference is a change in pass rate: read it in percentage points.
    return (100.0, " pp") if kind is MetricKind.BOOL else (1.0, "")


def format_interval(
    mean_diff: float | None,
    ci_low: float | None,
    ci_high: float | None,
    *,
    kind: MetricKind,
    reference: float = 0.0,
    unit: str | None = None,
) -> str:
    """A paired mean difference with its confidence interval: ``+0.05 [+0.01, +0.09]``,
    ``+$0.0003 [+$0.0002, +$0.0004]`` (``unit`` :data:`USD`).

    A bool's reads in percentage points, to one decimal: ``+6.6 pp [−2.1, +15.0]``.
    :data:`MISSING` when the metric was not tested.
    """
    if mean_diff is None:
        return MISSING
    if kind is MetricKind.BOOL:

        def write(value: float) -> str:
            return format_delta(value, kind=kind, aggregate_function="average").removesuffix(" pp")

        suffix = " pp"
    else:

        def write(value: float) -> str:
            return format_delta(value, reference=reference, unit=unit)

        suffix = ""
    mean = write(mean_diff)
    if ci_low is None or ci_high is None:
        return f"{mean}{suffix}"
    return f"{mean}{suffix} [{write(ci_low)}, {write(ci_high)}]"


def format_mde(mde: float | None, *, kind: MetricKind, unit: str | None = None) -> str:
    """The minimum detectable effect: ``±0.12``, ``±2.8 pp``, ``±$0.01``; :data:`MISSING`
    without one."""
    if mde is None or not _finite(mde):
        return MISSING
    scale, points = _points(kind)
    return f"±{format_number(mde * scale, unit=unit)}{points}"


def format_flips(flips: Mapping[str, int] | None) -> str:
    """The discordant pairs of a pass/fail metric: ``9 fail→pass · 10 pass→fail``."""
    if not flips:
        return MISSING
    gained, lost = flips.get("fail->pass", 0), flips.get("pass->fail", 0)
    return f"{gained:,} fail→pass · {lost:,} pass→fail"


# What True and False read as, by the metric's direction.
_BOOL_WORDS = {
    Direction.HIGHER.value: ("pass", "fail"),
    Direction.LOWER.value: ("not ok", "ok"),
}


def format_value(
    value: Any,
    *,
    kind: MetricKind | str,
    direction: Direction | str = "higher",
    unit: str | None = None,
) -> str:
    """One datapoint's value of a metric.

    A bool whose higher value is better reads pass / fail (a pass fraction over epochs as
    ``67% pass``). A bool whose *lower* value is better — the automatic ``error``, a
    ``hallucinated`` flag — reads ok / not ok (``33% not ok``): False is the good value.
    Without a direction a bool reads true / false. Numbers read by size (in ``unit``, see
    :func:`format_number`), categories as they are.
    """
    if value is None:
        return MISSING
    if str(kind) == MetricKind.STRING.value:
        return str(value)
    number = float(value)
    if not math.isfinite(number):
        return MISSING
    if str(kind) == MetricKind.BOOL.value:
        true_word, false_word = _BOOL_WORDS.get(str(direction), ("true", "false"))
        if number == 1.0:
            return true_word
        if number == 0.0:
            return false_word
        return f"{number * 100:.0f}% {true_word}"  # the share of epochs that were True
    return format_number(number, unit=unit)


def format_tick(value: float) -> str:
    """A compact axis label: three significant digits."""
    if not _finite(value):
        return MISSING
    text = f"{abs(value):.3g}"
    return (MINUS + text) if value < 0 else text


def format_time(timestamp: float | None) -> str:
    """Seconds since the Unix epoch as ``2025-11-27 06:18 UTC``."""
    if timestamp is None or not _finite(timestamp):
        return MISSING
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# -- what users and models logged, as plain text (the pages escape it) --------------------


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
