"""The join of two runs' datapoint ids behind every comparison, against a plain dict join."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evalyard.core.compare import align
from evalyard.core.idlists import IdColumn, id_texts

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


def _stored(ids: list[str]) -> IdColumn:
    return IdColumn("\n".join(ids).encode("utf-8"), len(ids))


@settings(max_examples=400, deadline=None)
@given(new=_ids, old=_ids, sort_new=st.booleans(), sort_old=st.booleans())
def test_ids_read_from_the_store_align_as_the_same_strings_do(
    new: list[str], old: list[str], sort_new: bool, sort_old: bool
) -> None:
    # A sorted old run takes the binary-search join, an unsorted one the merged sort.
    new = sorted(new) if sort_new else new
    old = sorted(old) if sort_old else old
    sort_them = sort_new and sort_old
    as_text = align(new, old)
    as_bytes = align(_stored(new), _stored(old))
    assert as_bytes.new_rows.tolist() == as_text.new_rows.tolist()
    assert as_bytes.old_rows.tolist() == as_text.old_rows.tolist()
    assert id_texts(as_bytes.new_ids) == new
    assert id_texts(as_bytes.old_ids) == old
    if sort_them:  # the union is of sorted runs, as ScopeValues hold them
        union = as_bytes.union()
        assert union.ids.tolist() == as_text.union().ids.tolist() == sorted({*new, *old})
        assert union.of_new.tolist() == as_text.union().of_new.tolist()


def test_stored_ids_of_different_widths_and_one_side_unpaddable_still_align() -> None:
    old = sorted(f"q{i}" for i in range(100))
    new = sorted([*old[50:], *(f"r{i:04d}" for i in range(10))])
    alignment = align(_stored(new), _stored(old))
    assert id_texts(alignment.new_ids[alignment.new_rows]) == old[50:]
    uneven = sorted(["x" * 400, *old[:20]])
    mixed = align(_stored(uneven), _stored(old))  # one side stays text
    assert mixed.new_rows.tolist() == list(range(20))
    assert mixed.new_ids.tolist() == uneven
    same = align(_stored(old), _stored(list(old)))
    assert same.new_rows.tolist() == same.old_rows.tolist() == list(range(100))


def test_a_comparison_of_stored_ids_equals_one_of_lists() -> None:
    from evalyard.core.columns import MetricColumn, ScopeValues
    from evalyard.core.compare import compare_scopes
    from evalyard.core.model import MetricKind

    rng = np.random.default_rng(3)
    old = sorted(f"dp-{i:05d}" for i in range(0, 3000, 2))
    new = sorted(f"dp-{i:05d}" for i in range(0, 3000, 3))

    def values(ids: Sequence[str]) -> ScopeValues:
        scores = np.round(rng.random(len(ids)), 1)
        labels = np.array([f"L{int(s * 3)}" for s in scores], dtype=object)
        columns = {
            "score": MetricColumn(MetricKind.NUMBER, scores),
            "label": MetricColumn(MetricKind.STRING, labels),
        }
        return ScopeValues(ids, columns, 1)

    new_values, old_values = values(new), values(old)
    as_text = compare_scopes(new_values, old_values, definitions={})
    stored_new = ScopeValues(_stored(new), new_values.columns, 1)
    stored_old = ScopeValues(_stored(old), old_values.columns, 1)
    as_bytes = compare_scopes(stored_new, stored_old, definitions={})
    assert as_bytes.common_datapoints == as_text.common_datapoints
    assert as_bytes.new_only_datapoints == as_text.new_only_datapoints
    assert as_bytes.old_only_datapoints == as_text.old_only_datapoints
    for name, delta in as_text.metric_deltas.items():
        found = as_bytes.metric_deltas[name]
        assert found.to_dict() == delta.to_dict()
        assert all(type(change.datapoint_id) is str for change in found.top_improved)
    assert as_bytes.metric_deltas["score"].top_improved


def test_the_largest_changes_break_ties_by_id_at_every_size() -> None:
    from evalyard.core.columns import MetricColumn, ScopeValues
    from evalyard.core.compare import TOP_CHANGES, compare_scopes
    from evalyard.core.model import MetricKind

    for size in (12, 995, 20_000):
        ids = [f"id{i:05d}" for i in range(size)]
        old = np.zeros(size)
        new = np.full(size, 0.25)  # every datapoint improved by the same amount
        new[size // 2] = 1.0  # but one, by more
        found = compare_scopes(
            ScopeValues(_stored(ids), {"score": MetricColumn(MetricKind.NUMBER, new)}, 1),
            ScopeValues(_stored(ids), {"score": MetricColumn(MetricKind.NUMBER, old)}, 1),
            definitions={},
        )
        top = [change.datapoint_id for change in found.metric_deltas["score"].top_improved]
        others = [i for i in ids if i != ids[size // 2]]
        assert top == [ids[size // 2], *others[: TOP_CHANGES - 1]]
