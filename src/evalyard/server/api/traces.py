"""``POST /v1/traces``: OTLP/HTTP trace ingestion, spans in, results and steps of runs out.

Point an OpenTelemetry exporter at the team server (``OTEL_EXPORTER_OTLP_ENDPOINT=URL``,
``OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer TOKEN``): each request, protobuf or
OTLP/JSON (:mod:`evalyard.server.otlp`), is read into spans, and the spans that name a
datapoint of a run become that run's results, written in one transaction.

Which spans belong where (docs/server.md says the same):

- ``evalyard.run_id`` and ``evalyard.datapoint_id`` (and ``evalyard.epoch``, default 0)
  are read from the span's attributes, else its resource's, else from its nearest ancestor
  in the same request that has them. Values of its own win over inherited ones.
- A span without a datapoint (after inheriting) is not evalyard's, even with a run id
  (a resource naming the run covers every span of the process, also those outside any
  datapoint): it is counted in the answer's ``partial_success.rejected_spans`` and nothing
  else happens to it. A span with a datapoint but no run, or a value of the wrong type,
  refuses the whole request with 422 naming the span.
- The spans of one (run, datapoint, epoch) make one result, whatever their traces. The
  earliest top-level span that carries ``evalyard.datapoint_id`` itself (not through its
  resource) stands for the datapoint: its ``evalyard.inputs`` / ``input.value``,
  ``evalyard.outputs`` / ``output.value`` and ``evalyard.ground_truth`` are the result's,
  its duration the result's, its error status the result's error. Every other span is a
  step (:func:`~evalyard.core.otel.spans_to_steps`); the steps' token, cost and model time
  totals (:func:`~evalyard.core.otel.rollup`) are the result's metrics, defined as
  lower-is-better in the run's project when it has no definition of them yet.
- The run must exist and be visible to the token (404 otherwise, as for batches): create
  it first (``evalyard.start_run``, ``POST /api/v1/runs``). A result is built from the
  spans of one request, and replaces an earlier result of the same (datapoint, epoch)
  (the last write wins, as for batches): export a datapoint's spans together (a
  ``BatchSpanProcessor``, flushed after each datapoint, its timed sends put off).
- A request sent again writes nothing twice: its idempotency key is ``otlp:`` and the
  SHA-256 of its (decompressed) body, kept per run with the batch.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from evalyard.config import max_field_bytes
from evalyard.core.otel import LOWER_IS_BETTER, rollup, spans_to_steps
from evalyard.core.spans import SpanRecord, SpanStatus
from evalyard.errors import InvalidInputError, StoreError
from evalyard.runner.logging import define_metric
from evalyard.runner.records import checked_batch, prepare_mapping
from evalyard.server.access import grant_of, visible_run
from evalyard.server.context import context_of
from evalyard.server.errors import (
    BodyTooLargeError,
    UndecodableBodyError,
    UnsupportedMediaTypeError,
)
from evalyard.server.otlp import (
    DATAPOINT_ATTRIBUTE,
    EPOCH_ATTRIBUTE,
    PROTOBUF_MEDIA_TYPE,
    RUN_ATTRIBUTE,
    ReceivedSpan,
    decode_json,
    decode_protobuf,
    encode_response,
)
from evalyard.store.base import Store, WriteBatch

__all__ = ["TRACES_MEDIA_TYPES", "ResultPlan", "export_traces", "plan_results"]

#: The content types ``POST /v1/traces`` takes.
TRACES_MEDIA_TYPES = (PROTOBUF_MEDIA_TYPE, "application/json")

_KEYS = (RUN_ATTRIBUTE, DATAPOINT_ATTRIBUTE, EPOCH_ATTRIBUTE)
_MAX_EPOCH = 99_999


@dataclass
class ResultPlan:
    """The spans of one result: (run, datapoint, epoch)."""

    run_id: str
    datapoint_id: str
    epoch: int
    spans: list[ReceivedSpan] = field(default_factory=list)

    @cached_property
    def record(self) -> dict[str, Any]:
        """The result as a ``log_many`` record (made once)."""
        here = {(span.record.trace_id, span.record.span_id) for span in self.spans}
        roots = [
            span
            for span in self.spans
            if span.declares_datapoint
            and (
                span.record.parent_id is None
                or (span.record.trace_id, span.record.parent_id) not in here
            )
        ]
        root = min(roots, key=lambda s: (s.record.start_ns, s.record.span_id), default=None)
        records = [span.record for span in self.spans if span is not root]
        steps = spans_to_steps(records)
        record: dict[str, Any] = {
            "datapoint_id": self.datapoint_id,
            "epoch": self.epoch,
            "steps": steps,
            "metrics": rollup(steps),
        }
        if root is not None:
            attributes = root.record.attributes
            record["inputs"] = _value(attributes, "evalyard.inputs", "input.value")
            record["outputs"] = _value(attributes, "evalyard.outputs", "output.value")
            record["ground_truth"] = _value(attributes, "evalyard.ground_truth")
            record["duration_ms"] = root.record.duration_ms
            if root.record.status is SpanStatus.ERROR:
                record["error"] = root.record.status_message or "error"
        elif records:
            start = min(span.start_ns for span in records)
            end = max(span.end_ns for span in records)
            record["duration_ms"] = max(end - start, 0) / 1e6
        return record


def _value(attributes: Mapping[str, Any], *keys: str) -> Any:
    """The first of ``keys`` present; a string holding a JSON object or array is read."""
    for key in keys:
        if key in attributes:
            value = attributes[key]
            if isinstance(value, str) and value[:1] in ("{", "["):
                try:
                    return orjson.loads(value)
                except orjson.JSONDecodeError:
                    return value
            return value
    return None


def _named(span: SpanRecord) -> str:
    return f"span {span.name[:100]!r} (span id {span.span_id}, trace {span.trace_id})"


def _identity(span: SpanRecord, found: Mapping[str, Any]) -> tuple[str, str, int] | None:
    run_id = found.get(RUN_ATTRIBUTE)
    datapoint_id = found.get(DATAPOINT_ATTRIBUTE)
    epoch = found.get(EPOCH_ATTRIBUTE, 0)
    if datapoint_id is None:
        return None
    if run_id is None:
        raise InvalidInputError(
            f"{_named(span)} has {DATAPOINT_ATTRIBUTE} but no {RUN_ATTRIBUTE} (on itself, its "
            "resource or an ancestor in the same request); give it the run's id"
        )
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInputError(f"{_named(span)}: {RUN_ATTRIBUTE} must be a string of the run's id")
    if isinstance(datapoint_id, bool) or not isinstance(datapoint_id, str | int):
        raise InvalidInputError(
            f"{_named(span)}: {DATAPOINT_ATTRIBUTE} must be a string or an integer, not "
            f"{type(datapoint_id).__name__}"
        )
    if isinstance(epoch, str) and epoch.isdigit() and len(epoch) <= 5:
        epoch = int(epoch)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= _MAX_EPOCH:
        raise InvalidInputError(
            f"{_named(span)}: {EPOCH_ATTRIBUTE} must be a whole number from 0 to "
            f"{_MAX_EPOCH}, not {epoch!r}"
        )
    return run_id, str(datapoint_id), epoch


def plan_results(spans: Sequence[ReceivedSpan]) -> tuple[list[ResultPlan], int]:
    """The results the spans make, and how many spans name no datapoint.

    Raises:
        InvalidInputError: a span with a datapoint but no run, or a bad value (422).
    """
    by_id = {(span.record.trace_id, span.record.span_id): span for span in spans}
    resolved: dict[tuple[str, str], dict[str, Any]] = {}

    def attributes_of(span: SpanRecord) -> dict[str, Any]:
        # Walk up to the nearest ancestor already resolved (or the top), then fill in
        # downwards: each span's own values win over its ancestors'.
        chain: list[SpanRecord] = []
        seen: set[str] = set()
        current: SpanRecord | None = span
        inherited: dict[str, Any] = {}
        while current is not None:
            key = (current.trace_id, current.span_id)
            if key in resolved:
                inherited = resolved[key]
                break
            if current.span_id in seen:
                break  # a cycle of parents: stop at it
            seen.add(current.span_id)
            chain.append(current)
            parent = current.parent_id
            above = by_id.get((current.trace_id, parent)) if parent is not None else None
            current = above.record if above is not None else None
        for link in reversed(chain):
            own = {name: link.attributes[name] for name in _KEYS if name in link.attributes}
            inherited = {**inherited, **own}
            resolved[(link.trace_id, link.span_id)] = inherited
        return inherited

    plans: dict[tuple[str, str, int], ResultPlan] = {}
    rejected = 0
    for span in spans:
        identity = _identity(span.record, attributes_of(span.record))
        if identity is None:
            rejected += 1
            continue
        plan = plans.get(identity)
        if plan is None:
            plan = plans[identity] = ResultPlan(*identity)
        plan.spans.append(span)
    return list(plans.values()), rejected


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _inflated(request: Request, raw: bytes, limit: int) -> bytes:
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        raise UnsupportedMediaTypeError(
            f"this endpoint takes bodies as they are or gzip-compressed, not {encoding[:40]!r}"
        )
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise UndecodableBodyError(f"the gzip body cannot be read: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyTooLargeError(limit)
    return out


def _rejection(count: int) -> str:
    if not count:
        return ""
    return (
        f"{count} span(s) carry no {DATAPOINT_ATTRIBUTE} (on the span, its resource or an "
        "ancestor in the same request) and were not stored"
    )


def export_traces(request: Request) -> Response:
    """Store the spans of an OTLP ``ExportTraceServiceRequest`` as results of their runs."""
    context = context_of(request)
    writer = context.writer
    if writer is None:
        raise StoreError("this server does not take writes")
    protobuf = _media_type(request) == PROTOBUF_MEDIA_TYPE
    raw = _inflated(request, request.state.body, context.max_body_bytes)
    spans = decode_protobuf(raw) if protobuf else decode_json(raw)
    plans, rejected = plan_results(spans)
    store = context.store
    grant = grant_of(request)
    by_run: dict[str, list[ResultPlan]] = defaultdict(list)
    for plan in plans:
        by_run[plan.run_id].append(plan)
    key = "otlp:" + hashlib.sha256(raw).hexdigest()
    limit = max_field_bytes()
    batches: list[tuple[str, WriteBatch, str]] = []
    projects: dict[str, set[str]] = defaultdict(set)
    for run_id in sorted(by_run):
        info = visible_run(store, run_id, grant)
        projects[info.project].add(run_id)
        batches.append((info.run_id, _batch(by_run[run_id], info.run_id, store, limit), key))
    if batches:
        writer.write_keyed_batches(batches)
        _define_lower(store, projects, plans)
    return Response(
        encode_response(rejected, _rejection(rejected), protobuf=protobuf),
        media_type=PROTOBUF_MEDIA_TYPE if protobuf else "application/json",
    )


def _define_lower(
    store: Store, projects: Mapping[str, set[str]], plans: Sequence[ResultPlan]
) -> None:
    """Define the token, cost and model time totals as lower-is-better in each project that
    has no definition of them yet (as ``evaluate`` does for spans it captures)."""
    for project, run_ids in projects.items():
        seen = {
            name
            for plan in plans
            if plan.run_id in run_ids
            for name in LOWER_IS_BETTER
            if name in (plan.record.get("metrics") or {})
        }
        if not seen:
            continue
        existing = store.metric_definitions(project)
        for name in sorted(seen - existing.keys()):
            define_metric(name, direction="lower", project=project, store=store)


def _batch(plans: Iterable[ResultPlan], run_id: str, store: Store, limit: int) -> WriteBatch:
    ordered = sorted(plans, key=lambda plan: (plan.datapoint_id, plan.epoch))
    prepared = []
    for index, plan in enumerate(ordered):
        try:
            prepared.append(prepare_mapping(plan.record, index, limit=limit))
        except InvalidInputError as exc:
            exc.args = (
                f"the result of datapoint {plan.datapoint_id!r} (epoch {plan.epoch}) of run "
                f"{run_id!r}, made of spans such as {_named(plan.spans[0].record)}: {exc}",
            )
            raise
    batch, conflict = checked_batch(prepared, store.metric_kinds(run_id), run_id)
    if conflict is not None:
        raise conflict[1]
    assert batch is not None
    return batch
