"""The comparison rules of comparison.md §2 as properties, checked against a plain computation."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalyard.core import compare as compare_module
from evalyard.core import stats as stats_module
from evalyard.core.columns import MetricColumn, ScopeValues
from evalyard.core.compare import compare_scopes
from evalyard.core.idlists import IdColumn
from evalyard.core.model import Direction, MetricDefinition, MetricKind

IDS = [f"d{i:02d}" for i in range(12)]
# Values on a grid of quarters: differences are exact, so the rules can be checked exactly.
NUMBERS = st.one_of(st.none(), st.integers(-8, 8).map(lambda v: v / 4))
BOOLS = st.one_of(st.none(), st.booleans())
LABELS = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))


@st.composite
def runs(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """One run: {datapoint id: {metric: value}} over a random subset of IDS."""
    ids = draw(st.sets(st.sampled_from(IDS), max_size=len(IDS)))
    run: dict[str, dict[str, Any]] = {}
    for datapoint_id in sorted(ids):
        run[datapoint_id] = {
            "score": draw(NUMBERS),
            "passed": draw(BOOLS),
            "label": draw(LABELS),
        }
    return run


def _scope(run: dict[str, dict[str, Any]]) -> ScopeValues:
    ids = sorted(run)
    columns = {}
    for name, kind in (
        ("score", MetricKind.NUMBER),
        ("passed", MetricKind.BOOL),
        ("label", MetricKind.STRING),
    ):
        values = [run[i][name] for i in ids]
        if all(v is None for v in values):
            continue
        if kind is MetricKind.STRING:
            columns[name] = MetricColumn(kind, np.array(values, dtype=object))
        else:
            array = np.array([np.nan if v is None else float(v) for v in values])
            columns[name] = MetricColumn(kind, array)
    return ScopeValues(ids, columns)


DEFINITIONS = st.fixed_dictionaries(
    {
        "score": st.builds(
            MetricDefinition,
            st.just("score"),
            st.sampled_from(list(Direction)),
            st.sampled_from([0.0, 0.25, 1.0]),
        )
    }
)


@settings(max_examples=300, deadline=None)
@given(runs(), runs(), DEFINITIONS, st.sampled_from(["average", "median", "p90", "sum"]))
def test_comparison_follows_the_rules(
    new: dict[str, dict[str, Any]],
    old: dict[str, dict[str, Any]],
    definitions: dict[str, MetricDefinition],
    function: str,
) -> None:
    found = compare_scopes(
        _scope(new), _scope(old), definitions=definitions, aggregate_function=function
    )
    assert found.common_datapoints == sorted(set(new) & set(old))
    assert found.new_only_datapoints == sorted(set(new) - set(old))
    assert found.old_only_datapoints == sorted(set(old) - set(new))
    for name, delta in found.metric_deltas.items():
        new_values = {i: v[name] for i, v in new.items() if v[name] is not None}
        old_values = {i: v[name] for i, v in old.items() if v[name] is not None}
        assert delta.new_count == len(new_values)
        assert delta.old_count == len(old_values)
        both = sorted(set(new_values) & set(old_values))
        assert delta.found_count == len(both)
        assert (
            delta.improved_count + delta.degraded_count + delta.same_count + delta.changed_count
            == delta.found_count
        )
        assert sorted(delta.improved + delta.degraded + delta.same + delta.changed) == both
        for ids in (delta.improved, delta.degraded, delta.same, delta.changed):
            assert ids == sorted(ids)
        if name == "label":
            assert delta.direction is Direction.NONE
            assert delta.same == [i for i in both if new_values[i] == old_values[i]]
            assert delta.new_aggregate is None
            continue
        expected_new = _plain_aggregate([float(v) for v in new_values.values()], function)
        expected_old = _plain_aggregate([float(v) for v in old_values.values()], function)
        assert delta.new_aggregate == pytest.approx(expected_new)
        assert delta.old_aggregate == pytest.approx(expected_old)
        definition = definitions.get(name)
        direction = definition.direction if definition else Direction.HIGHER
        tolerance = definition.tolerance if definition else 0.0
        diffs = {i: float(new_values[i]) - float(old_values[i]) for i in both}
        if direction is Direction.NONE:
            assert delta.same == [i for i in both if diffs[i] == 0]
            assert delta.improved == delta.degraded == []
            continue
        sign = 1 if direction is Direction.HIGHER else -1
        assert delta.improved == [i for i in both if sign * diffs[i] > tolerance]
        assert delta.degraded == [i for i in both if sign * diffs[i] < -tolerance]


def _plain_aggregate(values: list[float], function: str) -> float | None:
    if not values:
        return None
    if function == "average":
        return sum(values) / len(values)
    if function == "sum":
        return sum(values)
    ordered = sorted(values)
    rank = {"median": 0.5, "p90": 0.9}[function] * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@settings(max_examples=200, deadline=None)
@given(runs(), runs())
def test_swapping_runs_swaps_improved_and_degraded(
    new: dict[str, dict[str, Any]], old: dict[str, dict[str, Any]]
) -> None:
    forward = compare_scopes(_scope(new), _scope(old), definitions={})
    backward = compare_scopes(_scope(old), _scope(new), definitions={})
    assert forward.new_only_datapoints == backward.old_only_datapoints
    assert forward.old_only_datapoints == backward.new_only_datapoints
    for name, delta in forward.metric_deltas.items():
        other = backward.metric_deltas[name]
        assert delta.improved == other.degraded
        assert delta.degraded == other.improved
        assert delta.same == other.same


@settings(max_examples=100, deadline=None)
@given(runs())
def test_a_run_compared_with_itself_is_all_same(run: dict[str, dict[str, Any]]) -> None:
    found = compare_scopes(_scope(run), _scope(run), definitions={})
    assert found.new_only_datapoints == found.old_only_datapoints == []
    for delta in found.metric_deltas.values():
        assert delta.same_count == delta.found_count
        assert delta.delta in (None, 0.0)


def test_percent_change_and_one_sided_metrics() -> None:
    new = ScopeValues(["a", "b"], {"m": MetricColumn(MetricKind.NUMBER, np.array([2.0, 4.0]))})
    old = ScopeValues(
        ["a", "b"],
        {
            "m": MetricColumn(MetricKind.NUMBER, np.array([1.0, 3.0])),
            "gone": MetricColumn(MetricKind.NUMBER, np.array([0.0, 0.0])),
        },
    )
    found = compare_scopes(new, old, definitions={})
    assert found.metric_deltas["m"].percent_change == pytest.approx(50.0)
    gone = found.metric_deltas["gone"]
    assert gone.new_aggregate is None
    assert gone.delta is None
    assert gone.percent_change is None
    assert gone.found_count == 0
    assert gone.old_count == 2
    zero = compare_scopes(old, old, definitions={}).metric_deltas["gone"]
    assert zero.percent_change is None


# Values next to the limits of float rounding and of the tolerances drawn below.
_NEAR_LIMITS = [0.1, 0.2, 0.3, 0.1 + 0.2, 0.5, 0.75, 1.0, 1.25, 1e16, 1e16 + 2, -0.25, 0.0]
_STATISTICS = ("mean_diff", "ci_low", "ci_high", "p_value", "p_adjusted", "mde")


@contextmanager
def _compared_in_slices_of(size: int) -> Iterator[None]:
    """Long passes of the comparison take ``size`` values at a time (a million-pair
    comparison takes 65,536 at a time; these runs are too small to need more than one)."""
    saved = compare_module._SLICE, stats_module._SLICE
    compare_module._SLICE = stats_module._SLICE = size
    try:
        yield
    finally:
        compare_module._SLICE, stats_module._SLICE = saved


@st.composite
def _long_runs(draw: st.DrawFn) -> tuple[ScopeValues, ScopeValues, bool]:
    every = [f"q{i:03d}" for i in range(draw(st.integers(1, 60)))]
    same_ids = draw(st.booleans())
    new_ids = every if same_ids else sorted(draw(st.sets(st.sampled_from(every), min_size=1)))
    old_ids = every if same_ids else sorted(draw(st.sets(st.sampled_from(every), min_size=1)))
    number = st.one_of(st.sampled_from(_NEAR_LIMITS), st.just(math.nan))
    stored = draw(st.booleans())

    def scope(ids: list[str]) -> ScopeValues:
        columns = {
            "score": MetricColumn(
                MetricKind.NUMBER,
                np.array(draw(st.lists(number, min_size=len(ids), max_size=len(ids)))),
            ),
            "passed": MetricColumn(
                MetricKind.BOOL,
                np.array(
                    draw(
                        st.lists(st.sampled_from([0.0, 1.0]), min_size=len(ids), max_size=len(ids))
                    )
                ),
            ),
        }
        kept: Sequence[str] = IdColumn("\n".join(ids).encode(), len(ids)) if stored else ids
        return ScopeValues(kept, columns)

    return scope(new_ids), scope(old_ids), stored


@settings(max_examples=300, deadline=None)
@given(
    runs=_long_runs(),
    slice_size=st.integers(1, 7),
    direction=st.sampled_from(list(Direction)),
    tolerance=st.sampled_from([0.0, 0.25, 1.0]),
)
def test_the_comparison_is_the_same_however_many_values_a_pass_takes(
    runs: tuple[ScopeValues, ScopeValues, bool],
    slice_size: int,
    direction: Direction,
    tolerance: float,
) -> None:
    new, old, _ = runs
    definitions = {"score": MetricDefinition("score", direction, tolerance)}
    whole = compare_scopes(new, old, definitions=definitions)
    with _compared_in_slices_of(slice_size):
        sliced = compare_scopes(new, old, definitions=definitions)
    assert sliced.alignment.new_rows.tolist() == whole.alignment.new_rows.tolist()
    assert sliced.alignment.old_rows.tolist() == whole.alignment.old_rows.tolist()
    for name, delta in whole.metric_deltas.items():
        expected, found = delta.to_dict(), sliced.metric_deltas[name].to_dict()
        # The spread is summed a slice at a time: the same to the last few bits.
        for field_name in _STATISTICS:
            value = expected.pop(field_name)
            close = None if value is None else pytest.approx(value, rel=1e-12, nan_ok=True)
            assert found.pop(field_name) == close
        assert found == expected


@pytest.mark.parametrize("slice_size", [1, 2, 1 << 16])
def test_differences_that_are_only_float_rounding_are_tested_as_zero(slice_size: int) -> None:
    ids = ["a", "b", "c"]
    new = ScopeValues(ids, {"m": MetricColumn(MetricKind.NUMBER, np.array([0.1 + 0.2, 0.3, 2.0]))})
    old = ScopeValues(ids, {"m": MetricColumn(MetricKind.NUMBER, np.array([0.3, 0.3, 2.0]))})
    with _compared_in_slices_of(slice_size):
        delta = compare_scopes(new, old, definitions={}).metric_deltas["m"]
    assert delta.same == ["a", "b", "c"]
    # 0.1 + 0.2 − 0.3 is 5.6e-17 in floats, only rounding: every difference is 0, so the
    # mean is exactly 0 and there is nothing to test.
    assert delta.mean_diff == 0.0
    assert delta.p_value is None
