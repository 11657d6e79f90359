"""The join of two runs' datapoint ids behind every comparison, against a plain dict join."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evalyard.core.compare import align

_ids = st.lists(
    st.text(alphabet="abq0129é\u0301-_ ", min_size=0, max_size=6), unique=True, max_size=40
)


def _dict_join(new: list[str], old: list[str]) -> tuple[list[int], list[int]]:
    index = dict(zip(old, range(len(old)), strict=True))
    match = [index.get(i, -1) for i in new]
    rows = [row for row, found in enumerate(match) if found >= 0]
    return rows, [match[row] for row in rows]


@settings(max_examples=300, deadline=None)
@given(new=_ids, old=_ids, sort_them=st.booleans())
def test_align_matches_every_shared_id_once_in_the_new_run_s_order(
    new: list[str], old: list[str], sort_them: bool
) -> None:
    if sort_them:
        new, old = sorted(new), sorted(old)
    alignment = align(new, old)
    rows, old_rows = _dict_join(new, old)
    assert alignment.new_rows.tolist() == rows
    assert alignment.old_rows.tolist() == old_rows
    assert alignment.new_ids.tolist() == new
    assert alignment.old_ids.tolist() == old
    assert alignment.new_rows.dtype == alignment.old_rows.dtype == np.int64


def test_align_of_large_sorted_runs_sharing_most_ids() -> None:
    every = sorted(f"dp-{i:06d}-{(i * 7919) % 1000:03d}" for i in range(20_000))
    old, new = every[:19_000], every[1_000:]
    alignment = align(new, old)
    assert alignment.new_rows.tolist() == list(range(18_000))
    assert alignment.old_rows.tolist() == list(range(1_000, 19_000))
    assert list(itertools.islice(alignment.new_ids[alignment.new_rows], 2)) == every[1_000:1_002]


def test_a_comparison_s_id_lists_are_plain_lists_in_its_dict() -> None:
    from evalyard.core.columns import MetricColumn, ScopeValues
    from evalyard.core.compare import compare_scopes
    from evalyard.core.model import MetricKind

    def values(ids: list[str], scores: list[float]) -> ScopeValues:
        column = MetricColumn(MetricKind.NUMBER, np.array(scores))
        return ScopeValues(ids, {"score": column}, 1)

    found = compare_scopes(
        values(["a", "b", "c"], [1.0, 0.0, 0.5]),
        values(["a", "b", "d"], [0.0, 0.0, 1.0]),
        definitions={},
    )
    delta = found.metric_deltas["score"]
    assert (delta.improved, delta.same, delta.degraded) == (["a"], ["b"], [])
    data = delta.to_dict()
    assert type(data["improved"]) is list
    assert type(data["same"]) is list
    assert data["improved"] == ["a"]


def test_align_of_runs_of_the_same_datapoints() -> None:
    ids = [f"q{i}" for i in range(10)]
    alignment = align(ids, list(ids))
    assert alignment.new_rows.tolist() == alignment.old_rows.tolist() == list(range(10))
    assert alignment.new_ids.tolist() == alignment.old_ids.tolist() == ids
