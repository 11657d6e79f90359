"""What the pages read from the store, and the small in-process cache that keeps them fast.

A comparison of two runs of 100k datapoints takes about 0.1 s to compute from the store (the
target is 0.5 s: benchmarks/README.md) and a page must answer in under 0.3 s whatever its
filter, sort or page, so the server keeps the last few comparisons, with both runs' values
at that scope and the :class:`~evalyard.server.web.table.Frame` lining them up. An entry is
keyed by both run ids, the scope, the aggregate function, the project's metric definitions
and each run's *fingerprint*: its status, result and datapoint counts and finish time, which
change whenever results are logged or the run is finished or resumed. A running run's
records can be replaced without changing its counts, so its fingerprint also changes every
:data:`RUNNING_TTL` seconds.

The numbers always come from :func:`evalyard.runs.compare_values` (what ``compare_runs``
ends in), given the values this module has cached: a cold comparison page reads each run's
values at its scope once. The cache lives in the server, never in the store.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from evalyard.core.columns import ScopeValues
from evalyard.core.compare import RunComparisonResult
from evalyard.core.many import MultiComparison, compare_many_values
from evalyard.core.model import MetricDefinition, Result, RunInfo, RunStatus
from evalyard.core.summary import MetricSummary, summarise_scope
from evalyard.errors import RunNotFoundError
from evalyard.runs import compare_values, definitions_for
from evalyard.server.web.table import Frame, build_frame, frame_of
from evalyard.store import SESSION_SCOPE, Store

__all__ = [
    "CANDIDATE_LIMIT",
    "RUNNING_TTL",
    "Candidate",
    "Comparison",
    "Reader",
    "RunDigest",
    "fingerprint",
]

#: How many of a project's most recent runs the "Compared with" select considers.
CANDIDATE_LIMIT = 50
#: Seconds a cached value of a running run is trusted.
RUNNING_TTL = 5.0

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _LRU(Generic[K, V]):
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The value of ``key``, made with ``make`` when missing."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        # Computed outside the lock: two threads may both compute a missing entry, which
        # costs time but never correctness.
        value = make()
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._items.clear()


def fingerprint(info: RunInfo, *, now: float) -> tuple[Hashable, ...]:
    """What changes whenever a run's results may have changed (see the module docstring)."""
    base: tuple[Hashable, ...] = (
        info.run_id,
        info.status.value,
        info.result_count,
        info.datapoint_count,
        info.finished_at,
    )
    if info.status is RunStatus.RUNNING:
        return (*base, int(now // RUNNING_TTL))
    return base


@dataclass(frozen=True, slots=True)
class RunDigest:
    """What the Experiments list, the "Compared with" select and the trend need of a run:
    the hashes of its ids and its session-level metric summaries."""

    id_hashes: npt.NDArray[np.int64]
    """The hashes of the run's datapoint ids (session level), sorted: for counting shared
    datapoints without keeping the ids."""
    metrics: dict[str, MetricSummary]
    """Each metric's summary at the session level (its average), by name."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A run offered in the "Compared with" select."""

    info: RunInfo
    """The run."""
    shared: int
    """How many datapoints it shares with the run being viewed."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """A comparison with what its page needs besides the numbers."""

    result: RunComparisonResult
    """What :func:`evalyard.compare_runs` returned."""
    new: ScopeValues
    """This run's values at the compared scope."""
    old: ScopeValues
    """The baseline's values at the compared scope."""
    frame: Frame
    """Both runs' datapoints lined up."""
    memo: dict[Hashable, object] = field(default_factory=dict, repr=False)
    """Per-entry results derived from the comparison (charts), kept with it."""


class Reader:
    """The store reads of the pages, with their cache.

    Args:
        store: the store to read.
        cache_size: how many comparisons (and as many scopes) to keep.
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self, store: Store, *, cache_size: int = 8, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self._clock = clock
        self._comparisons: _LRU[Hashable, Comparison] = _LRU(cache_size)
        self._scopes: _LRU[Hashable, ScopeValues] = _LRU(cache_size * 2)
        self._summaries: _LRU[Hashable, RunDigest] = _LRU(256)
        self._shared: _LRU[Hashable, int] = _LRU(4096)
        self._frames: _LRU[Hashable, tuple[ScopeValues, Frame]] = _LRU(cache_size)
        self._steps: _LRU[Hashable, list[str]] = _LRU(256)
        self._many: _LRU[Hashable, MultiComparison] = _LRU(cache_size)
        self._project: str | None = None

    def restricted(self, project: str | None) -> Reader:
        """This reader (same caches) seeing only the runs of ``project`` (None: all).

        A run of another project is not found, as if it did not exist: what a token
        limited to one project sees of the server.
        """
        if project is None:
            return self
        view = copy.copy(self)
        view._project = project
        return view

    def clear(self) -> None:
        """Forget everything cached."""
        self._comparisons.clear()
        self._scopes.clear()
        self._summaries.clear()
        self._shared.clear()
        self._frames.clear()
        self._steps.clear()
        self._many.clear()

    def _fingerprint(self, info: RunInfo) -> tuple[Hashable, ...]:
        return fingerprint(info, now=self._clock())

    # -- runs ---------------------------------------------------------------------------

    def list_runs(self, *, project: str | None = None, limit: int | None = None) -> list[RunInfo]:
        """Runs, newest first."""
        if self._project is not None:
            if project is not None and project != self._project:
                return []
            project = self._project
        return self.store.list_runs(project=project, limit=limit)

    def get_run(self, run_id: str) -> RunInfo:
        """The run with this exact id (RunNotFoundError otherwise)."""
        info = self.store.get_run(run_id)
        if self._project is not None and info.project != self._project:
            raise RunNotFoundError(run_id)
        return info

    def list_steps(self, info: RunInfo) -> list[str]:
        """The step names of a run, sorted (cached)."""
        return self._steps.get_or_make(
            self._fingerprint(info), lambda: self.store.list_steps(info.run_id)
        )

    def definitions(self, *infos: RunInfo) -> dict[str, MetricDefinition]:
        """The metric definitions that apply to these runs (see ``definitions_for``)."""
        return definitions_for(self.store, *infos)

    def scope(self, info: RunInfo, step: str | None) -> ScopeValues:
        """A run's values at the session level or one step (cached)."""
        scope = SESSION_SCOPE if step is None else step
        key = (self._fingerprint(info), scope)
        return self._scopes.get_or_make(key, lambda: self.store.load_scope(info.run_id, scope))

    def summary(self, info: RunInfo) -> RunDigest:
        """A run's id hashes and metric averages (cached)."""
        return self._summaries.get_or_make(self._fingerprint(info), lambda: self._summarise(info))

    def _summarise(self, info: RunInfo) -> RunDigest:
        values = self.scope(info, None)
        # Python's string hash is stable within a process, which is all the cache needs.
        hashes = np.fromiter(map(hash, values.ids), dtype=np.int64, count=len(values.ids))
        hashes.sort()
        metrics = summarise_scope(values, definitions=self.definitions(info))
        return RunDigest(hashes, {m.metric: m for m in metrics})

    def candidates(self, info: RunInfo, *, limit: int = CANDIDATE_LIMIT) -> list[Candidate]:
        """The project's recent runs that share datapoints with ``info``, newest first."""
        mine = self.summary(info)
        found = []
        for other in self.list_runs(project=info.project, limit=limit + 1):
            if other.run_id == info.run_id:
                continue
            shared = self.shared_count(info, other, mine=mine)
            if shared:
                found.append(Candidate(other, shared))
        return found[:limit]

    def shared_count(self, info: RunInfo, other: RunInfo, *, mine: RunDigest | None = None) -> int:
        """How many datapoints two runs share (cached)."""
        key = (self._fingerprint(info), self._fingerprint(other))

        def count() -> int:
            a = (mine or self.summary(info)).id_hashes
            b = self.summary(other).id_hashes
            if not len(a) or not len(b):
                return 0
            at = np.searchsorted(a, b).clip(max=len(a) - 1)
            return int(np.count_nonzero(a[at] == b))

        return self._shared.get_or_make(key, count)

    # -- comparisons --------------------------------------------------------------------

    def comparison(
        self,
        new: RunInfo,
        old: RunInfo,
        *,
        aggregate_function: str,
        step: str | None,
        steps: list[str],
    ) -> Comparison:
        """The comparison of ``new`` with the baseline ``old`` at a scope (cached), from
        :func:`evalyard.runs.compare_values` over the cached values of both runs."""
        definitions = self.definitions(new, old)
        key = (
            self._fingerprint(new),
            self._fingerprint(old),
            step,
            aggregate_function,
            tuple(sorted((d.name, d.direction.value, d.tolerance) for d in definitions.values())),
        )

        def make() -> Comparison:
            new_values, old_values = self.scope(new, step), self.scope(old, step)
            result = compare_values(
                new,
                old,
                new_values=new_values,
                old_values=old_values,
                definitions=definitions,
                steps=steps,
                aggregate_function=aggregate_function,
                step=step,
            )
            assert result.alignment is not None
            return Comparison(result, new_values, old_values, frame_of(result.alignment))

        return self._comparisons.get_or_make(key, make)

    def many(
        self,
        baseline: RunInfo,
        runs: Sequence[RunInfo],
        *,
        aggregate_function: str,
        step: str | None,
        steps: list[str],
    ) -> MultiComparison:
        """Several runs compared with ``baseline`` (cached), from
        :func:`~evalyard.core.many.compare_many_values` over the cached values of each."""
        everyone = [baseline, *runs]
        definitions = self.definitions(*runs, baseline)
        key = (
            tuple(self._fingerprint(info) for info in everyone),
            step,
            aggregate_function,
            tuple(sorted((d.name, d.direction.value, d.tolerance) for d in definitions.values())),
        )

        def make() -> MultiComparison:
            values = {info.run_id: self.scope(info, step) for info in everyone}
            return compare_many_values(
                list(runs),
                baseline=baseline,
                values=values,
                definitions=definitions,
                steps=steps,
                aggregate_function=aggregate_function,
                step=step,
            )

        return self._many.get_or_make(key, make)

    def single(self, info: RunInfo, *, step: str | None) -> tuple[ScopeValues, Frame]:
        """A run's values at a scope and their frame, for its own page (cached)."""
        scope = SESSION_SCOPE if step is None else step
        key = (self._fingerprint(info), scope)

        def make() -> tuple[ScopeValues, Frame]:
            values = self.scope(info, step)
            return values, build_frame(values, None)

        return self._frames.get_or_make(key, make)

    # -- results ------------------------------------------------------------------------

    def results(self, run_id: str, datapoint_ids: Sequence[str]) -> dict[str, list[Result]]:
        """The results of some datapoints of a run, by datapoint id, epochs in order."""
        by_id: dict[str, list[Result]] = {}
        if not datapoint_ids:
            return by_id
        for result in self.store.get_results(run_id, list(datapoint_ids)):
            by_id.setdefault(result.datapoint_id, []).append(result)
        return by_id
