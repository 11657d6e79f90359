"""Page views: numbers straight from the comparison, statistics shown when present."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import evalyard
from evalyard.server.aggregates import has_statistics, metric_rows, summary
from evalyard.server.query import ExperimentsQuery, RunQuery
from evalyard.server.reader import Reader
from evalyard.server.viewmodels import experiments_view
from evalyard.store import SQLStore


def _compare(store: SQLStore) -> evalyard.RunComparisonResult:
    with evalyard.start_run("old", store=store) as old:
        for i in range(20):
            old.log(f"d{i}", metrics={"passed": i % 2 == 0, "score": i / 20})
    with evalyard.start_run("new", store=store) as new:
        for i in range(20):
            new.log(f"d{i}", metrics={"passed": i % 3 == 0, "score": i / 19})
    return evalyard.compare_runs(new.run_id, old.run_id, store=store)


def _without_statistics(result: Any) -> Any:
    """The comparison as an evalyard without the statistics fields would give it."""
    plain = (
        "metric",
        "step",
        "kind",
        "direction",
        "tolerance",
        "aggregate_function",
        "old_aggregate",
        "new_aggregate",
        "delta",
        "percent_change",
        "old_count",
        "new_count",
        "found_count",
        "improved_count",
        "degraded_count",
        "same_count",
        "changed_count",
        "improved",
        "degraded",
        "same",
        "changed",
    )
    deltas = {
        name: SimpleNamespace(**{f: getattr(d, f) for f in plain})
        for name, d in result.metric_deltas.items()
    }
    return SimpleNamespace(
        metric_deltas=deltas,
        common_datapoints=result.common_datapoints,
        new_only_datapoints=result.new_only_datapoints,
        old_only_datapoints=result.old_only_datapoints,
        list_improved_metrics=lambda: [n for n, d in deltas.items() if d.improved_count],
        list_degraded_metrics=lambda: [n for n, d in deltas.items() if d.degraded_count],
    )


def test_metric_rows_carry_the_exact_numbers_and_filter_links(store: SQLStore) -> None:
    result = _compare(store)
    rows = {row.metric: row for row in metric_rows(result, RunQuery(compare="o"), "/runs/n")}
    score = result.metric_deltas["score"]
    assert rows["score"].new.value == repr(score.new_aggregate)
    assert rows["score"].delta.value == repr(score.delta)
    assert rows["score"].improved.count == score.improved_count
    assert "show=improved" in rows["score"].improved.url
    assert "metric=score" in rows["score"].improved.url
    assert rows["passed"].new.text.endswith("%")  # a pass rate


def test_statistics_are_shown_when_the_comparison_has_them(store: SQLStore) -> None:
    result = _compare(store)
    fields = {f.name for f in dataclasses.fields(next(iter(result.metric_deltas.values())))}
    rows = metric_rows(result, RunQuery(compare="o"), "/runs/n")
    if "verdict" in fields:
        assert has_statistics(result)
        assert all(row.change.text for row in rows)
        assert any("p" in row.stats for row in rows)
    plain = _without_statistics(result)
    assert not has_statistics(plain)
    fallback = metric_rows(plain, RunQuery(compare="o"), "/runs/n")
    assert all(row.stats == {} for row in fallback)
    assert {row.change.text for row in fallback} <= {"▲ better", "▼ worse", "= no change", "—"}
    strip = summary(plain)
    assert not strip.by_verdict
    assert strip.shared == 20


def test_experiments_shows_up_to_three_key_metrics_most_common_first(store: SQLStore) -> None:
    for name, metrics in (
        ("a", {"x": 1, "y": 2, "z": 3, "w": 4}),
        ("b", {"y": 1, "z": 2}),
        ("c", {"z": 1}),
    ):
        with evalyard.start_run(name, store=store) as run:
            run.log("d", metrics=metrics)
    reader = Reader(store)
    view = experiments_view(
        store.list_runs(),
        ExperimentsQuery(),
        projects=["default"],
        summary_of=reader.summary,
        any_runs=True,
    )
    assert view.metrics == ["z", "y", "w"]
    assert [row.header.name for row in view.rows] == ["c", "b", "a"]
