"""The spans of each datapoint: where captured OpenTelemetry spans are gathered (no OTel here).

While ``evaluate`` runs a datapoint, a :class:`SpanCollector` sits in a context variable,
so it follows the datapoint into asyncio tasks and into evaluate's worker threads, as the
trace of ``evalyard.step`` does (:mod:`evalyard.runner.tracing`). The span processor of
:mod:`evalyard.runner.otel` files each span started there with that collector; at the end
of the datapoint :func:`finish` turns them into the result's steps, merged with the steps
``evalyard.step`` recorded, and sums their tokens, cost and model time.

Nothing here imports OpenTelemetry: :func:`install` does, when it is installed, and until
a span processor exists the collector is never made.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, Protocol

from evalyard.core.otel import PriceTable, rollup, spans_to_steps
from evalyard.core.spans import SpanRecord
from evalyard.core.steps import walk_steps

__all__ = [
    "SpanCollector",
    "StepSpans",
    "begin",
    "current",
    "enable",
    "finish",
    "install",
    "open_step_span",
]


class SpanCollector:
    """The spans of one datapoint: those ended so far, and the ``evalyard.step`` dicts that
    have a span, by span id."""

    __slots__ = ("convert", "ended", "open", "recorded")

    def __init__(self, convert: Callable[[Any], SpanRecord]) -> None:
        self.ended: dict[int, Any] = {}
        """The ended spans, by their span id (a span given twice is kept once)."""
        self.recorded: dict[str, dict[str, Any]] = {}
        """The step dicts of ``evalyard.step`` that opened a span, by span id (hex)."""
        self.open = True
        """False once the datapoint has finished: spans ending later are dropped."""
        self.convert = convert
        """Reads a span as a :class:`SpanRecord` (the SDK's spans, in practice)."""

    def add(self, span_id: int, span: Any) -> None:
        """Keep an ended span."""
        if self.open:
            self.ended[span_id] = span


class StepSpans(Protocol):
    """How ``evalyard.step`` opens and closes its span (given by the OTel side)."""

    def open(self, name: str, kind: str, record: dict[str, Any], collector: SpanCollector) -> Any:
        """Start the step's span as the current one; a handle for :meth:`close`, or None."""

    def close(self, handle: Any, error: BaseException | None) -> None:
        """End the span the handle holds, with the step's error if it raised."""

    def convert(self, span: Any) -> SpanRecord:
        """A span as a :class:`SpanRecord`."""


_COLLECTOR: ContextVar[SpanCollector | None] = ContextVar("evalyard_spans", default=None)
# Set once a span processor exists; until then begin() does nothing.
_STEP_SPANS: list[StepSpans] = []


def enable(step_spans: StepSpans) -> None:
    """Turn capture on (a span processor was made): begin() opens collectors from now on."""
    if not _STEP_SPANS:
        _STEP_SPANS.append(step_spans)


def install() -> bool:
    """Put evalyard's span processor on the global tracer provider when the OpenTelemetry
    SDK is installed and the provider is the SDK's (once); whether capture is on."""
    try:
        otel = importlib.import_module("evalyard.runner.otel")
    except ImportError:
        return bool(_STEP_SPANS)
    otel.install_globally()
    return bool(_STEP_SPANS)


def current() -> SpanCollector | None:
    """The collector of the datapoint running in this context, if any."""
    return _COLLECTOR.get()


def begin() -> tuple[SpanCollector | None, Token[SpanCollector | None] | None]:
    """Open a datapoint's collector in the current context (when capture is on)."""
    if not _STEP_SPANS:
        return None, None
    collector = SpanCollector(_STEP_SPANS[0].convert)
    return collector, _COLLECTOR.set(collector)


def open_step_span(name: str, kind: str, record: dict[str, Any]) -> Any:
    """Open the span of an ``evalyard.step`` being recorded; a handle, or None."""
    collector = _COLLECTOR.get()
    if collector is None or not _STEP_SPANS:
        return None
    return _STEP_SPANS[0].open(name, kind, record, collector)


def close_step_span(handle: Any, error: BaseException | None) -> None:
    """Close what :func:`open_step_span` opened."""
    if _STEP_SPANS:
        _STEP_SPANS[0].close(handle, error)


def finish(
    collector: SpanCollector | None,
    token: Token[SpanCollector | None] | None,
    steps: list[dict[str, Any]],
    *,
    prices: PriceTable | None = None,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Close the datapoint's collector: its steps (the spans' and ``evalyard.step``'s in one
    tree) and the totals to add to the result's metrics (see
    :func:`evalyard.core.otel.rollup`)."""
    if collector is None:
        return steps, {}
    if token is not None:
        _COLLECTOR.reset(token)
    collector.open = False
    if not collector.ended:
        return steps, {}
    try:
        records = [collector.convert(span) for span in list(collector.ended.values())]
        merged = spans_to_steps(records, prices=prices, recorded=collector.recorded)
    except Exception:  # a span evalyard cannot read must not cost the datapoint its result
        return steps, {}
    # A recorded step whose span was not captured stays where evalyard.step put it.
    placed = {id(step) for _, step in walk_steps(merged)}
    merged.extend(step for step in steps if id(step) not in placed)
    return merged, rollup(merged)
