"""Lists of datapoint ids that are made only when read.

A comparison of two runs with a million datapoints sorts every shared datapoint of every
metric into improved, degraded, same or changed: ten metrics make tens of millions of list
entries, which took a third of ``compare_runs``'s time, while most callers read the counts
and a few of the lists. :class:`DatapointIds` keeps the selection (the ids and a mask) and
builds the list the first time it is read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

__all__ = ["DatapointIds"]


class DatapointIds(Sequence[str]):
    """Datapoint ids selected by a mask, in order, as a read-only list made when first read.

    It compares equal to a list (or tuple) of the same ids, and ``list(ids)`` or
    :meth:`to_list` gives a plain list.
    """

    __slots__ = ("_count", "_ids", "_list", "_mask")

    def __init__(self, ids: npt.NDArray[np.object_], mask: npt.NDArray[np.bool_], count: int):
        self._ids: npt.NDArray[np.object_] | None = ids
        self._mask: npt.NDArray[np.bool_] | None = mask
        self._count = count
        self._list: list[str] | None = None

    def to_list(self) -> list[str]:
        """The ids as a plain list (the same list each time: do not change it)."""
        found = self._list
        if found is not None:
            return found
        ids, mask = self._ids, self._mask
        if ids is None or mask is None:
            # Another thread made the list meanwhile: it sets the list before letting go.
            made = self._list
            assert made is not None
            return made
        made_now: list[str] = ids[mask].tolist()
        self._list = made_now
        self._ids = self._mask = None
        return made_now

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        return self.to_list()[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_list())

    def __contains__(self, value: object) -> bool:
        return value in self.to_list()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DatapointIds):
            return self._count == other._count and self.to_list() == other.to_list()
        if isinstance(other, list | tuple):
            return self._count == len(other) and self.to_list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: Sequence[str]) -> list[str]:
        return self.to_list() + list(other)

    def __radd__(self, other: Sequence[str]) -> list[str]:
        return list(other) + self.to_list()

    def __repr__(self) -> str:
        return repr(self.to_list())

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (sent to another process) as the plain list it stands for.
        return (list, (self.to_list(),))
