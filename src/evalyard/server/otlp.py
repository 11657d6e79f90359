"""OTLP/HTTP trace requests read into :class:`~evalyard.core.spans.SpanRecord` values, and
the answers OTLP expects, in protobuf and in OTLP/JSON.

An ``ExportTraceServiceRequest`` arrives as protobuf (``application/x-protobuf``, read with
``opentelemetry-proto``) or as OTLP/JSON (``application/json``: ids in hex, enums as
integers, 64-bit integers as strings or numbers, bytes in base64, field names in
lowerCamelCase; snake_case names are read too, unknown fields ignored). Either way each
span becomes a :class:`ReceivedSpan`: its record (the resource's attributes merged under
the span's), and whether the span itself, not its resource, names a datapoint. Anything
that is not such a request is refused with :class:`UndecodableBodyError` (HTTP 400).

Example:
    >>> body = (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "'
    ...         + b"0" * 31 + b'1", "spanId": "' + b"0" * 15 + b'2", "name": "answer", '
    ...         b'"startTimeUnixNano": "1000", "endTimeUnixNano": "2000"}]}]}]}')
    >>> [span.record.name for span in decode_json(body)]
    ['answer']
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from evalyard.core.spans import SpanEvent, SpanKind, SpanRecord, SpanStatus
from evalyard.server.errors import UndecodableBodyError

__all__ = [
    "DATAPOINT_ATTRIBUTE",
    "EPOCH_ATTRIBUTE",
    "PROTOBUF_MEDIA_TYPE",
    "RUN_ATTRIBUTE",
    "ReceivedSpan",
    "decode_json",
    "decode_protobuf",
    "encode_response",
    "encode_status",
    "span_from_json",
    "span_to_json",
]

PROTOBUF_MEDIA_TYPE = "application/x-protobuf"
#: The attributes that place a span in a run: on the span, an ancestor or the resource.
RUN_ATTRIBUTE = "evalyard.run_id"
DATAPOINT_ATTRIBUTE = "evalyard.datapoint_id"
EPOCH_ATTRIBUTE = "evalyard.epoch"

#: How deeply arrays and key-value lists may nest in an attribute value.
MAX_VALUE_DEPTH = 32

_KINDS = {
    0: SpanKind.INTERNAL,  # unspecified
    1: SpanKind.INTERNAL,
    2: SpanKind.SERVER,
    3: SpanKind.CLIENT,
    4: SpanKind.PRODUCER,
    5: SpanKind.CONSUMER,
}
_KIND_NAMES = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}
_STATUSES = {0: SpanStatus.UNSET, 1: SpanStatus.OK, 2: SpanStatus.ERROR}
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """A span as received over OTLP."""

    record: SpanRecord
    """The span, its resource's attributes merged under its own."""
    declares_datapoint: bool
    """Whether the span's own attributes (not its resource's) name a datapoint: such a
    span stands for the datapoint itself (see :mod:`evalyard.server.api.traces`)."""


def span_to_json(span: ReceivedSpan) -> str:
    """The span as JSON text, as the store keeps it (read back by :func:`span_from_json`)."""
    record = span.record
    return orjson.dumps(
        {
            "trace_id": record.trace_id,
            "span_id": record.span_id,
            "parent_id": record.parent_id,
            "name": record.name,
            "start_ns": record.start_ns,
            "end_ns": record.end_ns,
            "kind": record.kind.value,
            "attributes": dict(record.attributes),
            "events": [
                {"name": e.name, "time_ns": e.time_ns, "attributes": dict(e.attributes)}
                for e in record.events
            ],
            "status": record.status.value,
            "status_message": record.status_message,
            "declares_datapoint": span.declares_datapoint,
        }
    ).decode()


def span_from_json(text: str) -> ReceivedSpan:
    """The span :func:`span_to_json` wrote."""
    data = orjson.loads(text)
    record = SpanRecord(
        trace_id=data["trace_id"],
        span_id=data["span_id"],
        parent_id=data["parent_id"],
        name=data["name"],
        start_ns=data["start_ns"],
        end_ns=data["end_ns"],
        kind=SpanKind(data["kind"]),
        attributes=data["attributes"],
        events=tuple(
            SpanEvent(name=e["name"], time_ns=e["time_ns"], attributes=e["attributes"])
            for e in data["events"]
        ),
        status=SpanStatus(data["status"]),
        status_message=data["status_message"],
    )
    return ReceivedSpan(record=record, declares_datapoint=bool(data["declares_datapoint"]))


def _bad(message: str) -> UndecodableBodyError:
    return UndecodableBodyError(f"the OTLP request cannot be read: {message}")


# -- protobuf ---------------------------------------------------------------------------


def _proto_value(value: AnyValue, depth: int = 0) -> Any:
    if depth > MAX_VALUE_DEPTH:
        raise _bad(f"an attribute value nests deeper than {MAX_VALUE_DEPTH} levels")
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return _finite(value.double_value)
    if which == "bytes_value":
        return value.bytes_value.hex()
    if which == "array_value":
        return [_proto_value(item, depth + 1) for item in value.array_value.values]
    if which == "kvlist_value":
        return _proto_attributes(value.kvlist_value.values, depth + 1)
    return None


def _proto_attributes(pairs: Any, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        out[pair.key] = _proto_value(pair.value, depth)
    return out


def _proto_id(raw: bytes, size: int, what: str, *, optional: bool = False) -> str | None:
    if optional and not raw:
        return None
    if len(raw) != size or not any(raw):
        raise _bad(f"a span's {what} is {len(raw)} bytes {raw.hex()!r}, not {size} bytes")
    return raw.hex()


def decode_protobuf(raw: bytes) -> list[ReceivedSpan]:
    """The spans of an ``ExportTraceServiceRequest`` in protobuf.

    Raises:
        UndecodableBodyError: the bytes are not such a request, or a span's ids are not ids.
    """
    try:
        request = ExportTraceServiceRequest.FromString(raw)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise _bad(f"it is not an ExportTraceServiceRequest in protobuf ({exc})") from None
    out: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = _proto_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                own = _proto_attributes(span.attributes)
                trace_id = _proto_id(span.trace_id, 16, "trace id")
                span_id = _proto_id(span.span_id, 8, "span id")
                assert trace_id is not None
                assert span_id is not None
                status = span.status
                out.append(
                    ReceivedSpan(
                        SpanRecord(
                            trace_id=trace_id,
                            span_id=span_id,
                            parent_id=_proto_id(
                                span.parent_span_id, 8, "parent span id", optional=True
                            ),
                            name=span.name,
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            kind=_KINDS.get(span.kind, SpanKind.INTERNAL),
                            attributes={**resource, **own},
                            events=tuple(
                                SpanEvent(
                                    event.name,
                                    event.time_unix_nano,
                                    _proto_attributes(event.attributes),
                                )
                                for event in span.events
                            ),
                            status=_STATUSES.get(status.code, SpanStatus.UNSET),
                            status_message=status.message or None,
                        ),
                        DATAPOINT_ATTRIBUTE in own,
                    )
                )
    return out


# -- OTLP/JSON --------------------------------------------------------------------------


def _field(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    found = obj.get(camel)
    return obj.get(snake) if found is None else found


def _object(value: Any, where: str, *, item: bool = False) -> Mapping[str, Any]:
    # A field left null is empty, as in protobuf's JSON; an item of an array is not.
    if value is None and not item:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{where} is a {type(value).__name__}, not an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(f"{where} is a {type(value).__name__}, not an array")
    return value


def _integer(value: Any, where: str, *, low: int = 0, high: int = _UINT64_MAX) -> int:
    """An OTLP/JSON integer: a JSON number or a decimal string (64-bit values)."""
    if isinstance(value, bool):
        raise _bad(f"{where} is a boolean, not an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit() or len(text) > 21:
            raise _bad(f"{where} is {value[:40]!r}, not an integer")
        value = int(text)
    if not isinstance(value, int):
        raise _bad(f"{where} is a {type(value).__name__}, not an integer")
    if not low <= value <= high:
        raise _bad(f"{where} is {value}, out of range")
    return value


def _finite(value: float) -> float | None:
    # JSON has no NaN or infinity: such an attribute value is kept as null.
    return value if math.isfinite(value) else None


def _json_value(value: Any, where: str, depth: int = 0) -> Any:
    if depth > MAX_VALUE_DEPTH:
        raise _bad(f"{where} nests deeper than {MAX_VALUE_DEPTH} levels")
    value = _object(value, where)
    for camel, snake in (
        ("stringValue", "string_value"),
        ("boolValue", "bool_value"),
        ("intValue", "int_value"),
        ("doubleValue", "double_value"),
        ("bytesValue", "bytes_value"),
        ("arrayValue", "array_value"),
        ("kvlistValue", "kvlist_value"),
    ):
        found = _field(value, camel, snake)
        if found is None:
            continue
        if camel == "stringValue":
            if not isinstance(found, str):
                raise _bad(f"{where}.stringValue is not a string")
            return found
        if camel == "boolValue":
            if not isinstance(found, bool):
                raise _bad(f"{where}.boolValue is not a boolean")
            return found
        if camel == "intValue":
            return _integer(found, f"{where}.intValue", low=_INT64[0], high=_INT64[1])
        if camel == "doubleValue":
            return _double(found, f"{where}.doubleValue")
        if camel == "bytesValue":
            if not isinstance(found, str):
                raise _bad(f"{where}.bytesValue is not base64 text")
            try:
                return base64.b64decode(found, validate=True).hex()
            except (binascii.Error, ValueError):
                raise _bad(f"{where}.bytesValue is not base64") from None
        items = _list(_object(found, f"{where}.{camel}").get("values"), f"{where}.{camel}")
        if camel == "arrayValue":
            return [
                _json_value(item, f"{where}.arrayValue.values[{i}]", depth + 1)
                for i, item in enumerate(items)
            ]
        return _json_attributes(items, f"{where}.kvlistValue.values", depth + 1)
    return None


def _double(value: Any, where: str) -> float | None:
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"{where} is not a number")
    return _finite(float(value))


def _json_attributes(pairs: Any, where: str, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, pair in enumerate(_list(pairs, where)):
        pair = _object(pair, f"{where}[{index}]", item=True)
        key = pair.get("key")
        if not isinstance(key, str):
            raise _bad(f"{where}[{index}].key is not a string")
        out[key] = _json_value(pair.get("value"), f"{where}[{index}].value", depth)
    return out


def _json_id(value: Any, size: int, where: str, *, optional: bool = False) -> str | None:
    if optional and (value is None or value == ""):
        return None
    if not isinstance(value, str) or len(value) != size * 2:
        raise _bad(f"{where} is {str(value)[:80]!r}, not {size * 2} hex digits")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise _bad(f"{where} is {value!r}, not hex") from None
    if not any(raw):
        raise _bad(f"{where} is all zeros, not an id")
    return raw.hex()


def _enum(value: Any, names: Mapping[str, int], where: str) -> int:
    if isinstance(value, str) and value in names:
        return names[value]
    return _integer(value, where, high=2**31 - 1)


def _json_span(span: Any, where: str, resource: Mapping[str, Any]) -> ReceivedSpan:
    span = _object(span, where, item=True)
    own = _json_attributes(span.get("attributes"), f"{where}.attributes")
    status = _object(span.get("status"), f"{where}.status")
    code = _enum(status.get("code", 0), _STATUS_NAMES, f"{where}.status.code")
    message = status.get("message")
    name = span.get("name", "")
    if not isinstance(name, str):
        raise _bad(f"{where}.name is not a string")
    events = []
    for index, event in enumerate(_list(span.get("events"), f"{where}.events")):
        event = _object(event, f"{where}.events[{index}]", item=True)
        event_name = event.get("name", "")
        if not isinstance(event_name, str):
            raise _bad(f"{where}.events[{index}].name is not a string")
        events.append(
            SpanEvent(
                event_name,
                _integer(
                    _field(event, "timeUnixNano", "time_unix_nano") or 0,
                    f"{where}.events[{index}].timeUnixNano",
                ),
                _json_attributes(event.get("attributes"), f"{where}.events[{index}].attributes"),
            )
        )
    trace_id = _json_id(_field(span, "traceId", "trace_id"), 16, f"{where}.traceId")
    span_id = _json_id(_field(span, "spanId", "span_id"), 8, f"{where}.spanId")
    assert trace_id is not None
    assert span_id is not None
    record = SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=_json_id(
            _field(span, "parentSpanId", "parent_span_id"),
            8,
            f"{where}.parentSpanId",
            optional=True,
        ),
        name=name,
        start_ns=_integer(
            _field(span, "startTimeUnixNano", "start_time_unix_nano") or 0,
            f"{where}.startTimeUnixNano",
        ),
        end_ns=_integer(
            _field(span, "endTimeUnixNano", "end_time_unix_nano") or 0,
            f"{where}.endTimeUnixNano",
        ),
        kind=_KINDS.get(
            _enum(span.get("kind", 0), _KIND_NAMES, f"{where}.kind"), SpanKind.INTERNAL
        ),
        attributes={**resource, **own},
        events=tuple(events),
        status=_STATUSES.get(code, SpanStatus.UNSET),
        status_message=message if isinstance(message, str) and message else None,
    )
    return ReceivedSpan(record, DATAPOINT_ATTRIBUTE in own)


def decode_json(raw: bytes) -> list[ReceivedSpan]:
    """The spans of an ``ExportTraceServiceRequest`` in OTLP/JSON.

    Raises:
        UndecodableBodyError: the body is not JSON, or not such a request.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _bad(f"it is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _bad("it is not a JSON object with resourceSpans")
    out: list[ReceivedSpan] = []
    spans_of = _list(_field(data, "resourceSpans", "resource_spans"), "resourceSpans")
    for r, resource_spans in enumerate(spans_of):
        where = f"resourceSpans[{r}]"
        resource_spans = _object(resource_spans, where, item=True)
        resource = _json_attributes(
            _object(resource_spans.get("resource"), f"{where}.resource").get("attributes"),
            f"{where}.resource.attributes",
        )
        scopes = _list(_field(resource_spans, "scopeSpans", "scope_spans"), f"{where}.scopeSpans")
        for s, scope_spans in enumerate(scopes):
            inner = f"{where}.scopeSpans[{s}]"
            spans = _list(_object(scope_spans, inner, item=True).get("spans"), f"{inner}.spans")
            out.extend(
                _json_span(span, f"{inner}.spans[{i}]", resource) for i, span in enumerate(spans)
            )
    return out


# -- answers ----------------------------------------------------------------------------


def encode_response(rejected: int, message: str, *, protobuf: bool) -> bytes:
    """An ``ExportTraceServiceResponse``: ``partial_success`` only when spans were refused."""
    if protobuf:
        response = ExportTraceServiceResponse()
        if rejected:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=rejected, error_message=message)
            )
        return bytes(response.SerializeToString())
    if not rejected:
        return b"{}"
    return orjson.dumps(
        {"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}}
    )


def encode_status(code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` in protobuf (the body OTLP asks of an error answer): field 1
    the gRPC code, field 2 the message."""
    text = message.encode("utf-8")
    return _tag_varint(1, code) + bytes([0x12]) + _varint(len(text)) + text


def _tag_varint(field: int, value: int) -> bytes:
    return bytes([field << 3]) + _varint(value) if value else b""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)
