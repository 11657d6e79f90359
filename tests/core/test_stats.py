"""The paired statistics: against scipy, against direct computations, as properties.

Calibration by simulation (false alarms, coverage, power) is in ``test_calibration.py``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from evalyard.core.columns import MetricColumn, ScopeValues
from evalyard.core.compare import MetricDelta, RunComparisonResult, compare_scopes, id_union
from evalyard.core.model import Direction, MetricDefinition, MetricKind
from evalyard.core.stats import (
    PairedEstimate,
    TestName,
    Verdict,
    decide_verdict,
    flip_table,
    holm,
    mcnemar,
    mcnemar_p_value,
    minimum_detectable_effect,
    needs_bootstrap,
    newcombe_interval,
    non_inferior,
    paired_bootstrap,
    paired_difference,
    paired_t,
    skewness,
    wilson_interval,
)
from evalyard.errors import InvalidInputError

# ---------------------------------------------------------------------------------------
# Against scipy


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n", [2, 3, 10, 200])
def test_paired_t_equals_scipy_ttest_rel(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    old = rng.normal(5.0, 2.0, n)
    new = old + rng.normal(0.3, 1.0, n)
    found = paired_t(new - old)
    expected = scipy.stats.ttest_rel(new, old)
    interval = expected.confidence_interval(confidence_level=0.95)
    assert found.p_value == pytest.approx(float(expected.pvalue), abs=1e-9)
    assert found.ci_low == pytest.approx(float(interval.low), abs=1e-9)
    assert found.ci_high == pytest.approx(float(interval.high), abs=1e-9)
    assert found.mean_diff == pytest.approx(float(np.mean(new - old)), abs=1e-12)
    assert found.test is TestName.PAIRED_T


@pytest.mark.parametrize("alpha", [0.01, 0.1])
def test_paired_t_interval_follows_alpha(alpha: float) -> None:
    rng = np.random.default_rng(3)
    old = rng.normal(size=40)
    new = old + rng.normal(0.2, 1.0, 40)
    found = paired_t(new - old, alpha=alpha)
    interval = scipy.stats.ttest_rel(new, old).confidence_interval(confidence_level=1 - alpha)
    assert found.ci_low == pytest.approx(float(interval.low), abs=1e-9)
    assert found.ci_high == pytest.approx(float(interval.high), abs=1e-9)


def test_symmetric_numbers_use_the_paired_t_like_scipy() -> None:
    # paired_difference picks the t for data without strong skew; scipy then agrees.
    rng = np.random.default_rng(11)
    old = rng.integers(1, 11, 300).astype(float)
    new = np.clip(old + rng.integers(-2, 3, 300), 1, 10)
    found = paired_difference(new - old)
    assert found.test is TestName.PAIRED_T
    assert found.p_value == pytest.approx(float(scipy.stats.ttest_rel(new, old).pvalue), abs=1e-9)


@pytest.mark.parametrize("lost", [0, 1, 2, 5, 9, 30, 200])
@pytest.mark.parametrize("gained", [0, 1, 3, 6, 9, 31, 260])
def test_mcnemar_equals_scipy_binomtest(lost: int, gained: int) -> None:
    if lost + gained == 0:
        assert mcnemar_p_value(0, 0) == 1.0
        return
    expected = scipy.stats.binomtest(gained, lost + gained, 0.5).pvalue
    assert mcnemar_p_value(lost, gained) == pytest.approx(float(expected), abs=1e-9)


def test_mcnemar_estimate_on_bool_pairs() -> None:
    old = np.array([True] * 30 + [False] * 30 + [True] * 4 + [False] * 16)
    new = np.array([True] * 30 + [False] * 30 + [False] * 4 + [True] * 16)
    found = mcnemar(new, old)
    assert flip_table(new, old) == {
        "pass->pass": 30,
        "pass->fail": 4,
        "fail->pass": 16,
        "fail->fail": 30,
    }
    assert found.test is TestName.MCNEMAR_EXACT
    assert found.mean_diff == pytest.approx(12 / 80)
    assert found.p_value == pytest.approx(float(scipy.stats.binomtest(16, 20).pvalue), abs=1e-9)
    assert found.ci_low is not None
    assert found.ci_high is not None
    assert found.ci_low < found.mean_diff < found.ci_high
    d = new.astype(float) - old.astype(float)
    assert found.sd_diff == pytest.approx(float(d.std(ddof=1)))


def test_skewness_equals_scipy() -> None:
    rng = np.random.default_rng(5)
    d = rng.exponential(size=37)
    assert skewness(d) == pytest.approx(float(scipy.stats.skew(d, bias=False)), rel=1e-9)
    assert skewness(np.ones(10)) == 0.0
    assert skewness(np.array([1.0, 2.0])) == 0.0


def test_wilson_interval_equals_scipy() -> None:
    for successes, n in [(0, 10), (3, 10), (10, 10), (57, 200)]:
        expected = scipy.stats.binomtest(successes, n).proportion_ci(0.95, method="wilson")
        low, high = wilson_interval(successes, n)
        assert low == pytest.approx(float(expected.low), abs=1e-9)
        assert high == pytest.approx(float(expected.high), abs=1e-9)


# ---------------------------------------------------------------------------------------
# Holm


def _holm_directly(p_values: list[float]) -> list[float]:
    """Holm by its definition: p_adj(i) = max over j ≤ rank(i) of min(1, (m − j + 1)·p₍ⱼ₎)."""
    m = len(p_values)
    ordered = sorted(p_values)
    result = []
    for p in p_values:
        rank = ordered.index(p) + ordered.count(p)  # the last of equal values, 1-based
        result.append(max(min(1.0, (m - j + 1) * ordered[j - 1]) for j in range(1, rank + 1)))
    return result


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=0, max_size=12))
def test_holm_equals_a_direct_implementation(p_values: list[float]) -> None:
    assert holm(p_values) == pytest.approx(_holm_directly(p_values), abs=1e-15)


def test_holm_textbook_example() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


# ---------------------------------------------------------------------------------------
# The bootstrap, and when it is used


def test_skewed_small_samples_use_the_bootstrap_reproducibly() -> None:
    rng = np.random.default_rng(2)
    d = rng.exponential(1.0, 20) - 0.3
    assert needs_bootstrap(d.size, skewness(d))
    first = paired_difference(d)
    assert first.test is TestName.PAIRED_BOOTSTRAP
    assert paired_difference(d.copy()) == first
    # Resampling datapoints does not depend on their order.
    assert paired_difference(d[rng.permutation(d.size)]) == first


def test_large_or_symmetric_samples_use_the_t() -> None:
    rng = np.random.default_rng(4)
    assert paired_difference(rng.normal(size=30)).test is TestName.PAIRED_T
    assert paired_difference(rng.exponential(size=5000) - 1).test is TestName.PAIRED_T


def test_bootstrap_resamples_counts_of_few_distinct_values_fast() -> None:
    # Very rare changes at 100k pairs: skewed enough for Cochran's rule, few distinct values.
    d = np.zeros(100_000)
    d[:7] = 1.0
    d[7] = -1.0
    found = paired_difference(d)
    assert found.test is TestName.PAIRED_BOOTSTRAP
    assert found.ci_low is not None
    assert found.ci_high is not None
    assert found.ci_low < found.mean_diff < found.ci_high  # type: ignore[operator]


def test_bootstrap_declines_where_resamples_would_have_no_spread() -> None:
    d = np.array([0.0] * 17 + [1.0] * 3)  # a resample of only zeros is likely
    assert paired_bootstrap(d) is None
    assert paired_difference(d).test is TestName.PAIRED_T


def test_bootstrap_declines_too_large_continuous_samples() -> None:
    rng = np.random.default_rng(8)
    assert paired_bootstrap(rng.lognormal(0, 2, 20_000)) is None


SKEWED = st.lists(
    st.one_of(st.floats(-3.0, 3.0), st.floats(5.0, 60.0)), min_size=3, max_size=30
).map(np.array)


@settings(max_examples=150, deadline=None)
@given(SKEWED, st.sampled_from([0.01, 0.05, 0.2]))
def test_bootstrap_p_value_is_below_alpha_exactly_when_the_interval_excludes_zero(
    d: np.ndarray[Any, np.dtype[np.float64]], alpha: float
) -> None:
    if np.ptp(d) == 0:
        return
    found = paired_bootstrap(d, alpha=alpha)
    if found is None:
        return
    assert found.p_value is not None
    assert found.ci_low is not None
    assert found.ci_high is not None
    excludes_zero = found.ci_low > 0 or found.ci_high < 0
    assert (found.p_value < alpha) == excludes_zero
    assert found.ci_low <= found.mean_diff <= found.ci_high  # type: ignore[operator]


@settings(max_examples=150, deadline=None)
@given(SKEWED)
def test_negating_the_differences_mirrors_every_estimate(
    d: np.ndarray[Any, np.dtype[np.float64]],
) -> None:
    forward = paired_difference(d)
    backward = paired_difference(-d)
    assert backward.test is forward.test
    assert backward.p_value == forward.p_value
    if forward.mean_diff is not None:
        assert backward.mean_diff == -forward.mean_diff
    if forward.ci_low is not None:
        assert backward.ci_high == -forward.ci_low
        assert backward.ci_low == -forward.ci_high  # type: ignore[operator]


def test_t_p_value_is_below_alpha_exactly_when_the_interval_excludes_zero() -> None:
    rng = np.random.default_rng(9)
    for _ in range(300):
        d = rng.normal(0.3, 1.0, 15)
        found = paired_t(d)
        assert found.p_value is not None
        assert found.ci_low is not None
        assert found.ci_high is not None
        assert (found.p_value < 0.05) == (found.ci_low > 0 or found.ci_high < 0)


# ---------------------------------------------------------------------------------------
# Edge cases


def test_nothing_to_test() -> None:
    assert paired_difference(np.zeros(0)) == PairedEstimate(n=0, mean_diff=None)
    one = paired_difference(np.array([2.0]))
    assert (one.n, one.mean_diff, one.p_value) == (1, 2.0, None)
    zeros = paired_difference(np.zeros(50))
    assert (zeros.mean_diff, zeros.p_value, zeros.test) == (0.0, None, None)
    none_flipped = mcnemar(np.ones(10, dtype=bool), np.ones(10, dtype=bool))
    assert (none_flipped.mean_diff, none_flipped.p_value) == (0.0, None)
    for estimate in (one, zeros, none_flipped):
        verdict = decide_verdict(estimate, p_adjusted=None, direction=Direction.HIGHER)
        assert verdict is Verdict.INSUFFICIENT_DATA


def test_every_datapoint_moving_alike_uses_the_sign_flip_test() -> None:
    few = paired_difference(np.full(4, 0.5))
    assert few.test is TestName.SIGN_FLIP
    assert few.p_value == pytest.approx(2 * 0.5**4)
    assert (few.ci_low, few.ci_high) == (0.0, 0.5)  # not significant: reaches 0
    many = paired_difference(np.full(12, -0.5))
    assert many.p_value == pytest.approx(2 * 0.5**12)
    assert many.ci_high is not None
    assert many.ci_high < 0


def test_minimum_detectable_effect() -> None:
    assert minimum_detectable_effect(1.0, 1) is None
    assert minimum_detectable_effect(0.0, 100) is None
    large = minimum_detectable_effect(2.0, 1_000_000)
    assert large == pytest.approx(2.8016 * 2.0 / 1000.0, rel=1e-3)
    t = scipy.stats.t(19)
    expected = (t.ppf(0.975) + t.ppf(0.8)) * 1.5 / math.sqrt(20)
    assert minimum_detectable_effect(1.5, 20) == pytest.approx(expected, rel=1e-9)


def test_flip_share_gives_the_textbook_pass_fail_mde() -> None:
    # docs/statistics.md: 1,000 items with 10% flips can see about 2.8 percentage points.
    old = np.array([True] * 500 + [False] * 500)
    new = old.copy()
    new[:50] = False
    new[500:550] = True
    found = mcnemar(new, old)
    assert found.mde == pytest.approx(0.028, abs=0.001)


def test_newcombe_interval_properties() -> None:
    for flips in (
        {"pass->pass": 30, "pass->fail": 4, "fail->pass": 16, "fail->fail": 30},
        {"pass->pass": 0, "pass->fail": 0, "fail->pass": 5, "fail->fail": 0},
        {"pass->pass": 10, "pass->fail": 0, "fail->pass": 0, "fail->fail": 0},
        {"pass->pass": 1, "pass->fail": 9, "fail->pass": 1, "fail->fail": 1},
    ):
        n = sum(flips.values())
        diff = (flips["fail->pass"] - flips["pass->fail"]) / n
        low, high = newcombe_interval(flips)
        assert -1.0 <= low <= diff <= high <= 1.0
        swapped = {
            "pass->pass": flips["pass->pass"],
            "pass->fail": flips["fail->pass"],
            "fail->pass": flips["pass->fail"],
            "fail->fail": flips["fail->fail"],
        }
        assert newcombe_interval(swapped) == pytest.approx((-high, -low), abs=1e-12)


def test_newcombe_and_exact_mcnemar_can_disagree_at_the_boundary() -> None:
    # Documented in newcombe_interval and docs/statistics.md: 5 of 5 flips one way out of
    # 100 is not significant by the exact test (p = 0.0625), yet the interval excludes 0.
    old = np.array([False] * 5 + [True] * 40 + [False] * 55)
    new = old.copy()
    new[:5] = True
    found = mcnemar(new, old)
    assert found.p_value == pytest.approx(0.0625)
    assert found.ci_low is not None
    assert found.ci_low > 0
    # The verdict follows the test.
    verdict = decide_verdict(found, p_adjusted=found.p_value, direction=Direction.HIGHER)
    assert verdict is Verdict.INCONCLUSIVE


# ---------------------------------------------------------------------------------------
# Verdicts and non-inferiority


def _estimate(mean: float, low: float, high: float, p: float) -> PairedEstimate:
    return PairedEstimate(
        n=50, mean_diff=mean, test=TestName.PAIRED_T, ci_low=low, ci_high=high, p_value=p
    )


def test_verdict_is_direction_aware() -> None:
    up = _estimate(0.5, 0.2, 0.8, 0.001)
    down = _estimate(-0.5, -0.8, -0.2, 0.001)
    judge = decide_verdict
    assert judge(up, p_adjusted=0.004, direction=Direction.HIGHER) is Verdict.IMPROVED
    assert judge(down, p_adjusted=0.004, direction=Direction.HIGHER) is Verdict.REGRESSED
    assert judge(down, p_adjusted=0.004, direction=Direction.LOWER) is Verdict.IMPROVED
    assert judge(up, p_adjusted=0.004, direction=Direction.LOWER) is Verdict.REGRESSED
    assert judge(up, p_adjusted=0.06, direction=Direction.HIGHER) is Verdict.INCONCLUSIVE
    assert judge(up, p_adjusted=0.06, direction=Direction.HIGHER, alpha=0.1) is Verdict.IMPROVED
    assert judge(up, p_adjusted=0.004, direction=Direction.NONE) is None


def test_non_inferiority_uses_the_lower_bound_of_the_improvement() -> None:
    slightly_worse = _estimate(-0.02, -0.04, -0.01, 0.001)
    assert non_inferior(slightly_worse, direction=Direction.HIGHER, tolerance=0.05) is True
    assert non_inferior(slightly_worse, direction=Direction.HIGHER, tolerance=0.03) is False
    assert non_inferior(slightly_worse, direction=Direction.HIGHER, tolerance=0.0) is None
    # For a lower-is-better metric, an increase is the worsening: bound = −ci_high.
    assert non_inferior(slightly_worse, direction=Direction.LOWER, tolerance=0.001) is True
    rising = _estimate(0.02, 0.01, 0.04, 0.001)
    assert non_inferior(rising, direction=Direction.LOWER, tolerance=0.03) is False
    assert non_inferior(rising, direction=Direction.LOWER, tolerance=0.05) is True
    untested = PairedEstimate(n=1, mean_diff=0.0)
    assert non_inferior(untested, direction=Direction.HIGHER, tolerance=0.1) is None


# ---------------------------------------------------------------------------------------
# Through compare_scopes


def _column(kind: MetricKind, values: list[Any], **extra: Any) -> MetricColumn:
    if kind is MetricKind.STRING:
        return MetricColumn(kind, np.array(values, dtype=object), **extra)
    array = np.array([np.nan if v is None else float(v) for v in values])
    return MetricColumn(kind, array, **extra)


def _scope(ids: list[str], columns: dict[str, MetricColumn], epochs: int = 1) -> ScopeValues:
    return ScopeValues(ids, columns, epochs)


IDS = [f"dp{i:03d}" for i in range(60)]


def _two_runs(seed: int = 0) -> tuple[ScopeValues, ScopeValues]:
    rng = np.random.default_rng(seed)
    quality = rng.normal(0, 1, 60)
    old_passed = rng.random(60) < 0.5
    new_passed = old_passed.copy()
    new_passed[:12] = True  # a real improvement
    old = _scope(
        IDS,
        {
            "score": _column(MetricKind.NUMBER, list(quality + rng.normal(0, 0.3, 60))),
            "passed": _column(MetricKind.BOOL, list(old_passed)),
            "latency_ms": _column(MetricKind.NUMBER, list(rng.lognormal(5, 0.3, 60))),
            "label": _column(MetricKind.STRING, ["a"] * 60),
        },
    )
    new = _scope(
        IDS,
        {
            "score": _column(MetricKind.NUMBER, list(quality + 1.0 + rng.normal(0, 0.3, 60))),
            "passed": _column(MetricKind.BOOL, list(new_passed)),
            "latency_ms": _column(MetricKind.NUMBER, list(rng.lognormal(5, 0.3, 60))),
            "label": _column(MetricKind.STRING, ["a"] * 45 + ["b"] * 15),
        },
    )
    return new, old


DEFINITIONS = {"latency_ms": MetricDefinition("latency_ms", Direction.LOWER)}


def test_compare_scopes_fills_in_the_statistics() -> None:
    new, old = _two_runs()
    found = compare_scopes(new, old, definitions=DEFINITIONS).metric_deltas
    score = found["score"]
    assert score.test is TestName.PAIRED_T
    assert score.mean_diff == pytest.approx(1.0, abs=0.2)
    assert score.verdict is Verdict.IMPROVED
    assert score.mde is not None
    assert score.flips is None
    passed = found["passed"]
    assert passed.test is TestName.MCNEMAR_EXACT
    assert passed.flips is not None
    assert passed.flips["fail->pass"] == passed.improved_count
    assert passed.flips["pass->fail"] == passed.degraded_count
    label = found["label"]
    assert (label.verdict, label.test, label.p_value) == (None, None, None)
    assert label.changed_share == pytest.approx(15 / 60)
    # Holm over the three tested metrics.
    tested = ["latency_ms", "passed", "score"]
    raw = [found[name].p_value for name in tested]
    assert [found[name].p_adjusted for name in tested] == pytest.approx(holm(raw))  # type: ignore[arg-type]


def test_swapping_runs_negates_mean_diff_and_swaps_verdicts() -> None:
    new, old = _two_runs(1)
    forward = compare_scopes(new, old, definitions=DEFINITIONS).metric_deltas
    backward = compare_scopes(old, new, definitions=DEFINITIONS).metric_deltas
    opposite = {
        Verdict.IMPROVED: Verdict.REGRESSED,
        Verdict.REGRESSED: Verdict.IMPROVED,
        Verdict.INCONCLUSIVE: Verdict.INCONCLUSIVE,
        Verdict.INSUFFICIENT_DATA: Verdict.INSUFFICIENT_DATA,
        None: None,
    }
    for name, delta in forward.items():
        other = backward[name]
        if delta.mean_diff is not None:
            assert other.mean_diff == pytest.approx(-delta.mean_diff, abs=1e-12)
        assert other.p_value == pytest.approx(delta.p_value)
        assert other.verdict is opposite[delta.verdict]


NUMBERS = st.lists(st.integers(-4, 4).map(lambda v: v / 2), min_size=len(IDS), max_size=len(IDS))
BOOLS = st.lists(st.booleans(), min_size=len(IDS), max_size=len(IDS))


@settings(max_examples=100, deadline=None)
@given(NUMBERS, NUMBERS, BOOLS, BOOLS, st.sampled_from(list(Direction)))
def test_swapping_runs_mirrors_the_statistics(
    new_score: list[float],
    old_score: list[float],
    new_passed: list[bool],
    old_passed: list[bool],
    direction: Direction,
) -> None:
    new = _scope(
        IDS,
        {
            "score": _column(MetricKind.NUMBER, list(new_score)),
            "passed": _column(MetricKind.BOOL, list(new_passed)),
        },
    )
    old = _scope(
        IDS,
        {
            "score": _column(MetricKind.NUMBER, list(old_score)),
            "passed": _column(MetricKind.BOOL, list(old_passed)),
        },
    )
    definitions = {"score": MetricDefinition("score", direction)}
    forward = compare_scopes(new, old, definitions=definitions).metric_deltas
    backward = compare_scopes(old, new, definitions=definitions).metric_deltas
    for name, delta in forward.items():
        other = backward[name]
        if delta.mean_diff is not None:
            assert other.mean_diff == pytest.approx(-delta.mean_diff, abs=1e-12)
        if delta.ci_low is not None:
            assert other.ci_high == pytest.approx(-delta.ci_low, abs=1e-12)
        assert other.p_value == pytest.approx(delta.p_value, abs=1e-12)
        assert other.p_adjusted == pytest.approx(delta.p_adjusted, abs=1e-12)
        pairs = {(delta.verdict, other.verdict)}
        assert pairs <= {
            (Verdict.IMPROVED, Verdict.REGRESSED),
            (Verdict.REGRESSED, Verdict.IMPROVED),
            (Verdict.INCONCLUSIVE, Verdict.INCONCLUSIVE),
            (Verdict.INSUFFICIENT_DATA, Verdict.INSUFFICIENT_DATA),
            (None, None),
        }
    self_compare = compare_scopes(new, new, definitions=definitions).metric_deltas
    for delta in self_compare.values():
        assert delta.verdict in (Verdict.INSUFFICIENT_DATA, None)


def test_bools_with_epochs_are_pass_fractions_and_flaky_datapoints_are_flagged() -> None:
    ids = ["a", "b", "c", "d"]
    new = _scope(
        ids,
        {
            "passed": _column(
                MetricKind.BOOL,
                [1.0, 2 / 3, 0.0, 1.0],
                epoch_counts=np.array([3, 3, 3, 3]),
                epoch_spread=np.array([0.0, 1.0, 0.0, 0.0]),
            ),
            "score": _column(
                MetricKind.NUMBER,
                [0.5, 0.25, 0.75, 1.0],
                epoch_counts=np.array([3, 3, 3, 3]),
                epoch_spread=np.array([0.0, 0.0, 0.5, 0.0]),
            ),
        },
        epochs=3,
    )
    old = _scope(
        ids,
        {
            "passed": _column(
                MetricKind.BOOL,
                [1.0, 1.0, 1 / 3, 1.0],
                epoch_counts=np.array([3, 3, 3, 3]),
                epoch_spread=np.array([0.0, 0.0, 1.0, 0.0]),
            ),
            "score": _column(MetricKind.NUMBER, [0.5, 0.25, 0.5, 0.5]),
        },
        epochs=3,
    )
    found = compare_scopes(new, old, definitions={}).metric_deltas
    passed = found["passed"]
    assert passed.flips is None
    assert passed.test in (TestName.PAIRED_T, TestName.PAIRED_BOOTSTRAP)
    assert passed.mean_diff == pytest.approx((0 - 1 / 3 - 1 / 3 + 0) / 4)
    assert passed.flaky_datapoints == ["b", "c"]
    assert found["score"].flaky_datapoints == ["c"]


@settings(max_examples=200, deadline=None)
@given(
    st.sets(st.text("abc", min_size=1, max_size=3), max_size=12),
    st.sets(st.text("abc", min_size=1, max_size=3), max_size=12),
)
def test_id_union_places_every_row(new_set: set[str], old_set: set[str]) -> None:
    new_ids = np.array(sorted(new_set), dtype=object)
    old_ids = np.array(sorted(old_set), dtype=object)
    old_index = {v: i for i, v in enumerate(old_ids.tolist())}
    new_rows = np.array(
        [i for i, v in enumerate(new_ids.tolist()) if v in old_index], dtype=np.int64
    )
    old_rows = np.array([old_index[v] for v in new_ids[new_rows].tolist()], dtype=np.int64)
    union = id_union(new_ids, old_ids, new_rows=new_rows, old_rows=old_rows)
    assert union.ids.tolist() == sorted(new_set | old_set)
    assert union.ids[union.of_new].tolist() == new_ids.tolist()
    assert union.ids[union.of_old].tolist() == old_ids.tolist()


def test_flaky_datapoints_of_both_runs_are_merged() -> None:
    def run(ids: list[str], spread: list[float]) -> ScopeValues:
        column = _column(
            MetricKind.NUMBER,
            [0.5] * len(ids),
            epoch_counts=np.full(len(ids), 2),
            epoch_spread=np.array(spread),
        )
        return _scope(ids, {"m": column}, epochs=2)

    new = run(["b", "c", "e", "f"], [1.0, 0.0, 0.5, 0.0])
    old = run(["a", "c", "d", "f"], [0.2, 0.3, 0.0, np.nan])
    delta = compare_scopes(new, old, definitions={}).metric_deltas["m"]
    assert delta.flaky_datapoints == ["a", "b", "c", "e"]


def test_direction_none_is_described_not_tested() -> None:
    new = _scope(["a", "b", "c"], {"m": _column(MetricKind.NUMBER, [1.0, 2.0, 4.0])})
    old = _scope(["a", "b", "c"], {"m": _column(MetricKind.NUMBER, [1.0, 1.0, 1.0])})
    definitions = {"m": MetricDefinition("m", Direction.NONE)}
    delta = compare_scopes(new, old, definitions=definitions).metric_deltas["m"]
    assert delta.mean_diff == pytest.approx(4 / 3)
    assert (delta.verdict, delta.p_value, delta.p_adjusted, delta.ci_low) == (None,) * 4
    assert delta.changed_share == pytest.approx(2 / 3)


def _result(deltas: dict[str, MetricDelta]) -> RunComparisonResult:
    return RunComparisonResult(
        new_run_id="new",
        old_run_id="old",
        step=None,
        aggregate_function="average",
        common_datapoints=IDS,
        new_only_datapoints=[],
        old_only_datapoints=[],
        metric_deltas=deltas,
        steps=[],
    )


def test_gate_fails_on_regressed_verdicts_unless_within_tolerance() -> None:
    rng = np.random.default_rng(6)
    base = rng.normal(0, 1, 60)
    old = _scope(
        IDS,
        {
            "accuracy": _column(MetricKind.NUMBER, list(base)),
            "tolerant": _column(MetricKind.NUMBER, list(base)),
            "noisy": _column(MetricKind.NUMBER, list(base)),
        },
    )
    new = _scope(
        IDS,
        {
            "accuracy": _column(MetricKind.NUMBER, list(base - 0.1 + rng.normal(0, 0.01, 60))),
            "tolerant": _column(MetricKind.NUMBER, list(base - 0.1 + rng.normal(0, 0.01, 60))),
            "noisy": _column(MetricKind.NUMBER, list(base + rng.normal(0, 1.0, 60))),
        },
    )
    definitions = {"tolerant": MetricDefinition("tolerant", Direction.HIGHER, tolerance=0.2)}
    result = _result(compare_scopes(new, old, definitions=definitions).metric_deltas)
    verdicts = result.verdicts()
    assert verdicts["accuracy"] is Verdict.REGRESSED
    assert verdicts["tolerant"] is Verdict.REGRESSED
    assert result.metric_deltas["tolerant"].non_inferior is True
    assert result.metric_deltas["accuracy"].non_inferior is None
    assert verdicts["noisy"] is Verdict.INCONCLUSIVE
    assert result.regressed_metrics() == ["accuracy"]
    assert result.has_regression()
    assert result.list_degraded_metrics() == ["accuracy", "noisy"]  # within tolerance: same
    calm = _result(compare_scopes(old, old, definitions=definitions).metric_deltas)
    assert not calm.has_regression()


def test_to_dict_is_strict_json_with_the_statistics() -> None:
    new, old = _two_runs(2)
    result = _result(compare_scopes(new, old, definitions=DEFINITIONS).metric_deltas)
    data = result.to_dict()
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert back["alpha"] == 0.05
    assert back["verdicts"] == {k: (v and v.value) for k, v in result.verdicts().items()}
    assert back["regressed_metrics"] == result.regressed_metrics()
    passed = back["metric_deltas"]["passed"]
    for key in ("mean_diff", "ci_low", "ci_high", "p_value", "p_adjusted", "mde"):
        assert isinstance(passed[key], float)
    assert passed["verdict"] in {v.value for v in Verdict}
    assert passed["test"] == "mcnemar_exact"
    assert set(passed["flips"]) == {"pass->pass", "pass->fail", "fail->pass", "fail->fail"}
    assert back["metric_deltas"]["label"]["verdict"] is None


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, float("nan")])
def test_alpha_must_be_a_probability(alpha: float) -> None:
    new, old = _two_runs()
    with pytest.raises(InvalidInputError, match="alpha"):
        compare_scopes(new, old, definitions={}, alpha=alpha)


def test_alpha_changes_the_interval_and_the_verdicts() -> None:
    new, old = _two_runs(3)
    loose = compare_scopes(new, old, definitions=DEFINITIONS, alpha=0.2).metric_deltas
    strict = compare_scopes(new, old, definitions=DEFINITIONS, alpha=0.001).metric_deltas
    for name in ("score", "latency_ms"):
        assert loose[name].p_value == strict[name].p_value
        assert (loose[name].ci_high - loose[name].ci_low) < (  # type: ignore[operator]
            strict[name].ci_high - strict[name].ci_low  # type: ignore[operator]
        )
