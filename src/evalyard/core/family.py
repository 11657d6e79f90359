"""Holm's adjustment across a family of tests that spans several comparisons.

One comparison adjusts the p-values of the metrics it tests (one scope). A comparison of
many runs against one baseline tests every metric of every run: all of those tests are
one family, so that the chance of any false verdict among them stays at or below alpha.
:func:`judge_family` adjusts a family's p-values together and decides each verdict again
from its adjusted p-value; the estimates themselves (mean difference, interval, raw
p-value) do not change.

Example:
    >>> judged = judge_family([delta_a, delta_b, delta_c], alpha=0.05)  # doctest: +SKIP
    >>> [d.p_adjusted for d in judged]  # doctest: +SKIP
    [0.03, 0.6, None]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from evalyard.core.compare import MetricDelta
from evalyard.core.stats import PairedEstimate, decide_verdict, holm

__all__ = ["estimate_of", "judge_family", "mirrored"]


def estimate_of(delta: MetricDelta) -> PairedEstimate:
    """The paired estimate a delta's verdict is decided from."""
    return PairedEstimate(
        n=delta.found_count,
        mean_diff=delta.mean_diff,
        test=delta.test,
        ci_low=delta.ci_low,
        ci_high=delta.ci_high,
        p_value=delta.p_value,
        mde=delta.mde,
    )


def mirrored(estimate: PairedEstimate) -> PairedEstimate:
    """The estimate of the swapped comparison (old vs new): the difference and its interval
    negated, the p-value the same (every paired test here is symmetric)."""
    low, high = estimate.ci_low, estimate.ci_high
    return PairedEstimate(
        n=estimate.n,
        mean_diff=None if estimate.mean_diff is None else -estimate.mean_diff,
        test=estimate.test,
        ci_low=None if high is None else -high,
        ci_high=None if low is None else -low,
        p_value=estimate.p_value,
        sd_diff=estimate.sd_diff,
        mde=estimate.mde,
    )


def judge_family(deltas: Sequence[MetricDelta | None], *, alpha: float) -> list[MetricDelta | None]:
    """Adjust the p-values of every tested delta together (Holm), and judge each again.

    A delta is in the family when it was tested (it has a raw ``p_value``: a metric with a
    direction, and pairs that differ). Each tested delta gets its family-adjusted
    ``p_adjusted`` and the verdict that follows from it; ``non_inferior`` does not depend
    on the p-value and is kept, and so is everything about a delta that was not tested.

    Args:
        deltas: the deltas of the family, in any order (None entries are passed through).
        alpha: significance level of the verdicts.

    Returns:
        the deltas in the same order, judged across the family.
    """
    family = [
        (i, d, d.p_value) for i, d in enumerate(deltas) if d is not None and d.p_value is not None
    ]
    adjusted = holm([p_value for _, _, p_value in family])
    judged = list(deltas)
    for (i, delta, _), p_adjusted in zip(family, adjusted, strict=True):
        judged[i] = replace(
            delta,
            p_adjusted=p_adjusted,
            verdict=decide_verdict(
                estimate_of(delta), p_adjusted=p_adjusted, direction=delta.direction, alpha=alpha
            ),
        )
    return judged
