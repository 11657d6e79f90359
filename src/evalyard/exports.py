"""A run's results as a table: ``evalyard export``, ``Run.to_pandas()``.

Every export has one row per result (datapoint × epoch) and the same columns:
``datapoint_id``, ``epoch``, ``inputs``, ``outputs``, ``ground_truth``, ``metadata``,
``steps``, ``error``, ``duration_ms``, then ``metrics.NAME`` for each metric of the run
(sorted by name). A JSONL export writes each row as a ``log_many`` record instead (the
metrics as one ``metrics`` object). The table importers read these columns by default, so
an exported run imports back with the same comparison (docs/import-export.md).

Example:
    >>> from evalyard.exports import export_run
    >>> export_run("gpt-4o-temp-0.3", "csv", "results.csv")  # doctest: +SKIP
    1000
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import orjson

from evalyard.core.cells import cell_text
from evalyard.core.model import Result
from evalyard.errors import InvalidInputError, MissingDependencyError
from evalyard.runs import RunReference, get_results, resolve_run
from evalyard.store import Store, get_store

__all__ = [
    "BASE_COLUMNS",
    "EXPORT_FORMATS",
    "JSON_FIELDS",
    "export_run",
    "results_frame",
    "results_table",
]

#: The formats of :func:`export_run`.
EXPORT_FORMATS = ("jsonl", "csv", "parquet")
#: The columns every export starts with, before the metrics.
BASE_COLUMNS = (
    "datapoint_id",
    "epoch",
    "inputs",
    "outputs",
    "ground_truth",
    "metadata",
    "steps",
    "error",
    "duration_ms",
)
#: The columns that hold any JSON data (JSON text in a Parquet file).
JSON_FIELDS = ("inputs", "outputs", "ground_truth", "metadata", "steps")
_METRIC_PREFIX = "metrics."
_JSON_COLUMNS_KEY = b"evalyard.json_columns"


def results_table(results: Iterable[Result]) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and the rows of some results, one row per result (metrics flattened)."""
    rows: list[dict[str, Any]] = []
    names: set[str] = set()
    for result in results:
        row: dict[str, Any] = {
            "datapoint_id": result.datapoint_id,
            "epoch": result.epoch,
            "inputs": result.inputs,
            "outputs": result.outputs,
            "ground_truth": result.ground_truth,
            "metadata": result.metadata,
            "steps": result.steps or None,
            "error": result.error,
            "duration_ms": result.duration_ms,
        }
        for name, value in result.metrics.items():
            row[_METRIC_PREFIX + name] = value
        names.update(result.metrics)
        rows.append(row)
    return [*BASE_COLUMNS, *(_METRIC_PREFIX + name for name in sorted(names))], rows


def results_frame(reference: RunReference, *, store: Store | str | None = None) -> Any:
    """A run's results as a ``pandas.DataFrame``, one row per result (the export's columns).

    Raises:
        MissingDependencyError: when pandas is not installed.
    """
    try:
        import pandas
    except ImportError:
        raise MissingDependencyError("pandas", "to_pandas()") from None
    columns, rows = results_table(get_results(reference, store=store))
    frame = pandas.DataFrame(rows, columns=columns)
    for column in columns[len(BASE_COLUMNS) :]:
        values = frame[column].dropna()
        if len(values) and all(isinstance(v, bool) for v in values):
            frame[column] = frame[column].astype("boolean")
    return frame


def export_run(
    reference: RunReference,
    output_format: str,
    output: str | Path | IO[str] | None = None,
    *,
    store: Store | str | None = None,
) -> int:
    """Write a run's results as JSONL, CSV or Parquet; return how many rows were written.

    Args:
        reference: a run id, a unique name or id prefix, or a run object.
        output_format: ``jsonl``, ``csv`` or ``parquet``.
        output: a path, or a text stream (JSONL and CSV); None writes JSONL or CSV to stdout.
        store: a store, or a store URL.
    """
    if output_format not in EXPORT_FORMATS:
        raise InvalidInputError(
            f"unknown export format {output_format!r}; use one of: {', '.join(EXPORT_FORMATS)}"
        )
    target = get_store(store)
    info = resolve_run(reference, store=target)
    results = get_results(info, store=target)
    if output_format == "parquet":
        if output is None or not isinstance(output, str | Path):
            raise InvalidInputError("a Parquet export needs a file: give --output PATH")
        columns, rows = results_table(results)
        _write_parquet(columns, rows, Path(output))
        return len(rows)
    if output is None:
        return _write_text(output_format, results, sys.stdout)
    if isinstance(output, str | Path):
        with Path(output).open("w", encoding="utf-8", newline="") as handle:
            return _write_text(output_format, results, handle)
    return _write_text(output_format, results, output)


def _write_text(output_format: str, results: list[Result], stream: IO[str]) -> int:
    if output_format == "jsonl":
        for result in results:
            record = {key: value for key, value in result.to_dict().items() if value is not None}
            if not record.get("steps"):
                record.pop("steps", None)
            if not record.get("metrics"):
                record.pop("metrics", None)
            stream.write(orjson.dumps(record).decode("utf-8") + "\n")
        return len(results)
    columns, rows = results_table(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        # The importers keep the id column as text: it is written as it is.
        writer.writerow(
            [row["datapoint_id"], *(cell_text(row.get(column)) for column in columns[1:])]
        )
    stream.write(buffer.getvalue())
    return len(rows)


def _write_parquet(columns: list[str], rows: list[dict[str, Any]], path: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError("pyarrow", "Parquet exports") from None
    arrays = {}
    for column in columns:
        values = [row.get(column) for row in rows]
        if column in JSON_FIELDS:
            arrays[column] = pa.array(
                [None if v is None else orjson.dumps(v).decode("utf-8") for v in values],
                type=pa.string(),
            )
        elif column in ("datapoint_id", "error"):
            arrays[column] = pa.array(values, type=pa.string())
        elif column == "epoch":
            arrays[column] = pa.array(values, type=pa.int64())
        elif column == "duration_ms":
            arrays[column] = pa.array(values, type=pa.float64())
        else:
            arrays[column] = _metric_array(pa, values)
    table = pa.table(arrays)
    table = table.replace_schema_metadata({_JSON_COLUMNS_KEY: orjson.dumps(list(JSON_FIELDS))})
    pq.write_table(table, path)


def _metric_array(pa: Any, values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, type=pa.bool_())
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())
