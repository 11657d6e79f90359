"""``POST /v1/traces``: OTLP/HTTP trace ingestion, spans in, results and steps of runs out.

Point an OpenTelemetry exporter at the team server (``OTEL_EXPORTER_OTLP_ENDPOINT=URL``,
``OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer TOKEN``): each request, protobuf or
OTLP/JSON (:mod:`evalyard.server.otlp`), is read into spans, which are kept, and the spans
that name a datapoint of a run become that run's results, written in one transaction.

Which spans belong where (docs/server.md says the same):

- ``evalyard.run_id`` and ``evalyard.datapoint_id`` (and ``evalyard.epoch``, default 0)
  are read from the span's attributes, else its resource's, else from its nearest ancestor
  that has them, among every span of its trace received so far (this request and earlier
  ones, table ``otlp_spans``). Values of its own win over inherited ones.
- A span whose ancestry is complete (up to a span without a parent) without a datapoint is
  not evalyard's (a resource naming the run covers every span of the process, also those
  outside any datapoint): it is counted in the answer's ``partial_success.rejected_spans``
  and not stored. A span whose ancestry is cut (a parent not received yet) before a
  datapoint and a run were found is pending: kept, and attached when a later request
  brings its ancestors; pending spans are purged after :data:`PENDING_SECONDS`, and a
  project keeps at most :data:`MAX_PENDING_SPANS` (more are counted as rejected). A span
  with a datapoint but no run (its ancestry complete), or a value of the wrong type,
  refuses the whole request with 422 naming the span.
- The spans of one (run, datapoint, epoch) make one result, whatever their traces and
  whichever requests brought them. The earliest top-level span that carries
  ``evalyard.datapoint_id`` itself (not through its resource) stands for the datapoint:
  its ``evalyard.inputs`` / ``input.value``, ``evalyard.outputs`` / ``output.value`` and
  ``evalyard.ground_truth`` are the result's, its duration the result's, its error status
  the result's error. Every other span is a step
  (:func:`~evalyard.core.otel.spans_to_steps`); the steps' token, cost and model time
  totals (:func:`~evalyard.core.otel.rollup`) are the result's metrics, defined as
  lower-is-better in the run's project when it has no definition of them yet.
- The run must exist and be visible to the token (404 otherwise, as for batches): create
  it first (``evalyard.start_run``, ``POST /api/v1/runs``). Each request, in one
  transaction holding its project's span lock, stores its new spans and rebuilds every
  result that gained a span from all of that result's stored spans (the rebuilt result
  replaces the earlier one).
- A request sent again stores nothing twice: its spans are kept already, so it rewrites no
  result; the batches it writes carry the idempotency key ``otlp:`` and the SHA-256 of its
  (decompressed) body and of the spans it added, kept per run.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from evalyard.config import max_field_bytes
from evalyard.core.ids import check_datapoint_id
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
    span_from_json,
    span_to_json,
)
from evalyard.store.base import Store, StoredSpan, WriteBatch

__all__ = [
    "MAX_PENDING_SPANS",
    "PENDING_SECONDS",
    "TRACES_MEDIA_TYPES",
    "Resolution",
    "ResultPlan",
    "export_traces",
    "plan_results",
    "resolve_spans",
]

#: The content types ``POST /v1/traces`` takes.
TRACES_MEDIA_TYPES = (PROTOBUF_MEDIA_TYPE, "application/json")

_KEYS = (RUN_ATTRIBUTE, DATAPOINT_ATTRIBUTE, EPOCH_ATTRIBUTE)
_MAX_EPOCH = 99_999
_MAX_RUN_ID = 64

#: How long a pending span (no datapoint through its ancestors yet) is kept, in seconds.
PENDING_SECONDS = 24 * 3600
#: How many pending spans a project keeps at most; more are refused (partial success).
MAX_PENDING_SPANS = 100_000


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
            "resource or an ancestor); give it the run's id"
        )
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInputError(f"{_named(span)}: {RUN_ATTRIBUTE} must be a string of the run's id")
    if isinstance(datapoint_id, bool) or not isinstance(datapoint_id, str | int):
        raise InvalidInputError(
            f"{_named(span)}: {DATAPOINT_ATTRIBUTE} must be a string or an integer, not "
            f"{type(datapoint_id).__name__}"
        )
    if len(run_id) > _MAX_RUN_ID:
        raise InvalidInputError(
            f"{_named(span)}: {RUN_ATTRIBUTE} {run_id[:40]!r}... is no run's id"
        )
    try:
        datapoint_id = check_datapoint_id(datapoint_id)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{_named(span)}: {exc}") from None
    if isinstance(epoch, str) and epoch.isdigit() and len(epoch) <= 5:
        epoch = int(epoch)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= _MAX_EPOCH:
        raise InvalidInputError(
            f"{_named(span)}: {EPOCH_ATTRIBUTE} must be a whole number from 0 to "
            f"{_MAX_EPOCH}, not {epoch!r}"
        )
    return run_id, str(datapoint_id), epoch


#: A span's place, once resolved: its (run, datapoint, epoch).
Identity = tuple[str, str, int]
#: The span's key in the store: (trace id, span id).
SpanKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where the spans go: each span's result, the spans that belong nowhere, the spans
    that wait for an ancestor."""

    placed: dict[SpanKey, Identity]
    """The spans that belong to a result."""
    rejected: set[SpanKey]
    """The spans whose ancestry is complete (up to a span without a parent) and names no
    datapoint: they are not evalyard's and are not kept."""
    pending: set[SpanKey]
    """The spans whose ancestry is cut (a parent not received yet) before a datapoint and
    a run were found: kept until their ancestors come."""


def resolve_spans(
    spans: Iterable[ReceivedSpan], *, strict: Iterable[SpanKey] | None = None
) -> Resolution:
    """Place each span by the evalyard attributes of its own, its resource's and its
    ancestors' (among ``spans``).

    Args:
        spans: the spans, of any traces, each key once.
        strict: the spans whose bad values refuse the request (the spans of the request);
            by default all. Another span with a bad value is left pending.

    Raises:
        InvalidInputError: a span of ``strict`` with a datapoint but no run (its ancestry
            complete), or a bad value (422).
    """
    by_id = {(span.record.trace_id, span.record.span_id): span for span in spans}
    strict_keys = set(by_id) if strict is None else set(strict)
    # Each span's attributes after inheriting, and whether its ancestry is complete.
    resolved: dict[SpanKey, tuple[dict[str, Any], bool]] = {}

    def attributes_of(span: SpanRecord) -> tuple[dict[str, Any], bool]:
        # Walk up to the nearest ancestor already resolved (or the top), then fill in
        # downwards: each span's own values win over its ancestors'.
        chain: list[SpanRecord] = []
        seen: set[str] = set()
        current: SpanRecord | None = span
        inherited: dict[str, Any] = {}
        complete = True
        while current is not None:
            key = (current.trace_id, current.span_id)
            if key in resolved:
                inherited, complete = resolved[key]
                break
            if current.span_id in seen:
                break  # a cycle of parents: stop at it (as complete as it will get)
            seen.add(current.span_id)
            chain.append(current)
            parent = current.parent_id
            above = by_id.get((current.trace_id, parent)) if parent is not None else None
            if parent is not None and above is None:
                complete = False  # the parent has not arrived (yet)
            current = above.record if above is not None else None
        for link in reversed(chain):
            own = {name: link.attributes[name] for name in _KEYS if name in link.attributes}
            inherited = {**inherited, **own}
            resolved[(link.trace_id, link.span_id)] = (inherited, complete)
        return inherited, complete

    placed: dict[SpanKey, Identity] = {}
    rejected: set[SpanKey] = set()
    pending: set[SpanKey] = set()
    for key, span in by_id.items():
        found, complete = attributes_of(span.record)
        if not complete and (DATAPOINT_ATTRIBUTE not in found or RUN_ATTRIBUTE not in found):
            pending.add(key)
            continue
        try:
            identity = _identity(span.record, found)
        except InvalidInputError:
            if key in strict_keys:
                raise
            pending.add(key)  # purged in time
            continue
        if identity is None:
            rejected.add(key)
        else:
            placed[key] = identity
    return Resolution(placed, rejected, pending)


def plan_results(spans: Sequence[ReceivedSpan]) -> tuple[list[ResultPlan], int]:
    """The results the spans make on their own, and how many spans name no datapoint
    (pending spans included).

    Raises:
        InvalidInputError: a span with a datapoint but no run, or a bad value (422).
    """
    resolution = resolve_spans(spans)
    plans: dict[Identity, ResultPlan] = {}
    for span in spans:
        identity = resolution.placed.get((span.record.trace_id, span.record.span_id))
        if identity is None:
            continue
        plan = plans.get(identity)
        if plan is None:
            plan = plans[identity] = ResultPlan(*identity)
        plan.spans.append(span)
    return list(plans.values()), len(resolution.rejected) + len(resolution.pending)


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


def _rejection(rejected: int, dropped: int) -> str:
    parts = []
    if rejected:
        parts.append(
            f"{rejected} span(s) carry no {DATAPOINT_ATTRIBUTE} (on the span, its resource "
            "or an ancestor) and were not stored"
        )
    if dropped:
        parts.append(
            f"{dropped} span(s) wait for ancestors not received yet, and were not stored: "
            f"the project already holds {MAX_PENDING_SPANS} such spans"
        )
    return "; ".join(parts)


def export_traces(request: Request) -> Response:
    """Store the spans of an OTLP ``ExportTraceServiceRequest``, and rebuild the results of
    their runs that they touch from every span received for them."""
    context = context_of(request)
    writer = context.writer
    if writer is None:
        raise StoreError("this server does not take writes")
    protobuf = _media_type(request) == PROTOBUF_MEDIA_TYPE
    raw = _inflated(request, request.state.body, context.max_body_bytes)
    received = decode_protobuf(raw) if protobuf else decode_json(raw)
    incoming: dict[SpanKey, ReceivedSpan] = {}
    for span in received:
        incoming.setdefault((span.record.trace_id, span.record.span_id), span)
    # Refuse bad values before touching the store (422, nothing written).
    resolve_spans(incoming.values())
    store = context.store
    grant = grant_of(request)
    limit = max_field_bytes()
    now = time.time()
    projects: dict[str, set[str]] = defaultdict(set)
    plans: list[ResultPlan] = []
    with writer.span_session(grant.project or "") as session:
        session.purge_pending(now - PENDING_SECONDS)
        stored = {
            (row.trace_id, row.span_id): row
            for row in session.spans_of_traces({trace for trace, _ in incoming})
        }
        # A span stored before is kept as it was (a resend stores nothing twice).
        spans = {k: span_from_json(row.span) for k, row in stored.items()}
        new = {k: span for k, span in incoming.items() if k not in stored}
        spans.update(new)
        resolution = resolve_spans(spans.values(), strict=new)
        touched = {resolution.placed[k] for k in incoming if k in resolution.placed}
        attached: list[StoredSpan] = []
        for k, row in stored.items():
            if row.run_id is not None:
                continue
            identity = resolution.placed.get(k)
            if identity is not None:
                attached.append(
                    replace(row, run_id=identity[0], datapoint_id=identity[1], epoch=identity[2])
                )
                touched.add(identity)
        gone = [k for k, row in stored.items() if row.run_id is None and k in resolution.rejected]
        rejected = sum(1 for k in new if k in resolution.rejected)
        waiting = [k for k in new if k in resolution.pending]
        room = max(MAX_PENDING_SPANS - session.pending_count() + len(gone) + len(attached), 0)
        dropped = set(waiting[room:])
        kept = [
            _stored(k, span, resolution.placed.get(k), now)
            for k, span in new.items()
            if k not in resolution.rejected and k not in dropped
        ]
        session.add_spans(kept)
        session.assign(attached)
        session.remove(gone)
        if not kept and not attached:
            # Every span was stored before (a resend): the results have them already.
            touched = set()
        # The body and what it added: a body sent again after its pending spans were
        # purged (or refused over the limit) adds them again, and is written again.
        digest = hashlib.sha256(raw)
        for added in sorted([(s.trace_id, s.span_id) for s in (*kept, *attached)]):
            digest.update(f"\0{added[0]}:{added[1]}".encode())
        key = "otlp:" + digest.hexdigest()
        by_identity: dict[Identity, ResultPlan] = {}
        for row in session.spans_of_results(touched):
            assert row.run_id is not None
            assert row.datapoint_id is not None
            identity = (row.run_id, row.datapoint_id, int(row.epoch or 0))
            plan = by_identity.get(identity)
            if plan is None:
                plan = by_identity[identity] = ResultPlan(*identity)
            plan.spans.append(spans.get((row.trace_id, row.span_id)) or span_from_json(row.span))
        for plan in by_identity.values():
            plan.spans.sort(key=lambda s: (s.record.start_ns, s.record.trace_id, s.record.span_id))
        plans = list(by_identity.values())
        by_run: dict[str, list[ResultPlan]] = defaultdict(list)
        for plan in plans:
            by_run[plan.run_id].append(plan)
        batches: list[tuple[str, WriteBatch, str]] = []
        for run_id in sorted(by_run):
            info = visible_run(store, run_id, grant)
            projects[info.project].add(run_id)
            batches.append((info.run_id, _batch(by_run[run_id], info.run_id, store, limit), key))
        if batches:
            session.write_keyed_batches(batches)
    if plans:
        _define_lower(store, projects, plans)
    refused = rejected + len(dropped)
    return Response(
        encode_response(refused, _rejection(rejected, len(dropped)), protobuf=protobuf),
        media_type=PROTOBUF_MEDIA_TYPE if protobuf else "application/json",
    )


def _stored(key: SpanKey, span: ReceivedSpan, identity: Identity | None, now: float) -> StoredSpan:
    run_id, datapoint_id, epoch = identity if identity is not None else (None, None, None)
    return StoredSpan(
        trace_id=key[0],
        span_id=key[1],
        span=span_to_json(span),
        run_id=run_id,
        datapoint_id=datapoint_id,
        epoch=epoch,
        received_at=now,
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
