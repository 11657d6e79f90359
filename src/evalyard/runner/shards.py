"""Sharded evaluation: which datapoints are the i-th of n disjoint slices of a dataset.

A datapoint's shard comes from a stable hash of its id (BLAKE2b, not Python's salted
``hash``), never from its position, so every process and machine agrees on the slices
whatever order it reads the dataset in, and adding datapoints moves no others.
"""

from __future__ import annotations

import hashlib
from typing import Any

from evalyard.errors import InvalidInputError

__all__ = ["MAX_SHARDS", "check_shard", "in_shard", "shard_of"]

#: The most shards a run may be split into.
MAX_SHARDS = 100_000


def check_shard(shard: Any) -> tuple[int, int]:
    """``shard`` as ``(index, count)``, or a clear error."""
    if (
        not isinstance(shard, tuple | list)
        or len(shard) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
    ):
        raise InvalidInputError(
            f"shard must be a pair (i, n) of whole numbers, such as (0, 4), not {shard!r}"
        )
    index, count = int(shard[0]), int(shard[1])
    if not 1 <= count <= MAX_SHARDS or not 0 <= index < count:
        raise InvalidInputError(
            f"shard {(index, count)!r} is not one of n slices: give (i, n) with "
            f"0 <= i < n <= {MAX_SHARDS:,}"
        )
    return index, count


def shard_of(datapoint_id: str, count: int) -> int:
    """The shard (0 to ``count - 1``) a datapoint belongs to."""
    digest = hashlib.blake2b(datapoint_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def in_shard(datapoint_id: str, shard: tuple[int, int]) -> bool:
    """Whether a datapoint belongs to ``shard`` = ``(index, count)``."""
    index, count = shard
    return count == 1 or shard_of(datapoint_id, count) == index
