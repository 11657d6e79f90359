"""Verdicts, trends and datapoint statuses in words, with a tone besides the colour."""

from __future__ import annotations

from typing import Any

import pytest

from evalyard.core.model import Direction, MetricKind
from evalyard.core.stats import Verdict
from evalyard.core.words import Tone, Trend, trend, trend_word, verdict_word
from tests.core.deltas import delta


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, Trend.BETTER),
        ({"delta": -0.25, "new_aggregate": 0.25}, Trend.WORSE),
        ({"direction": Direction.LOWER}, Trend.WORSE),
        ({"direction": Direction.LOWER, "delta": -0.25, "new_aggregate": 0.25}, Trend.BETTER),
        ({"tolerance": 0.3}, Trend.SAME),
        ({"direction": Direction.NONE}, Trend.CHANGED),
        ({"delta": 0.0, "new_aggregate": 0.5}, Trend.SAME),
        ({"new_aggregate": None, "delta": None}, None),
        (
            {
                "kind": MetricKind.STRING,
                "direction": Direction.NONE,
                "old_aggregate": None,
                "new_aggregate": None,
                "delta": None,
                "changed_count": 1,
            },
            Trend.CHANGED,
        ),
    ],
)
def test_trend_reads_the_aggregate_through_the_direction_and_tolerance(
    fields: dict[str, Any], expected: Trend | None
) -> None:
    assert trend(delta(**fields)) == expected


def test_every_verdict_has_a_word_with_a_symbol_and_a_tone() -> None:
    words = {v: verdict_word(v, found_count=1) for v in Verdict}
    assert words[Verdict.IMPROVED].text == "▲ improved"
    assert words[Verdict.IMPROVED].tone is Tone.BETTER
    assert words[Verdict.REGRESSED].text == "▼ regressed"
    assert words[Verdict.REGRESSED].tone is Tone.WORSE
    assert words[Verdict.INCONCLUSIVE].text == "≈ inconclusive"
    assert words[Verdict.INSUFFICIENT_DATA].text == "insufficient data"
    assert verdict_word(None, found_count=10).text == "not tested"


def test_insufficient_data_with_enough_pairs_means_nothing_changed() -> None:
    assert verdict_word(Verdict.INSUFFICIENT_DATA, found_count=50).text == "= no change"


def test_a_missing_trend_is_a_muted_dash() -> None:
    word = trend_word(None)
    assert (word.text, word.tone) == ("—", Tone.MUTED)
