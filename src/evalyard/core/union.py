"""The datapoints of many runs joined once: their sorted union, and each run's rows in it.

A comparison of many runs pairs each run with the baseline, ranks them, lays their values
side by side per datapoint and, on demand, tests every pair of runs. All of that rests on
one join, :func:`datapoint_union`: each run's (sorted, unique) datapoint ids are looked up
once in the first run's ids, and the few ids the first run lacks are merged in. Any two
runs' :class:`~evalyard.core.compare.Alignment` is then a mask over the union, in numpy.

Example:
    >>> union = datapoint_union([["q1", "q2"], ["q2", "q3"]])
    >>> union.ids.tolist(), union.rows[1].tolist()
    (['q1', 'q2', 'q3'], [-1, 0, 1])
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from evalyard.core.compare import Alignment

__all__ = ["ABSENT", "DatapointUnion", "datapoint_union"]

#: The row of a run at a datapoint it does not have.
ABSENT = -1

IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]


@dataclass(frozen=True, slots=True)
class DatapointUnion:
    """Every datapoint id of some runs, sorted, and where each run's rows are in it."""

    ids: ObjectArray
    """Every datapoint id of any of the runs, sorted."""
    positions: list[IntArray]
    """Per run (in the order given): the position in ``ids`` of each of its rows."""
    rows: list[IntArray]
    """Per run: its row at each position of ``ids``, or :data:`ABSENT`."""
    run_ids: list[ObjectArray]
    """Per run: its datapoint ids (``ids[positions[run]]``), sorted."""

    def __len__(self) -> int:
        return len(self.ids)

    def alignment(self, new: int, old: int) -> Alignment:
        """How run ``new`` and run ``old`` (indexes) line up: what ``align`` would compute."""
        new_rows, old_rows = self.rows[new], self.rows[old]
        common = np.flatnonzero((new_rows != ABSENT) & (old_rows != ABSENT))
        return Alignment(self.run_ids[new], self.run_ids[old], new_rows[common], old_rows[common])


def datapoint_union(ids_per_run: Sequence[Sequence[str]]) -> DatapointUnion:
    """Join the datapoint ids of some runs (each sorted and unique, as in ``ScopeValues``).

    One hash lookup per datapoint of each run, against the first run's ids (the baseline's,
    in a comparison of many runs); the ids the first run lacks are sorted and merged in.
    """
    if not ids_per_run:
        return DatapointUnion(np.zeros(0, dtype=object), [], [], [])
    first = list(ids_per_run[0])
    index = dict(zip(first, range(len(first)), strict=True))
    matches: list[IntArray] = [np.arange(len(first), dtype=np.int64)]
    extra: set[str] = set()
    for ids in ids_per_run[1:]:
        if len(ids) == len(first) and list(ids) == first:
            # Runs of one dataset usually have the same ids: comparing them is ~10x cheaper
            # than looking each one up (and stops at the first difference).
            matches.append(matches[0])
            continue
        match = np.fromiter(
            map(index.get, ids, itertools.repeat(ABSENT)), dtype=np.int64, count=len(ids)
        )
        matches.append(match)
        missing = np.flatnonzero(match == ABSENT)
        if missing.size:
            extra.update(ids[row] for row in missing.tolist())

    first_ids = np.array(first, dtype=object)
    if extra:
        extras = np.array(sorted(extra), dtype=object)
        # Two sorted runs: a stable sort merges them in about one comparison per id.
        order = np.argsort(np.concatenate([first_ids, extras]), kind="stable")
        union = np.concatenate([first_ids, extras])[order]
        where = np.empty(len(order), dtype=np.int64)
        where[order] = np.arange(len(order), dtype=np.int64)
        of_first, of_extra = where[: len(first_ids)], where[len(first_ids) :]
        extra_index = dict(zip(extras.tolist(), of_extra.tolist(), strict=True))
    else:
        union = first_ids
        of_first = np.arange(len(first_ids), dtype=np.int64)
        extra_index = {}

    positions: list[IntArray] = []
    rows: list[IntArray] = []
    for ids, match in zip(ids_per_run, matches, strict=True):
        position = np.empty(len(ids), dtype=np.int64)
        found = match != ABSENT
        position[found] = of_first[match[found]]
        missing = np.flatnonzero(~found)
        if missing.size:
            position[missing] = np.fromiter(
                (extra_index[ids[row]] for row in missing.tolist()),
                dtype=np.int64,
                count=missing.size,
            )
        row = np.full(len(union), ABSENT, dtype=np.int64)
        row[position] = np.arange(len(ids), dtype=np.int64)
        positions.append(position)
        rows.append(row)
    return DatapointUnion(union, positions, rows, [union[p] for p in positions])
