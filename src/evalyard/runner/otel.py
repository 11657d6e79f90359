"""OpenTelemetry capture: the span processor that gives ``evaluate``'s results their steps.

Needs the OpenTelemetry SDK (``pip install 'evalyard[otel]'``); evalyard imports this
module only when it is installed. ``evaluate`` adds :class:`EvalyardSpanProcessor` to the
global tracer provider when that is the SDK's; to capture from a provider of your own, add
one yourself:

Example:
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> import evalyard
    >>> provider = TracerProvider()
    >>> provider.add_span_processor(evalyard.EvalyardSpanProcessor())

The processor only files spans: a span started while a datapoint runs (in its context,
or as the child of such a span) is kept for that datapoint, every other span is left
alone, and the provider's other processors and exporters receive every span as before.
docs/tracing.md describes what becomes of the spans.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import Status, StatusCode

from evalyard.core.otel import STEP_TYPE_ATTRIBUTE
from evalyard.core.spans import SpanEvent, SpanKind, SpanRecord, SpanStatus
from evalyard.runner import capture
from evalyard.runner.tracing import error_text

__all__ = ["EvalyardSpanProcessor", "install_globally", "span_record"]

_KINDS = {kind.name.lower(): SpanKind(kind.name.lower()) for kind in trace.SpanKind}
_STATUSES = {
    StatusCode.UNSET: SpanStatus.UNSET,
    StatusCode.OK: SpanStatus.OK,
    StatusCode.ERROR: SpanStatus.ERROR,
}
# Providers evalyard added its processor to, so that it adds one once.
_INSTALLED: weakref.WeakSet[TracerProvider] = weakref.WeakSet()


class EvalyardSpanProcessor(SpanProcessor):
    """Files the spans started while ``evaluate`` runs a datapoint with that datapoint.

    A span belongs to a datapoint when it starts in the datapoint's context (the thread or
    asyncio task evaluate runs it in, and what copies that context), or when its parent
    belongs to one. Spans started outside ``evaluate`` are not looked at twice.
    """

    def __init__(self) -> None:
        self._owners: dict[int, capture.SpanCollector] = {}
        capture.enable(_StepSpans())

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        collector = capture.current()
        if collector is None:
            parent = span.parent
            if parent is None:
                return
            collector = self._owners.get(parent.span_id)
            if collector is None:
                return
        context = span.get_span_context()
        if context is not None:
            self._owners[context.span_id] = collector

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        collector = self._owners.pop(context.span_id, None)
        if collector is not None:
            collector.add(context.span_id, span)

    def shutdown(self) -> None:
        self._owners.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def install_globally() -> None:
    """Add an :class:`EvalyardSpanProcessor` to the global tracer provider when it is the
    SDK's and has none yet (a provider that is not the SDK's gets none: set one up, or
    add the processor to yours)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider) or provider in _INSTALLED:
        return
    _INSTALLED.add(provider)
    active = getattr(provider, "_active_span_processor", None)
    present = getattr(active, "_span_processors", ())
    if not any(isinstance(each, EvalyardSpanProcessor) for each in present):
        provider.add_span_processor(EvalyardSpanProcessor())


def span_record(span: ReadableSpan) -> SpanRecord:
    """An SDK span as a :class:`SpanRecord` (its attributes merged over its resource's)."""
    context = span.context
    parent = span.parent
    resource = span.resource.attributes if span.resource is not None else {}
    attributes = {**_values(resource), **_values(span.attributes or {})}
    status = span.status
    start = span.start_time or 0
    return SpanRecord(
        trace_id=format(context.trace_id, "032x") if context is not None else "0" * 32,
        span_id=format(context.span_id, "016x") if context is not None else "0" * 16,
        parent_id=None if parent is None else format(parent.span_id, "016x"),
        name=span.name,
        start_ns=start,
        end_ns=span.end_time or start,
        kind=_KINDS.get(span.kind.name.lower(), SpanKind.INTERNAL),
        attributes=attributes,
        events=tuple(
            SpanEvent(event.name, event.timestamp, _values(event.attributes or {}))
            for event in span.events
        ),
        status=_STATUSES.get(status.status_code, SpanStatus.UNSET),
        status_message=status.description or None,
    )


def _values(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in attributes.items()
    }


class _StepSpans:
    """``evalyard.step``'s spans: each step is a span of the ``evalyard`` tracer, current
    while the step runs so that the spans started inside it are its children."""

    def open(
        self, name: str, kind: str, record: dict[str, Any], collector: capture.SpanCollector
    ) -> Any:
        span = trace.get_tracer("evalyard").start_span(name, attributes={STEP_TYPE_ATTRIBUTE: kind})
        if not span.is_recording():
            span.end()
            return None
        collector.recorded[format(span.get_span_context().span_id, "016x")] = record
        token = otel_context.attach(trace.set_span_in_context(span))
        return span, token

    def close(self, handle: Any, error: BaseException | None) -> None:
        span, token = handle
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, error_text(error)))
        span.end()
        otel_context.detach(token)

    def convert(self, span: Any) -> SpanRecord:
        return span_record(span)
