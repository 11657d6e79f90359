"""Tables as runs: JSONL, CSV and Parquet files with a column mapping.

Each row is one datapoint (and epoch). The mapping says which column holds what; a column it
leaves out is looked for under its usual names, which are the columns ``evalyard export``
writes, so an exported run imports back as it was:

| what | option | looked for by default |
|---|---|---|
| datapoint id | ``id_column`` | ``datapoint_id``, ``id`` (else derived from inputs + expected) |
| inputs | ``input_column`` | ``inputs``, ``input`` |
| outputs | ``output_column`` | ``outputs``, ``output`` |
| expected output | ``expected_column`` | ``ground_truth``, ``expected`` |
| metrics | ``metric_columns`` | every ``metrics.NAME`` column (and a JSONL ``metrics`` object) |
| epoch | ``epoch_column`` | ``epoch`` |
| metadata, steps, error, duration | — | ``metadata``, ``steps``, ``error``, ``duration_ms`` |

A metric column given as ``PREFIX*`` takes every column starting with ``PREFIX``, the metric
named by the rest (``score_*`` makes ``score_f1`` the metric ``f1``). In a JSONL row an object
value is also read as columns ``KEY.SUB``. The other columns go into each datapoint's
metadata (``rest="metadata"``, the default) or are dropped (``rest="ignore"``).

CSV cells are typed (:mod:`evalyard.core.cells`), but for the id column, which is kept as
text: an empty cell is None, ``true``/``false`` are bools, numbers are numbers (``007`` is
text), a cell holding a JSON object, array or quoted string is that
JSON, and anything else is text. ``evalyard export --format csv`` writes text that would
read otherwise as a quoted JSON string, so every value comes back as it was.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import orjson

from evalyard.core.cells import read_cell
from evalyard.errors import ImportFileError, InvalidInputError, MissingDependencyError
from evalyard.importers.base import ImportedRecord, ImportedRun, register_importer

__all__ = [
    "CSV",
    "JSONL",
    "METRIC_PREFIX",
    "PARQUET",
    "TableImporter",
    "TableMapping",
]

#: The prefix of the metric columns ``evalyard export`` writes.
METRIC_PREFIX = "metrics."
#: The Parquet key-value metadata that lists the columns holding JSON text.
JSON_COLUMNS_KEY = b"evalyard.json_columns"

_DEFAULTS = {
    "id": ("datapoint_id", "id"),
    "input": ("inputs", "input"),
    "output": ("outputs", "output"),
    "expected": ("ground_truth", "expected"),
    "epoch": ("epoch",),
    "metadata": ("metadata",),
    "steps": ("steps",),
    "error": ("error",),
    "duration_ms": ("duration_ms",),
}


_Rest = Literal["metadata", "ignore"]


@dataclass(frozen=True, slots=True)
class TableMapping:
    """Which column holds what (None: the usual names; see the module's description)."""

    id_column: str | None = None
    input_column: str | None = None
    output_column: str | None = None
    expected_column: str | None = None
    metric_columns: tuple[str, ...] = ()
    """Metric columns by name, or ``PREFIX*`` for every column with that prefix."""
    epoch_column: str | None = None
    rest: Literal["metadata", "ignore"] = "metadata"
    """What becomes of the columns the mapping does not use."""

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> TableMapping:
        """The mapping of some options (the keys of this class), checked."""
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInputError(
                f"unknown table options {sorted(unknown)}; use "
                f"{', '.join(cls.__dataclass_fields__)}"
            )
        rest = options.get("rest") or "metadata"
        if rest not in ("metadata", "ignore"):
            raise InvalidInputError(f"rest must be metadata or ignore, not {rest!r}")
        metrics = options.get("metric_columns") or ()
        if isinstance(metrics, str):
            metrics = (metrics,)
        columns = {
            key: options.get(key)
            for key in (
                "id_column",
                "input_column",
                "output_column",
                "expected_column",
                "epoch_column",
            )
        }
        for key, value in [*columns.items(), *(("metric_columns", m) for m in metrics)]:
            if value is not None and (not isinstance(value, str) or not value or value == "*"):
                raise InvalidInputError(f"{key} must be a column name, not {value!r}")
        return cls(**columns, metric_columns=tuple(metrics), rest=cast(_Rest, rest))

    def to_options(self) -> dict[str, Any]:
        """The mapping as options (what the run id is derived from)."""
        return {
            "id_column": self.id_column,
            "input_column": self.input_column,
            "output_column": self.output_column,
            "expected_column": self.expected_column,
            "metric_columns": list(self.metric_columns),
            "epoch_column": self.epoch_column,
            "rest": self.rest,
        }


class _Rows:
    """The columns of a table resolved once, then read from each row."""

    def __init__(self, mapping: TableMapping, path: Path, header: list[str] | None) -> None:
        self.mapping = mapping
        self.path = path
        self.header = header
        given = {
            "id": mapping.id_column,
            "input": mapping.input_column,
            "output": mapping.output_column,
            "expected": mapping.expected_column,
            "epoch": mapping.epoch_column,
        }
        self.given = {key: value for key, value in given.items() if value is not None}
        if header is not None:
            missing = [column for column in self._named() if column not in header]
            if missing:
                raise ImportFileError(
                    f"the file has no column {missing[0]!r}; its columns: {', '.join(header)}",
                    path=str(path),
                    field=missing[0],
                )

    def _named(self) -> list[str]:
        named = list(self.given.values())
        named += [m for m in self.mapping.metric_columns if not m.endswith("*")]
        return named

    def _column(
        self, row: Mapping[str, Any], key: str, location: str, used: set[str]
    ) -> tuple[bool, Any]:
        """``(found, value)`` of what ``key`` names in a row."""
        column = self.given.get(key)
        if column is not None:
            found, value = _lookup(row, column, used)
            if not found:
                raise ImportFileError(
                    f"the row has no column {column!r}", path=str(self.path), line=location
                )
            return True, value
        for candidate in _DEFAULTS[key]:
            if candidate in row:
                used.add(candidate)
                return True, row[candidate]
        return False, None

    def record(self, row: Mapping[str, Any], location: str) -> ImportedRecord:
        """One row as a record."""
        if not isinstance(row, Mapping):
            raise ImportFileError(
                f"a row must be a JSON object, not {type(row).__name__}",
                path=str(self.path),
                line=location,
            )
        used: set[str] = set()
        values: dict[str, Any] = {}
        for key in _DEFAULTS:
            found, value = self._column(row, key, location, used)
            if found:
                values[key] = value
        metrics = self._metrics(row, used, location)
        if "id" not in values and "input" not in values and "expected" not in values:
            raise ImportFileError(
                "the row has no id, inputs or expected output to tell its datapoint by; give "
                "an id column (--id-column) or an input column (--input-column)",
                path=str(self.path),
                line=location,
            )
        metadata = values.get("metadata")
        if self.mapping.rest == "metadata" and len(used) < len(row):
            rest = {column: value for column, value in row.items() if column not in used}
            if rest:
                metadata = (
                    {**rest, **metadata}
                    if isinstance(metadata, dict)
                    else rest
                    if metadata is None
                    else {**rest, "metadata": metadata}
                )
        epoch = values.get("epoch", 0)
        if epoch is None:
            epoch = 0
        if isinstance(epoch, float) and epoch.is_integer():
            epoch = int(epoch)
        datapoint_id = values.get("id")
        if isinstance(datapoint_id, float) and datapoint_id.is_integer():
            datapoint_id = int(datapoint_id)
        return ImportedRecord(
            location,
            datapoint_id=datapoint_id,
            inputs=values.get("input"),
            outputs=values.get("output"),
            expected=values.get("expected"),
            metrics=metrics,
            metadata=metadata,
            steps=values.get("steps"),
            epoch=epoch,
            error=values.get("error"),
            duration_ms=values.get("duration_ms"),
        )

    def _metrics(self, row: Mapping[str, Any], used: set[str], location: str) -> dict[str, Any]:
        specs = self.mapping.metric_columns or (METRIC_PREFIX + "*",)
        metrics: dict[str, Any] = {}
        for spec in specs:
            if not spec.endswith("*"):
                found, value = _lookup(row, spec, used)
                if not found:
                    raise ImportFileError(
                        f"the row has no column {spec!r}", path=str(self.path), line=location
                    )
                metrics[spec] = _metric_value(value)
                continue
            prefix = spec[:-1]
            for column, value in row.items():
                if isinstance(value, dict):
                    # A JSONL object is also read as columns KEY.SUB.
                    head = column + "."
                    if not (prefix.startswith(head) or head.startswith(prefix)):
                        continue
                    for sub, inner in value.items():
                        name = head + sub
                        if len(name) > len(prefix) and name.startswith(prefix):
                            metrics[name[len(prefix) :]] = _metric_value(inner)
                            used.add(column)
                elif len(column) > len(prefix) and column.startswith(prefix):
                    metrics[column[len(prefix) :]] = _metric_value(value)
                    used.add(column)
        return metrics


def _lookup(row: Mapping[str, Any], column: str, used: set[str]) -> tuple[bool, Any]:
    """``(found, value)`` of a column, or of ``KEY.SUB`` inside an object value."""
    if column in row:
        used.add(column)
        return True, row[column]
    key, dot, sub = column.partition(".")
    if dot:
        inner = row.get(key)
        if isinstance(inner, dict) and sub in inner:
            used.add(key)
            return True, inner[sub]
    return False, None


def _metric_value(value: Any) -> Any:
    # A missing number read by a dataframe library is NaN: it is a missing value here.
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class TableImporter:
    """Reads JSONL, CSV or Parquet tables with a :class:`TableMapping`."""

    def __init__(self, name: str, description: str) -> None:
        self._name = name
        self._description = description

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str:
        return self._description

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        return TableMapping.of(options).to_options()

    def read(self, path: Path, options: Mapping[str, Any]) -> ImportedRun:
        mapping = TableMapping.of(options)
        rows = {"jsonl": _jsonl_rows, "csv": _csv_rows, "parquet": _parquet_rows}[self._name]
        records = [
            rows_reader.record(row, location) for rows_reader, row, location in rows(path, mapping)
        ]
        return ImportedRun(name=path.stem, records=records)


RowSource = Iterator[tuple[_Rows, Mapping[str, Any], str]]


def _jsonl_rows(path: Path, mapping: TableMapping) -> RowSource:
    reader = _Rows(mapping, path, None)
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ImportFileError(
                    f"not valid JSON ({exc})", path=str(path), line=f"line {number}"
                ) from None
            yield reader, row, f"line {number}"


def _csv_rows(path: Path, mapping: TableMapping) -> RowSource:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"not UTF-8 text ({exc})", path=str(path)) from None
    table = csv.reader(io.StringIO(text, newline=""))
    header = next(table, None)
    if header is None:
        raise ImportFileError("the file is empty; a CSV file starts with a header", path=str(path))
    if len(set(header)) != len(header):
        twice = next(column for column in header if header.count(column) > 1)
        raise ImportFileError(
            f"the header names column {twice!r} twice", path=str(path), line="line 1"
        )
    reader = _Rows(mapping, path, header)
    # The id column is kept as text: "007" and "7" are two datapoints.
    id_column = mapping.id_column or next(
        (column for column in _DEFAULTS["id"] if column in header), None
    )
    kept = header.index(id_column) if id_column in header else -1
    try:
        for cells in table:
            location = f"line {table.line_num}"
            if not cells:
                continue
            if len(cells) != len(header):
                raise ImportFileError(
                    f"the row has {len(cells)} cells but the header has {len(header)} columns",
                    path=str(path),
                    line=location,
                )
            values = list(map(read_cell, cells))
            if kept >= 0:
                values[kept] = cells[kept] or None
            yield reader, dict(zip(header, values, strict=True)), location
    except csv.Error as exc:
        raise ImportFileError(
            f"malformed CSV ({exc})", path=str(path), line=f"line {table.line_num}"
        ) from None


def _parquet_rows(path: Path, mapping: TableMapping) -> RowSource:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError("pyarrow", "importing Parquet files") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise ImportFileError(f"not a Parquet file ({exc})", path=str(path)) from None
    header = list(table.column_names)
    reader = _Rows(mapping, path, header)
    stored = (table.schema.metadata or {}).get(JSON_COLUMNS_KEY)
    json_columns = set(orjson.loads(stored)) if stored else set()
    for number, row in enumerate(table.to_pylist(), 1):
        location = f"row {number}"
        for column in json_columns:
            value = row.get(column)
            if isinstance(value, str):
                try:
                    row[column] = orjson.loads(value)
                except orjson.JSONDecodeError:
                    raise ImportFileError(
                        "the column holds JSON text but this is not JSON",
                        path=str(path),
                        line=location,
                        field=column,
                    ) from None
        yield reader, row, location


JSONL = register_importer(TableImporter("jsonl", "JSON Lines: one JSON object per line"))
CSV = register_importer(TableImporter("csv", "CSV with a header row; cells typed"))
PARQUET = register_importer(TableImporter("parquet", "Parquet (needs pyarrow)"))
