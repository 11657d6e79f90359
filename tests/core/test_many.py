"""The comparison of many runs as properties, checked against plain computations: the join
of their ids, the family-wide Holm adjustment, the ranks, the grid and the matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalyard.core.compare import align, compare_scopes
from evalyard.core.grid import NO_RUN
from evalyard.core.leaderboard import rank
from evalyard.core.many import compare_many_values
from evalyard.core.model import Direction, MetricDefinition, RunInfo, RunStatus
from evalyard.core.stats import Verdict, holm
from evalyard.core.union import datapoint_union
from evalyard.errors import InvalidInputError
from tests.core.test_compare import _scope, runs

IDS = st.lists(st.sets(st.sampled_from([f"d{i}" for i in range(15)])), min_size=1, max_size=5)
DEFINITIONS = {"score": MetricDefinition("score", Direction.LOWER)}


def _info(i: int) -> RunInfo:
    return RunInfo(f"run-{i}", f"run {i}", "default", RunStatus.COMPLETED, 0.0)


def _many(scopes: list[dict[str, dict[str, Any]]], **options: Any) -> Any:
    infos = [_info(i) for i in range(len(scopes))]
    return compare_many_values(
        infos[1:],
        baseline=infos[0],
        values={info.run_id: _scope(run) for info, run in zip(infos, scopes, strict=True)},
        definitions=DEFINITIONS,
        steps=[],
        **options,
    )


@settings(max_examples=100, deadline=None)
@given(IDS)
def test_the_union_joins_every_run_once(id_sets: list[set[str]]) -> None:
    ids = [sorted(found) for found in id_sets]
    union = datapoint_union(ids)
    assert union.ids.tolist() == sorted(set().union(*id_sets))
    for run, own in enumerate(ids):
        assert union.ids[union.positions[run]].tolist() == own
        present = union.rows[run] != NO_RUN
        assert present.sum() == len(own)
        assert union.rows[run][union.positions[run]].tolist() == list(range(len(own)))
        for other in range(len(ids)):
            ours, theirs = union.alignment(run, other), align(own, ids[other])
            assert ours.new_ids.tolist() == theirs.new_ids.tolist()
            assert ours.old_ids.tolist() == theirs.old_ids.tolist()
            assert ours.new_rows.tolist() == theirs.new_rows.tolist()
            assert ours.old_rows.tolist() == theirs.old_rows.tolist()


def test_runs_with_the_baseline_s_ids_join_without_lookups() -> None:
    ids = ["a", "b", "c"]
    union = datapoint_union([ids, list(ids), ["a", "c", "d"], list(ids)])
    assert union.ids.tolist() == ["a", "b", "c", "d"]
    assert [rows.tolist() for rows in union.rows] == [
        [0, 1, 2, -1],
        [0, 1, 2, -1],
        [0, -1, 1, 2],
        [0, 1, 2, -1],
    ]
    assert union.alignment(3, 2).new_rows.tolist() == [0, 2]


@settings(max_examples=60, deadline=None)
@given(st.lists(runs(), min_size=2, max_size=4))
def test_each_run_is_compared_as_two_runs_are_then_judged_as_one_family(
    scopes: list[dict[str, dict[str, Any]]],
) -> None:
    many = _many(scopes)
    family = []
    for i, run in enumerate(scopes[1:], start=1):
        alone = compare_scopes(_scope(run), _scope(scopes[0]), definitions=DEFINITIONS)
        ours = many.comparisons[f"run-{i}"]
        assert ours.common_datapoints == alone.common_datapoints
        for name, expected in alone.metric_deltas.items():
            got = ours.metric_deltas[name]
            assert (got.new_aggregate, got.old_aggregate) == (
                expected.new_aggregate,
                expected.old_aggregate,
            )
            assert (got.mean_diff, got.p_value) == (expected.mean_diff, expected.p_value)
            assert (got.improved, got.degraded) == (expected.improved, expected.degraded)
            if expected.p_value is not None:
                family.append((got, expected))
    adjusted = holm([alone.p_value for _, alone in family])
    assert many.family_size == len(family)
    for (got, alone), p_adjusted in zip(family, adjusted, strict=True):
        assert got.p_adjusted == p_adjusted
        # More tests never make a verdict less strict.
        assert got.p_adjusted >= alone.p_adjusted
        if got.verdict in (Verdict.IMPROVED, Verdict.REGRESSED):
            assert alone.verdict is got.verdict


@settings(max_examples=60, deadline=None)
@given(st.lists(runs(), min_size=2, max_size=4))
def test_the_matrix_mirrors_and_the_grid_marks_the_extremes(
    scopes: list[dict[str, dict[str, Any]]],
) -> None:
    many = _many(scopes)
    if "score" not in many.leaderboards:
        return
    matrix = many.matrix("score")
    k = len(scopes)
    for row in range(k):
        for column in range(k):
            a, b = matrix.mean_diff[row, column], matrix.mean_diff[column, row]
            assert (np.isnan(a) and np.isnan(b)) or a == -b
            assert matrix.pairs[row, column] == matrix.pairs[column, row]
    grid = many.grid("score")
    for row, values in enumerate(grid.values.tolist()):
        present = [(v, c) for c, v in enumerate(values) if v == v]
        if len(present) < 2 or len({v for v, _ in present}) == 1:
            assert grid.best[row] == grid.worst[row] == NO_RUN
        else:  # lower is better for "score" here
            assert grid.best[row] == min(present, key=lambda vc: (vc[0], vc[1]))[1]
            assert grid.worst[row] == max(present, key=lambda vc: (vc[0], -vc[1]))[1]


@pytest.mark.parametrize(
    ("values", "direction", "expected"),
    [
        ([0.7, 0.9, 0.7, None], Direction.HIGHER, [2, 1, 2, None]),
        ([0.7, 0.9, 0.7, None], Direction.LOWER, [1, 3, 1, None]),
        ([3.0, 2.0, 1.0, 1.0], Direction.HIGHER, [1, 2, 3, 3]),
        ([0.1 + 0.2, 0.3, 0.5], Direction.HIGHER, [2, 2, 1]),  # float rounding ties
        ([1.0, 2.0], Direction.NONE, [None, None]),
        ([], Direction.HIGHER, []),
    ],
)
def test_rank_is_competition_ranking(
    values: list[float | None], direction: Direction, expected: list[int | None]
) -> None:
    assert rank(values, direction) == expected


def test_compare_many_values_needs_runs_and_their_values() -> None:
    run = {"d1": {"score": 1.0, "passed": True, "label": "a"}}
    with pytest.raises(InvalidInputError, match="at least one run"):
        compare_many_values(
            [], baseline=_info(0), values={"run-0": _scope(run)}, definitions={}, steps=[]
        )
    with pytest.raises(InvalidInputError, match="no values were given for the runs"):
        compare_many_values(
            [_info(1)], baseline=_info(0), values={"run-0": _scope(run)}, definitions={}, steps=[]
        )


def test_only_the_baseline_listed_leaves_nothing_to_compare() -> None:
    run = {"d1": {"score": 1.0, "passed": True, "label": "a"}}
    many = compare_many_values(
        [_info(0)], baseline=_info(0), values={"run-0": _scope(run)}, definitions={}, steps=[]
    )
    assert many.run_ids == []
    assert many.family_size == 0
    assert [s.run_id for s in many.get_leaderboard("score").standings] == ["run-0"]
    assert many.warnings == [
        "the baseline 'run 0' is also listed among the runs; it is the baseline only "
        "(a run compared with itself says nothing)"
    ]
