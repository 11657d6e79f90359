"""Page views: numbers and words straight from the comparison's report."""

from __future__ import annotations

import evalyard
from evalyard.core.report import comparison_report
from evalyard.server.reader import Reader
from evalyard.server.web.aggregates import metric_rows, summary
from evalyard.server.web.query import ExperimentsQuery, RunQuery
from evalyard.server.web.views import experiments_view
from evalyard.store import SQLStore


def _compare(store: SQLStore) -> evalyard.RunComparisonResult:
    with evalyard.start_run("old", store=store) as old:
        for i in range(20):
            old.log(f"d{i}", metrics={"passed": i % 2 == 0, "score": i / 20})
    with evalyard.start_run("new", store=store) as new:
        for i in range(20):
            new.log(f"d{i}", metrics={"passed": i % 3 == 0, "score": i / 19})
    return evalyard.compare_runs(new.run_id, old.run_id, store=store)


def test_metric_rows_carry_the_exact_numbers_and_filter_links(store: SQLStore) -> None:
    result = _compare(store)
    report = comparison_report(result)
    rows = {row.metric: row for row in metric_rows(report, RunQuery(compare="o"), "/runs/n")}
    score = result.metric_deltas["score"]
    assert rows["score"].new.value == repr(score.new_aggregate)
    assert rows["score"].delta.value == repr(score.delta)
    assert rows["score"].improved.count == score.improved_count
    assert "show=improved" in rows["score"].improved.url
    assert "metric=score" in rows["score"].improved.url
    assert rows["passed"].new.text.endswith("%")  # a pass rate


def test_metric_rows_state_the_reports_numbers_and_words(store: SQLStore) -> None:
    result = _compare(store)
    report = comparison_report(result)
    rows = metric_rows(report, RunQuery(compare="o"), "/runs/n")
    for row, line in zip(rows, report.lines, strict=True):
        assert (row.old.text, row.new.text) == (line.baseline, line.new)
        assert row.verdict.text == line.verdict.text
        assert (row.interval, row.p) == (line.interval, line.p_adjusted)
    strip = summary(report)
    assert strip.shared == 20
    assert strip.verdicts == report.verdicts


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
