"""Paired statistics for comparing two runs (docs/comparison.md §3, docs/statistics.md).

Two runs over the same datapoints are a *paired* experiment: for each shared datapoint take
``d = new − old`` (epochs averaged first, docs/comparison.md §1) and reason about the mean of ``d``.

- **Numbers**, and bool pass fractions when epochs repeat: the paired t on ``d`` (what
  ``scipy.stats.ttest_rel`` computes). Averaging each datapoint's epochs first makes the
  datapoint the cluster, so its standard error is the cluster-robust one. Where skew makes
  the normal approximation untrustworthy for the sample size (Cochran's rule,
  ``n < 25·G1²``), a seeded, studentized paired bootstrap over datapoints gives both the
  interval and the p-value, so the two always agree.
- **Bools with one epoch**: the exact McNemar test (a two-sided binomial test on the
  discordant pairs) and Newcombe's hybrid score interval for the difference of pass rates.
- **Many metrics**: Holm's step-down adjustment across the metrics tested in one scope.
- **Verdicts**: improved, regressed, inconclusive or insufficient data; the minimum
  detectable effect at 80% power; non-inferiority against a tolerance.

Everything here is pure: no I/O, no clock, no global state. The bootstrap seeds its
generator from the data it resamples, so the same comparison always gives the same numbers
(and swapping the runs mirrors them exactly).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType
from typing import Final

import numpy as np
import numpy.typing as npt

from evalyard.core.model import Direction

__all__ = [
    "ALPHA",
    "BOOTSTRAP_RESAMPLES",
    "POWER",
    "PairedEstimate",
    "TestName",
    "Verdict",
    "decide_verdict",
    "flip_table",
    "holm",
    "mcnemar",
    "mcnemar_p_value",
    "mean_interval",
    "minimum_detectable_effect",
    "needs_bootstrap",
    "newcombe_interval",
    "non_inferior",
    "paired_bootstrap",
    "paired_difference",
    "paired_t",
    "skewness",
    "wilson_interval",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: The default significance level; the confidence level of every interval is ``1 − alpha``.
ALPHA: Final = 0.05
#: The power the minimum detectable effect is stated at.
POWER: Final = 0.80
#: Bootstrap resamples. ``(B + 1)·α/2`` is a whole number at α = 0.05 and 0.01.
BOOTSTRAP_RESAMPLES: Final = 9_999
#: Cochran's rule: the normal approximation of a mean is trusted when n ≥ 25·G1².
_COCHRAN_FACTOR: Final = 25.0
#: Resample counts of distinct values (cost B × k) when there are at most this many.
_MAX_DISTINCT_VALUES: Final = 64
#: Resample indices (cost B × n) only up to this much work, so a comparison stays fast.
_MAX_INDEX_WORK: Final = 5_000_000
#: Index resampling is done in slices of about this many values, to bound memory.
_SLICE_VALUES: Final = 1_000_000


class Verdict(StrEnum):
    """What the statistics say about one metric of a comparison (docs/comparison.md §2)."""

    IMPROVED = "improved"
    """Significantly better after the Holm adjustment, in the metric's direction."""
    REGRESSED = "regressed"
    """Significantly worse after the Holm adjustment, in the metric's direction."""
    INCONCLUSIVE = "inconclusive"
    """Not significant at ``alpha``: the data cannot tell a change from noise (see ``mde``)."""
    INSUFFICIENT_DATA = "insufficient_data"
    """Fewer than 2 pairs, or no pair differs: there is nothing for a test to work on."""


class TestName(StrEnum):
    """Which test produced a metric's interval and p-value."""

    __test__ = False  # not a pytest test class, despite the name

    PAIRED_T = "paired_t"
    """Paired t on the per-datapoint differences (cluster-robust over epochs)."""
    PAIRED_BOOTSTRAP = "paired_bootstrap"
    """Studentized paired bootstrap over datapoints (small or skewed samples)."""
    MCNEMAR_EXACT = "mcnemar_exact"
    """Exact McNemar: a binomial test on the discordant pairs of a bool metric."""
    SIGN_FLIP = "sign_flip"
    """Every datapoint moved by the same amount: the exact sign-flip test, p = 2·2⁻ⁿ."""


@dataclass(frozen=True, slots=True)
class PairedEstimate:
    """The mean difference of one metric between two runs, with its uncertainty."""

    n: int
    """How many datapoints are paired (have the metric in both runs)."""
    mean_diff: float | None
    """Mean of new − old over the pairs, in the metric's units; None without pairs."""
    test: TestName | None = None
    """The test used, or None when there was nothing to test."""
    ci_low: float | None = None
    """Lower end of the ``1 − alpha`` confidence interval of ``mean_diff``."""
    ci_high: float | None = None
    """Upper end of the ``1 − alpha`` confidence interval of ``mean_diff``."""
    p_value: float | None = None
    """Two-sided p-value for "no difference", before any adjustment."""
    sd_diff: float | None = None
    """Sample standard deviation of the per-datapoint differences."""
    mde: float | None = None
    """Minimum detectable effect: the |mean_diff| found with 80% power at this n and sd."""

    @property
    def tested(self) -> bool:
        """Whether a test gave a p-value (else the verdict is insufficient data)."""
        return self.p_value is not None


# ---------------------------------------------------------------------------------------
# Distributions. scipy.special is imported on first use: it costs about half a second,
# which every CLI command would otherwise pay before doing anything.


def _special() -> ModuleType:
    import scipy.special

    module: ModuleType = scipy.special
    return module


def _t_quantile(q: float, df: float) -> float:
    return float(_special().stdtrit(df, q))


def _t_two_sided_p(t: float, df: float) -> float:
    return float(min(1.0, 2.0 * _special().stdtr(df, -abs(t))))


# ---------------------------------------------------------------------------------------
# Numbers


def skewness(d: FloatArray) -> float:
    """The adjusted sample skewness G1 of ``d`` (0 when it is undefined: n < 3 or no spread).

    G1 = g1·√(n(n−1))/(n−2), with g1 = m3/m2^1.5 from the central moments.
    """
    if d.size < 3:
        return 0.0
    return _skewness(d, float(d.mean()), float(d.min()), float(d.max()))


def _skewness(d: FloatArray, mean: float, low: float, high: float) -> float:
    """:func:`skewness` of ``d`` (at least 3 values), given its mean, minimum and maximum."""
    n = d.size
    # max |d − mean|: rounding is monotonic, so it is at the minimum or the maximum (and
    # it is NaN, as np.max would make it, when d − mean is NaN anywhere).
    above, below = high - mean, mean - low
    scale = math.nan if math.isnan(above) or math.isnan(below) else max(above, below)
    if not scale > 0.0:
        return 0.0
    centred = d - mean
    centred /= scale  # skewness has no scale; this keeps tiny values from underflow
    powers = centred * centred
    m2 = float(np.mean(powers))
    powers *= centred
    m3 = float(np.mean(powers))
    return m3 / (m2 * math.sqrt(m2)) * math.sqrt(n * (n - 1)) / (n - 2)


def _surely_symmetric_enough(n: int, reach: float, sd: float) -> bool:
    """Whether :func:`needs_bootstrap` is surely False, without computing the skewness.

    ``reach`` is ``max |d − mean|`` and ``sd`` the sample sd of ``d`` (in any one unit).
    ``|m3| ≤ reach·m2`` and ``m2 = sd²·(n−1)/n``, so ``G1² ≤ reach²·n²/(sd²·(n−2)²)``.
    When 25 times that bound is at most n/2, Cochran's rule cannot ask for the bootstrap,
    whatever the rounding of the skewness.
    """
    if n < 3:
        return True
    variance = sd * sd
    if not variance > 1e-280:  # also False for NaN
        return False
    return 50.0 * reach * reach * n <= variance * (n - 2) * (n - 2)


def needs_bootstrap(n: int, skew: float) -> bool:
    """Whether the normal approximation of the mean is untrustworthy: n < 25·G1² (Cochran)."""
    return n >= 3 and n < _COCHRAN_FACTOR * skew * skew


def minimum_detectable_effect(
    sd: float, n: int, *, alpha: float = ALPHA, power: float = POWER
) -> float | None:
    """The smallest true mean difference the paired test finds with probability ``power``.

    ``(t₁₋α/₂ + t_power)·sd/√n`` with Student quantiles on n − 1 degrees of freedom. For
    large n this is the textbook ``(z₀.₉₇₅ + z₀.₈)·sd/√n = 2.80·sd/√n``; at small n the t
    quantiles make it honest (3.0·sd/√n at n = 20).

    Returns:
        None when n < 2 or sd is 0 (there is no noise to measure against).
    """
    if n < 2 or not sd > 0.0:
        return None
    df = n - 1
    factor = _t_quantile(1.0 - alpha / 2.0, df) + _t_quantile(power, df)
    return factor * sd / math.sqrt(n)


def paired_t(d: FloatArray, *, alpha: float = ALPHA) -> PairedEstimate:
    """The paired t-test on the differences ``d``: ``scipy.stats.ttest_rel(new, old)``.

    With epochs averaged per datapoint, this is the cluster-robust analysis with each
    datapoint as a cluster: the standard error of the mean of the cluster means.

    Args:
        d: the per-datapoint differences new − old, at least 2 of them, not all equal.
        alpha: significance level; the interval has confidence ``1 − alpha``.
    """
    reach = max(abs(float(d.min())), abs(float(d.max())))
    mean = float(d.mean())
    return _t_test(d.size, mean, *_scaled_spread(d, reach, mean), alpha=alpha)


#: Values a long pass takes at a time (a slice of float64 stays in the CPU's cache).
_SLICE = 1 << 16


def _scaled_spread(d: FloatArray, reach: float, mean: float) -> tuple[float, float, float]:
    """``d`` scaled by the power of two above ``reach`` (``max |d|``): the scale, and the
    mean and sample sd (as numpy's ``std(ddof=1)``) of the scaled values; ``mean`` is the
    mean of ``d``.

    Scaling by a power of two is exact, and keeps tiny differences from underflowing.
    """
    scale = math.ldexp(1.0, math.frexp(reach)[1])
    if d.size <= _SLICE:
        scaled = d / scale
        scaled_mean = float(scaled.mean())
        scaled -= scaled_mean
        np.square(scaled, out=scaled)
        return scale, scaled_mean, math.sqrt(float(scaled.sum()) / (d.size - 1))
    # Many values: a slice at a time in one buffer that stays in the CPU's cache. Scaling
    # by a power of two commutes with every rounding of the sum, so the scaled mean is
    # the mean's, scaled.
    scaled_mean = mean / scale
    buffer = np.empty(_SLICE, dtype=np.float64)
    squares = 0.0
    for start in range(0, d.size, _SLICE):
        part = d[start : start + _SLICE]
        scaled = np.divide(part, scale, out=buffer[: part.size])
        scaled -= scaled_mean
        np.square(scaled, out=scaled)
        squares += float(scaled.sum())
    return scale, scaled_mean, math.sqrt(squares / (d.size - 1))


def _t_test(
    n: int, mean: float, scale: float, scaled_mean: float, scaled_sd: float, *, alpha: float
) -> PairedEstimate:
    """:func:`paired_t` from the mean of the differences and :func:`_scaled_spread`."""
    sd = scaled_sd * scale
    se = sd / math.sqrt(n)
    df = n - 1
    half = _t_quantile(1.0 - alpha / 2.0, df) * se
    return PairedEstimate(
        n=n,
        mean_diff=mean,
        test=TestName.PAIRED_T,
        ci_low=mean - half,
        ci_high=mean + half,
        p_value=_t_two_sided_p(scaled_mean / (scaled_sd / math.sqrt(n)), df),
        sd_diff=sd,
        mde=minimum_detectable_effect(sd, n, alpha=alpha),
    )


def _canonical(d: FloatArray) -> tuple[FloatArray, float]:
    """The sorted values of ``d`` or of ``−d``, whichever is canonical, and that sign.

    ``d`` and ``−d`` get the same canonical array (and opposite signs), so the bootstrap
    draws the same resamples for a comparison and its swap: the results mirror exactly.
    """
    x = np.sort(d)
    mirror = x + x[::-1]  # negating d negates this vector exactly
    nonzero = np.flatnonzero(mirror)
    sign = 1.0 if nonzero.size == 0 or mirror[nonzero[0]] > 0 else -1.0
    canonical = x if sign > 0 else -x[::-1]
    return canonical + 0.0, sign  # + 0.0 turns −0.0 into 0.0, for the seed


def _seed(canonical: FloatArray) -> int:
    return int.from_bytes(hashlib.blake2b(canonical.tobytes(), digest_size=8).digest(), "little")


def _count_resampling(distinct: int, n: int) -> bool:
    """Whether drawing counts of distinct values (~8 index draws each) beats drawing indices."""
    return distinct <= _MAX_DISTINCT_VALUES and 8 * distinct < n


def _resample_moments(
    centred: FloatArray,
    distinct: FloatArray,
    counts: npt.NDArray[np.int64],
    *,
    resamples: int,
    rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray]:
    """Means and sample variances of ``resamples`` resamples of ``centred`` (mean 0)."""
    n = centred.size
    if _count_resampling(distinct.size, n):
        # Resampling n datapoints is drawing how many of each distinct value: a multinomial.
        drawn = rng.multinomial(n, counts / n, size=resamples).astype(np.float64)
        means = (drawn @ distinct) / n
        deviations = distinct[np.newaxis, :] - means[:, np.newaxis]
        squares = np.einsum("ij,ij->i", drawn, deviations * deviations)
        return means, squares / (n - 1)
    sums = np.empty(resamples)
    squares = np.empty(resamples)
    rows = max(1, _SLICE_VALUES // n)
    small = np.uint16 if n <= np.iinfo(np.uint16).max else np.int64  # small draws faster
    for start in range(0, resamples, rows):
        stop = min(resamples, start + rows)
        sample = centred[rng.integers(0, n, size=(stop - start, n), dtype=small)]
        sums[start:stop] = sample.sum(axis=1)
        squares[start:stop] = np.einsum("ij,ij->i", sample, sample)
    # The values are centred, so the shortcut formula loses little to cancellation.
    return sums / n, (squares - sums * sums / n) / (n - 1)


def paired_bootstrap(
    d: FloatArray, *, alpha: float = ALPHA, resamples: int = BOOTSTRAP_RESAMPLES
) -> PairedEstimate | None:
    """A studentized (bootstrap-t) paired bootstrap over datapoints.

    Each of B resamples draws n datapoints with replacement and computes
    ``T* = (mean* − mean)/se*``. Two intervals come from the T*: the equal-tailed one
    ``[mean − T*₍B−j+1₎·se, mean − T*₍j₎·se]`` (j = ⌈α(B+1)/2⌉ − 1), which follows a genuine
    skew, and the symmetric one ``mean ± |T*|₍B−k+1₎·se`` (k = ⌈α(B+1)⌉ − 1), which does not
    mistake the heavy tails of a small symmetric sample for skew. The reported interval
    spans both, and the p-value is the larger of theirs, ``2·(min(#T* ≥ t, #T* ≤ t) + 1)/
    (B + 1)`` and ``(#|T*| ≥ |t| + 1)/(B + 1)`` with ``t = mean/se``: it is below alpha
    exactly when the interval excludes 0.

    Where the differences take few distinct values (judge scores, pass fractions),
    resampling is drawing counts of each value, which costs milliseconds whatever n is.

    Args:
        d: the per-datapoint differences new − old, at least 3 of them, not all equal.
        alpha: significance level; the interval has confidence ``1 − alpha``.
        resamples: how many resamples (B).

    Returns:
        None when the bootstrap cannot be afforded (too many distinct values for n within
        the time budget) or trusted (alpha too small for B; so few distinct values that
        resamples of one repeated value, with no T*, would reach the tails): use the t.
    """
    n = d.size
    j = math.ceil(alpha * (resamples + 1) / 2.0) - 1
    k = math.ceil(alpha * (resamples + 1)) - 1
    if n < 3 or j < 1:
        return None
    values, sign = _canonical(d)
    distinct, counts = np.unique(values, return_counts=True)
    # The chance that a resample repeats a single value: such a resample has no spread.
    if float(np.sum((counts / n) ** n)) > alpha / 4.0:
        return None
    if not _count_resampling(distinct.size, n) and resamples * n > _MAX_INDEX_WORK:
        return None
    mean = float(values.mean())
    sd = float(values.std(ddof=1))
    se = sd / math.sqrt(n)
    rng = np.random.default_rng(_seed(values))
    shifts, variances = _resample_moments(
        values - mean, distinct - mean, counts, resamples=resamples, rng=rng
    )
    # A resample without spread (one value repeated) has an infinite T*, in the tails.
    flat = variances <= (1e-12 * float(np.max(np.abs(distinct - mean)))) ** 2
    errors = np.sqrt(np.where(flat, 1.0, variances) / n)
    infinite = np.where(shifts > 0, np.inf, np.where(shifts < 0, -np.inf, 0.0))
    t_star = np.where(flat, infinite, shifts / errors)
    t_abs = np.abs(t_star)
    ordered = np.partition(t_star, (j - 1, resamples - j))
    low_t, high_t = float(ordered[j - 1]), float(ordered[resamples - j])
    wide = float(np.partition(t_abs, resamples - k)[resamples - k])
    if not (math.isfinite(low_t) and math.isfinite(high_t) and math.isfinite(wide)):
        return None
    t_obs = mean / se
    tails = min(np.count_nonzero(t_star >= t_obs), np.count_nonzero(t_star <= t_obs))
    p_equal = min(1.0, 2.0 * (int(tails) + 1) / (resamples + 1))
    p_symmetric = min(1.0, (int(np.count_nonzero(t_abs >= abs(t_obs))) + 1) / (resamples + 1))
    upper_t, lower_t = max(high_t, wide), min(low_t, -wide)
    ci_low, ci_high = mean - upper_t * se, mean - lower_t * se
    # Each p-value is below alpha exactly when t_obs is outside its interval's T-range.
    significant = (t_obs > high_t or t_obs < low_t) and abs(t_obs) > wide
    p_value = max(p_equal, p_symmetric)
    if significant and lower_t <= t_obs <= upper_t:
        # The two intervals exclude 0 on opposite sides: no evidence either way.
        significant, p_value = False, 1.0
    ci_low, ci_high = _agree_with_test(ci_low, ci_high, significant=significant, side=mean)
    if sign < 0:
        ci_low, ci_high = -ci_high, -ci_low
    return PairedEstimate(
        n=n,
        mean_diff=float(d.mean()),  # as the t reports it, in the datapoints' own order
        test=TestName.PAIRED_BOOTSTRAP,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        sd_diff=sd,
        mde=minimum_detectable_effect(sd, n, alpha=alpha),
    )


def _agree_with_test(
    low: float, high: float, *, significant: bool, side: float
) -> tuple[float, float]:
    """Keep the interval on the test's side of 0 where float rounding could cross it."""
    if not significant:
        return min(low, 0.0), max(high, 0.0)
    if low <= 0.0 <= high:
        if side > 0:
            low = math.nextafter(0.0, 1.0)
        else:
            high = math.nextafter(0.0, -1.0)
    return low, high


def _sign_flip(d: FloatArray, *, alpha: float) -> PairedEstimate:
    """Every difference is the same non-zero value c: only the sign-flip test applies.

    Under "no difference" each sign is a coin flip, so p = 2·2⁻ⁿ; the interval is the point
    c when that is significant, else it stretches to 0 (it cannot be narrower than the test).
    """
    n = d.size
    value = float(d[0])
    p_value = min(1.0, 2.0 * 0.5**n)
    low, high = _agree_with_test(value, value, significant=p_value < alpha, side=value)
    return PairedEstimate(
        n=n,
        mean_diff=value,
        test=TestName.SIGN_FLIP,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        sd_diff=0.0,
        mde=None,
    )


def paired_difference(d: FloatArray, *, alpha: float = ALPHA) -> PairedEstimate:
    """The statistics of a numeric metric from its per-datapoint differences new − old.

    The paired t, unless skew makes it untrustworthy for this n (:func:`needs_bootstrap`)
    and the bootstrap is affordable and stable (:func:`paired_bootstrap`).

    Args:
        d: one difference per paired datapoint (epochs averaged first), float64. Pass
            exact zeros for differences that are only float rounding.
        alpha: significance level; the interval has confidence ``1 − alpha``.

    Returns:
        the estimate; untested (no p-value) with fewer than 2 pairs or all differences 0.
    """
    n = d.size
    if n == 0:
        return PairedEstimate(n=0, mean_diff=None)
    mean = float(d.mean())
    if n < 2:
        return PairedEstimate(n=n, mean_diff=mean)
    low, high = float(d.min()), float(d.max())
    if not (low != 0.0 or high != 0.0):  # np.any(d): NaN makes both NaN, which counts
        return PairedEstimate(n=n, mean_diff=mean)
    reach = max(abs(low), abs(high))  # max |d|
    if high - low <= 1e-12 * reach:
        return _sign_flip(d, alpha=alpha)
    scale, scaled_mean, scaled_sd = _scaled_spread(d, reach, mean)
    # The t's spread bounds the skewness: most samples need not compute it.
    centred_reach = max(high - mean, mean - low) / scale
    if not _surely_symmetric_enough(n, centred_reach, scaled_sd) and needs_bootstrap(
        n, _skewness(d, mean, low, high)
    ):
        found = paired_bootstrap(d, alpha=alpha)
        if found is not None:
            return found
    return _t_test(n, mean, scale, scaled_mean, scaled_sd, alpha=alpha)


# ---------------------------------------------------------------------------------------
# Bools


def flip_table(new: BoolArray, old: BoolArray) -> dict[str, int]:
    """How the paired datapoints moved: ``{"pass->pass", "pass->fail", ...}`` (old->new)."""
    both = int(np.count_nonzero(new & old))
    lost = int(np.count_nonzero(old & ~new))
    gained = int(np.count_nonzero(new & ~old))
    return {
        "pass->pass": both,
        "pass->fail": lost,
        "fail->pass": gained,
        "fail->fail": int(new.size) - both - lost - gained,
    }


def mcnemar_p_value(lost: int, gained: int) -> float:
    """Exact McNemar: two-sided binomial test of ``gained`` of ``lost + gained`` at p = ½.

    Equal to ``scipy.stats.binomtest(gained, lost + gained).pvalue``: the binomial at ½ is
    symmetric, so the two-sided p-value is twice the smaller tail.
    """
    m = lost + gained
    if m == 0:
        return 1.0
    return float(min(1.0, 2.0 * _special().bdtr(min(lost, gained), m, 0.5)))


def mean_interval(values: FloatArray, *, alpha: float = ALPHA) -> tuple[float, float] | None:
    """The t interval of the mean of ``values``: ``mean ± t₁₋α/₂·sd/√n``.

    Returns:
        None with fewer than 2 values; ``(mean, mean)`` when they do not vary.
    """
    n = values.size
    if n < 2:
        return None
    mean = float(values.mean())
    sd = float(values.std(ddof=1))
    if not sd > 0.0:
        return mean, mean
    half = _t_quantile(1.0 - alpha / 2.0, n - 1) * sd / math.sqrt(n)
    return mean - half, mean + half


def wilson_interval(successes: int, n: int, *, alpha: float = ALPHA) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``successes / n`` (n > 0)."""
    z = -float(_special().ndtri(alpha / 2.0))
    z2 = z * z
    centre = (successes + z2 / 2.0) / (n + z2)
    half = z * math.sqrt(successes * (n - successes) / n + z2 / 4.0) / (n + z2)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(flips: dict[str, int], *, alpha: float = ALPHA) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) for new − old pass rate, paired.

    Wilson intervals for both pass rates are combined by "square and add", with the
    continuity-corrected correlation φ between the runs. It is not the inversion of the
    exact McNemar test, so near the significance boundary the two can disagree: the interval
    may exclude 0 while the exact p-value is just above alpha (the exact test is the more
    conservative; no table with n ≤ 60 shows the reverse). The verdict follows the test.
    """
    both, lost, gained = flips["pass->pass"], flips["pass->fail"], flips["fail->pass"]
    neither = flips["fail->fail"]
    n = both + lost + gained + neither
    new_pass, old_pass = both + gained, both + lost
    p_new, p_old = new_pass / n, old_pass / n
    low_new, high_new = wilson_interval(new_pass, n, alpha=alpha)
    low_old, high_old = wilson_interval(old_pass, n, alpha=alpha)
    margins = new_pass * (n - new_pass) * old_pass * (n - old_pass)
    phi = 0.0
    if margins > 0:
        cross = both * neither - lost * gained
        if cross > n / 2.0:
            phi = (cross - n / 2.0) / math.sqrt(margins)
        elif cross < 0:
            phi = cross / math.sqrt(margins)
    diff = p_new - p_old
    down_new, up_old = p_new - low_new, high_old - p_old
    up_new, down_old = high_new - p_new, p_old - low_old
    low = diff - math.sqrt(max(0.0, down_new**2 + up_old**2 - 2.0 * phi * down_new * up_old))
    high = diff + math.sqrt(max(0.0, up_new**2 + down_old**2 - 2.0 * phi * up_new * down_old))
    return max(-1.0, low), min(1.0, high)


def mcnemar(new: BoolArray, old: BoolArray, *, alpha: float = ALPHA) -> PairedEstimate:
    """The statistics of a bool metric with one epoch: exact McNemar and Newcombe's interval.

    ``mean_diff`` is the change in pass rate, ``(fail->pass − pass->fail)/n``. The MDE uses
    the standard deviation of the per-datapoint differences (−1, 0 or 1), about
    ``√(flip share − mean_diff²)``.
    """
    n = int(new.size)
    flips = flip_table(new, old)
    lost, gained = flips["pass->fail"], flips["fail->pass"]
    if n == 0:
        return PairedEstimate(n=0, mean_diff=None)
    mean = (gained - lost) / n
    if n < 2 or lost + gained == 0:
        return PairedEstimate(n=n, mean_diff=mean)
    variance = (lost + gained - n * mean * mean) / (n - 1)
    sd = math.sqrt(max(0.0, variance))
    low, high = newcombe_interval(flips, alpha=alpha)
    return PairedEstimate(
        n=n,
        mean_diff=mean,
        test=TestName.MCNEMAR_EXACT,
        ci_low=low,
        ci_high=high,
        p_value=mcnemar_p_value(lost, gained),
        sd_diff=sd,
        mde=minimum_detectable_effect(sd, n, alpha=alpha),
    )


# ---------------------------------------------------------------------------------------
# Many metrics, verdicts, gates


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment, in the order given.

    Sort ascending; the i-th smallest (from 0) becomes ``max over k ≤ i of
    min(1, (m − k)·p₍ₖ₎)``. It holds the family-wise error rate at alpha under any
    dependence between the tests.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _effect_sign(estimate: PairedEstimate) -> float:
    """+1 when the new run is higher, −1 when lower, from the side of 0 the interval is on."""
    if estimate.ci_low is not None and estimate.ci_low > 0.0:
        return 1.0
    if estimate.ci_high is not None and estimate.ci_high < 0.0:
        return -1.0
    return math.copysign(1.0, estimate.mean_diff or 0.0)


def decide_verdict(
    estimate: PairedEstimate,
    *,
    p_adjusted: float | None,
    direction: Direction,
    alpha: float = ALPHA,
) -> Verdict | None:
    """The verdict of one metric from its estimate and Holm-adjusted p-value.

    Returns:
        None for direction ``none`` (not judged); insufficient data when there was nothing
        to test; improved or regressed when ``p_adjusted < alpha`` (for a ``lower`` metric
        a decrease is the improvement); inconclusive otherwise.
    """
    if direction is Direction.NONE:
        return None
    if not estimate.tested or p_adjusted is None:
        return Verdict.INSUFFICIENT_DATA
    if not p_adjusted < alpha:
        return Verdict.INCONCLUSIVE
    higher = _effect_sign(estimate) > 0
    better = higher if direction is Direction.HIGHER else not higher
    return Verdict.IMPROVED if better else Verdict.REGRESSED


def non_inferior(
    estimate: PairedEstimate, *, direction: Direction, tolerance: float
) -> bool | None:
    """Non-inferiority: is the new run confidently not worse than the old by ``tolerance``?

    True when the lower confidence bound of the improvement (``ci_low``, or ``−ci_high`` for
    a ``lower`` metric) is above ``−tolerance``. None for metrics without a tolerance (0),
    not judged (direction ``none``), or not tested.
    """
    low, high = estimate.ci_low, estimate.ci_high
    if not tolerance > 0.0 or direction is Direction.NONE or low is None or high is None:
        return None
    bound = low if direction is Direction.HIGHER else -high
    return bound > -tolerance
