"""The renderers and value formats of the CLI, on values built in the test (no store)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evalyard.cli.formatting import (
    Trend,
    excerpt,
    format_delta,
    format_number,
    format_percent,
    markdown_escape,
    trend,
)
from evalyard.cli.render import (
    comparison_json,
    comparison_markdown,
    comparison_table,
    render_text,
    runs_table,
)
from evalyard.core.compare import MetricDelta, RunComparisonResult
from evalyard.core.model import Direction, MetricKind, RunInfo, RunStatus


def delta(metric: str = "accuracy", **fields: Any) -> MetricDelta:
    values: dict[str, Any] = {
        "metric": metric,
        "step": None,
        "kind": MetricKind.NUMBER,
        "direction": Direction.HIGHER,
        "tolerance": 0.0,
        "aggregate_function": "average",
        "old_aggregate": 0.5,
        "new_aggregate": 0.75,
        "delta": 0.25,
        "percent_change": 50.0,
        "old_count": 2,
        "new_count": 2,
        "found_count": 2,
        "improved_count": 1,
        "degraded_count": 0,
        "same_count": 1,
        "changed_count": 0,
        "improved": ["q1"],
        "degraded": [],
        "same": ["q2"],
        "changed": [],
    }
    values.update(fields)
    return MetricDelta(**values)


def run_info(name: str, run_id: str, **metadata: Any) -> RunInfo:
    return RunInfo(
        run_id=run_id,
        name=name,
        project="default",
        status=RunStatus.COMPLETED,
        created_at=1_700_000_000.0,
        finished_at=1_700_000_060.0,
        dataset="qa",
        metadata=metadata,
        result_count=2,
        datapoint_count=2,
    )


def comparison(*deltas: MetricDelta) -> RunComparisonResult:
    return RunComparisonResult(
        new_run_id="n" * 32,
        old_run_id="o" * 32,
        step=None,
        aggregate_function="average",
        common_datapoints=["q1", "q2"],
        new_only_datapoints=[],
        old_only_datapoints=["q3"],
        metric_deltas={d.metric: d for d in deltas},
        steps=[],
        new_run=run_info("new", "n" * 32, model="large"),
        old_run=run_info("old", "o" * 32, model="small"),
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "–"),
        (0.0, "0"),
        (0.425, "0.425"),
        (2.0, "2"),
        (0.123456, "0.1235"),
        (1234.56, "1235"),
        (123456.7, "123,457"),
        (-0.5, "-0.5"),
    ],
)
def test_numbers_have_four_significant_digits(value: float | None, text: str) -> None:
    assert format_number(value) == text


def test_deltas_and_percentages_carry_a_sign() -> None:
    assert format_delta(0.25) == "+0.25"
    assert format_delta(-12.0) == "-12"
    assert format_delta(None) == "–"
    # A difference within float rounding of the aggregates is no change.
    assert format_delta(1e-17, reference=0.3) == "0"
    assert format_percent(39.4736) == "+39.5%"
    assert format_percent(-5.0) == "-5.0%"
    assert format_percent(None) == "–"


def test_excerpts_are_one_line_and_cut() -> None:
    assert excerpt("a\nb\tc") == "a b c"
    assert excerpt({"q": "x"}) == '{"q":"x"}'
    assert excerpt("x" * 100, width=10) == "x" * 9 + "…"
    assert excerpt("\x1b[31mred") == "\\x1b[31mred"
    assert excerpt(None) == "–"


def test_markdown_escape_keeps_user_text_inside_its_cell() -> None:
    assert markdown_escape("a|b\nc") == "a\\|b c"
    assert markdown_escape("*bold* _it_ `code`") == "\\*bold\\* \\_it\\_ \\`code\\`"
    assert markdown_escape("<script>&") == "&lt;script&gt;&amp;"


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
def test_trend_reads_the_aggregate_through_the_direction(
    fields: dict[str, Any], expected: Trend | None
) -> None:
    assert trend(delta(**fields)) == expected


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
    assert "(lower is better for latency_ms)" in text
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
        "label", "–", "–", "–", "≠", "changed", "–", "–", "not", "tested", "0", "0", "1", "1",
    ]  # fmt: skip


def test_comparison_markdown_rows() -> None:
    text = comparison_markdown(comparison(delta("accuracy"), delta("f1", degraded_count=2)))
    assert "| accuracy | 0.5 | 0.75 | +0.25 | +50.0% | ▲ better | – | – | " in text
    assert "| f1 | 0.5 | 0.75 | +0.25 | +50.0% | ▲ better | – | – | " in text
    assert "| 1 | **2** | 1 |" in text
    assert "**Metadata:** model: small → large" in text
    assert text.endswith("\n")


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
