"""Runs ranked on one metric: each run's aggregate, interval and count, and its place.

A leaderboard lists every run of a comparison of many runs, the baseline included, on one
metric: the run's summary (:class:`~evalyard.core.summary.MetricSummary`: the aggregate
over its datapoints, the interval of a mean, the count), its rank in the metric's
direction, and — for every run but the baseline — how it compares with the baseline
(:class:`~evalyard.core.compare.MetricDelta`, judged across the whole comparison).

Example:
    >>> rank([0.7, 0.9, 0.7, None], Direction.HIGHER)
    [2, 1, 2, None]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evalyard.core.columns import ScopeValues, merge_kinds
from evalyard.core.compare import MetricDelta
from evalyard.core.model import Direction, MetricDefinition, MetricKind
from evalyard.core.stats import Verdict
from evalyard.core.summary import MetricSummary, direction_of, summarise_scope

__all__ = ["Leaderboard", "Standing", "leaderboard", "leaderboards", "rank"]

# Aggregates this close relative to their size are float rounding apart: a tie.
_RELATIVE_EPSILON = 1e-12


@dataclass(frozen=True, slots=True)
class Standing:
    """One run on one metric of a leaderboard."""

    run_id: str
    """The run's id."""
    baseline: bool
    """Whether the run is the baseline the others are compared with."""
    rank: int | None
    """1 for the best aggregate in the metric's direction; runs that tie share a rank (and
    the next rank is skipped: 1, 2, 2, 4). None when the metric is not ranked (direction
    ``none``, a string metric) or the run has no aggregate of it."""
    summary: MetricSummary | None
    """The run's aggregate, interval and count of the metric; None when the run lacks it."""
    delta: MetricDelta | None
    """The run compared with the baseline on this metric, its p-value adjusted and its
    verdict decided across every test of the comparison; None for the baseline (and for a
    run that lacks the metric, like the baseline)."""

    @property
    def aggregate(self) -> float | None:
        """The run's aggregate of the metric (None for a string metric or without values)."""
        return None if self.summary is None else self.summary.aggregate

    @property
    def count(self) -> int:
        """How many of the run's datapoints have the metric."""
        return 0 if self.summary is None else self.summary.count

    @property
    def verdict(self) -> Verdict | None:
        """The run's verdict against the baseline (None for the baseline, or not judged)."""
        return None if self.delta is None else self.delta.verdict

    def to_dict(self) -> dict[str, Any]:
        """The standing as JSON-serialisable data: the summary and the change from the
        baseline, flattened (the per-datapoint lists are in the run's comparison)."""
        summary, delta = self.summary, self.delta
        return {
            "run_id": self.run_id,
            "baseline": self.baseline,
            "rank": self.rank,
            "aggregate": self.aggregate,
            "ci_low": None if summary is None else summary.ci_low,
            "ci_high": None if summary is None else summary.ci_high,
            "count": self.count,
            "most_common": None if summary is None else summary.most_common,
            "delta": None if delta is None else delta.delta,
            "percent_change": None if delta is None else delta.percent_change,
            "found_count": None if delta is None else delta.found_count,
            "mean_diff": None if delta is None else delta.mean_diff,
            "mean_diff_ci_low": None if delta is None else delta.ci_low,
            "mean_diff_ci_high": None if delta is None else delta.ci_high,
            "p_value": None if delta is None else delta.p_value,
            "p_adjusted": None if delta is None else delta.p_adjusted,
            "verdict": None if self.verdict is None else self.verdict.value,
            "blocks_gate": None if delta is None else delta.blocks_gate,
        }


@dataclass(frozen=True, slots=True)
class Leaderboard:
    """Every run of a comparison of many runs on one metric, best first."""

    metric: str
    """The metric's name."""
    step: str | None
    """The step the comparison is scoped to, or None for the session level."""
    kind: MetricKind
    """number, bool or string (number when runs disagree; string when any run's is)."""
    direction: Direction
    """Which way is better; the runs are ranked that way."""
    aggregate_function: str
    """The aggregate function the runs are ranked by."""
    ranked: bool
    """Whether the metric is ranked: False for direction ``none`` and string metrics."""
    standings: list[Standing]
    """Each run once: by rank (ties in the order the runs were given, baseline first),
    then the runs without a rank in that order."""

    def standing(self, run_id: str) -> Standing:
        """The standing of the run with this id.

        Raises:
            KeyError: when the run is not on the leaderboard.
        """
        for standing in self.standings:
            if standing.run_id == run_id:
                return standing
        raise KeyError(run_id)

    def to_dict(self) -> dict[str, Any]:
        """The leaderboard as JSON-serialisable data."""
        return {
            "metric": self.metric,
            "step": self.step,
            "kind": self.kind.value,
            "direction": self.direction.value,
            "aggregate_function": self.aggregate_function,
            "ranked": self.ranked,
            "standings": [s.to_dict() for s in self.standings],
        }


def rank(values: Sequence[float | None], direction: Direction) -> list[int | None]:
    """Competition ranks of ``values`` in ``direction``: 1 for the best, ties share a rank.

    Values within float rounding of each other (relative 1e-12) tie. None (no value) and
    every value of a ``none`` direction get no rank.
    """
    ranks: list[int | None] = [None] * len(values)
    if direction is Direction.NONE:
        return ranks
    present = [(value, i) for i, value in enumerate(values) if value is not None]
    sign = -1.0 if direction is Direction.HIGHER else 1.0
    present.sort(key=lambda pair: (sign * pair[0], pair[1]))
    leader: float | None = None
    place = 0
    for position, (value, i) in enumerate(present):
        if leader is None or abs(value - leader) > _RELATIVE_EPSILON * max(abs(value), abs(leader)):
            leader, place = value, position + 1
        ranks[i] = place
    return ranks


def leaderboard(
    *,
    metric: str,
    step: str | None,
    kind: MetricKind,
    direction: Direction,
    aggregate_function: str,
    run_ids: Sequence[str],
    summaries: Sequence[MetricSummary | None],
    deltas: Sequence[MetricDelta | None],
) -> Leaderboard:
    """The leaderboard of one metric, from each run's summary and delta (runs in order,
    the baseline first).

    Args:
        metric: the metric's name.
        step: the scope's step, or None for the session level.
        kind: the metric's kind across the runs.
        direction: which way is better.
        aggregate_function: the aggregate of the summaries.
        run_ids: the runs, the baseline first.
        summaries: each run's summary of the metric (None: the run lacks it).
        deltas: each run's delta against the baseline (None for the baseline).
    """
    ranked = kind is not MetricKind.STRING and direction is not Direction.NONE
    places = rank(
        [None if s is None else s.aggregate for s in summaries],
        direction if ranked else Direction.NONE,
    )
    standings = [
        Standing(run_id, i == 0, place, summary, delta)
        for i, (run_id, place, summary, delta) in enumerate(
            zip(run_ids, places, summaries, deltas, strict=True)
        )
    ]
    order = sorted(
        range(len(standings)),
        key=lambda i: (places[i] is None, places[i] or 0, i),
    )
    return Leaderboard(
        metric=metric,
        step=step,
        kind=kind,
        direction=direction,
        aggregate_function=aggregate_function,
        ranked=ranked,
        standings=[standings[i] for i in order],
    )


def _metric_kinds(values: Sequence[ScopeValues]) -> dict[str, MetricKind]:
    """Each metric's kind across the runs (number when they disagree, string if any is)."""
    kinds: dict[str, MetricKind] = {}
    for run_values in values:
        for name, column in run_values.columns.items():
            kinds[name] = merge_kinds(kinds.get(name, column.kind), column.kind)
    return dict(sorted(kinds.items()))


def _as_kinds(values: ScopeValues, kinds: Mapping[str, MetricKind]) -> ScopeValues:
    """The values with each metric read as its kind across the runs (for the summaries)."""
    if all(column.kind is kinds[name] for name, column in values.columns.items()):
        return values
    columns = {name: column.as_kind(kinds[name]) for name, column in values.columns.items()}
    return ScopeValues(values.ids, columns, values.epochs)


def leaderboards(
    run_ids: Sequence[str],
    scoped: Sequence[ScopeValues],
    deltas: Sequence[Mapping[str, MetricDelta]],
    *,
    definitions: Mapping[str, MetricDefinition],
    aggregate_function: str,
    step: str | None,
    alpha: float,
) -> dict[str, Leaderboard]:
    """Each metric's leaderboard (by name): every run summarised (each metric read as its
    kind across the runs), ranked, and with its delta against the baseline.

    Args:
        run_ids: the runs, the baseline first.
        scoped: each run's values at the scope, in that order.
        deltas: each run's deltas against the baseline by metric, in that order without
            the baseline.
        definitions: the metric definitions.
        aggregate_function: the aggregate the runs are summarised and ranked by.
        step: the scope's step, or None for the session level.
        alpha: the intervals of the means have confidence ``1 − alpha``.
    """
    kinds = _metric_kinds(scoped)
    summaries = [
        {
            s.metric: s
            for s in summarise_scope(
                _as_kinds(v, kinds),
                definitions=definitions,
                step=step,
                aggregate_function=aggregate_function,
                alpha=alpha,
            )
        }
        for v in scoped
    ]
    return {
        name: leaderboard(
            metric=name,
            step=step,
            kind=kind,
            direction=direction_of(name, kind, definitions)[0],
            aggregate_function=aggregate_function,
            run_ids=run_ids,
            summaries=[s.get(name) for s in summaries],
            deltas=[None, *(found.get(name) for found in deltas)],
        )
        for name, kind in kinds.items()
    }
