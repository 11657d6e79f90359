"""A comparison written out once: the report's lines, summary(), the notebook view, pandas."""

from __future__ import annotations

from evalyard.core.compare import DatapointChange
from evalyard.core.model import Direction, MetricKind
from evalyard.core.report import comparison_report, report_html
from evalyard.core.stats import Verdict
from tests.core.deltas import comparison, delta


def _compared() -> object:
    return comparison(
        delta(
            "accuracy",
            kind=MetricKind.BOOL,
            mean_diff=0.25,
            ci_low=-0.1,
            ci_high=0.6,
            p_adjusted=0.41,
            verdict=Verdict.INCONCLUSIVE,
        ),
        delta(
            "latency_ms",
            direction=Direction.LOWER,
            old_aggregate=300.0,
            new_aggregate=200.0,
            delta=-100.0,
            percent_change=-33.3,
            improved_count=0,
            degraded_count=1,
            verdict=Verdict.IMPROVED,
            p_adjusted=0.0004,
            top_degraded=[DatapointChange("q2", 100.0, 150.0)],
        ),
    )


def test_lines_write_every_number_and_word_once() -> None:
    report = comparison_report(_compared())  # type: ignore[arg-type]
    accuracy, latency = report.lines
    assert (accuracy.baseline, accuracy.new, accuracy.difference) == ("50.0%", "75.0%", "+25.0 pp")
    assert accuracy.interval == "+25.0 pp [\u221210.0, +60.0]"
    assert accuracy.verdict.text == "≈ inconclusive"
    assert (latency.difference_with_percent, latency.p_adjusted) == (
        "\u2212100 (\u221233.3%)",
        "<0.001",
    )
    assert latency.trend.text == "▲ better"
    assert report.notes == ["lower is better for latency_ms"]
    assert [(r.metric, r.count, r.top[0].datapoint_id) for r in report.regressions] == [
        ("latency_ms", 1, "q2")
    ]


def test_summary_repr_and_notebook_view() -> None:
    compared = _compared()
    text = compared.summary()  # type: ignore[attr-defined]
    assert text.splitlines()[0] == "new (nnnnnnnn) vs baseline old (oooooooo)"
    assert "latency_ms" in text
    assert "▲ improved (p <0.001)" in text
    assert repr(compared) == (
        "<RunComparisonResult 'new' vs 'old': 2 shared datapoints, 2 metrics "
        "(1 improved, 0 regressed, 1 inconclusive)>"
    )
    html = compared._repr_html_()  # type: ignore[attr-defined]
    assert "<td>latency_ms</td>" in html
    assert "<td>≈ inconclusive</td>" in html


def test_the_notebook_view_escapes_names() -> None:
    report = comparison_report(comparison(delta("<img src=x onerror=alert(1)>")))
    html = report_html(report)
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_to_pandas_has_one_row_per_metric() -> None:
    frame = _compared().to_pandas()  # type: ignore[attr-defined]
    assert list(frame.index) == ["accuracy", "latency_ms"]
    assert frame.loc["latency_ms", "verdict"] == "improved"
    assert frame.loc["accuracy", "new_aggregate"] == 0.75
