"""Datapoint ids kept as the store keeps them, made into Python strings only when read.

A comparison of two runs with a million datapoints used to spend half its time on ids:
splitting each run's stored ids into a million ``str`` objects, checking their order,
sorting both runs' ids together and building the lists of improved, degraded, same and
changed datapoints of every metric. Most callers read counts and a few lists, so:

- :class:`IdColumn` holds a block's ids as the store encodes them (UTF-8 joined by
  newlines) and, for joining and checking order, as a numpy array of fixed-width bytes
  (:meth:`IdColumn.keys`): one buffer, no Python object per id. UTF-8 bytes sort as the
  strings' code points do, so the bytes' order is the ids' order. The list of strings is
  made the first time something reads an id.
- :class:`DatapointIds` keeps a selection (an id array and a mask) and builds its list
  the first time it is read.

Both compare equal to a list (or tuple) of the same ids and are sent to other processes
(pickled) as plain lists.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "DatapointIds",
    "IdColumn",
    "id_keys",
    "id_objects",
    "id_text",
    "id_texts",
    "take_ids",
]

BytesArray = npt.NDArray[np.bytes_]
IdArray = npt.NDArray[Any]
"""Ids as a numpy array: objects (``str``) or fixed-width UTF-8 bytes (``S``)."""

_NEWLINE = 10
# Ids of uneven lengths are padded to the longest in a fixed-width array; past this many
# times the encoded size, the padding costs more than it saves and the ids stay text.
_MAX_PADDING_FACTOR = 4


class _LazyIds(Sequence[str]):
    """A read-only sequence of ids whose list is made on first read (see subclasses)."""

    __slots__ = ()

    def to_list(self) -> list[str]:
        """The ids as a plain list (the same list each time: do not change it)."""
        raise NotImplementedError

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
        if isinstance(other, _LazyIds | list | tuple):
            return len(self) == len(other) and self.to_list() == list(other)
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


class IdColumn(_LazyIds):
    """A block's datapoint ids as stored: UTF-8, joined by newlines (ids hold no control
    characters), with the list of strings made when first read.

    :meth:`keys` gives them as a fixed-width bytes array for joining and ordering in C.
    """

    __slots__ = ("_count", "_increasing", "_keys", "_list", "_parts", "_raw")

    def __init__(self, raw: bytes, count: int) -> None:
        self._raw: bytes | None = raw
        self._parts: list[IdColumn] = []  # with _raw None: the columns whose ids these are
        self._count = count
        self._keys: BytesArray | bool | None = False  # False: not computed yet
        self._list: list[str] | None = None
        self._increasing: bool | None = None  # None: not checked yet

    @classmethod
    def concat(cls, columns: Sequence[IdColumn]) -> IdColumn:
        """The ids of several columns one after the other (known to be strictly
        increasing when each column is and each one's last id is below the next's first)."""
        parts = [column for column in columns if column._count]
        joined = cls(b"", sum(c._count for c in parts))
        keys = [column._keys for column in parts]
        if parts and all(isinstance(found, np.ndarray) for found in keys):
            # Joined and compared as keys: the text is put end to end only if it is read.
            joined._keys = np.concatenate(keys)  # type: ignore[arg-type]
            joined._raw, joined._parts = None, parts
        else:
            joined._raw = b"\n".join(column.raw for column in parts)
        if all(column._increasing for column in parts) and all(
            first[-1] < second[0] for first, second in itertools.pairwise(parts)
        ):
            joined._increasing = True
        return joined

    def increasing(self) -> bool:
        """Whether the ids are strictly increasing (sorted and unique); checked once.

        UTF-8 bytes order as code points do, so this is the strings' order.
        """
        found = self._increasing
        if found is None:
            keys = self.keys()
            found = _strings_increasing(self.to_list()) if keys is None else keys_increasing(keys)
            self._increasing = found
        return found

    @property
    def raw(self) -> bytes:
        """The encoded ids: UTF-8, joined by newlines."""
        found = self._raw
        if found is None:
            found = self._raw = b"\n".join(column.raw for column in self._parts)
            self._parts = []
        return found

    def keys(self) -> BytesArray | None:
        """The ids as a numpy array of fixed-width UTF-8 bytes (``S<width>``, shorter ids
        padded with NUL, which no id holds), or None when their lengths are so uneven that
        the padding would take more than a few times their size."""
        found = self._keys
        if found is False:
            found = self._keys = _fixed_width(self.raw, self._count)
        return found  # type: ignore[return-value]

    def to_list(self) -> list[str]:
        found = self._list
        if found is None:
            found = self.raw.decode("utf-8").split("\n") if self._count else []
            if len(found) != self._count:
                raise ValueError(
                    f"a stored id column holds {len(found)} ids where its block has "
                    f"{self._count} rows; the store is damaged"
                )
            self._list = found
        return found

    def take(self, index: npt.NDArray[np.int64]) -> IdColumn | list[str]:
        """The ids at ``index``, in that order."""
        keys = self.keys() if self._list is None else None
        if keys is None:
            ids = self.to_list()
            return [ids[i] for i in index.tolist()]
        taken = keys[index]
        # Each row's bytes then a newline, the NUL padding dropped (no id holds NUL): the
        # stored encoding, built without one Python object per id.
        width = taken.dtype.itemsize
        rows = np.empty((len(taken), width + 1), dtype=np.uint8)
        rows[:, :width] = taken.view(np.uint8).reshape(len(taken), width)
        rows[:, width] = _NEWLINE
        if len(taken) and bool(np.all(rows[:, width - 1])):  # no id padded
            raw = rows.tobytes()[:-1]
        else:
            flat = rows.reshape(-1)
            raw = flat[flat != 0].tobytes()[:-1]
        column = IdColumn(raw, len(taken))
        column._keys = taken
        return column

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if self._list is None and isinstance(index, int):
            keys = self.keys()
            if keys is not None:  # one id without making them all
                return str(keys[index].decode("utf-8"))
        return self.to_list()[index]


#: Bytes a long pass over ids takes at a time (stays in the CPU's cache).
_SLICE_BYTES = 1 << 19


def _fixed_width(raw: bytes, count: int) -> BytesArray | None:
    """``count`` ids joined by newlines as a fixed-width bytes array (see IdColumn.keys)."""
    if count == 0:
        return np.zeros(0, dtype="S1")
    buffer = np.frombuffer(raw, dtype=np.uint8)
    width = raw.find(b"\n") if count > 1 else len(raw)
    if width > 0 and len(raw) == count * (width + 1) - 1:
        # Every id as long as the first (hashed ids, UUIDs)?
        fixed = _one_width(buffer, count, width)
        if fixed is not None:
            return fixed
    ends = np.flatnonzero(buffer == _NEWLINE)
    if len(ends) != count - 1:
        raise ValueError(
            f"a stored id column holds {len(ends) + 1} ids where its block has {count} "
            "rows; the store is damaged"
        )
    starts = np.concatenate([[0], ends + 1])
    lengths = np.concatenate([ends, [len(raw)]]) - starts
    width = int(lengths.max())
    if width == 0 or width * count > _MAX_PADDING_FACTOR * len(raw) + 64:
        return None
    padded = np.zeros((count, width), dtype=np.uint8)
    padded[np.arange(width) < lengths[:, None]] = buffer[buffer != _NEWLINE]
    uneven: BytesArray = padded.view(f"S{width}").ravel()
    return uneven


def _one_width(buffer: npt.NDArray[np.uint8], count: int, width: int) -> BytesArray | None:
    """The ``count`` ids of ``buffer`` as ``S<width>``, when each is ``width`` bytes long
    and followed by a newline (the last one by nothing); else None."""
    if not bool(np.all(buffer[width :: width + 1] == _NEWLINE)):
        return None
    # Each id at its place in the buffer, one row every width + 1 bytes, copied whole.
    rows: BytesArray = np.ndarray((count,), dtype=f"S{width}", buffer=buffer, strides=(width + 1,))
    return rows.copy()


def ids_increasing(ids: Sequence[str]) -> bool:
    """Whether ids are strictly increasing (sorted and unique): numpy comparisons of a
    stored column's bytes, checked once per column (UTF-8 orders as code points do), or
    one pass of C-level string comparisons."""
    if isinstance(ids, IdColumn):
        return ids.increasing()
    return _strings_increasing(ids)


def _strings_increasing(ids: Sequence[str]) -> bool:
    return all(map(operator.lt, ids, itertools.islice(ids, 1, None)))


def keys_increasing(keys: BytesArray) -> bool:
    """Whether fixed-width ids are strictly increasing, compared a slice at a time."""
    step = max(1, _SLICE_BYTES // max(keys.dtype.itemsize, 1))
    for start in range(0, len(keys) - 1, step):
        part = keys[start : start + step + 1]
        if not bool(np.all(part[1:] > part[:-1])):
            return False
    return True


def id_keys(ids: Sequence[str]) -> BytesArray | None:
    """The fixed-width bytes of ids read from the store (see IdColumn.keys); None for ids
    given as strings, or too uneven to pad."""
    return ids.keys() if isinstance(ids, IdColumn) else None


def take_ids(ids: Sequence[str], index: npt.NDArray[np.int64]) -> Sequence[str]:
    """The ids at ``index``, in that order (still bytes when they were)."""
    if isinstance(ids, IdColumn):
        return ids.take(index)
    return [ids[i] for i in index.tolist()]


def id_text(value: object) -> str:
    """One element of an id array as a string."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def id_texts(ids: IdArray) -> list[str]:
    """An id array (objects or fixed-width bytes) as a list of strings."""
    if ids.dtype.kind == "S":
        if not ids.size:
            return []
        return b"\n".join(ids.tolist()).decode("utf-8").split("\n")
    texts: list[str] = ids.tolist()
    return texts


def id_objects(ids: IdArray) -> npt.NDArray[np.object_]:
    """An id array as an object array of strings."""
    if ids.dtype.kind == "S":
        return np.array(id_texts(ids), dtype=object)
    return ids


class DatapointIds(_LazyIds):
    """Datapoint ids selected by a mask, in order, as a read-only list made when first read.

    It compares equal to a list (or tuple) of the same ids, and ``list(ids)`` or
    :meth:`to_list` gives a plain list.
    """

    __slots__ = ("_count", "_ids", "_list", "_mask")

    def __init__(self, ids: IdArray, mask: npt.NDArray[np.bool_] | None, count: int):
        """``ids[mask]`` (all of ``ids`` when ``mask`` is None), ``count`` of them."""
        self._ids: IdArray | None = ids
        self._mask = mask
        self._count = count
        self._list: list[str] | None = None

    def to_list(self) -> list[str]:
        found = self._list
        if found is not None:
            return found
        ids, mask = self._ids, self._mask
        if ids is None:
            # Another thread made the list meanwhile: it sets the list before letting go.
            made = self._list
            assert made is not None
            return made
        made_now = id_texts(ids if mask is None else ids[mask])
        self._list = made_now
        self._ids = self._mask = None
        return made_now

    def __len__(self) -> int:
        return self._count
