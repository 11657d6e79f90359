"""Turning what a caller logs into a batch the store can write: checks, JSON, columns.

Every check that can refuse a record happens here, before anything is written, so a
refused record is never half-stored (docs/comparison.md §1, Records).
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, NoReturn

import numpy as np
import numpy.typing as npt

from evalyard.core.columns import Block, MixedKindsError, block_from_rows, sort_block
from evalyard.core.ids import check_datapoint_id, check_name, derive_datapoint_id
from evalyard.core.model import MetricKind
from evalyard.core.steps import MAX_STEP_DEPTH, StepType, walk_steps
from evalyard.core.values import Checked, check_metrics, dump_json_field, dump_metrics
from evalyard.errors import InvalidInputError, InvalidMetricError, InvalidRecordError
from evalyard.store.base import SESSION_SCOPE, ResultRow, WriteBatch

__all__ = [
    "RECORD_KEYS",
    "STEP_TYPES",
    "PreparedRecord",
    "build_batch",
    "checked_batch",
    "first_kind_conflict",
    "prepare_mapping",
    "prepare_record",
]

#: The keys a record given to ``log_many`` may have.
RECORD_KEYS = frozenset(
    {
        "datapoint_id",
        "id",
        "inputs",
        "outputs",
        "ground_truth",
        "metadata",
        "metrics",
        "steps",
        "error",
        "epoch",
        "duration_ms",
    }
)
#: The types a step may have, as text.
STEP_TYPES = tuple(kind.value for kind in StepType)
_MAX_EPOCH = 100_000


class PreparedRecord(NamedTuple):
    """One record, checked and encoded (a named tuple: cheap to build by the million)."""

    row: ResultRow
    """The row for the results table."""
    metrics: Checked
    """The result-level metrics."""
    step_metrics: dict[str, Checked]
    """Per step name present in the trace: its metrics, averaged over the steps of that name."""


def prepare_record(
    datapoint_id: Any,
    *,
    inputs: Any = None,
    outputs: Any = None,
    ground_truth: Any = None,
    metadata: Any = None,
    metrics: Any = None,
    steps: Any = None,
    error: Any = None,
    epoch: Any = 0,
    duration_ms: Any = None,
    index: int | None = None,
    limit: int,
) -> PreparedRecord:
    """Check one record and encode it; raise a clear error naming what and where."""
    if datapoint_id is None:
        datapoint_id = derive_datapoint_id(inputs, ground_truth)
    else:
        datapoint_id = check_datapoint_id(datapoint_id, index=index)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch < _MAX_EPOCH:
        raise InvalidRecordError(
            f"epoch of datapoint {datapoint_id!r} must be a whole number from 0 to "
            f"{_MAX_EPOCH - 1}, not {epoch!r}",
            field="epoch",
            datapoint_id=datapoint_id,
            index=index,
        )
    if error is not None and not isinstance(error, str):
        error = (
            f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
        )
    if duration_ms is not None:
        if (
            isinstance(duration_ms, bool)
            or not isinstance(duration_ms, int | float)
            or not (math.isfinite(duration_ms) and duration_ms >= 0)
        ):
            raise InvalidRecordError(
                f"duration_ms of datapoint {datapoint_id!r} must be a finite number >= 0, "
                f"not {duration_ms!r}",
                field="duration_ms",
                datapoint_id=datapoint_id,
                index=index,
            )
        duration_ms = float(duration_ms)
    try:
        checked = check_metrics(metrics, datapoint_id=datapoint_id)
        step_metrics: dict[str, Checked] = {}
        if steps is not None:
            if not isinstance(steps, list | tuple):
                raise InvalidRecordError(
                    f"steps of datapoint {datapoint_id!r} must be a list of step dicts, "
                    f"not {type(steps).__name__}",
                    field="steps",
                    datapoint_id=datapoint_id,
                )
            sums: dict[str, dict[str, list[tuple[MetricKind, float | str]]]] = {}
            _check_steps(steps, datapoint_id, sums)
            step_metrics = {name: _average(values) for name, values in sums.items()}
    except InvalidRecordError as exc:
        exc.index = index
        raise
    row = ResultRow(
        datapoint_id=datapoint_id,
        epoch=epoch,
        inputs=dump_json_field(
            inputs, field="inputs", datapoint_id=datapoint_id, limit=limit, index=index
        ),
        outputs=dump_json_field(
            outputs, field="outputs", datapoint_id=datapoint_id, limit=limit, index=index
        ),
        ground_truth=dump_json_field(
            ground_truth, field="ground_truth", datapoint_id=datapoint_id, limit=limit, index=index
        ),
        metadata=dump_json_field(
            metadata, field="metadata", datapoint_id=datapoint_id, limit=limit, index=index
        ),
        metrics=dump_metrics(checked),
        steps=dump_json_field(
            list(steps) if steps else None,
            field="steps",
            datapoint_id=datapoint_id,
            limit=limit,
            index=index,
        ),
        error=dump_json_field(
            error, field="error", datapoint_id=datapoint_id, limit=limit, index=index
        ),
        duration_ms=duration_ms,
    )
    return PreparedRecord(row, checked, step_metrics)


def prepare_mapping(record: Any, index: int, *, limit: int) -> PreparedRecord:
    """Check one ``log_many`` record (a dict with the keys of :data:`RECORD_KEYS`) and
    encode it; the error names the record's ``index``. The team server checks the records
    of a batch with this too, so a record is judged the same locally and remotely."""
    if (
        type(record) is dict
        and _PLAIN_KEYS.issuperset(record)
        and not ("datapoint_id" in record and "id" in record)
    ):
        return _prepare_plain(record, index, limit)
    if not isinstance(record, Mapping):
        raise InvalidRecordError(
            f"record {index} is a {type(record).__name__}, not a dict",
            field="record",
            index=index,
        )
    if not RECORD_KEYS.issuperset(record):
        unknown = record.keys() - RECORD_KEYS
        raise InvalidRecordError(
            f"record {index} has unknown keys {sorted(map(str, unknown))}; a record has "
            f"{', '.join(sorted(RECORD_KEYS))}",
            field=str(sorted(map(str, unknown))[0]),
            index=index,
        )
    datapoint_id = record.get("datapoint_id", record.get("id"))
    if "datapoint_id" in record and record.get("id") is not None:
        check_datapoint_id(record["id"], index=index)  # given both ways: both are ids
    return prepare_record(
        datapoint_id,
        inputs=record.get("inputs"),
        outputs=record.get("outputs"),
        ground_truth=record.get("ground_truth"),
        metadata=record.get("metadata"),
        metrics=record.get("metrics"),
        steps=record.get("steps"),
        error=record.get("error"),
        epoch=record.get("epoch", 0),
        duration_ms=record.get("duration_ms"),
        index=index,
        limit=limit,
    )


#: The keys of the commonest records (an id, its scores, maybe its inputs and outputs),
#: checked by a shorter path.
_PLAIN_KEYS = frozenset({"datapoint_id", "id", "metrics", "inputs", "outputs"})


def _prepare_plain(record: dict[str, Any], index: int, limit: int) -> PreparedRecord:
    """:func:`prepare_record` of a record with no key but those of :data:`_PLAIN_KEYS`
    (one id key): the same checks, in the same order, with the same errors and encoding,
    without the calls for the fields it does not have."""
    raw_id = record.get("datapoint_id", record.get("id"))
    inputs = record.get("inputs")
    outputs = record.get("outputs")
    metrics = record.get("metrics")
    if raw_id is None:  # no id given: derived from the inputs, as in full
        return prepare_record(
            None, inputs=inputs, outputs=outputs, metrics=metrics, index=index, limit=limit
        )
    datapoint_id = check_datapoint_id(raw_id, index=index)
    try:
        checked = check_metrics(metrics, datapoint_id=datapoint_id)
    except InvalidRecordError as exc:
        exc.index = index
        raise
    if inputs is not None:
        inputs = dump_json_field(
            inputs, field="inputs", datapoint_id=datapoint_id, limit=limit, index=index
        )
    if outputs is not None:
        outputs = dump_json_field(
            outputs, field="outputs", datapoint_id=datapoint_id, limit=limit, index=index
        )
    row = ResultRow(
        datapoint_id, 0, inputs, outputs, None, None, dump_metrics(checked), None, None, None
    )
    return PreparedRecord(row, checked, {})


def _check_steps(
    steps: Sequence[Any],
    datapoint_id: str,
    sums: dict[str, dict[str, list[tuple[MetricKind, float | str]]]],
) -> None:
    """Check every step of a trace, and gather its metrics into ``sums`` by step name."""

    def refuse_depth(step: Any) -> NoReturn:
        raise InvalidRecordError(
            f"steps of datapoint {datapoint_id!r} nest deeper than {MAX_STEP_DEPTH} levels",
            field="steps",
            datapoint_id=datapoint_id,
        )

    # The walk is lazy: each step is checked before the walk goes into its children.
    for _, step in walk_steps(steps, on_too_deep=refuse_depth):
        if not isinstance(step, Mapping) or "name" not in step:
            raise InvalidRecordError(
                f"a step of datapoint {datapoint_id!r} is not a dict with a 'name': "
                f"{str(step)[:80]!r}",
                field="steps",
                datapoint_id=datapoint_id,
            )
        below = step.get("children")
        if below is not None and not isinstance(below, list | tuple):
            raise InvalidRecordError(
                f"children of step {str(step['name'])[:80]!r} of datapoint {datapoint_id!r} "
                f"must be a list of step dicts, not {type(below).__name__}",
                field="children",
                datapoint_id=datapoint_id,
            )
        try:
            name = check_name(step["name"], what="step name")
        except InvalidInputError as exc:
            raise InvalidRecordError(
                f"{exc} (datapoint {datapoint_id!r})", field="steps", datapoint_id=datapoint_id
            ) from None
        step_type = step.get("type", "other")
        if step_type not in STEP_TYPES:
            raise InvalidRecordError(
                f"step {name!r} of datapoint {datapoint_id!r} has type {step_type!r}; "
                f"use one of {', '.join(STEP_TYPES)}",
                field="steps",
                datapoint_id=datapoint_id,
            )
        accumulated = sums.setdefault(name, {})
        values, special = check_metrics(step.get("metrics"), datapoint_id=datapoint_id, step=name)
        kinds = dict(special)
        for metric, value in values.items():
            accumulated.setdefault(metric, []).append((kinds.get(metric, MetricKind.NUMBER), value))


def _average(values: dict[str, list[tuple[MetricKind, float | str]]]) -> Checked:
    # comparison.md §2: several steps of one name in one epoch count as the mean of their values;
    # a category takes its most common value.
    averaged: dict[str, float | str] = {}
    special: list[tuple[str, MetricKind]] = []
    for metric, items in values.items():
        kinds = {kind for kind, _ in items}
        if MetricKind.STRING in kinds:
            texts = [str(value) for _, value in items]
            averaged[metric] = max(texts, key=texts.count)
            special.append((metric, MetricKind.STRING))
        else:
            numbers = [float(value) for _, value in items]
            averaged[metric] = numbers[0] if len(numbers) == 1 else sum(numbers) / len(numbers)
            if kinds == {MetricKind.BOOL}:
                special.append((metric, MetricKind.BOOL))
    return averaged, tuple(special)


def build_batch(records: Sequence[PreparedRecord]) -> WriteBatch:
    """The write batch of some prepared records; a (datapoint, epoch) given twice keeps the last.

    The batch's rows and blocks are in (datapoint id, epoch) order: its rows then go into
    the results index in one sweep instead of at random places, and its blocks are ready
    for a comparison without sorting again.

    Raises:
        MixedKindsError: when a metric holds strings in some records and numbers in others.
    """
    latest: dict[tuple[str, int], PreparedRecord] = {}
    for record in records:
        latest[(record.row.datapoint_id, record.row.epoch)] = record
    unique = list(latest.values()) if len(latest) != len(records) else list(records)
    # Built in the order given (reading records where they lie in memory), then sorted
    # as arrays: reordering the records first made each later pass jump around memory.
    rows = [r.row for r in unique]
    ids = [row.datapoint_id for row in rows]
    epochs = [row.epoch for row in rows]
    order = _key_order(ids, epochs)
    session = block_from_rows(ids, epochs, [r.metrics for r in unique])
    blocks: dict[str, Block] = {SESSION_SCOPE: session if order is None else session.take(order)}
    step_rows: dict[str, list[PreparedRecord]] = {}
    for record in unique:
        for name in record.step_metrics:
            step_rows.setdefault(name, []).append(record)
    for name, named in step_rows.items():
        blocks[name] = sort_block(
            block_from_rows(
                [r.row.datapoint_id for r in named],
                (r.row.epoch for r in named),
                [r.step_metrics[name] for r in named],
            )
        )
    kinds = {
        (scope, metric): column.kind
        for scope, block in blocks.items()
        for metric, column in block.columns.items()
    }
    if order is not None:
        rows = [rows[i] for i in order.tolist()]
    return WriteBatch(rows, blocks, kinds)


def _key_order(ids: list[str], epochs: list[int]) -> npt.NDArray[np.int64] | None:
    """The order that sorts records by (datapoint id, epoch); None when they are sorted.

    The keys are unique (a batch holds each record once).
    """
    if not any(epochs):
        if all(map(operator.lt, ids, itertools.islice(ids, 1, None))):
            return None
        if max(map(len, ids)) * len(ids) <= 4 * sum(map(len, ids)):
            # numpy orders text by code point, as Python does (ids hold no NUL, which
            # numpy would drop from the end), and sorts them in a fraction of the time of
            # sorted() with a key; not when padding every id to the longest would be big.
            return np.argsort(np.array(ids), kind="stable").astype(np.int64, copy=False)
        return np.asarray(sorted(range(len(ids)), key=ids.__getitem__), dtype=np.int64)
    keys = list(zip(ids, epochs, strict=True))
    if all(map(operator.lt, keys, itertools.islice(keys, 1, None))):
        return None
    return np.asarray(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)


def checked_batch(
    records: Sequence[PreparedRecord],
    known: Mapping[tuple[str, str], MetricKind],
    run_id: str,
    *,
    built: WriteBatch | None = None,
) -> tuple[WriteBatch | None, tuple[int, InvalidMetricError] | None]:
    """The write batch of some records, or the first record whose metric changes kind
    (text where the run, or an earlier record, holds numbers, or the reverse).

    ``built`` is the records' batch when it was built already (:func:`build_batch`).
    """
    batch = built
    try:
        if batch is None:
            batch = build_batch(records)
        clash = any(
            (known.get(key, kind) is MetricKind.STRING) != (kind is MetricKind.STRING)
            for key, kind in batch.kinds.items()
        )
    except MixedKindsError:
        clash = True
    if clash:
        conflict = first_kind_conflict(records, known, run_id)
        if conflict is not None:
            return None, conflict
    if batch is None:
        batch = build_batch(records)
    return batch, None


def first_kind_conflict(
    records: Sequence[PreparedRecord], known: Mapping[tuple[str, str], MetricKind], run_id: str
) -> tuple[int, InvalidMetricError] | None:
    """The first record whose metric is text where the run holds numbers (or the reverse).

    Slow (it looks at every value) and only called once a batch is known to hold one.
    """
    seen = dict(known)
    for index, record in enumerate(records):
        for scope, (values, special) in [
            (SESSION_SCOPE, record.metrics),
            *record.step_metrics.items(),
        ]:
            kinds = dict(special)
            for metric in values:
                kind = kinds.get(metric, MetricKind.NUMBER)
                previous = seen.setdefault((scope, metric), kind)
                if (previous is MetricKind.STRING) != (kind is MetricKind.STRING):
                    step = f" of step {scope!r}" if scope else ""
                    return index, InvalidMetricError(
                        f"metric {metric!r}{step} on datapoint {record.row.datapoint_id!r} is "
                        f"a {kind.value}, but run {run_id!r} holds {previous.value} values for "
                        "it; log one kind of value per metric",
                        metric=metric,
                        datapoint_id=record.row.datapoint_id,
                        step=scope or None,
                    )
    return None
