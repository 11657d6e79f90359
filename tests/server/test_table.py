"""The datapoint table on columns: lining up two runs, filtering, sorting, paging."""

from __future__ import annotations

import numpy as np

from evalyard.core.columns import MetricColumn, ScopeValues
from evalyard.core.model import MetricKind
from evalyard.server.web.table import build_frame, order_rows, page_slice


def _scope(ids: list[str], values: list[float]) -> ScopeValues:
    return ScopeValues(ids, {"m": MetricColumn(MetricKind.NUMBER, np.array(values))})


def test_a_frame_lines_up_both_runs_by_id() -> None:
    frame = build_frame(_scope(["a", "b", "d"], [1, 2, 4]), _scope(["b", "c", "d"], [20, 30, 40]))
    assert frame.ids == ["a", "b", "c", "d"]
    assert frame.new_rows.tolist() == [0, 1, -1, 2]
    assert frame.old_rows.tolist() == [-1, 0, 1, 2]
    assert frame.rows_of(["d", "a", "zzz"]).tolist() == [0, 3]
    assert frame.new_only_rows().tolist() == [0]
    assert frame.old_only_rows().tolist() == [2]
    new = build_frame(_scope(["a"], [1]), None)
    assert new.old_rows.tolist() == [-1]


def test_values_are_missing_where_a_run_lacks_the_datapoint() -> None:
    new = _scope(["a", "b"], [1, 2])
    old = _scope(["b", "c"], [20, 30])
    frame = build_frame(new, old)
    values = frame.values(new.columns["m"])
    assert values[:2].tolist() == [1, 2]
    assert np.isnan(values[2])
    assert np.isnan(frame.values(None)).all()


def test_sorting_puts_missing_values_last_and_keeps_id_order_in_ties() -> None:
    rows = np.arange(5)
    values = np.array([3.0, np.nan, 1.0, 3.0, 2.0])
    up = order_rows(rows, key="value", descending=False, new_values=values, old_values=values)
    down = order_rows(rows, key="value", descending=True, new_values=values, old_values=values)
    assert up.tolist() == [2, 4, 0, 3, 1]
    assert down.tolist() == [0, 3, 4, 2, 1]
    old = np.array([1.0, 1.0, 1.0, 0.0, np.nan])
    by_delta = order_rows(rows, key="delta", descending=True, new_values=values, old_values=old)
    assert by_delta.tolist() == [3, 0, 2, 1, 4]
    assert order_rows(
        rows, key="id", descending=True, new_values=values, old_values=values
    ).tolist() == [4, 3, 2, 1, 0]


def test_categories_sort_as_text() -> None:
    texts = np.array(["b", None, "a"], dtype=object)
    rows = np.arange(3)
    ordered = order_rows(rows, key="value", descending=False, new_values=texts, old_values=texts)
    assert ordered.tolist() == [2, 0, 1]


def test_a_page_past_the_end_shows_the_last() -> None:
    part = page_slice(120, 99)
    assert (part.page, part.page_count, part.start, part.stop) == (3, 3, 100, 120)
    empty = page_slice(0, 1)
    assert (empty.page, empty.page_count, empty.start, empty.stop) == (1, 1, 0, 0)
