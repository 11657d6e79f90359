"""Spans as evalyard reads them: the neutral shape of an OpenTelemetry span (pure).

A span reaches evalyard two ways: captured in process by a span processor while
``evaluate`` runs a datapoint, or sent to a team server over OTLP (protobuf or JSON). Both
read what they receive into :class:`SpanRecord` values, so one mapping turns spans into a
result's steps and metrics whichever way they came. Ids are lowercase hex, times are
nanoseconds since the epoch, attribute values are JSON values (OTLP's arrays become lists,
its key-value lists dicts, its bytes hex text).

Example:
    >>> span = SpanRecord(trace_id="0" * 31 + "1", span_id="0" * 15 + "2", parent_id=None,
    ...                   name="chat gpt-4o", start_ns=1_000_000, end_ns=3_500_000)
    >>> span.duration_ms
    2.5
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["SpanEvent", "SpanKind", "SpanRecord", "SpanStatus"]


class SpanKind(StrEnum):
    """The span's kind, as OpenTelemetry names them."""

    INTERNAL = "internal"
    SERVER = "server"
    CLIENT = "client"
    PRODUCER = "producer"
    CONSUMER = "consumer"


class SpanStatus(StrEnum):
    """How the span ended, as OpenTelemetry's status codes name it."""

    UNSET = "unset"
    OK = "ok"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """Something that happened at one instant of a span (a log line, an exception, a
    prompt or completion recorded as an event)."""

    name: str
    """The event's name (``exception``, ``gen_ai.user.message``, …)."""
    time_ns: int
    """When it happened, in nanoseconds since the epoch."""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    """Its attributes, as JSON values."""


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span: a unit of work in a trace, with its parent, time and attributes."""

    trace_id: str
    """The trace's id, 32 lowercase hex digits."""
    span_id: str
    """The span's id, 16 lowercase hex digits."""
    parent_id: str | None
    """The parent span's id, or None for a trace's root."""
    name: str
    """The span's name."""
    start_ns: int
    """When it started, in nanoseconds since the epoch."""
    end_ns: int
    """When it ended, in nanoseconds since the epoch."""
    kind: SpanKind = SpanKind.INTERNAL
    """Its kind (a call out to a model provider is usually ``client``)."""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    """Its attributes merged over its resource's (the span's win), as JSON values."""
    events: tuple[SpanEvent, ...] = ()
    """Its events, in the order they happened."""
    status: SpanStatus = SpanStatus.UNSET
    """How it ended."""
    status_message: str | None = None
    """The status's description, when it has one (usually the error's message)."""

    @property
    def duration_ms(self) -> float:
        """How long it took, in milliseconds (0 for a span that ends before it starts)."""
        return max(self.end_ns - self.start_ns, 0) / 1e6
