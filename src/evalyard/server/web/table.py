"""The datapoint table of a run page, on columns: which rows, in which order, which page.

Pure and columnar: a :class:`Frame` lines up the datapoints of this run and (when comparing)
the baseline, one row per datapoint id in id order, with each run's row in its
:class:`~evalyard.core.columns.ScopeValues`. Filters are id lists from the comparison
(``MetricDelta.improved`` and the like: the rules stay in ``compare_scopes``); sorting
is an ``argsort`` over a metric's column; a page is a slice. Only the 50 ids of the page
leave this module, to have their results read from the store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from evalyard.core.columns import MetricColumn, ScopeValues
from evalyard.core.compare import Alignment
from evalyard.core.ids import natural_key
from evalyard.core.model import MetricKind

__all__ = [
    "PAGE_SIZE",
    "Frame",
    "PageSlice",
    "build_frame",
    "frame_of",
    "order_rows",
    "page_slice",
]

#: Rows per page of a datapoint table.
PAGE_SIZE = 50

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]


@dataclass(frozen=True, slots=True)
class Frame:
    """The datapoints of one or two runs at one scope, one row per id, ids sorted."""

    ids: list[str]
    """Every datapoint id of either run, sorted."""
    new_rows: IntArray
    """Each id's row in this run's scope values, or -1 when this run lacks it."""
    old_rows: IntArray
    """Each id's row in the baseline's scope values, or -1 (all -1 without a baseline)."""
    _index: list[dict[str, int]] = field(default_factory=list, repr=False)
    _natural: list[IntArray] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, ids: Sequence[str]) -> IntArray:
        """The frame rows of ``ids`` (ids the frame lacks are left out), in id order."""
        if not self._index:
            # Built whole, then published in one step: threads share cached frames.
            index = {datapoint_id: i for i, datapoint_id in enumerate(self.ids)}
            self._index[:] = [index]
        get = self._index[0].get
        rows = np.fromiter((get(i, -1) for i in ids), dtype=np.int64, count=len(ids))
        rows = rows[rows >= 0]
        rows.sort()
        return rows

    def all_rows(self) -> IntArray:
        """Every row, in id order."""
        return np.arange(len(self.ids), dtype=np.int64)

    def natural_rank(self) -> IntArray:
        """Each row's place in natural id order (``q2`` before ``q10``), computed once."""
        if not self._natural:
            keys = [natural_key(datapoint_id) for datapoint_id in self.ids]
            order = sorted(range(len(self.ids)), key=keys.__getitem__)
            rank = np.empty(len(self.ids), dtype=np.int64)
            rank[np.asarray(order, dtype=np.int64)] = np.arange(len(self.ids), dtype=np.int64)
            self._natural[:] = [rank]
        return self._natural[0]

    def new_only_rows(self) -> IntArray:
        """Rows only this run has."""
        return np.flatnonzero((self.new_rows >= 0) & (self.old_rows < 0)).astype(np.int64)

    def old_only_rows(self) -> IntArray:
        """Rows only the baseline has."""
        return np.flatnonzero((self.new_rows < 0) & (self.old_rows >= 0)).astype(np.int64)

    def values(
        self, column: MetricColumn | None, *, baseline: bool = False
    ) -> npt.NDArray[np.float64] | ObjectArray:
        """A metric's value on every row (NaN or None where the run lacks it)."""
        rows = self.old_rows if baseline else self.new_rows
        kind = MetricKind.NUMBER if column is None else column.kind
        if kind is MetricKind.STRING:
            out: FloatArray | ObjectArray = np.full(len(rows), None, dtype=object)
        else:
            out = np.full(len(rows), np.nan, dtype=np.float64)
        if column is None:
            return out
        present = rows >= 0
        out[present] = column.values[rows[present]]
        return out


def frame_of(alignment: Alignment) -> Frame:
    """The frame of a comparison, from the join ``compare_scopes`` made."""
    union = alignment.union()
    n = len(union.ids)
    new_rows = np.full(n, -1, dtype=np.int64)
    old_rows = np.full(n, -1, dtype=np.int64)
    new_rows[union.of_new] = np.arange(len(union.of_new), dtype=np.int64)
    old_rows[union.of_old] = np.arange(len(union.of_old), dtype=np.int64)
    return Frame(union.ids.tolist(), new_rows, old_rows)


def build_frame(new: ScopeValues, old: ScopeValues | None) -> Frame:
    """Line up this run's datapoints with the baseline's (or alone, on a run's own page)."""
    if old is None:
        n = len(new.ids)
        return Frame(list(new.ids), np.arange(n, dtype=np.int64), np.full(n, -1, dtype=np.int64))
    ids = sorted(set(new.ids).union(old.ids))
    new_index = {datapoint_id: i for i, datapoint_id in enumerate(new.ids)}
    old_index = {datapoint_id: i for i, datapoint_id in enumerate(old.ids)}
    new_rows = np.fromiter((new_index.get(i, -1) for i in ids), dtype=np.int64, count=len(ids))
    old_rows = np.fromiter((old_index.get(i, -1) for i in ids), dtype=np.int64, count=len(ids))
    return Frame(ids, new_rows, old_rows)


def order_rows(
    rows: IntArray,
    *,
    key: str,
    descending: bool,
    new_values: FloatArray | ObjectArray,
    old_values: FloatArray | ObjectArray,
    natural: IntArray | None = None,
) -> IntArray:
    """``rows`` (in id order) sorted by ``key``: ``id``, ``value`` (this run's value),
    ``baseline`` or ``delta``. Missing values go last either way; ties keep id order.

    With ``natural`` (each row's rank in natural id order, :meth:`Frame.natural_rank`),
    ids and ties sort naturally: ``q2`` before ``q10``.
    """
    if natural is not None and len(rows):
        rows = rows[np.argsort(natural[rows], kind="stable")]
    if key == "id":
        return rows[::-1].copy() if descending else rows
    keys: FloatArray
    if key == "delta":
        keys = (
            np.asarray(new_values, dtype=np.float64)[rows]
            - np.asarray(old_values, dtype=np.float64)[rows]
        )
    else:
        chosen = new_values if key == "value" else old_values
        if chosen.dtype == object:
            texts = np.asarray(chosen[rows], dtype=object)
            return _order_texts(rows, texts, descending=descending)
        keys = np.asarray(chosen[rows], dtype=np.float64)
    # argsort puts NaN last; negating keeps it last when descending.
    order = np.argsort(-keys if descending else keys, kind="stable")
    return rows[order]


def _order_texts(rows: IntArray, texts: ObjectArray, *, descending: bool) -> IntArray:
    present = [i for i, text in enumerate(texts.tolist()) if text is not None]
    missing = [i for i, text in enumerate(texts.tolist()) if text is None]
    # sort(reverse=True) keeps ties in their order, so ids stay ascending within a tie.
    present.sort(key=lambda i: str(texts[i]), reverse=descending)
    order = np.asarray(present + missing, dtype=np.int64)
    return rows[order] if len(order) else rows


@dataclass(frozen=True, slots=True)
class PageSlice:
    """Which rows one page shows."""

    page: int
    """The page number, from 1 (clamped to the last page)."""
    page_count: int
    """How many pages there are (at least 1)."""
    start: int
    """The first row shown (0-based)."""
    stop: int
    """One past the last row shown."""
    total: int
    """How many rows there are in all."""


def page_slice(total: int, page: int, *, page_size: int = PAGE_SIZE) -> PageSlice:
    """The slice of page ``page`` of ``total`` rows; a page past the end shows the last."""
    page_count = max(1, math.ceil(total / page_size))
    page = min(max(page, 1), page_count)
    start = (page - 1) * page_size
    return PageSlice(page, page_count, start, min(start + page_size, total), total)
