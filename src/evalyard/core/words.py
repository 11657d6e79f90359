"""The words evalyard uses for verdicts, trends and datapoint changes, on every surface.

Each word comes with a :class:`Tone` — better, worse, same, changed or muted — that the
terminal shows as a colour and the web pages as a CSS class. The word always carries a
symbol too (``▲ improved``, ``▼ regressed``), so it reads the same without colour.

Example:
    >>> verdict_word(Verdict.REGRESSED, found_count=50).text
    '▼ regressed'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from evalyard.core.model import Direction, MetricKind
from evalyard.core.stats import Verdict

if TYPE_CHECKING:
    from evalyard.core.compare import MetricDelta

__all__ = [
    "BASELINE",
    "STATUS_WORDS",
    "Tone",
    "Trend",
    "Word",
    "direction_word",
    "trend",
    "trend_word",
    "verdict_word",
]

# An aggregate delta this small relative to the aggregates is float rounding, not change.
_RELATIVE_EPSILON = 1e-12


class Tone(StrEnum):
    """How a word is coloured: its meaning for the metric, not its sign."""

    BETTER = "better"
    WORSE = "worse"
    SAME = "same"
    CHANGED = "changed"
    """Moved, for a metric with no better way."""
    MUTED = "muted"
    """Nothing to read: not tested, no data."""
    PLAIN = "plain"


@dataclass(frozen=True, slots=True)
class Word:
    """A word as shown, with its tone and an explanation for a tooltip."""

    text: str
    """The word, with its symbol."""
    tone: Tone
    """How to colour it."""
    title: str = ""
    """What it means, in a sentence (a tooltip on the web pages)."""


_VERDICTS = {
    Verdict.IMPROVED: Word(
        "▲ improved", Tone.BETTER, "significantly better after Holm's adjustment"
    ),
    Verdict.REGRESSED: Word(
        "▼ regressed", Tone.WORSE, "significantly worse after Holm's adjustment"
    ),
    Verdict.INCONCLUSIVE: Word(
        "≈ inconclusive", Tone.SAME, "the data cannot tell this change from noise"
    ),
    Verdict.INSUFFICIENT_DATA: Word(
        "insufficient data", Tone.MUTED, "fewer than 2 datapoints have the metric in both runs"
    ),
}
#: What a comparison of many runs says of the baseline where the others have a verdict.
BASELINE = Word("baseline", Tone.PLAIN, "the run the others are compared with")
_NOT_TESTED = Word("not tested", Tone.MUTED, "metrics without a direction are not tested")
_NO_CHANGE = Word("= no change", Tone.SAME, "no shared datapoint changed: nothing to test")


def verdict_word(verdict: Verdict | None, *, found_count: int) -> Word:
    """The word for a metric's verdict.

    Args:
        verdict: the verdict, or None for a metric that is not judged.
        found_count: how many datapoints are paired.

    "Insufficient data" with two pairs or more means that not one of them changed (a test
    needs fewer than 2 pairs, or some difference): that reads ``= no change``.
    """
    if verdict is None:
        return _NOT_TESTED
    if verdict is Verdict.INSUFFICIENT_DATA and found_count >= 2:
        return _NO_CHANGE
    return _VERDICTS[verdict]


class Trend(StrEnum):
    """Which way a metric's aggregate moved, read through the metric's direction."""

    BETTER = "better"
    WORSE = "worse"
    SAME = "same"
    CHANGED = "changed"
    """Moved, for a metric that has no better way (direction ``none``, or a string)."""


_TRENDS = {
    Trend.BETTER: Word("▲ better", Tone.BETTER, "the aggregate moved the better way"),
    Trend.WORSE: Word("▼ worse", Tone.WORSE, "the aggregate moved the worse way"),
    Trend.SAME: Word("= same", Tone.SAME, "the aggregate moved no more than the tolerance"),
    Trend.CHANGED: Word("≠ changed", Tone.CHANGED, "changed; no direction to judge it by"),
}


def trend(delta: MetricDelta) -> Trend | None:
    """How the aggregate of a metric moved; None when a run lacks the metric.

    A move within the metric's tolerance (or float rounding) is ``same``. A string metric
    has no aggregate: it is ``changed`` when any datapoint's value changed.
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


def trend_word(value: Trend | None) -> Word:
    """The word for a trend (an em dash when there is none)."""
    if value is None:
        return Word("—", Tone.MUTED, "a run lacks this metric")
    return _TRENDS[value]


#: What each per-datapoint status of a comparison reads as.
STATUS_WORDS: dict[str, Word] = {
    "improved": Word("▲ improved", Tone.BETTER),
    "regressed": Word("▼ regressed", Tone.WORSE),
    "unchanged": Word("= same", Tone.SAME),
    "changed": Word("≠ changed", Tone.CHANGED),
    "new_only": Word("only in this run", Tone.PLAIN),
    "old_only": Word("only in baseline", Tone.PLAIN),
    "missing": Word("no value", Tone.MUTED),
}


def direction_word(direction: Direction, kind: MetricKind) -> str:
    """Which way is better, in words: ``higher is better``, ``lower is better`` or ``—``."""
    if kind is MetricKind.STRING or direction is Direction.NONE:
        return "—"
    return f"{direction.value} is better"
