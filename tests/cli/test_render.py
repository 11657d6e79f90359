"""The CLI's renderers on comparisons built in the test (no store): the terminal table at
any width, Markdown and JSON."""

from __future__ import annotations

import dataclasses
import json

from evalyard.cli.render import (
    comparison_json,
    comparison_markdown,
    comparison_table,
    render_text,
    runs_table,
)
from evalyard.cli.text import excerpt, markdown_escape
from evalyard.core.compare import DatapointChange
from evalyard.core.model import Direction, MetricKind
from tests.core.deltas import comparison, delta, run_info


def test_excerpts_are_one_line_and_cut() -> None:
    assert excerpt("a\nb\tc") == "a b c"
    assert excerpt({"q": "x"}) == '{"q":"x"}'
    assert excerpt("x" * 100, width=10) == "x" * 9 + "…"
    assert excerpt("\x1b[31mred") == "\\x1b[31mred"
    assert excerpt(None) == "—"


def test_markdown_escape_keeps_user_text_inside_its_cell() -> None:
    assert markdown_escape("a|b\nc") == "a\\|b c"
    assert markdown_escape("*bold* _it_ `code`") == "\\*bold\\* \\_it\\_ \\`code\\`"
    assert markdown_escape("<script>&") == "&lt;script&gt;&amp;"


def test_comparison_table_marks_changes_in_words_as_well_as_colour() -> None:
    text = render_text(
        comparison_table(
            comparison(
                delta("accuracy"),
                delta("latency_ms", direction=Direction.LOWER, improved_count=0, degraded_count=1),
            )
        )
    )
    lines = text.splitlines()
    assert any(line.startswith("accuracy") and "▲ better" in line for line in lines)
    assert any(line.startswith("latency_ms") and "▼ worse" in line for line in lines)
    assert "lower is better for latency_ms" in text
    assert "2 shared · 0 only in this run · 1 only in the baseline" in text
    assert "changed" not in text.split("metric", 1)[1].splitlines()[0]


def test_comparison_table_shows_changed_for_metrics_without_direction() -> None:
    label = delta(
        "label",
        kind=MetricKind.STRING,
        direction=Direction.NONE,
        old_aggregate=None,
        new_aggregate=None,
        delta=None,
        percent_change=None,
        improved_count=0,
        same_count=1,
        changed_count=1,
    )
    lines = render_text(comparison_table(comparison(label))).splitlines()
    header = next(line for line in lines if line.startswith("metric"))
    assert header.split()[-1] == "changed"
    row = next(line for line in lines if line.startswith("label"))
    assert row.split() == [
        "label", "—", "—", "—", "≠", "changed", "—", "—", "not", "tested", "0", "0", "1", "1",
    ]  # fmt: skip


def test_comparison_table_fits_80_columns_and_says_what_it_left_out() -> None:
    compared = comparison(
        delta("accuracy", kind=MetricKind.BOOL, mean_diff=0.25, ci_low=-0.1, ci_high=0.6),
        delta("a_rather_long_metric_name", p_adjusted=0.0123),
    )
    wide = render_text(comparison_table(compared, width=200), width=200)
    narrow = render_text(comparison_table(compared, width=80), width=80)
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert "left out to fit 80 columns:" in narrow
    assert "left out" not in wide
    for line in narrow.splitlines():
        if line.startswith("accuracy"):
            # The most needed columns stay: both aggregates, the change and the verdict.
            assert line.split()[1:5] == ["50.0%", "75.0%", "+25.0", "pp"]


def test_comparison_markdown_rows() -> None:
    text = comparison_markdown(comparison(delta("accuracy"), delta("f1", degraded_count=2)))
    assert "| accuracy | 0.5 | 0.75 | +0.25 | +50.0% | ▲ better | — | — | " in text
    assert "| f1 | 0.5 | 0.75 | +0.25 | +50.0% | ▲ better | — | — | " in text
    assert "| 1 | **2** | 1 |" in text
    assert "**Metadata:** model: small → large" in text
    assert text.endswith("\n")


def test_comparison_markdown_lists_the_datapoints_that_regressed_most() -> None:
    worst = [DatapointChange(f"q{i}", 1.0, 1.0 - i / 20) for i in range(10, 0, -1)]
    text = comparison_markdown(
        comparison(delta("score", degraded_count=14, degraded=[], top_degraded=worst))
    )
    section = text.split("#### Regressed datapoints", 1)[1]
    assert "**score**: 14 got worse; the 10 that moved most:" in section
    assert section.index("| q10 | 1 | 0.5 | \u22120.5 |") < section.index("| q1 | 1 | 0.95 |")
    assert "…and 4 more." in section


def test_comparison_without_metrics_says_so() -> None:
    assert "Neither run has metrics" in render_text(comparison_table(comparison()))
    assert "Neither run has metrics" in comparison_markdown(comparison())


def test_comparison_json_is_to_dict() -> None:
    compared = comparison(delta())
    assert json.loads(comparison_json(compared)) == compared.to_dict()


def test_runs_table_prints_user_text_literally() -> None:
    text = render_text(runs_table([run_info("[red]x[/red]", "abcdef0123456789")]))
    assert "[red]x[/red]" in text
    assert "abcdef01" in text


def test_the_interval_column_names_the_confidence_asked_for() -> None:
    compared = comparison(delta(mean_diff=0.25, ci_low=0.1, ci_high=0.4))
    wider = dataclasses.replace(compared, alpha=0.01)
    assert "mean diff [95% CI]" in render_text(comparison_table(compared))
    assert "mean diff [99% CI]" in render_text(comparison_table(wider))
    assert "| mean diff [99% CI] |" in comparison_markdown(wider)
