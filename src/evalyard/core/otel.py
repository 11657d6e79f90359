"""Spans as steps: how OpenTelemetry spans become a result's steps and metrics (pure).

:func:`spans_to_steps` turns the spans of one datapoint (:class:`SpanRecord` values,
captured in process or received over OTLP) into the step dicts a result stores, and
:func:`rollup` sums their tokens, cost and model time into the result's metrics. Both the
OpenTelemetry GenAI semantic conventions (``gen_ai.*``) and OpenInference (``llm.*``,
``input.value``, ``openinference.span.kind``) are read; docs/tracing.md is the contract.

Example:
    >>> span = SpanRecord(
    ...     trace_id="1" * 32, span_id="2" * 16, parent_id=None, name="chat gpt-4o-mini",
    ...     start_ns=0, end_ns=250_000_000,
    ...     attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
    ...                 "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 500})
    >>> [step] = spans_to_steps([span])
    >>> step["name"], step["type"], step["inputs"]["model"]
    ('chat', 'model', 'gpt-4o-mini')
    >>> step["metrics"]["total_tokens"], round(step["metrics"]["cost_usd"], 6)
    (1500, 0.00045)
    >>> rollup([step])["model_latency_ms"]
    250.0
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from evalyard.core.ids import MAX_NAME_LENGTH, check_name
from evalyard.core.spans import SpanRecord, SpanStatus
from evalyard.core.steps import MAX_STEP_DEPTH, StepType, walk_steps
from evalyard.errors import InvalidInputError

__all__ = [
    "BUILTIN_PRICES",
    "LOWER_IS_BETTER",
    "STEP_NAME_ATTRIBUTE",
    "STEP_TYPE_ATTRIBUTE",
    "ModelPrice",
    "PriceTable",
    "rollup",
    "span_step_type",
    "span_to_step",
    "spans_to_steps",
]

#: Attributes evalyard's own spans carry (``evalyard.step`` emits one per step when
#: OpenTelemetry is there): the step's type, and its name when the span's differs.
STEP_TYPE_ATTRIBUTE = "evalyard.step.type"
STEP_NAME_ATTRIBUTE = "evalyard.step.name"

#: The metrics this mapping writes, every one of them better when lower.
LOWER_IS_BETTER = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
    "model_latency_ms",
)

_GENAI_TYPES = {
    "chat": StepType.MODEL,
    "text_completion": StepType.MODEL,
    "generate_content": StepType.MODEL,
    "embeddings": StepType.MODEL,
    "execute_tool": StepType.TOOL,
    "invoke_agent": StepType.CHAIN,
    "create_agent": StepType.CHAIN,
}
_OPENINFERENCE_TYPES = {
    "LLM": StepType.MODEL,
    "EMBEDDING": StepType.MODEL,
    "TOOL": StepType.TOOL,
    # A retriever or reranker calls out to fetch or order documents: a tool, not a stage.
    "RETRIEVER": StepType.TOOL,
    "RERANKER": StepType.TOOL,
    "CHAIN": StepType.CHAIN,
    "AGENT": StepType.CHAIN,
}
_STEP_TYPES = {kind.value: kind for kind in StepType}
_GENAI_INPUT_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --- prices -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """What a model costs, in US dollars per million tokens."""

    input_per_million: float
    """USD per 1M input (prompt) tokens."""
    output_per_million: float = 0.0
    """USD per 1M output (completion) tokens."""

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        """The cost in USD of a call with these token counts."""
        return (
            input_tokens * self.input_per_million + output_tokens * self.output_per_million
        ) / 1e6


#: The built-in prices (USD per 1M input, output tokens): list prices of a few common
#: models when this table was written. Prices change; give yours to :class:`PriceTable`.
BUILTIN_PRICES: Mapping[str, ModelPrice] = {
    "gpt-4o": ModelPrice(2.50, 10.00),
    "gpt-4o-mini": ModelPrice(0.15, 0.60),
    "gpt-4.1": ModelPrice(2.00, 8.00),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60),
    "gpt-4.1-nano": ModelPrice(0.10, 0.40),
    "o3-mini": ModelPrice(1.10, 4.40),
    "o4-mini": ModelPrice(1.10, 4.40),
    "text-embedding-3-small": ModelPrice(0.02),
    "text-embedding-3-large": ModelPrice(0.13),
    "claude-3-5-haiku": ModelPrice(0.80, 4.00),
    "claude-3-5-sonnet": ModelPrice(3.00, 15.00),
    "claude-3-7-sonnet": ModelPrice(3.00, 15.00),
}

# A release date at the end of a model name: -2024-08-06, -20240806, @20240806.
_DATE_SUFFIX = re.compile(r"[-@](\d{4}-\d{2}-\d{2}|\d{8})$")


class PriceTable:
    """Prices per model, to give model steps a ``cost_usd``.

    A model name is looked up as given, then without a provider prefix (``openai/``) and
    without a release date (``-2024-08-06``, ``-20240806``), then by the longest entry it
    starts with (``gpt-4o-mini-audio`` costs what ``gpt-4o-mini`` costs); case is ignored.
    Your entries replace the built-in ones of the same name; otherwise the most specific
    entry matches, yours or built in.

    Example:
        >>> table = PriceTable({"my-model": (1.0, 2.0)})
        >>> table.cost("my-model-2025-01-01", input_tokens=1_000_000, output_tokens=0)
        1.0
        >>> table.price("gpt-4o-2024-08-06") == BUILTIN_PRICES["gpt-4o"]
        True
        >>> PriceTable(builtin=False).price("gpt-4o") is None
        True

    Args:
        prices: ``{model: ModelPrice}`` or ``{model: (input, output)}`` in USD per 1M tokens.
        builtin: also look in :data:`BUILTIN_PRICES`, after ``prices``.

    Raises:
        InvalidInputError: for a price that is not two non-negative numbers.
    """

    __slots__ = ("_prices",)

    def __init__(
        self,
        prices: Mapping[str, ModelPrice | tuple[float, float]] | None = None,
        *,
        builtin: bool = True,
    ) -> None:
        merged = (
            {model.lower(): price for model, price in BUILTIN_PRICES.items()} if builtin else {}
        )
        for model, value in (prices or {}).items():
            merged[str(model).lower()] = _price(model, value)
        self._prices: dict[str, ModelPrice] = merged

    def price(self, model: str | None) -> ModelPrice | None:
        """The price of ``model``, or None when no entry matches it."""
        if not model:
            return None
        table = self._prices
        names = _candidates(model)
        for name in names:
            if name in table:
                return table[name]
        longest = max(
            (key for key in table for name in names if name.startswith(key)),
            key=len,
            default=None,
        )
        return None if longest is None else table[longest]

    def cost(
        self, model: str | None, *, input_tokens: float = 0, output_tokens: float = 0
    ) -> float | None:
        """The cost in USD of a call to ``model``, or None when its price is unknown."""
        price = self.price(model)
        return None if price is None else price.cost(input_tokens, output_tokens)


def _price(model: object, value: object) -> ModelPrice:
    if isinstance(value, ModelPrice):
        price = value
    elif isinstance(value, tuple | list) and len(value) == 2 and all(_number(v) for v in value):
        price = ModelPrice(float(value[0]), float(value[1]))
    else:
        raise InvalidInputError(
            f"the price of model {model!r} must be a ModelPrice or (input, output) in USD per "
            f"1M tokens, not {value!r}"
        )
    if not (price.input_per_million >= 0 and price.output_per_million >= 0):
        raise InvalidInputError(f"the price of model {model!r} is negative: {price}")
    return price


def _candidates(model: str) -> list[str]:
    name = model.strip().lower()
    names = [name]
    if "/" in name:
        names.append(name.rsplit("/", 1)[1])
    for each in list(names):
        undated = _DATE_SUFFIX.sub("", each)
        if undated != each:
            names.append(undated)
    return names


_DEFAULT_PRICES = PriceTable()


# --- spans to steps ---------------------------------------------------------------------


def span_step_type(span: SpanRecord) -> StepType:
    """The step type of a span: from ``evalyard.step.type``, ``gen_ai.operation.name`` or
    ``openinference.span.kind``; ``other`` when none of them says."""
    attributes = span.attributes
    own = attributes.get(STEP_TYPE_ATTRIBUTE)
    if isinstance(own, str) and own in _STEP_TYPES:
        return _STEP_TYPES[own]
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _GENAI_TYPES:
        return _GENAI_TYPES[operation]
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in _OPENINFERENCE_TYPES:
        return _OPENINFERENCE_TYPES[kind.upper()]
    return StepType.OTHER


def spans_to_steps(
    spans: Sequence[SpanRecord],
    *,
    prices: PriceTable | None = None,
    recorded: Mapping[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The steps of one datapoint's spans, as ``Run.log`` takes them.

    A span whose parent is among ``spans`` becomes a child step of its parent's step; the
    others are top-level steps. Siblings are ordered by when they started. Steps below
    :data:`~evalyard.core.steps.MAX_STEP_DEPTH` are left out. docs/tracing.md says what
    each field is read from.

    Args:
        spans: the finished spans, in any order.
        prices: the price table for ``cost_usd``; by default the built-in one.
        recorded: step dicts already recorded for some spans, by span id (the steps of
            ``evalyard.step``): used as they are in place of the span's mapping, with the
            steps of the span's children as their children.
    """
    table = prices or _DEFAULT_PRICES
    known = recorded or {}
    by_id: dict[str, SpanRecord] = {}
    for span in spans:
        by_id.setdefault(span.span_id, span)
    children: dict[str, list[SpanRecord]] = {}
    roots: list[SpanRecord] = []
    for span in by_id.values():
        parent = span.parent_id
        if parent is not None and parent in by_id and parent != span.span_id:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)

    def order(items: Iterable[SpanRecord]) -> list[SpanRecord]:
        return sorted(items, key=lambda s: (s.start_ns, s.end_ns))

    # A recorded step's children that are recorded steps with spans come back below as the
    # spans' steps; the others (recorded without a span) are kept first.
    known_ids = {id(step) for step in known.values()}
    top: list[dict[str, Any]] = []
    placed: set[str] = set()
    # Level by level, no recursion: (span, the list its step goes into, its depth).
    pending: deque[tuple[SpanRecord, list[dict[str, Any]], int]] = deque(
        (span, top, 0) for span in order(roots)
    )
    while pending:
        span, siblings, depth = pending.popleft()
        if span.span_id in placed:  # a cycle of parents: each span is placed once
            continue
        placed.add(span.span_id)
        mine = known.get(span.span_id)
        if mine is not None:
            step = mine
            kept = mine.get("children")
            if isinstance(kept, list | tuple):
                step["children"] = [c for c in kept if id(c) not in known_ids]
        else:
            step = span_to_step(span, table)
        siblings.append(step)
        below = children.get(span.span_id)
        if below and depth < MAX_STEP_DEPTH:
            step_children = step.setdefault("children", [])
            if not isinstance(step_children, list):
                step_children = step["children"] = list(step_children)
            pending.extend((child, step_children, depth + 1) for child in order(below))
    for step in top:
        _drop_empty_children(step)
    return top


def _drop_empty_children(step: dict[str, Any]) -> None:
    for _, each in walk_steps([step]):
        if isinstance(each, dict) and each.get("children") == []:
            del each["children"]


def span_to_step(span: SpanRecord, prices: PriceTable | None = None) -> dict[str, Any]:
    """One span as a step dict, without children (see :func:`spans_to_steps`)."""
    table = prices or _DEFAULT_PRICES
    attributes = span.attributes
    kind = span_step_type(span)
    metrics: dict[str, Any] = {"latency_ms": span.duration_ms}
    input_tokens = _count(attributes, "gen_ai.usage.input_tokens", "llm.token_count.prompt")
    output_tokens = _count(attributes, "gen_ai.usage.output_tokens", "llm.token_count.completion")
    total_tokens = _count(attributes, "gen_ai.usage.total_tokens", "llm.token_count.total")
    if total_tokens is None and (input_tokens is not None or output_tokens is not None):
        total_tokens = (input_tokens or 0) + (output_tokens or 0)
    for name, value in (
        ("input_tokens", input_tokens),
        ("output_tokens", output_tokens),
        ("total_tokens", total_tokens),
    ):
        if value is not None:
            metrics[name] = value
    requested = _text(attributes, "gen_ai.request.model")
    responded = _text(attributes, "gen_ai.response.model", "llm.model_name")
    if input_tokens is not None or output_tokens is not None:
        cost = table.cost(
            responded or requested, input_tokens=input_tokens or 0, output_tokens=output_tokens or 0
        )
        if cost is None and requested and responded:
            cost = table.cost(
                requested, input_tokens=input_tokens or 0, output_tokens=output_tokens or 0
            )
        if cost is not None:
            metrics["cost_usd"] = cost

    input_messages, output_messages = _messages(span)
    if kind is StepType.MODEL:
        params = _params(attributes)
        model = requested or params.pop("model", None) or responded
        params.pop("model", None)
        inputs: Any = _present(
            model=model,
            params=params or None,
            messages=input_messages,
            input=None if input_messages else _value(attributes, "input"),
        )
        outputs: Any = _present(
            model=responded,
            messages=output_messages,
            output=None if output_messages else _value(attributes, "output"),
        )
    else:
        inputs = _first(
            _value(attributes, "input"),
            _json(attributes.get("gen_ai.tool.call.arguments")),
            input_messages,
        )
        outputs = _first(
            _value(attributes, "output"),
            _json(attributes.get("gen_ai.tool.call.result")),
            output_messages,
        )
    return {
        "name": _step_name(span, kind),
        "type": kind.value,
        "inputs": inputs,
        "outputs": outputs,
        "metrics": metrics,
        "error": _error(span),
        "duration_ms": span.duration_ms,
    }


def _step_name(span: SpanRecord, kind: StepType) -> str:
    own = span.attributes.get(STEP_NAME_ATTRIBUTE)
    name = own if isinstance(own, str) and own else span.name
    operation = span.attributes.get("gen_ai.operation.name")
    # GenAI spans are named "{operation} {model}": steps are matched across runs by name,
    # so a model step is named by its operation, and a changed model stays the same step.
    if (
        name is span.name
        and kind is StepType.MODEL
        and isinstance(operation, str)
        and operation
        and name.startswith(operation + " ")
    ):
        name = operation
    try:
        return check_name(name, what="step name")
    except InvalidInputError:
        cleaned = _CONTROL.sub(" ", name).strip()[:MAX_NAME_LENGTH]
        try:
            return check_name(cleaned, what="step name")
        except InvalidInputError:
            return "span"


def _error(span: SpanRecord) -> str | None:
    if span.status is not SpanStatus.ERROR:
        return None
    for event in span.events:
        if event.name == "exception":
            kind = event.attributes.get("exception.type")
            message = event.attributes.get("exception.message")
            if isinstance(kind, str) and kind:
                short = kind.rsplit(".", 1)[-1]
                return f"{short}: {message}" if message else short
            if isinstance(message, str) and message:
                return message
    return span.status_message or "error"


def _messages(span: SpanRecord) -> tuple[list[Any] | None, list[Any] | None]:
    attributes = span.attributes
    given = _json(attributes.get("gen_ai.input.messages"))
    inputs: list[Any] | None = given if isinstance(given, list) else None
    given = _json(attributes.get("gen_ai.output.messages"))
    outputs: list[Any] | None = given if isinstance(given, list) else None
    if inputs is None:
        inputs = _indexed(attributes, "llm.input_messages.")
    if outputs is None:
        outputs = _indexed(attributes, "llm.output_messages.")
    event_inputs: list[Any] = []
    event_outputs: list[Any] = []
    for event in span.events:
        role = _GENAI_INPUT_EVENTS.get(event.name)
        if role is not None:
            event_inputs.append({"role": role, **_decoded(event.attributes)})
        elif event.name == "gen_ai.choice":
            event_outputs.append(_decoded(event.attributes))
        else:
            for key, target in (
                ("gen_ai.input.messages", event_inputs),
                ("gen_ai.output.messages", event_outputs),
            ):
                value = _json(event.attributes.get(key))
                if isinstance(value, list):
                    target.extend(value)
    return inputs or event_inputs or None, outputs or event_outputs or None


def _decoded(attributes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if key in ("gen_ai.system", "gen_ai.provider.name"):
            continue
        out[key] = _json(value) if key in ("message", "tool_calls", "content") else value
    return out


def _indexed(attributes: Mapping[str, Any], prefix: str) -> list[Any] | None:
    """OpenInference's flattened list (``llm.input_messages.0.message.role``) as a list."""
    items: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[len(prefix) :].partition(".")
        if not index.isdigit() or not rest:
            continue
        rest = rest.removeprefix("message.")
        _put(items.setdefault(int(index), {}), rest.split("."), value)
    if not items:
        return None
    return [_lists(items[index]) for index in sorted(items)]


def _put(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        nested = target.get(part)
        if not isinstance(nested, dict):
            nested = target[part] = {}
        target = nested
    target[path[-1]] = value


def _lists(value: Any) -> Any:
    """Dicts keyed by 0, 1, 2… (what a flattened list unflattens to) as lists."""
    if not isinstance(value, dict):
        return value
    converted = {key: _lists(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def _params(attributes: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    invocation = _json(attributes.get("llm.invocation_parameters"))
    if isinstance(invocation, dict):
        params.update(invocation)
    for key, value in attributes.items():
        if key.startswith("gen_ai.request.") and key != "gen_ai.request.model":
            params[key.removeprefix("gen_ai.request.")] = value
    return params


def _value(attributes: Mapping[str, Any], which: str) -> Any:
    value = attributes.get(f"{which}.value")
    if value is None:
        return None
    mime = attributes.get(f"{which}.mime_type")
    return _json(value) if mime == "application/json" else value


def _json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _count(attributes: Mapping[str, Any], *keys: str) -> int | float | None:
    for key in keys:
        value = attributes.get(key)
        if _number(value):
            return value
    return None


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(attributes: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _present(**fields: Any) -> dict[str, Any] | None:
    kept = {key: value for key, value in fields.items() if value is not None}
    return kept or None


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


# --- per datapoint ------------------------------------------------------------------------


def rollup(steps: Iterable[Any]) -> dict[str, float]:
    """A datapoint's totals over its steps: ``input_tokens``, ``output_tokens``,
    ``total_tokens``, ``cost_usd`` and ``model_latency_ms`` (the time spent in model steps).

    A step that has a total counts once, with what is below it: the steps inside it are not
    added again (a framework's model span around the client's). A total no step has is
    left out, so a trace without model calls adds nothing.

    Example:
        >>> rollup([{"name": "plan", "type": "chain", "children": [
        ...     {"name": "chat", "type": "model", "metrics": {"input_tokens": 10,
        ...      "output_tokens": 2, "latency_ms": 40.0}},
        ...     {"name": "chat", "type": "model", "metrics": {"input_tokens": 5,
        ...      "output_tokens": 1, "latency_ms": 20.0}}]}])
        {'input_tokens': 15, 'output_tokens': 3, 'model_latency_ms': 60.0}
    """
    totals: dict[str, float] = {}
    names = ("input_tokens", "output_tokens", "total_tokens", "cost_usd")
    counted: dict[str, int] = {}  # metric → depth below which it is already counted
    latency_below: int | None = None
    for depth, step in walk_steps(list(steps)):
        for name, limit in list(counted.items()):
            if depth <= limit:
                del counted[name]
        if latency_below is not None and depth <= latency_below:
            latency_below = None
        if not isinstance(step, Mapping):
            continue
        metrics = step.get("metrics")
        if not isinstance(metrics, Mapping):
            metrics = {}
        for name in names:
            value = metrics.get(name)
            if name not in counted and _number(value):
                totals[name] = totals.get(name, 0) + value
                counted[name] = depth
        if step.get("type") == StepType.MODEL.value and latency_below is None:
            latency = metrics.get("latency_ms")
            if not _number(latency):
                latency = step.get("duration_ms")
            if _number(latency):
                totals["model_latency_ms"] = totals.get("model_latency_ms", 0.0) + latency
                latency_below = depth
    return totals
