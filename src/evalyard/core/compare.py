"""The comparison of two runs: shared datapoints, aggregates, per-datapoint changes.

The rules are those of docs/comparison.md §2.

Pure: it takes each run's values at one scope (:class:`~evalyard.core.columns.ScopeValues`)
and the project's metric definitions, and returns plain values. The store, the CLI and the
UI all go through :func:`compare_scopes`, so they cannot disagree.

Each metric also gets its statistics (docs/comparison.md §3; the methods are in
:mod:`evalyard.core.stats`): the mean paired difference with a confidence interval, a
p-value, the Holm-adjusted p-value across the metrics tested in this one scope, a verdict,
the minimum detectable effect, and the datapoints that are flaky across epochs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from evalyard.core.aggregate import aggregate, check_aggregate_function
from evalyard.core.columns import MetricColumn, ScopeValues, merge_kinds, present_mask
from evalyard.core.idlists import DatapointIds, IdArray, IdColumn, id_keys, id_objects, id_text
from evalyard.core.model import Direction, MetricDefinition, MetricKind, RunInfo
from evalyard.core.stats import (
    ALPHA,
    PairedEstimate,
    TestName,
    Verdict,
    decide_verdict,
    flip_table,
    holm,
    mcnemar,
    non_inferior,
    paired_difference,
)
from evalyard.core.summary import direction_of
from evalyard.errors import InvalidInputError, MissingDependencyError, UnknownMetricError

__all__ = [
    "TOP_CHANGES",
    "Alignment",
    "DatapointChange",
    "IdUnion",
    "MetricDelta",
    "RunComparisonResult",
    "ScopeComparison",
    "check_alpha",
    "compare_scopes",
    "id_union",
]

# Differences this small relative to the values compared are float rounding (epoch means,
# pass fractions), not change.
_RELATIVE_EPSILON = 1e-12

#: How many of the largest per-datapoint changes a metric delta keeps, each way.
TOP_CHANGES = 10


@dataclass(frozen=True, slots=True)
class DatapointChange:
    """How one datapoint's value of a metric moved (epochs averaged first)."""

    datapoint_id: str
    """The datapoint's id."""
    old: float
    """Its value in the old run (a bool as 0/1, or its pass fraction over epochs)."""
    new: float
    """Its value in the new run."""

    @property
    def change(self) -> float:
        """``new − old``."""
        return self.new - self.old

    def to_dict(self) -> dict[str, Any]:
        """The change as JSON-serialisable data."""
        return {"datapoint_id": self.datapoint_id, "old": self.old, "new": self.new}


@dataclass(frozen=True, slots=True)
class MetricDelta:
    """How one metric moved between the baseline (old) run and the new run."""

    metric: str
    """The metric's name."""
    step: str | None
    """The step the comparison is scoped to, or None for the session (result) level."""
    kind: MetricKind
    """number, bool or string."""
    direction: Direction
    """Which way is better, from the project's metric definition (or the default)."""
    tolerance: float
    """Absolute change still counted as the same."""
    aggregate_function: str
    """The aggregate function of ``old_aggregate`` and ``new_aggregate``."""
    old_aggregate: float | None
    """The aggregate over every datapoint of the old run having the metric."""
    new_aggregate: float | None
    """The aggregate over every datapoint of the new run having the metric."""
    delta: float | None
    """``new_aggregate − old_aggregate``."""
    percent_change: float | None
    """``delta / |old_aggregate| × 100``; None when the old aggregate is 0 or None."""
    old_count: int
    """Datapoints of the old run having the metric."""
    new_count: int
    """Datapoints of the new run having the metric."""
    found_count: int
    """Common datapoints having the metric in both runs."""
    improved_count: int
    """Common datapoints where the metric got better by more than the tolerance."""
    degraded_count: int
    """Common datapoints where the metric got worse by more than the tolerance."""
    same_count: int
    """Common datapoints where the metric stayed within the tolerance (equal, for ``none``)."""
    changed_count: int
    """Datapoints of a ``none``-direction or string metric whose value changed."""
    improved: Sequence[str] = field(repr=False)
    """The ids counted in ``improved_count``, sorted."""
    degraded: Sequence[str] = field(repr=False)
    """The ids counted in ``degraded_count``, sorted."""
    same: Sequence[str] = field(repr=False)
    """The ids counted in ``same_count``, sorted."""
    changed: Sequence[str] = field(repr=False)
    """The ids counted in ``changed_count``, sorted."""
    mean_diff: float | None = None
    """Mean of new − old over the ``found_count`` paired datapoints (epochs averaged first),
    in the metric's units; for a bool, the change in pass rate. None without pairs and for
    string metrics."""
    ci_low: float | None = None
    """Lower end of the ``1 − alpha`` (95%) confidence interval of ``mean_diff``."""
    ci_high: float | None = None
    """Upper end of the ``1 − alpha`` (95%) confidence interval of ``mean_diff``."""
    p_value: float | None = None
    """Two-sided p-value of "no difference", before adjustment; None when not tested."""
    p_adjusted: float | None = None
    """``p_value`` after Holm's adjustment across the metrics tested in this scope (inside a
    ``MultiComparison``: across every test of every run against the baseline)."""
    verdict: Verdict | None = None
    """improved, regressed, inconclusive or insufficient_data; None when not judged
    (direction ``none`` and string metrics)."""
    test: TestName | None = None
    """The test behind the interval and p-value: paired_t, paired_bootstrap, mcnemar_exact
    or sign_flip; None when not tested."""
    mde: float | None = None
    """Minimum detectable effect: the |mean_diff| this many pairs find with 80% power at
    ``alpha``, given the spread of the differences. Read "inconclusive" against it."""
    flips: dict[str, int] | None = None
    """For a bool metric with one epoch: how many paired datapoints went
    ``pass->pass``, ``pass->fail``, ``fail->pass`` and ``fail->fail`` (old->new)."""
    changed_share: float | None = None
    """For string and direction-``none`` metrics: ``changed_count / found_count``."""
    non_inferior: bool | None = None
    """For a metric with a tolerance: True when the lower confidence bound of the
    improvement is above ``−tolerance`` (not worse than the old run by more than the
    tolerance), False when it is not; None without a tolerance or a test."""
    flaky_datapoints: list[str] = field(default_factory=list, repr=False)
    """Datapoints (of either run) whose value varies across epochs within one run, sorted.
    Only flagged: they are tested and counted like any other."""
    top_improved: list[DatapointChange] = field(default_factory=list, repr=False)
    """The (up to :data:`TOP_CHANGES`) improved datapoints that moved most, largest first."""
    top_degraded: list[DatapointChange] = field(default_factory=list, repr=False)
    """The (up to :data:`TOP_CHANGES`) degraded datapoints that moved most, largest first."""

    def to_dict(self) -> dict[str, Any]:
        """The delta as JSON-serialisable data."""
        return {
            "metric": self.metric,
            "step": self.step,
            "kind": self.kind.value,
            "direction": self.direction.value,
            "tolerance": self.tolerance,
            "aggregate_function": self.aggregate_function,
            "old_aggregate": self.old_aggregate,
            "new_aggregate": self.new_aggregate,
            "delta": self.delta,
            "percent_change": self.percent_change,
            "old_count": self.old_count,
            "new_count": self.new_count,
            "found_count": self.found_count,
            "improved_count": self.improved_count,
            "degraded_count": self.degraded_count,
            "same_count": self.same_count,
            "changed_count": self.changed_count,
            "improved": list(self.improved),
            "degraded": list(self.degraded),
            "same": list(self.same),
            "changed": list(self.changed),
            "mean_diff": self.mean_diff,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "verdict": None if self.verdict is None else self.verdict.value,
            "test": None if self.test is None else self.test.value,
            "mde": self.mde,
            "flips": self.flips,
            "changed_share": self.changed_share,
            "non_inferior": self.non_inferior,
            "flaky_datapoints": self.flaky_datapoints,
            "top_improved": [c.to_dict() for c in self.top_improved],
            "top_degraded": [c.to_dict() for c in self.top_degraded],
        }

    @property
    def blocks_gate(self) -> bool:
        """Whether this metric makes ``--fail-on regression`` fail (docs/comparison.md §3, §6).

        A metric blocks when its verdict is regressed, unless it has a tolerance and is
        non-inferior: the drop is real but confidently within what the project accepts.
        """
        return self.verdict is Verdict.REGRESSED and self.non_inferior is not True


@dataclass(frozen=True, slots=True)
class Alignment:
    """How two runs' datapoints line up: the join :func:`compare_scopes` computed.

    Row ``new_rows[i]`` of the new run's values and row ``old_rows[i]`` of the old run's
    hold the same datapoint (the i-th common one, in id order).
    """

    new_ids: IdArray
    """The new run's datapoint ids at the scope, sorted: ``str`` objects, or fixed-width
    UTF-8 bytes when read from the store (:func:`evalyard.core.idlists.id_text` gives
    one as a string)."""
    old_ids: IdArray
    """The old run's datapoint ids at the scope, sorted (as ``new_ids``)."""
    new_rows: npt.NDArray[np.int64]
    """The new run's row of each common datapoint."""
    old_rows: npt.NDArray[np.int64]
    """The old run's row of each common datapoint."""

    def union(self) -> IdUnion:
        """Every datapoint of either run in id order, with each run's rows in it."""
        return id_union(self.new_ids, self.old_ids, new_rows=self.new_rows, old_rows=self.old_rows)


def align(new_ids: Sequence[str], old_ids: Sequence[str]) -> Alignment:
    """Join two runs' datapoint ids (each run's unique, usually sorted): a sort-merge join.

    Both runs' ids are sorted as one (a stable sort merges two sorted runs in linear time);
    a datapoint of both runs then sits next to itself, the new run's first. Ids read from
    the store are sorted and compared as fixed-width bytes in numpy, without one Python
    object per id (docs/design/004); ids given as strings are sorted by Python's Timsort.
    At a million ids a hash join through a dict took three times as long (a cache miss
    per id).
    """
    count = len(new_ids)
    new_keys, old_keys = id_keys(new_ids), id_keys(old_ids)
    ids: IdArray
    if new_keys is not None and old_keys is not None:
        if _same_bytes(new_ids, old_ids):  # the same datapoints: one memcmp
            rows = np.arange(count, dtype=np.int64)
            return Alignment(new_keys, old_keys, rows, rows.copy())
        if len(old_keys) and isinstance(old_ids, IdColumn) and old_ids.increasing():
            new_sorted = isinstance(new_ids, IdColumn) and new_ids.increasing()
            return _align_sorted(new_keys, old_keys, new_sorted=new_sorted)
        ids = np.concatenate([new_keys, old_keys])
        order = np.argsort(ids, kind="stable").astype(np.int64, copy=False)
        # Neighbours compared as raw bytes (both padded alike): faster than as strings.
        in_order_bytes = ids[order].view(f"V{ids.dtype.itemsize}")
        pairs = np.flatnonzero(in_order_bytes[1:] == in_order_bytes[:-1])
    else:
        new_list, old_list = list(new_ids), list(old_ids)
        if new_list == old_list:  # the same datapoints (one C loop; stops at the first difference)
            ids = np.array(new_list, dtype=object)
            rows = np.arange(count, dtype=np.int64)
            return Alignment(ids, ids.copy(), rows, rows.copy())
        combined = new_list + old_list
        order = np.fromiter(
            sorted(range(len(combined)), key=combined.__getitem__),
            dtype=np.int64,
            count=len(combined),
        )
        ids = np.array(combined, dtype=object)
        in_order = ids[order]
        pairs = np.flatnonzero(in_order[1:] == in_order[:-1])
    new_rows = order[pairs]
    old_rows = order[pairs + 1] - count
    if new_rows.size > 1 and not bool(np.all(new_rows[1:] > new_rows[:-1])):
        by_row = np.argsort(new_rows, kind="stable")  # ids given unsorted: the new run's order
        new_rows, old_rows = new_rows[by_row], old_rows[by_row]
    return Alignment(ids[:count], ids[count:], new_rows, old_rows)


def _align_sorted(
    new_keys: npt.NDArray[np.bytes_], old_keys: npt.NDArray[np.bytes_], *, new_sorted: bool
) -> Alignment:
    """:func:`align` of fixed-width ids, the old run's strictly increasing (as a run's
    stored ids are): each new id is looked up in the old run's by binary search.

    The searches of sorted new ids stay close to each other in memory (numpy starts each
    from the previous answer), and every array is read in order: at 4M ids per run this
    took a third of the time of sorting both runs' ids together, whose gather by the
    merged order missed the cache more the larger the runs were.
    """
    if new_keys.dtype != old_keys.dtype:  # ids of another length: pad to the longest
        longest = max(new_keys.dtype.itemsize, old_keys.dtype.itemsize)
        new_keys, old_keys = new_keys.astype(f"S{longest}"), old_keys.astype(f"S{longest}")
    found = np.empty(len(new_keys), dtype=np.int64)
    matched = np.empty(len(new_keys), dtype=bool)
    raw = f"V{new_keys.dtype.itemsize}"
    last = len(old_keys) - 1
    # A slice of new ids at a time: when both runs are sorted, it is looked up among the
    # old ids between its first and last, which stay in the CPU's cache meanwhile.
    step = _SLICE if new_sorted else max(len(new_keys), 1)
    for start in range(0, len(new_keys), step):
        part = new_keys[start : start + step]
        into = found[start : start + part.size]
        low, high = 0, len(old_keys)
        if new_sorted:
            low = int(np.searchsorted(old_keys, part[0]))
            high = int(np.searchsorted(old_keys, part[-1], side="right"))
        np.add(np.searchsorted(old_keys[low:high], part), low, out=into)
        np.minimum(into, last, out=into)
        matched[start : start + part.size] = old_keys[into].view(raw) == part.view(raw)
    new_rows = np.flatnonzero(matched)
    return Alignment(new_keys, old_keys, new_rows, found[new_rows])


def _same_bytes(new_ids: Sequence[str], old_ids: Sequence[str]) -> bool:
    return (
        isinstance(new_ids, IdColumn)
        and isinstance(old_ids, IdColumn)
        and len(new_ids) == len(old_ids)
        and (not len(new_ids) or (new_ids[0] == old_ids[0] and new_ids[-1] == old_ids[-1]))
        and new_ids.raw == old_ids.raw
    )


@dataclass(frozen=True, slots=True)
class ScopeComparison:
    """What :func:`compare_scopes` finds: the datapoint sets and each metric's delta."""

    common_datapoints: Sequence[str]
    """Ids present in both runs, sorted."""
    new_only_datapoints: Sequence[str]
    """Ids present only in the new run, sorted."""
    old_only_datapoints: Sequence[str]
    """Ids present only in the old run, sorted."""
    metric_deltas: dict[str, MetricDelta]
    """One delta per metric present in either run, by name (sorted)."""
    alignment: Alignment
    """How the two runs' datapoints line up."""
    new_values: ScopeValues | None = None
    """The new run's values the comparison was made of."""
    old_values: ScopeValues | None = None
    """The old run's values the comparison was made of."""


@dataclass(frozen=True, slots=True)
class RunComparisonResult:
    """The comparison of a new run with an old (baseline) run: what ``compare_runs`` returns.

    Example:
        >>> cmp = evalyard.compare_runs("gpt-4o-temp-0.3", "gpt-4o-temp-0.7")  # doctest: +SKIP
        >>> cmp.get_metric_delta("accuracy").degraded  # doctest: +SKIP
        ['q17', 'q42']
    """

    new_run_id: str
    """The new run's id."""
    old_run_id: str
    """The old (baseline) run's id."""
    step: str | None
    """The step the comparison is scoped to, or None for the session level."""
    aggregate_function: str
    """The aggregate function used for the aggregates."""
    common_datapoints: Sequence[str]
    """Ids present in both runs (at this scope), sorted."""
    new_only_datapoints: Sequence[str]
    """Ids present only in the new run, sorted."""
    old_only_datapoints: Sequence[str]
    """Ids present only in the old run, sorted."""
    metric_deltas: dict[str, MetricDelta]
    """One delta per metric present in either run, by name."""
    steps: list[str]
    """The names of the steps present in either run, sorted."""
    new_run: RunInfo | None = None
    """The new run's description, when the comparison came from a store."""
    old_run: RunInfo | None = None
    """The old run's description, when the comparison came from a store."""
    alpha: float = ALPHA
    """The significance level of the verdicts; the intervals have confidence 1 − alpha."""
    alignment: Alignment | None = field(default=None, repr=False, compare=False)
    """How the two runs' datapoints line up at this scope (the join behind every count)."""
    new_values: ScopeValues | None = field(default=None, repr=False, compare=False)
    """The new run's values at this scope (epochs averaged), when the comparison has them."""
    old_values: ScopeValues | None = field(default=None, repr=False, compare=False)
    """The old run's values at this scope (epochs averaged), when the comparison has them."""

    @classmethod
    def of_scope(
        cls,
        found: ScopeComparison,
        *,
        new_run: RunInfo,
        old_run: RunInfo,
        step: str | None,
        aggregate_function: str,
        steps: list[str],
        alpha: float,
        metric_deltas: dict[str, MetricDelta] | None = None,
    ) -> RunComparisonResult:
        """The comparison of two runs from what :func:`compare_scopes` found for them
        (with ``metric_deltas`` judged otherwise, when given: a family of many runs)."""
        return cls(
            new_run_id=new_run.run_id,
            old_run_id=old_run.run_id,
            step=step,
            aggregate_function=aggregate_function,
            common_datapoints=found.common_datapoints,
            new_only_datapoints=found.new_only_datapoints,
            old_only_datapoints=found.old_only_datapoints,
            metric_deltas=found.metric_deltas if metric_deltas is None else metric_deltas,
            steps=steps,
            new_run=new_run,
            old_run=old_run,
            alpha=alpha,
            alignment=found.alignment,
            new_values=found.new_values,
            old_values=found.old_values,
        )

    def __repr__(self) -> str:
        verdicts = [v for v in self.verdicts().values() if v is not None]
        counts = ", ".join(
            f"{sum(v is kind for v in verdicts)} {kind.value}"
            for kind in (Verdict.IMPROVED, Verdict.REGRESSED, Verdict.INCONCLUSIVE)
        )
        scope = "" if self.step is None else f" at step {self.step!r}"
        return (
            f"<RunComparisonResult {self._label(self.new_run, self.new_run_id)} vs "
            f"{self._label(self.old_run, self.old_run_id)}{scope}: "
            f"{len(self.common_datapoints):,} shared datapoints, "
            f"{len(self.metric_deltas)} metrics ({counts})>"
        )

    @staticmethod
    def _label(info: RunInfo | None, run_id: str) -> str:
        return repr(info.name) if info is not None else run_id[:8]

    def get_metric_delta(self, name: str) -> MetricDelta:
        """The delta of metric ``name``.

        Raises:
            UnknownMetricError: (a KeyError) when neither run has the metric at this
                scope; the message lists the metrics there are.
        """
        found = self.metric_deltas.get(name)
        if found is None:
            scope = "this comparison" if self.step is None else f"step {self.step!r}"
            raise UnknownMetricError(name, list(self.metric_deltas), where=scope)
        return found

    @property
    def warnings(self) -> list[str]:
        """What makes this comparison say little: a run compared with itself, or two runs
        without a shared datapoint. ``compare_runs`` also issues each as a Python warning
        (:class:`~evalyard.errors.ComparisonWarning`)."""
        found = []
        if self.new_run_id == self.old_run_id:
            found.append(
                "the run is compared with itself: every datapoint is the same, so nothing "
                "can improve or regress; pick another run as the baseline"
            )
        elif not self.common_datapoints:
            where = "" if self.step is None else f" at step {self.step!r}"
            found.append(
                f"the runs share no datapoints{where}: nothing can be paired, so no datapoint "
                "improved or regressed and no metric was tested; compare runs of the same "
                "dataset (datapoints are matched by datapoint_id)"
            )
        return found

    def list_improved_metrics(self) -> list[str]:
        """Names of the metrics where at least one datapoint improved."""
        return [name for name, d in self.metric_deltas.items() if d.improved_count > 0]

    def list_degraded_metrics(self) -> list[str]:
        """Names of the metrics where at least one datapoint degraded."""
        return [name for name, d in self.metric_deltas.items() if d.degraded_count > 0]

    def verdicts(self) -> dict[str, Verdict | None]:
        """Each metric's verdict, by name: None for metrics that are not judged."""
        return {name: d.verdict for name, d in self.metric_deltas.items()}

    def regressed_metrics(self) -> list[str]:
        """The metrics that make ``--fail-on regression`` fail, in name order.

        Those whose verdict is regressed, except a metric with a tolerance that is
        non-inferior (see :attr:`MetricDelta.blocks_gate`). This looks only at the scope
        compared: the session level, or the step given to ``compare_runs``.
        """
        return [name for name, d in self.metric_deltas.items() if d.blocks_gate]

    def has_regression(self) -> bool:
        """Whether some metric regressed (see :meth:`regressed_metrics`): the CI gate."""
        return any(d.blocks_gate for d in self.metric_deltas.values())

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-serialisable data (``evalyard compare --format json``)."""
        return {
            "new_run_id": self.new_run_id,
            "old_run_id": self.old_run_id,
            "new_run": None if self.new_run is None else self.new_run.to_dict(),
            "old_run": None if self.old_run is None else self.old_run.to_dict(),
            "step": self.step,
            "aggregate_function": self.aggregate_function,
            "alpha": self.alpha,
            "steps": self.steps,
            "common_datapoints": list(self.common_datapoints),
            "new_only_datapoints": list(self.new_only_datapoints),
            "old_only_datapoints": list(self.old_only_datapoints),
            "improved_metrics": self.list_improved_metrics(),
            "degraded_metrics": self.list_degraded_metrics(),
            "verdicts": {
                name: None if v is None else v.value for name, v in self.verdicts().items()
            },
            "regressed_metrics": self.regressed_metrics(),
            "warnings": self.warnings,
            "metric_deltas": {name: d.to_dict() for name, d in self.metric_deltas.items()},
        }

    def summary(self) -> str:
        """The comparison as a few lines of plain text: both runs, the datapoints, and each
        metric's aggregates, change and verdict (in the words of ``evalyard compare``)."""
        from evalyard.core.report import comparison_report, report_text

        return report_text(comparison_report(self))

    def _repr_html_(self) -> str:
        """The comparison as an HTML table, for notebooks (every name escaped)."""
        from evalyard.core.report import comparison_report, report_html

        return report_html(comparison_report(self))

    def datapoint_rows(self) -> list[dict[str, Any]]:
        """One row per datapoint × metric, metric by metric, datapoints in id order.

        Each row: ``datapoint_id``, ``metric``, ``old`` and ``new`` (epochs averaged; a
        bool as its pass rate, a string as is; None where the run lacks the value),
        ``delta`` (``new − old`` for numbers and bools) and ``status``: improved,
        regressed, unchanged, changed, new_only, old_only or missing (the statuses of
        ``evalyard.core.words.STATUS_WORDS``).

        Raises:
            InvalidInputError: when the comparison was made without its values.
        """
        if self.new_values is None or self.old_values is None:
            raise InvalidInputError(
                "this comparison holds no per-datapoint values; make it with compare_runs"
            )
        new_index = {datapoint_id: row for row, datapoint_id in enumerate(self.new_values.ids)}
        old_index = {datapoint_id: row for row, datapoint_id in enumerate(self.old_values.ids)}
        ids = sorted(new_index.keys() | old_index.keys())
        rows: list[dict[str, Any]] = []
        for name, d in self.metric_deltas.items():
            status: dict[str, str] = {}
            for word, listed in (
                ("improved", d.improved),
                ("regressed", d.degraded),
                ("unchanged", d.same),
                ("changed", d.changed),
            ):
                status.update(dict.fromkeys(listed, word))
            new_column = _column_values(self.new_values.columns.get(name), d.kind)
            old_column = _column_values(self.old_values.columns.get(name), d.kind)
            numeric = d.kind is not MetricKind.STRING
            for datapoint_id in ids:
                new_row = new_index.get(datapoint_id)
                old_row = old_index.get(datapoint_id)
                new = None if new_row is None or new_column is None else new_column[new_row]
                old = None if old_row is None or old_column is None else old_column[old_row]
                if old_row is None:
                    word = "new_only"
                elif new_row is None:
                    word = "old_only"
                else:
                    word = status.get(datapoint_id, "missing")
                delta = new - old if numeric and new is not None and old is not None else None
                rows.append(
                    {
                        "datapoint_id": datapoint_id,
                        "metric": name,
                        "old": old,
                        "new": new,
                        "delta": delta,
                        "status": word,
                    }
                )
        return rows

    def to_pandas(self, by: str = "metric") -> Any:
        """The comparison as a ``pandas.DataFrame``.

        Args:
            by: ``metric``: one row per metric (aggregates, counts and statistics), indexed
                by metric; ``datapoint``: one row per datapoint × metric with both values,
                the delta and the datapoint's status (see :meth:`datapoint_rows`).

        Raises:
            MissingDependencyError: when pandas is not installed (``pip install pandas``).
        """
        if by not in ("metric", "datapoint"):
            raise InvalidInputError(f"to_pandas(by=...) takes metric or datapoint, not {by!r}")
        try:
            import pandas
        except ImportError:
            raise MissingDependencyError("pandas", "RunComparisonResult.to_pandas()") from None
        if by == "datapoint":
            names = ["datapoint_id", "metric", "old", "new", "delta", "status"]
            return pandas.DataFrame(self.datapoint_rows(), columns=names)
        columns = [
            *("metric", "step", "kind", "direction", "aggregate_function"),
            *("old_aggregate", "new_aggregate", "delta", "percent_change"),
            *("old_count", "new_count", "found_count"),
            *("improved_count", "degraded_count", "same_count", "changed_count"),
            *("mean_diff", "ci_low", "ci_high", "p_value", "p_adjusted"),
            *("verdict", "test", "mde", "non_inferior"),
        ]
        rows = []
        for d in self.metric_deltas.values():
            data = d.to_dict()
            rows.append({name: data[name] for name in columns})
        return pandas.DataFrame(rows, columns=columns).set_index("metric")


def _column_values(column: MetricColumn | None, kind: MetricKind) -> list[Any] | None:
    """A column's values as Python values, None for a missing one."""
    if column is None:
        return None
    values = column.as_kind(kind).values
    if kind is MetricKind.STRING:
        found: list[Any] = values.tolist()
        return found
    return [None if v != v else v for v in values.tolist()]


def compare_scopes(
    new: ScopeValues,
    old: ScopeValues,
    *,
    definitions: Mapping[str, MetricDefinition],
    aggregate_function: str = "average",
    step: str | None = None,
    alpha: float = ALPHA,
    alignment: Alignment | None = None,
) -> ScopeComparison:
    """Compare two runs' values at one scope, following docs/comparison.md §2 to the letter.

    Args:
        new: the new run's values at the scope.
        old: the old (baseline) run's values at the same scope.
        definitions: the metric definitions (direction, tolerance) by metric name.
        aggregate_function: average, median, sum, min, max, p90 or p95.
        step: the step name the scope is, for the deltas; None for the session level.
        alpha: significance level of the verdicts, in (0, 1); intervals are ``1 − alpha``.
        alignment: the join of ``new.ids`` and ``old.ids``, when the caller has it already
            (a comparison of many runs joins every run once); None computes it.

    Raises:
        UnknownAggregateError: for an unknown aggregate function.
        InvalidInputError: for an alpha outside (0, 1).
    """
    check_aggregate_function(aggregate_function)
    check_alpha(alpha)
    if alignment is None:
        alignment = align(new.ids, old.ids)
    new_ids, old_ids = alignment.new_ids, alignment.old_ids
    new_rows, old_rows = alignment.new_rows, alignment.old_rows
    common_ids = new_ids[new_rows]
    new_matched = np.zeros(len(new_ids), dtype=bool)
    new_matched[new_rows] = True
    old_matched = np.zeros(len(old_ids), dtype=bool)
    old_matched[old_rows] = True
    # ScopeValues ids are sorted, so these selections are sorted too.
    common = DatapointIds(common_ids, None, len(common_ids))
    new_only = DatapointIds(new_ids, ~new_matched, len(new_ids) - len(new_rows))
    old_only = DatapointIds(old_ids, ~old_matched, len(old_ids) - len(old_rows))

    union = None
    if any(c.epoch_spread is not None for c in (*new.columns.values(), *old.columns.values())):
        union = alignment.union()
    deltas: dict[str, MetricDelta] = {}
    estimates: dict[str, PairedEstimate] = {}
    # Every metric's differences in turn, in one buffer (at ten million pairs, 80 MB the
    # kernel would otherwise map and zero afresh for each metric).
    differences = np.empty(len(new_rows), dtype=np.float64)
    for name in sorted(set(new.columns) | set(old.columns)):
        deltas[name], estimate = _metric_delta(
            name,
            new.columns.get(name),
            old.columns.get(name),
            new_rows=new_rows,
            old_rows=old_rows,
            common_ids=common_ids,
            union=union,
            definitions=definitions,
            aggregate_function=aggregate_function,
            step=step,
            alpha=alpha,
            differences=differences,
        )
        if estimate is not None:
            estimates[name] = estimate
    judged = _judge(deltas, estimates, alpha=alpha)
    return ScopeComparison(common, new_only, old_only, judged, alignment, new, old)


def check_alpha(alpha: float) -> float:
    """Return ``alpha`` if it is a usable significance level, else raise InvalidInputError."""
    if not (isinstance(alpha, int | float) and 0.0 < alpha < 1.0):
        raise InvalidInputError(
            f"alpha {alpha!r} is not a significance level; give a number between 0 and 1, "
            "such as 0.05"
        )
    return float(alpha)


def _judge(
    deltas: dict[str, MetricDelta], estimates: Mapping[str, PairedEstimate], *, alpha: float
) -> dict[str, MetricDelta]:
    """Adjust the p-values (Holm) across the metrics tested in this scope, then judge each.

    comparison.md §2: the family is the metrics of one comparison scope (the session, or one step).
    """
    tested = [name for name, e in estimates.items() if e.p_value is not None]
    adjusted = dict(
        zip(tested, holm([estimates[name].p_value or 0.0 for name in tested]), strict=True)
    )
    judged: dict[str, MetricDelta] = {}
    for name, delta in deltas.items():
        estimate = estimates.get(name)
        if estimate is None:
            judged[name] = delta
            continue
        p_adjusted = adjusted.get(name)
        judged[name] = replace(
            delta,
            p_adjusted=p_adjusted,
            verdict=decide_verdict(
                estimate, p_adjusted=p_adjusted, direction=delta.direction, alpha=alpha
            ),
            non_inferior=non_inferior(
                estimate, direction=delta.direction, tolerance=delta.tolerance
            ),
        )
    return judged


def _metric_delta(
    name: str,
    new: MetricColumn | None,
    old: MetricColumn | None,
    *,
    new_rows: npt.NDArray[np.int64],
    old_rows: npt.NDArray[np.int64],
    common_ids: IdArray,
    union: IdUnion | None,
    definitions: Mapping[str, MetricDefinition],
    aggregate_function: str,
    step: str | None,
    alpha: float,
    differences: npt.NDArray[np.float64],
) -> tuple[MetricDelta, PairedEstimate | None]:
    """One metric's delta, and the estimate its verdict is judged from (None: not tested).

    ``differences``: room for a difference per common datapoint, overwritten.
    """
    if new is not None and old is not None:
        kind = merge_kinds(new.kind, old.kind)
    else:
        kind = (new or old).kind  # type: ignore[union-attr]
    direction, tolerance = direction_of(name, kind, definitions)

    new_values = _values_as(new, kind)
    old_values = _values_as(old, kind)
    new_present = present_mask(new_values, kind)
    old_present = present_mask(old_values, kind)

    new_count = int(np.count_nonzero(new_present))
    old_count = int(np.count_nonzero(old_present))
    new_complete = new_count == new_values.size
    old_complete = old_count == old_values.size
    new_aggregate = old_aggregate = None
    if kind is not MetricKind.STRING:
        # Where every value is there, aggregate the column itself (a contiguous float64
        # column reduces exactly as a copy of it would), not a masked copy of it.
        new_aggregate = aggregate(
            new_values.astype(np.float64, copy=False)
            if new_complete and _plain_floats(new_values)
            else new_values[new_present].astype(np.float64),
            aggregate_function,
        )
        old_aggregate = aggregate(
            old_values.astype(np.float64, copy=False)
            if old_complete and _plain_floats(old_values)
            else old_values[old_present].astype(np.float64),
            aggregate_function,
        )
    delta = percent = None
    if new_aggregate is not None and old_aggregate is not None:
        delta = new_aggregate - old_aggregate
        percent = delta / abs(old_aggregate) * 100 if old_aggregate != 0 else None

    paired = bool(new_values.size and old_values.size)
    found: npt.NDArray[np.bool_] | None = None  # None: every common datapoint has the metric
    if not paired:
        found = np.zeros(len(new_rows), dtype=bool)
    elif not (new_complete and old_complete):
        found = new_present[new_rows] & old_present[old_rows]
    if found is None or found.all():  # every common datapoint has the metric: no copies
        found, found_ids = None, common_ids
    else:
        found_ids = common_ids[found]
    improved = degraded = np.zeros(len(found_ids), dtype=bool)
    estimate: PairedEstimate | None = None
    flips: dict[str, int] | None = None
    top_improved: list[DatapointChange] = []
    top_degraded: list[DatapointChange] = []
    if kind is MetricKind.STRING:
        a = new_values[new_rows] if paired else np.zeros(0, dtype=object)
        b = old_values[old_rows] if paired else np.zeros(0, dtype=object)
        if found is not None and paired:
            a, b = a[found], b[found]
        same = np.fromiter((x == y for x, y in zip(a, b, strict=True)), dtype=bool, count=len(a))
        changed = ~(improved | degraded | same)
    else:
        moved = _numeric_changes(
            new_values,  # type: ignore[arg-type]
            old_values,  # type: ignore[arg-type]
            new_rows if paired else new_rows[:0],
            old_rows if paired else old_rows[:0],
            found,
            differences[: len(found_ids)],
            tolerance=float(tolerance),
            direction=direction,
            keep_pairs=kind is MetricKind.BOOL,
        )
        improved, degraded, same, changed = (
            moved.improved,
            moved.degraded,
            moved.same,
            moved.changed,
        )
        top_improved = _top_changes(moved.top_improved, found_ids)
        top_degraded = _top_changes(moved.top_degraded, found_ids)
        estimate, flips = _estimate(
            kind, new, old, moved.pairs, moved.differences, direction=direction, alpha=alpha
        )
    found_count = len(found_ids)
    improved_count = int(np.count_nonzero(improved))
    degraded_count = int(np.count_nonzero(degraded))
    same_count = int(np.count_nonzero(same))
    changed_count = found_count - improved_count - degraded_count - same_count
    judged = direction is not Direction.NONE
    return MetricDelta(
        metric=name,
        step=step,
        kind=kind,
        direction=direction,
        tolerance=tolerance,
        aggregate_function=aggregate_function,
        old_aggregate=old_aggregate,
        new_aggregate=new_aggregate,
        delta=delta,
        percent_change=percent,
        old_count=old_count,
        new_count=new_count,
        found_count=found_count,
        improved_count=improved_count,
        degraded_count=degraded_count,
        same_count=same_count,
        changed_count=changed_count,
        improved=DatapointIds(found_ids, improved, improved_count),
        degraded=DatapointIds(found_ids, degraded, degraded_count),
        same=DatapointIds(found_ids, same, same_count),
        changed=DatapointIds(found_ids, changed, changed_count),
        mean_diff=None if estimate is None else estimate.mean_diff,
        ci_low=None if estimate is None else estimate.ci_low,
        ci_high=None if estimate is None else estimate.ci_high,
        p_value=None if estimate is None else estimate.p_value,
        test=None if estimate is None else estimate.test,
        mde=None if estimate is None else estimate.mde,
        flips=flips,
        changed_share=None if judged or not found_count else changed_count / found_count,
        flaky_datapoints=[] if union is None else _flaky(new, old, union),
        top_improved=top_improved,
        top_degraded=top_degraded,
    ), (estimate if judged else None)


#: Pairs of values compared at a time. Each pass over a slice finds it in the CPU's cache,
#: and the slice's temporary arrays (under a megabyte) are reused by the allocator: at ten
#: million pairs, whole-column temporaries (80 MB each) were each mapped and zeroed afresh
#: by the kernel and every pass went to memory (docs/design/004).
_SLICE = 1 << 16


@dataclass(slots=True)
class _Largest:
    """The largest changes of one mask, gathered slice by slice."""

    rows: list[npt.NDArray[np.int64]] = field(default_factory=list)
    negated: list[npt.NDArray[np.float64]] = field(default_factory=list)
    new: list[npt.NDArray[np.float64]] = field(default_factory=list)
    old: list[npt.NDArray[np.float64]] = field(default_factory=list)

    def add(
        self,
        mask: npt.NDArray[np.bool_],
        new: npt.NDArray[np.float64],
        old: npt.NDArray[np.float64],
        offset: int,
    ) -> None:
        """Keep the (up to :data:`TOP_CHANGES`) pairs of ``mask`` that moved most, the ones
        of lowest rows among ties: no other pair of this slice can be among the largest."""
        rows, negated = _top_rows(mask, new, old)
        if rows.size:
            self.rows.append(rows + offset)
            self.negated.append(negated)
            self.new.append(new[rows])
            self.old.append(old[rows])


@dataclass(frozen=True, slots=True)
class _Moved:
    """How the paired values of a number or bool metric moved (:func:`_numeric_changes`)."""

    improved: npt.NDArray[np.bool_]
    degraded: npt.NDArray[np.bool_]
    same: npt.NDArray[np.bool_]
    changed: npt.NDArray[np.bool_]
    differences: npt.NDArray[np.float64]
    """new − old per pair, exact zeros where the difference is only float rounding."""
    pairs: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None
    """Every pair's new and old values, when asked for."""
    top_improved: _Largest
    top_degraded: _Largest


def _numeric_changes(
    new_values: npt.NDArray[np.float64],
    old_values: npt.NDArray[np.float64],
    new_rows: npt.NDArray[np.int64],
    old_rows: npt.NDArray[np.int64],
    found: npt.NDArray[np.bool_] | None,
    differences: npt.NDArray[np.float64],
    *,
    tolerance: float,
    direction: Direction,
    keep_pairs: bool,
) -> _Moved:
    """Compare the values of each pair (``new_values[new_rows[i]]`` with
    ``old_values[old_rows[i]]``, the pairs of ``found`` only when given), :data:`_SLICE`
    pairs at a time: which improved, degraded, stayed the same or changed, the differences
    for the test (written into ``differences``, one per pair compared), and the largest
    changes each way."""
    count = differences.size
    rising = np.empty(count, dtype=bool)
    falling = np.empty(count, dtype=bool)
    same = np.empty(count, dtype=bool)
    pairs = (np.empty(count), np.empty(count)) if keep_pairs else None
    up, down = _Largest(), _Largest()
    judged = direction is not Direction.NONE
    # Rows 0, 1, ..., n−1 of both runs (the same datapoints): slices, not gathers.
    whole = len(new_rows) == len(new_values) == len(old_values) and (
        not len(new_rows) or int(new_rows[-1]) == len(new_rows) - 1
    )
    at = 0
    for start in range(0, len(new_rows), _SLICE):
        end = start + _SLICE
        if whole:
            a, b = new_values[start:end], old_values[start:end]
        else:
            a, b = new_values[new_rows[start:end]], old_values[old_rows[start:end]]
        if found is not None:
            kept = found[start:end]
            a, b = a[kept], b[kept]
        a = a.astype(np.float64, copy=False)
        b = b.astype(np.float64, copy=False)
        part = slice(at, at + a.size)
        at += a.size
        if not a.size:
            continue
        if pairs is not None:
            pairs[0][part], pairs[1][part] = a, b
        d = np.subtract(a, b, out=differences[part])
        up_mask, down_mask = rising[part], falling[part]
        rounding = _slice_changes(d, a, b, tolerance, up_mask, down_mask)
        if judged:
            improved, degraded = (
                (up_mask, down_mask) if direction is Direction.HIGHER else (down_mask, up_mask)
            )
            np.logical_or(improved, degraded, out=same[part])
            np.logical_not(same[part], out=same[part])
            up.add(improved, a, b, at - a.size)
            down.add(degraded, a, b, at - a.size)
        elif rounding is None:
            np.equal(d, 0.0, out=same[part])  # only zeros round, or not at all
        else:
            same[part] = rounding
        # The differences that are only float rounding become exact zeros for the test.
        if rounding is None or int(np.count_nonzero(rounding)) == d.size - int(np.count_nonzero(d)):
            d += 0.0  # only the zeros round: this is np.where(rounding, 0.0, d) (−0 → 0)
        else:
            np.copyto(d, 0.0, where=rounding)
    if judged:
        improved, degraded = (
            (rising, falling) if direction is Direction.HIGHER else (falling, rising)
        )
        changed = np.zeros(count, dtype=bool)  # each pair is one of the three
    else:
        improved = degraded = np.zeros(count, dtype=bool)
        changed = ~same
    return _Moved(improved, degraded, same, changed, differences, pairs, up, down)


def _slice_changes(
    d: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    tolerance: float,
    rising: npt.NDArray[np.bool_],
    falling: npt.NDArray[np.bool_],
) -> npt.NDArray[np.bool_] | None:
    """Fill ``rising`` and ``falling`` with the pairs ``d = a − b`` of one slice that moved
    past the tolerance and float rounding; return the mask of the differences that are only
    rounding, or None when only the zero differences are.

    Per pair, scale = ε·max(|a|, |b|): |d| ≤ scale is float rounding, and a change must
    pass slack = tolerance + scale. Every scale is at most ε·max|a, b| (rounding is
    monotonic), so the masks are first taken at both ends of that range: where they
    select the same pairs they are exact, and no scale needs computing.
    """
    top = _RELATIVE_EPSILON * max(float(a.max()), -float(a.min()), float(b.max()), -float(b.min()))
    low_slack = tolerance
    high_slack = low_slack + top
    np.greater(d, high_slack, out=rising)
    np.less(d, -high_slack, out=falling)
    rises, falls = int(np.count_nonzero(rising)), int(np.count_nonzero(falling))
    nonzero = int(np.count_nonzero(d > 0.0)) + int(np.count_nonzero(d < 0.0))
    if low_slack == 0.0:
        rounds_only_zeros = exact = nonzero == rises + falls
    else:
        rounds_only_zeros = nonzero == int(np.count_nonzero(d > top)) + int(
            np.count_nonzero(d < -top)
        )
        exact = (
            int(np.count_nonzero(d > low_slack)) == rises
            and int(np.count_nonzero(d < -low_slack)) == falls
        )
    if exact and rounds_only_zeros:
        return None
    # Some pair is near a limit: compute every scale, in two buffers.
    scale = np.abs(a)
    spare = np.abs(b)
    np.maximum(scale, spare, out=scale)
    scale *= _RELATIVE_EPSILON
    np.abs(d, out=spare)
    rounding = spare <= scale
    if not exact:
        slack = scale
        if tolerance != 0.0:
            slack += tolerance
        np.greater(d, slack, out=rising)
        np.negative(slack, out=slack)
        np.less(d, slack, out=falling)
    return rounding


def _plain_floats(values: npt.NDArray[Any]) -> bool:
    """Whether ``values`` reduces as its float64 copy would: native, contiguous, aligned."""
    return bool(
        values.dtype == np.float64
        and values.dtype.isnative
        and values.flags.c_contiguous
        and values.flags.aligned
    )


def _top_rows(
    mask: npt.NDArray[np.bool_],
    new: npt.NDArray[np.float64],
    old: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The (up to :data:`TOP_CHANGES`) rows of ``mask`` whose value moved most, lowest rows
    first among ties, and each one's −|new − old| (unordered)."""
    rows = np.flatnonzero(mask)
    if not rows.size:
        return rows, np.zeros(0)
    size = new[rows]
    size -= old[rows]
    np.abs(size, out=size)
    negated = np.negative(size, out=size)
    if rows.size <= TOP_CHANGES:
        return rows, negated
    keep = None
    # When the TOP_CHANGES-th largest change is larger than the next, the rows to keep
    # are the same however they are selected: select them among a few candidates, at
    # or above the TOP_CHANGES-th largest of a sample. Else (ties at the cut) select
    # exactly as always, among every row.
    sample = negated[:: max(1, rows.size // 2048)]
    if sample.size > TOP_CHANGES:
        cut = np.partition(sample, TOP_CHANGES - 1)[TOP_CHANGES - 1]
        candidates = np.flatnonzero(negated <= cut)
        if candidates.size == TOP_CHANGES:
            keep = candidates
        elif candidates.size <= 4096:
            among = negated[candidates]
            ranked = np.partition(among, (TOP_CHANGES - 1, TOP_CHANGES))
            if ranked[TOP_CHANGES - 1] < ranked[TOP_CHANGES]:
                keep = candidates[among <= ranked[TOP_CHANGES - 1]]
    if keep is None:
        # Ties at the cut: every larger change, then the tied ones of the lowest rows.
        kth = np.partition(negated, TOP_CHANGES - 1)[TOP_CHANGES - 1]
        larger = np.flatnonzero(negated < kth)
        tied = np.flatnonzero(negated == kth)[: TOP_CHANGES - larger.size]
        keep = np.concatenate([larger, tied])
    return rows[keep], negated[keep]


def _top_changes(largest: _Largest, ids: IdArray) -> list[DatapointChange]:
    """The datapoints that moved most among those :class:`_Largest` kept, largest first
    (ties by id: rows are in id order)."""
    if not largest.rows:
        return []
    rows = np.concatenate(largest.rows)
    negated = np.concatenate(largest.negated)
    new, old = np.concatenate(largest.new), np.concatenate(largest.old)
    order = np.lexsort((rows, negated))[:TOP_CHANGES]
    return [
        DatapointChange(id_text(ids[r]), float(old[i]), float(new[i]))
        for i, r in zip(order.tolist(), rows[order].tolist(), strict=True)
    ]


def _single_epoch_bool(column: MetricColumn | None) -> bool:
    return column is None or (
        column.kind is MetricKind.BOOL
        and (column.epoch_counts is None or not bool(np.any(column.epoch_counts > 1)))
    )


def _estimate(
    kind: MetricKind,
    new: MetricColumn | None,
    old: MetricColumn | None,
    pairs: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None,
    d: npt.NDArray[np.float64],
    *,
    direction: Direction,
    alpha: float,
) -> tuple[PairedEstimate, dict[str, int] | None]:
    """The paired statistics of a number or bool metric, and the flip table of a bool.

    comparison.md §2: a bool with one epoch gets exact McNemar; a bool whose epochs repeat is a pass
    fraction and is treated as a number, like every other metric. A metric of direction
    ``none`` is not tested: it only gets its mean difference. ``pairs``: each pair's new
    and old values, needed for a bool only.
    """
    flips = None
    if (
        kind is MetricKind.BOOL
        and pairs is not None
        and _single_epoch_bool(new)
        and _single_epoch_bool(old)
    ):
        # Each value 0 or 1 (not a pass fraction): the passes and fails count every value.
        a, b = pairs
        new_pass = a == 1.0
        old_pass = b == 1.0
        if (
            int(np.count_nonzero(new_pass)) + int(np.count_nonzero(a == 0.0)) == a.size
            and int(np.count_nonzero(old_pass)) + int(np.count_nonzero(b == 0.0)) == b.size
        ):
            flips = flip_table(new_pass, old_pass)
            if direction is not Direction.NONE:
                return mcnemar(new_pass, old_pass, alpha=alpha), flips
    if direction is Direction.NONE:
        return PairedEstimate(n=d.size, mean_diff=float(d.mean()) if d.size else None), flips
    return paired_difference(d, alpha=alpha), flips


@dataclass(frozen=True, slots=True)
class IdUnion:
    """The sorted union of two runs' datapoint ids, and where each run's rows sit in it."""

    ids: npt.NDArray[np.object_]
    """Every datapoint id of either run, sorted."""
    of_new: npt.NDArray[np.int64]
    """The position in ``ids`` of each row of the new run."""
    of_old: npt.NDArray[np.int64]
    """The position in ``ids`` of each row of the old run."""


def id_union(
    new_ids: IdArray,
    old_ids: IdArray,
    *,
    new_rows: npt.NDArray[np.int64],
    old_rows: npt.NDArray[np.int64],
) -> IdUnion:
    """Merge two sorted id arrays, given the rows that match (``new_rows[i]``, ``old_rows[i]``).

    Built once per comparison, so that each metric's flaky list is a mask, not a sort.
    """
    old_matched = np.zeros(len(old_ids), dtype=bool)
    old_matched[old_rows] = True
    old_only_rows = np.flatnonzero(~old_matched)
    old_only = old_ids[old_only_rows]
    # Where each old-only id goes among the new ids; both arrays are sorted.
    insert = np.searchsorted(new_ids, old_only).astype(np.int64) if old_only.size else old_rows[:0]
    positions = np.arange(len(new_ids), dtype=np.int64)
    of_new = positions + np.searchsorted(insert, positions, side="right")
    of_old_only = insert + np.arange(len(old_only), dtype=np.int64)
    of_old = np.empty(len(old_ids), dtype=np.int64)
    of_old[old_rows] = of_new[new_rows]
    of_old[old_only_rows] = of_old_only
    kind = new_ids.dtype if new_ids.dtype == old_ids.dtype else np.dtype(object)
    ids = np.empty(len(new_ids) + len(old_only), dtype=kind)
    ids[of_new] = new_ids
    ids[of_old_only] = old_only
    return IdUnion(id_objects(ids), of_new, of_old)


def _flaky(new: MetricColumn | None, old: MetricColumn | None, union: IdUnion) -> list[str]:
    """The datapoints whose value varies across the epochs of either run, sorted."""
    flaky = np.zeros(len(union.ids), dtype=bool)
    for column, rows in ((new, union.of_new), (old, union.of_old)):
        if column is not None and column.epoch_spread is not None:
            with np.errstate(invalid="ignore"):
                flaky[rows[column.epoch_spread > 0.0]] = True
    found: list[str] = union.ids[flaky].tolist()
    return found


def _values_as(
    column: MetricColumn | None, kind: MetricKind
) -> npt.NDArray[np.float64] | npt.NDArray[np.object_]:
    if column is None:
        return np.zeros(0, dtype=object if kind is MetricKind.STRING else np.float64)
    return column.as_kind(kind).values
