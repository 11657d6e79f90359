"""Metric values as columns: the form in which runs are stored for comparing, and compared.

A run's metric values are kept per write batch and per scope (the session, or one step
name) as a *block*: the datapoint ids, the epochs, and one numpy array per metric. Reading a
scope merges the blocks in write order, keeps the last record for each (datapoint, epoch)
(docs/comparison.md §1: logging again replaces), and then averages the epochs of each datapoint.
Everything here works on whole columns; nothing makes one Python object per value.

The stored encoding of a block:

- ids: the datapoint ids joined by ``\\n`` in UTF-8 (ids hold no control characters);
- epochs: little-endian int32, or nothing when every epoch is 0;
- metrics: a 4-byte little-endian header length, a JSON header
  ``[[name, kind, nbytes], ...]``, then each column: little-endian float64 with NaN for a
  missing value (numbers and bools), or a UTF-8 JSON list of strings and nulls.
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from evalyard.core.idlists import IdColumn, id_keys, ids_increasing, take_ids
from evalyard.core.model import MetricKind

__all__ = [
    "Block",
    "LiveRecords",
    "MetricColumn",
    "MixedKindsError",
    "ScopeValues",
    "StoredValue",
    "block_from_rows",
    "block_row_bytes",
    "collapse_epochs",
    "concat_blocks",
    "decode_block",
    "encode_block",
    "follow_in_order",
    "merge_blocks",
    "merge_kinds",
    "present_mask",
    "read_columns",
    "record_keys",
    "sort_block",
    "split_sorted",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]


def merge_kinds(a: MetricKind, b: MetricKind) -> MetricKind:
    """The kind of a metric seen as ``a`` in some records and ``b`` in others."""
    if a is b:
        return a
    if MetricKind.STRING in (a, b):
        return MetricKind.STRING
    return MetricKind.NUMBER


@dataclass(frozen=True, slots=True)
class MetricColumn:
    """One metric's values, one per row of the block or scope that holds it."""

    kind: MetricKind
    """number, bool or string."""
    values: FloatArray | ObjectArray
    """float64 with NaN for missing (numbers, bools as 0/1), or objects (str or None)."""
    epoch_counts: IntArray | None = None
    """After collapsing epochs: how many epochs had a value, per datapoint (None: all ≤ 1)."""
    epoch_spread: FloatArray | None = None
    """After collapsing epochs: max − min across epochs per datapoint (numbers and bools)."""

    def present(self) -> npt.NDArray[np.bool_]:
        """A mask of the rows that have a value."""
        return present_mask(self.values, self.kind)

    def take(self, index: IntArray) -> MetricColumn:
        """The rows at ``index``, in that order."""
        return MetricColumn(
            self.kind,
            self.values[index],
            None if self.epoch_counts is None else self.epoch_counts[index],
            None if self.epoch_spread is None else self.epoch_spread[index],
        )

    def as_kind(self, kind: MetricKind) -> MetricColumn:
        """The same values read as ``kind`` (numbers and bools as text for a string metric)."""
        if kind is self.kind or (kind is MetricKind.NUMBER and self.kind is MetricKind.BOOL):
            return MetricColumn(kind, self.values, self.epoch_counts, self.epoch_spread)
        if kind is MetricKind.STRING:
            texts = np.array(
                [None if np.isnan(v) else _number_text(v, self.kind) for v in self.values],
                dtype=object,
            )
            return MetricColumn(kind, texts, self.epoch_counts, None)
        raise ValueError(f"cannot read a {self.kind} metric as {kind}")


def present_mask(values: npt.NDArray[Any], kind: MetricKind) -> npt.NDArray[np.bool_]:
    """A mask of the values that are there: not NaN (numbers, bools), not None (strings)."""
    if kind is MetricKind.STRING:
        return np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    mask: npt.NDArray[np.bool_] = ~np.isnan(values.astype(np.float64, copy=False))
    return mask


def _number_text(value: float, kind: MetricKind) -> str:
    if kind is MetricKind.BOOL:
        return "true" if value else "false"
    return repr(int(value)) if value.is_integer() else repr(value)


def _missing(kind: MetricKind, n: int) -> FloatArray | ObjectArray:
    if kind is MetricKind.STRING:
        return np.full(n, None, dtype=object)
    return np.full(n, np.nan, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Block:
    """The metric values of some results for one scope: one row per (datapoint, epoch)."""

    ids: Sequence[str]
    """The datapoint id of each row: a list, or an :class:`IdColumn` when read from the
    store (decoded into strings when first read)."""
    epochs: IntArray
    """The epoch of each row."""
    columns: dict[str, MetricColumn] = field(default_factory=dict)
    """The metrics, each one value per row."""

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: IntArray) -> Block:
        """The rows at ``index``, in that order."""
        return Block(
            take_ids(self.ids, index),
            self.epochs[index],
            {name: column.take(index) for name, column in self.columns.items()},
        )


@dataclass(frozen=True, slots=True)
class ScopeValues:
    """One run's values at one scope, one row per datapoint (epochs averaged), ids sorted."""

    ids: Sequence[str]
    """The datapoint ids, unique and sorted: a list, or an :class:`IdColumn` when read
    from the store."""
    columns: dict[str, MetricColumn]
    """Each metric, one value per datapoint."""
    epochs: int = 1
    """The largest number of epochs any datapoint has."""


def encode_block(block: Block) -> tuple[bytes, bytes | None, bytes]:
    """Encode a block as ``(ids, epochs, metrics)`` bytes for the store."""
    stored = block.ids
    ids = stored.raw if isinstance(stored, IdColumn) else "\n".join(stored).encode("utf-8")
    epochs = None if not block.epochs.any() else block.epochs.astype("<i4", copy=False).tobytes()
    header: list[list[Any]] = []
    payloads: list[bytes] = []
    for name, column in block.columns.items():
        if column.kind is MetricKind.STRING:
            payload = json.dumps(column.values.tolist(), ensure_ascii=False).encode("utf-8")
            payload += b" " * (-len(payload) % 8)  # JSON may end in blanks
        else:
            payload = column.values.astype("<f8", copy=False).tobytes()
        header.append([name, column.kind.value, len(payload)])
        payloads.append(payload)
    head = json.dumps(header, ensure_ascii=False).encode("utf-8")
    # Blanks after the header put every column at a multiple of 8 bytes from the start:
    # read back, the floats are aligned, and numpy's passes over them run at full speed
    # (a comparison of unaligned columns took half as long again).
    head += b" " * (-(4 + len(head)) % 8)
    return ids, epochs, b"".join([len(head).to_bytes(4, "little"), head, *payloads])


def decode_block(n: int, ids: bytes, epochs: bytes | None, metrics: bytes | None) -> Block:
    """Decode what :func:`encode_block` made; ``n`` is the number of rows.

    With ``metrics`` None, only the ids and epochs are decoded.
    """
    id_list = IdColumn(bytes(ids), n)
    if epochs is None:
        epoch_array: IntArray = np.zeros(n, dtype=np.int64)
    else:
        epoch_array = np.frombuffer(bytes(epochs), dtype="<i4").astype(np.int64)
    if metrics is None:
        return Block(id_list, epoch_array, {})
    raw = memoryview(bytes(metrics))
    head_len = int.from_bytes(raw[:4], "little")
    header = json.loads(bytes(raw[4 : 4 + head_len]))
    offset = 4 + head_len
    columns: dict[str, MetricColumn] = {}
    for name, kind_text, nbytes in header:
        kind = MetricKind(kind_text)
        chunk = raw[offset : offset + nbytes]
        offset += nbytes
        if kind is MetricKind.STRING:
            values: FloatArray | ObjectArray = np.array(json.loads(bytes(chunk)), dtype=object)
        else:
            # A read-only view of the stored bytes: no copy (values are never written),
            # unless the floats are not aligned (blocks written before columns were
            # placed at multiples of 8 bytes): one copy then costs less than the slower
            # passes over them.
            values = np.frombuffer(chunk, dtype="<f8").astype(np.float64, copy=False)
            if not values.flags.aligned:
                values = np.array(values, dtype=np.float64)
        columns[name] = MetricColumn(kind, values)
    return Block(id_list, epoch_array, columns)


class StoredValue(Protocol):
    """A stored binary value read a part at a time (an SQLite BLOB opened for reading)."""

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes from ``offset``."""
        ...

    def read_into(self, offset: int, into: npt.NDArray[np.uint8]) -> None:
        """Fill ``into`` with the bytes from ``offset``."""
        ...


def read_columns(pieces: Sequence[tuple[int, StoredValue]]) -> dict[str, MetricColumn] | None:
    """The metric columns of blocks whose rows follow one another, from each block's row
    count and its stored ``metrics`` (as :func:`encode_block` made them): the values of a
    number column are read straight into their place in one array, with no copy of the
    whole block in between. A metric a block lacks is missing in its rows.

    Returns:
        the columns, or None when a metric is text in one block and a number in another.

    Raises:
        ValueError: when a stored value is not what its header says (a damaged store).
    """
    layouts: list[list[tuple[str, MetricKind, int, int]]] = []
    kinds: dict[str, MetricKind] = {}
    for rows, stored in pieces:
        head_len = int.from_bytes(stored.read(0, 4), "little")
        offset = 4 + head_len
        layout = []
        for name, kind_text, nbytes in json.loads(stored.read(4, head_len)):
            kind = MetricKind(kind_text)
            if kind is not MetricKind.STRING and nbytes != 8 * rows:
                raise ValueError(
                    f"metric {name!r} holds {nbytes} bytes for {rows} rows; the store is damaged"
                )
            layout.append((name, kind, offset, nbytes))
            offset += nbytes
            known = kinds.get(name)
            if known is not None and (known is MetricKind.STRING) != (kind is MetricKind.STRING):
                return None
            kinds[name] = kind if known is None else merge_kinds(known, kind)
        layouts.append(layout)
    total = sum(rows for rows, _ in pieces)
    arrays = {
        name: np.empty(total, dtype=object if kind is MetricKind.STRING else np.float64)
        for name, kind in kinds.items()
    }
    start = 0
    for (rows, stored), layout in zip(pieces, layouts, strict=True):
        end = start + rows
        missing = set(arrays)
        for name, kind, offset, nbytes in layout:
            values = arrays[name]
            missing.discard(name)
            if kind is MetricKind.STRING:
                texts = json.loads(stored.read(offset, nbytes))
                if len(texts) != rows:
                    raise ValueError(
                        f"metric {name!r} holds {len(texts)} values for {rows} rows; the "
                        "store is damaged"
                    )
                values[start:end] = np.array(texts, dtype=object)
            else:
                stored.read_into(offset, values[start:end].view(np.uint8))
        for name in missing:
            arrays[name][start:end] = None if kinds[name] is MetricKind.STRING else np.nan
        start = end
    if not np.dtype("<f8").isnative:  # the stored floats are little-endian
        for name, values in arrays.items():
            if kinds[name] is not MetricKind.STRING:
                values.byteswap(inplace=True)
    return {name: MetricColumn(kinds[name], values) for name, values in arrays.items()}


def record_keys(ids: Sequence[str], epochs: IntArray, *, with_epochs: bool) -> list[Hashable]:
    """The (datapoint, epoch) key of each row: the id alone when no epoch is ever above 0."""
    if not with_epochs:
        return list(ids)
    return list(zip(ids, epochs.tolist(), strict=True))


@dataclass(frozen=True, slots=True)
class LiveRecords:
    """Which batch holds each record at the session scope, for dropping replaced step rows."""

    batch_of: dict[Hashable, int]
    """The batch id of each record key."""
    with_epochs: bool
    """Whether keys are (datapoint id, epoch) pairs rather than datapoint ids."""


def concat_blocks(blocks: Sequence[Block]) -> Block:
    """The rows of several blocks one after the other; a metric a block lacks is missing."""
    if len(blocks) == 1:
        return blocks[0]
    kinds: dict[str, MetricKind] = {}
    for block in blocks:
        for name, column in block.columns.items():
            known = kinds.get(name)
            kinds[name] = column.kind if known is None else merge_kinds(known, column.kind)
    ids: Sequence[str]
    if all(isinstance(block.ids, IdColumn) for block in blocks):
        ids = IdColumn.concat([block.ids for block in blocks])  # type: ignore[misc]
    else:
        id_list: list[str] = []
        for block in blocks:
            id_list.extend(block.ids)
        ids = id_list
    epochs = np.concatenate([b.epochs for b in blocks]) if blocks else np.zeros(0, dtype=np.int64)
    columns: dict[str, MetricColumn] = {}
    for name, kind in kinds.items():
        parts: list[FloatArray | ObjectArray] = []
        for block in blocks:
            found = block.columns.get(name)
            parts.append(
                _missing(kind, len(block)) if found is None else found.as_kind(kind).values
            )
        values: FloatArray | ObjectArray = np.concatenate(parts)  # type: ignore[assignment]
        columns[name] = MetricColumn(kind, values)
    return Block(ids, epochs, columns)


def merge_blocks(
    blocks: Sequence[tuple[int, Block]],
    *,
    live: LiveRecords | None = None,
    want_live: bool = False,
) -> tuple[Block, LiveRecords | None]:
    """Merge the blocks of one scope, given as ``(batch_id, block)`` in write order.

    The last row for each (datapoint, epoch) wins. With ``live`` (the batch that holds each
    record at the session scope), rows of a step scope that a later batch replaced are
    dropped, since a record is replaced as a whole, steps included.

    Returns:
        the merged block, and (when ``want_live``) the batch holding each record.
    """
    empty = np.zeros(0, dtype=np.int64)
    if not blocks:
        return Block([], empty, {}), (LiveRecords({}, False) if want_live else None)
    if len(blocks) == 1 and live is None and not want_live:
        # A stored block holds each (datapoint, epoch) once: the write side and merging
        # both keep the last record only. Nothing to do.
        return blocks[0][1], None
    if live is None and not want_live and follow_in_order([block for _, block in blocks]):
        # Pieces of one sorted block stored apart (a run too large for one block): their
        # rows follow each other in id order, each record once.
        return concat_blocks([block for _, block in blocks]), None
    merged = concat_blocks([block for _, block in blocks])
    if live is None and not want_live and not merged.epochs.any():
        id_bytes = id_keys(merged.ids)
        if id_bytes is not None:
            return _last_of_each_id(merged, id_bytes), None
    batch_of_row = np.concatenate(
        [np.full(len(block), batch_id, dtype=np.int64) for batch_id, block in blocks]
    )
    with_epochs = live.with_epochs if live is not None else bool(merged.epochs.any())
    keys = record_keys(merged.ids, merged.epochs, with_epochs=with_epochs)
    last = dict(zip(keys, range(len(keys)), strict=True))
    rows: IntArray | None = None
    if len(last) != len(keys):
        rows = np.fromiter(last.values(), dtype=np.int64, count=len(last))
        rows.sort()
    if live is not None:
        candidates = rows if rows is not None else np.arange(len(keys), dtype=np.int64)
        batch_of = live.batch_of
        alive = np.fromiter(
            (
                batch_of.get(keys[r]) == b
                for r, b in zip(candidates.tolist(), batch_of_row[candidates].tolist(), strict=True)
            ),
            dtype=bool,
            count=len(candidates),
        )
        rows = candidates[alive]
    result = merged if rows is None else merged.take(rows)
    if not want_live:
        return result, None
    kept = rows if rows is not None else np.arange(len(keys), dtype=np.int64)
    batch_map = dict(
        zip((keys[i] for i in kept.tolist()), batch_of_row[kept].tolist(), strict=True)
    )
    return result, LiveRecords(batch_map, with_epochs)


def _last_of_each_id(merged: Block, keys: npt.NDArray[np.bytes_]) -> Block:
    """The rows of ``merged`` (no epochs) that are the last of their datapoint id, in
    their order: a stable sort of the ids' bytes puts each id's rows together in write
    order, so the last of each run of equal ids is the one that wins."""
    order = np.argsort(keys, kind="stable")
    in_order = keys[order].view(f"V{keys.dtype.itemsize}")
    last = np.ones(len(order), dtype=bool)
    last[:-1] = in_order[1:] != in_order[:-1]
    if bool(last.all()):
        return merged
    rows = np.sort(order[last]).astype(np.int64, copy=False)
    return merged.take(rows)


def follow_in_order(blocks: Sequence[Block]) -> bool:
    """Whether the blocks (without epochs) are each sorted and follow one another in id
    order, so that putting them end to end is already their merge."""
    if any(block.epochs.any() for block in blocks):
        return False
    for first, second in itertools.pairwise(blocks):
        if first.ids and second.ids and not first.ids[-1] < second.ids[0]:
            return False
    return all(ids_increasing(block.ids) for block in blocks)


def block_row_bytes(block: Block) -> int:
    """About how many bytes one row of ``block`` takes once encoded (its id, its epoch
    and every column); text columns are estimated from up to 1,000 of their values."""
    total = 8
    if isinstance(block.ids, IdColumn):
        total += len(block.ids.raw) // max(len(block), 1) + 1
    elif sample := block.ids[:1000]:
        total += sum(len(i.encode("utf-8")) + 1 for i in sample) // len(sample)
    for column in block.columns.values():
        if column.kind is MetricKind.STRING:
            texts = [v for v in column.values[:1000].tolist() if v is not None]
            total += 8 + (sum(len(t.encode("utf-8")) for t in texts) // len(texts) if texts else 0)
        else:
            total += 8
    return total


def split_sorted(block: Block, starts: Sequence[tuple[str, int]]) -> list[Block]:
    """Cut a sorted block at the (datapoint id, epoch) keys ``starts``: piece ``i`` holds
    the rows from ``starts[i - 1]`` up to before ``starts[i]`` (the first from the start,
    the last to the end), so every block cut at the same keys lines up with the others."""
    keys: Sequence[Any]
    wanted: list[Any]
    if not block.epochs.any() and not any(epoch for _, epoch in starts):
        keys, wanted = block.ids, [datapoint_id for datapoint_id, _ in starts]
    else:
        keys, wanted = list(zip(block.ids, block.epochs.tolist(), strict=True)), list(starts)
    cuts = [0, *(bisect.bisect_left(keys, start) for start in wanted), len(keys)]
    return [
        block.take(np.arange(low, high, dtype=np.int64)) for low, high in itertools.pairwise(cuts)
    ]


def sort_block(block: Block) -> Block:
    """The block's rows ordered by datapoint id, then epoch (the same block if they are)."""
    if not block.epochs.any():
        if ids_increasing(block.ids):
            return block
        keys = id_keys(block.ids)
        if keys is not None:
            order: IntArray = np.argsort(keys, kind="stable").astype(np.int64, copy=False)
        else:
            order = np.asarray(sorted(range(len(block)), key=block.ids.__getitem__), np.int64)
    else:
        pairs = list(zip(block.ids, block.epochs.tolist(), strict=True))
        order = np.asarray(sorted(range(len(block)), key=pairs.__getitem__), np.int64)
    if np.array_equal(order, np.arange(len(block))):
        return block
    return block.take(order)


def collapse_epochs(block: Block) -> ScopeValues:
    """One row per datapoint, ids sorted: each metric is the mean over the epochs having it.

    A bool becomes a pass fraction; a string takes its most common value across epochs
    (the earliest epoch wins a tie).
    """
    if not block.epochs.any() and ids_increasing(block.ids):
        ids = block.ids if isinstance(block.ids, IdColumn) else list(block.ids)
        return ScopeValues(ids, dict(block.columns), 1)
    index: dict[str, int] = {}
    group = np.fromiter(
        (index.setdefault(i, len(index)) for i in block.ids), dtype=np.int64, count=len(block)
    )
    unique_ids = list(index)
    order = np.asarray(sorted(range(len(unique_ids)), key=unique_ids.__getitem__), np.int64)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    group = rank[group]
    ids_sorted = [unique_ids[i] for i in order.tolist()]
    n = len(ids_sorted)
    epochs = int(np.bincount(group, minlength=n).max()) if n else 1
    columns: dict[str, MetricColumn] = {}
    for name, column in block.columns.items():
        if column.kind is MetricKind.STRING:
            columns[name] = _collapse_strings(column, group, n, block.epochs)
            continue
        values = column.values.astype(np.float64, copy=False)
        present = ~np.isnan(values)
        counts = np.bincount(group, weights=present, minlength=n).astype(np.int64)
        sums = np.bincount(group, weights=np.where(present, values, 0.0), minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        spread: FloatArray | None = None
        if epochs > 1:
            high = np.full(n, -np.inf)
            low = np.full(n, np.inf)
            np.maximum.at(high, group[present], values[present])
            np.minimum.at(low, group[present], values[present])
            spread = np.where(counts > 0, high - low, np.nan)
        columns[name] = MetricColumn(column.kind, means, counts if epochs > 1 else None, spread)
    return ScopeValues(ids_sorted, columns, epochs)


def _collapse_strings(
    column: MetricColumn, group: IntArray, n: int, epochs: IntArray
) -> MetricColumn:
    per_group: list[list[tuple[int, str]]] = [[] for _ in range(n)]
    for g, epoch, value in zip(group.tolist(), epochs.tolist(), column.values, strict=True):
        if value is not None:
            per_group[g].append((epoch, value))
    result = np.full(n, None, dtype=object)
    counts = np.zeros(n, dtype=np.int64)
    for g, items in enumerate(per_group):
        if not items:
            continue
        counts[g] = len(items)
        items.sort()
        tally = Counter(value for _, value in items)
        best = max(tally.values())
        result[g] = next(value for _, value in items if tally[value] == best)
    return MetricColumn(MetricKind.STRING, result, counts)


def _same_numbers(
    rows: Sequence[tuple[dict[str, float | str], tuple[tuple[str, MetricKind], ...]]],
) -> dict[str, MetricColumn] | None:
    """The columns of rows that all hold the same plain numbers in the same order (what an
    evaluation usually logs), read in one pass; None for any other rows."""
    if not rows:
        return None
    first = list(rows[0][0])
    if not first or not all(list(values) == first for values, _ in rows):
        return None
    width = len(first)
    flat = np.fromiter(
        itertools.chain.from_iterable(values.values() for values, _ in rows),
        dtype=np.float64,
        count=len(rows) * width,
    )
    matrix = flat.reshape(len(rows), width)
    return {
        name: MetricColumn(MetricKind.NUMBER, np.ascontiguousarray(matrix[:, j]))
        for j, name in enumerate(first)
    }


class MixedKindsError(ValueError):
    """A column mixes text with numbers; the write side finds the record to blame."""

    def __init__(self, metric: str) -> None:
        super().__init__(f"metric {metric!r} mixes strings with numbers")
        self.metric = metric


def block_from_rows(
    ids: Sequence[str],
    epochs: Iterable[int],
    rows: Sequence[tuple[dict[str, float | str], tuple[tuple[str, MetricKind], ...]]],
) -> Block:
    """Build a block from checked metrics, one ``(values, special kinds)`` per row.

    Raises:
        MixedKindsError: when a metric holds strings in some rows and numbers in others.
    """
    names: dict[str, Any] = {}
    special_counts: dict[tuple[str, MetricKind], int] = {}
    for values, special in rows:
        names.update(values)
        for item in special:
            special_counts[item] = special_counts.get(item, 0) + 1
    if not special_counts:
        same = _same_numbers(rows)
        if same is not None:
            return Block(list(ids), np.fromiter(epochs, dtype=np.int64, count=len(ids)), same)
    columns: dict[str, MetricColumn] = {}
    for name in names:
        column = [values.get(name) for values, _ in rows]
        strings = special_counts.get((name, MetricKind.STRING), 0)
        if strings:
            if strings != len(column) - column.count(None):
                raise MixedKindsError(name)
            columns[name] = MetricColumn(MetricKind.STRING, np.array(column, dtype=object))
            continue
        array = np.array(column, dtype=np.float64)  # None becomes NaN
        bools = special_counts.get((name, MetricKind.BOOL), 0)
        present = int(np.count_nonzero(~np.isnan(array))) if bools else -1
        kind = MetricKind.BOOL if bools and bools == present else MetricKind.NUMBER
        columns[name] = MetricColumn(kind, array)
    return Block(list(ids), np.fromiter(epochs, dtype=np.int64, count=len(ids)), columns)
