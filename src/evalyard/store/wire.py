"""What the SDK and the team server send each other, besides plain JSON.

- A **batch** of results is JSON: ``{"idempotency_key": "...", "records": [...]}``, each
  record a ``log_many`` dict. The SDK has already checked and JSON-encoded every field of
  a record (:class:`~evalyard.store.base.ResultRow`), so it splices those texts into the
  body rather than decoding and encoding them again; the server checks every record again
  with the same code as local logging.
- A run's **values at a scope** are binary (``application/octet-stream``): a 4-byte
  little-endian header length, a JSON header
  ``{"row_count": n, "ids_bytes": a, "epochs_bytes": b, "columns_bytes": c}``, then the
  three parts of :func:`evalyard.core.columns.encode_block` (``epochs_bytes`` 0: every epoch
  is 0). One row per (datapoint, epoch), so the client averages epochs itself, exactly as
  a local store does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import orjson

from evalyard.core.columns import Block, decode_block, encode_block
from evalyard.errors import StoreError
from evalyard.store.base import ResultRow

__all__ = ["VALUES_MEDIA_TYPE", "batch_body", "pack_block", "record_json", "unpack_block"]

#: The media type of a run's values at a scope.
VALUES_MEDIA_TYPE = "application/octet-stream"


def pack_block(block: Block) -> bytes:
    """A block as the bytes of the values endpoint."""
    ids, epochs, columns = encode_block(block)
    header = orjson.dumps(
        {
            "row_count": len(block),
            "ids_bytes": len(ids),
            "epochs_bytes": 0 if epochs is None else len(epochs),
            "columns_bytes": len(columns),
        }
    )
    return b"".join([len(header).to_bytes(4, "little"), header, ids, epochs or b"", columns])


def unpack_block(data: bytes) -> Block:
    """The block :func:`pack_block` made.

    Raises:
        StoreError: when the bytes are not such a block (a proxy in the way, a bug).
    """
    try:
        view = memoryview(data)
        head_len = int.from_bytes(view[:4], "little")
        header = json.loads(bytes(view[4 : 4 + head_len]))
        n = int(header["row_count"])
        sizes = [int(header[k]) for k in ("ids_bytes", "epochs_bytes", "columns_bytes")]
        start = 4 + head_len
        if start + sum(sizes) != len(data):
            raise ValueError(f"{len(data)} bytes where the header announces {start + sum(sizes)}")
        ids = bytes(view[start : start + sizes[0]])
        epochs = bytes(view[start + sizes[0] : start + sizes[0] + sizes[1]]) or None
        columns = bytes(view[start + sizes[0] + sizes[1] :])
        return decode_block(n, ids, epochs, columns)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise StoreError(f"the server sent values that cannot be read: {exc}") from None


def _text(value: str | None) -> bytes:
    return b"null" if value is None else value.encode("utf-8")


def record_json(row: ResultRow) -> bytes:
    """One checked result as the JSON of a batch record."""
    return b"".join(
        [
            b'{"datapoint_id":',
            orjson.dumps(row.datapoint_id),
            b',"epoch":',
            str(row.epoch).encode(),
            b',"inputs":',
            _text(row.inputs),
            b',"outputs":',
            _text(row.outputs),
            b',"ground_truth":',
            _text(row.ground_truth),
            b',"metadata":',
            _text(row.metadata),
            b',"metrics":',
            _text(row.metrics),
            b',"steps":',
            _text(row.steps),
            b',"error":',
            _text(row.error),
            b',"duration_ms":',
            orjson.dumps(row.duration_ms),
            b"}",
        ]
    )


def batch_body(key: str, records: Iterable[bytes]) -> bytes:
    """The JSON body of a batch: its idempotency key and its records."""
    return b"".join(
        [b'{"idempotency_key":', orjson.dumps(key), b',"records":[', b",".join(records), b"]}"]
    )
