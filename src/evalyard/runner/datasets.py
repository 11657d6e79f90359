"""Datasets: the datapoints an application is evaluated on (docs/comparison.md §1).

Example:
    >>> import evalyard
    >>> dataset = evalyard.Dataset(
    ...     [
    ...         {"id": "q1", "inputs": {"question": "2+2?"}, "ground_truth": "4"},
    ...         {"inputs": {"question": "Capital of France?"}, "ground_truth": "Paris"},
    ...     ],
    ...     name="arithmetic-and-capitals",
    ... )
    >>> [datapoint.datapoint_id for datapoint in dataset]
    ['q1', 'bd120be88eb820e0']

A record is a dict with ``inputs`` and optionally ``ground_truth``, ``metadata`` and an
``id`` (or ``datapoint_id``). A given id is used as is; otherwise the id is derived from the
inputs and ground truth, never from the position, so re-ordering or extending a dataset
keeps the ids of unchanged datapoints. Two datapoints with the same id are an error.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalyard.core.ids import canonical_json, check_datapoint_id, check_name, derive_datapoint_id
from evalyard.errors import InvalidInputError, InvalidRecordError

__all__ = ["Datapoint", "Dataset", "as_dataset"]

#: The keys a dataset record may have.
DATAPOINT_KEYS = frozenset({"inputs", "ground_truth", "metadata", "id", "datapoint_id"})
_EXTRA = "\x00extra"


@dataclass(frozen=True, slots=True)
class Datapoint:
    """One test case of a dataset."""

    datapoint_id: str
    """Its id: given, or derived from the inputs and ground truth."""
    inputs: Any
    """What the application is given."""
    ground_truth: Any = None
    """The expected output, if there is one."""
    metadata: Any = None
    """Free-form facts about the datapoint (its source, difficulty...)."""


class Dataset(Sequence[Datapoint]):
    """A named, ordered collection of datapoints with unique ids.

    Build one from dicts (``Dataset(records)``), a JSON Lines file
    (:meth:`from_jsonl`) or a CSV file (:meth:`from_csv`).

    Args:
        records: dicts with ``inputs`` and optionally ``ground_truth``, ``metadata``, ``id``
            (or ``datapoint_id``), or :class:`Datapoint` values.
        name: the dataset's name, recorded on the runs made with it.

    Raises:
        InvalidRecordError: for a record that is not a dict, lacks ``inputs``, has an
            unknown key or a bad id, holds data that is not JSON, or repeats an id.
    """

    def __init__(
        self, records: Iterable[Mapping[str, Any] | Datapoint], *, name: str | None = None
    ) -> None:
        self._name = None if name is None else check_name(name, what="dataset name")
        self._datapoints = _unique(
            (
                (record if isinstance(record, Datapoint) else parse_record(record, f"record {i}"))
                for i, record in enumerate(records)
            ),
            lambda i: f"record {i}",
        )

    @classmethod
    def from_records(
        cls, records: Iterable[Mapping[str, Any] | Datapoint], *, name: str | None = None
    ) -> Dataset:
        """A dataset of dicts (the same as calling the class)."""
        return cls(records, name=name)

    @classmethod
    def from_jsonl(cls, path: str | Path, *, name: str | None = None) -> Dataset:
        """A dataset from a JSON Lines file: one record (a JSON object) per line.

        Blank lines are skipped. The name defaults to the file's stem.

        Raises:
            InvalidInputError: when the file cannot be read.
            InvalidRecordError: naming the file and line of a bad record.
        """
        file = Path(path)
        datapoints: list[Datapoint] = []
        lines: list[int] = []
        for number, line in enumerate(_read_text(file).splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{file} line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidRecordError(
                    f"{where} is not valid JSON ({exc.msg}, column {exc.colno}); each line of "
                    "a JSON Lines dataset holds one JSON object",
                    field="record",
                    index=number,
                ) from None
            datapoints.append(parse_record(record, where))
            lines.append(number)
        return cls._of(_unique(datapoints, lambda i: f"{file} line {lines[i]}"), name or file.stem)

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        *,
        name: str | None = None,
        inputs: str | Sequence[str] | None = None,
        ground_truth: str | None = "ground_truth",
        id: str | None = "id",
        metadata: Sequence[str] = (),
    ) -> Dataset:
        """A dataset from a CSV file with a header row. Every value is read as a string.

        Args:
            path: the file.
            name: the dataset's name; the file's stem by default.
            inputs: one column (the inputs are then its text), or several (a dict of
                column to text); by default every column not used otherwise.
            ground_truth: the column of the expected output, if the file has it; an empty
                cell means no ground truth.
            id: the column of datapoint ids, if the file has it (``datapoint_id`` is also
                looked for); an empty cell derives the id from the content.
            metadata: columns gathered into each datapoint's metadata dict.

        Raises:
            InvalidInputError: when the file cannot be read or lacks a named column.
            InvalidRecordError: naming the file and line of a bad row.
        """
        file = Path(path)
        reader = csv.DictReader(io.StringIO(_read_text(file), newline=""), restkey=_EXTRA)
        header = list(reader.fieldnames or [])
        if not header:
            raise InvalidInputError(f"{file} has no header row; a CSV dataset names its columns")
        id_column = id if id in header else ("datapoint_id" if "datapoint_id" in header else None)
        truth_column = ground_truth if ground_truth in header else None
        metadata_columns = list(metadata)
        if isinstance(inputs, str):
            input_columns = [inputs]
        elif inputs is not None:
            input_columns = list(inputs)
        else:
            used = {id_column, truth_column, *metadata_columns}
            input_columns = [column for column in header if column not in used]
        for column in [*input_columns, *metadata_columns]:
            if column not in header:
                raise InvalidInputError(
                    f"{file} has no column {column!r}; its columns are {', '.join(header)}"
                )
        datapoints: list[Datapoint] = []
        lines: list[int] = []
        for row in reader:
            where = f"{file} line {reader.line_num}"
            extra = row.get(_EXTRA)
            missing = sum(1 for value in row.values() if value is None)
            if extra or missing:
                found = len(header) + len(extra or []) - missing
                raise InvalidRecordError(
                    f"{where} has {found} fields but the header has {len(header)} columns; "
                    "quote values that hold commas",
                    field="record",
                    index=reader.line_num,
                )
            record: dict[str, Any] = {
                "inputs": row[inputs]
                if isinstance(inputs, str)
                else {column: row[column] for column in input_columns}
            }
            if truth_column is not None and row[truth_column] != "":
                record["ground_truth"] = row[truth_column]
            if id_column is not None and row[id_column] != "":
                record["id"] = row[id_column]
            if metadata_columns:
                record["metadata"] = {column: row[column] for column in metadata_columns}
            datapoints.append(parse_record(record, where))
            lines.append(reader.line_num)
        return cls._of(_unique(datapoints, lambda i: f"{file} line {lines[i]}"), name or file.stem)

    @classmethod
    def _of(cls, datapoints: tuple[Datapoint, ...], name: str) -> Dataset:
        dataset = cls.__new__(cls)
        dataset._name = check_name(name, what="dataset name")
        dataset._datapoints = datapoints
        return dataset

    @property
    def name(self) -> str | None:
        """The dataset's name, or None."""
        return self._name

    @property
    def ids(self) -> list[str]:
        """The datapoint ids, in order."""
        return [datapoint.datapoint_id for datapoint in self._datapoints]

    def __len__(self) -> int:
        return len(self._datapoints)

    def __iter__(self) -> Iterator[Datapoint]:
        return iter(self._datapoints)

    def __getitem__(self, index: Any) -> Any:
        return self._datapoints[index]

    def __repr__(self) -> str:
        return f"<Dataset {self._name!r}: {len(self._datapoints)} datapoints>"


def parse_record(record: Any, where: str) -> Datapoint:
    """One dataset record as a datapoint; ``where`` names it in errors ("record 3")."""
    if not isinstance(record, Mapping):
        raise InvalidRecordError(
            f"{where} is a {type(record).__name__}, not a dict with 'inputs'",
            field="record",
        )
    unknown = set(record) - DATAPOINT_KEYS
    if unknown:
        raise InvalidRecordError(
            f"{where} has unknown keys {sorted(map(str, unknown))}; a datapoint has inputs, "
            "ground_truth, metadata and id",
            field=str(sorted(map(str, unknown))[0]),
        )
    if "inputs" not in record:
        raise InvalidRecordError(
            f"{where} has no 'inputs'; a datapoint is a dict such as "
            "{'inputs': {...}, 'ground_truth': ...}",
            field="inputs",
        )
    given = record.get("id", record.get("datapoint_id"))
    if "id" in record and "datapoint_id" in record and record["id"] != record["datapoint_id"]:
        raise InvalidRecordError(
            f"{where} has both id {record['id']!r} and datapoint_id "
            f"{record['datapoint_id']!r}; give one",
            field="datapoint_id",
        )
    inputs, ground_truth = record["inputs"], record.get("ground_truth")
    metadata = record.get("metadata")
    try:
        if given is None:
            datapoint_id = derive_datapoint_id(inputs, ground_truth)
        else:
            datapoint_id = check_datapoint_id(given)
    except InvalidRecordError as exc:
        raise InvalidRecordError(f"{where}: {exc}", field=exc.field) from None
    for field, value in (
        ("inputs", inputs),
        ("ground_truth", ground_truth),
        ("metadata", metadata),
    ):
        try:
            canonical_json(value)
        except (TypeError, ValueError) as exc:
            raise InvalidRecordError(
                f"{field} of {where} (datapoint {datapoint_id!r}) is not JSON data: {exc}",
                field=field,
                datapoint_id=datapoint_id,
            ) from None
    return Datapoint(datapoint_id, inputs, ground_truth, metadata)


def as_dataset(dataset: Any) -> Dataset:
    """``dataset`` as a :class:`Dataset`: a dataset as is, or a list of dicts.

    Raises:
        InvalidInputError: for a path or anything else that is not datapoints.
    """
    if isinstance(dataset, Dataset):
        return dataset
    if isinstance(dataset, str | Path | bytes | Mapping):
        hint = (
            "; load a file with evalyard.Dataset.from_jsonl(path) or .from_csv(path)"
            if isinstance(dataset, str | Path)
            else ""
        )
        raise InvalidInputError(
            f"dataset must be a list of dicts or an evalyard.Dataset; got "
            f"{type(dataset).__name__}{hint}"
        )
    if not isinstance(dataset, Iterable):
        raise InvalidInputError(
            f"dataset must be a list of dicts or an evalyard.Dataset; got {type(dataset).__name__}"
        )
    return Dataset(dataset)


def _unique(datapoints: Iterable[Datapoint], describe: Any) -> tuple[Datapoint, ...]:
    # docs/comparison.md §1: two datapoints with the same id in one dataset are an error.
    seen: dict[str, int] = {}
    out: list[Datapoint] = []
    for index, datapoint in enumerate(datapoints):
        first = seen.setdefault(datapoint.datapoint_id, index)
        if first != index:
            raise InvalidRecordError(
                f"datapoint id {datapoint.datapoint_id!r} appears twice in the dataset: "
                f"{describe(first)} and {describe(index)}; ids must be unique (records with "
                "the same inputs and ground truth and no id get the same id)",
                field="datapoint_id",
                datapoint_id=datapoint.datapoint_id,
            )
        out.append(datapoint)
    return tuple(out)


def _read_text(file: Path) -> str:
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        raise InvalidInputError(f"dataset file {file} does not exist") from None
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"dataset file {file} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read dataset file {file}: {exc.strerror}") from None
