"""Spans to steps: types, inputs and outputs, errors, tokens and cost, the tree and rollup."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evalyard.core.otel import ModelPrice, PriceTable, rollup, span_step_type, spans_to_steps
from evalyard.core.spans import SpanEvent, SpanRecord, SpanStatus
from evalyard.core.steps import MAX_STEP_DEPTH, StepType, walk_steps
from evalyard.errors import InvalidInputError

TRACE = "a" * 32


def span(
    span_id: int,
    name: str,
    *,
    parent: int | None = None,
    start: int = 0,
    end: int = 1_000_000,
    attributes: dict[str, Any] | None = None,
    events: tuple[SpanEvent, ...] = (),
    status: SpanStatus = SpanStatus.UNSET,
    message: str | None = None,
) -> SpanRecord:
    return SpanRecord(
        trace_id=TRACE,
        span_id=f"{span_id:016x}",
        parent_id=None if parent is None else f"{parent:016x}",
        name=name,
        start_ns=start,
        end_ns=end,
        attributes=attributes or {},
        events=events,
        status=status,
        status_message=message,
    )


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"gen_ai.operation.name": "chat"}, StepType.MODEL),
        ({"gen_ai.operation.name": "text_completion"}, StepType.MODEL),
        ({"gen_ai.operation.name": "generate_content"}, StepType.MODEL),
        ({"gen_ai.operation.name": "embeddings"}, StepType.MODEL),
        ({"gen_ai.operation.name": "execute_tool"}, StepType.TOOL),
        ({"gen_ai.operation.name": "invoke_agent"}, StepType.CHAIN),
        ({"gen_ai.operation.name": "create_agent"}, StepType.CHAIN),
        ({"openinference.span.kind": "LLM"}, StepType.MODEL),
        ({"openinference.span.kind": "EMBEDDING"}, StepType.MODEL),
        ({"openinference.span.kind": "TOOL"}, StepType.TOOL),
        ({"openinference.span.kind": "RETRIEVER"}, StepType.TOOL),
        ({"openinference.span.kind": "RERANKER"}, StepType.TOOL),
        ({"openinference.span.kind": "CHAIN"}, StepType.CHAIN),
        ({"openinference.span.kind": "AGENT"}, StepType.CHAIN),
        ({"openinference.span.kind": "GUARDRAIL"}, StepType.OTHER),
        ({"evalyard.step.type": "tool", "gen_ai.operation.name": "chat"}, StepType.TOOL),
        ({"http.method": "GET"}, StepType.OTHER),
    ],
)
def test_the_step_type_comes_from_the_conventions(
    attributes: dict[str, Any], expected: StepType
) -> None:
    assert span_step_type(span(1, "x", attributes=attributes)) is expected


def test_a_genai_chat_span_is_a_model_step_named_by_its_operation() -> None:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"content": "hi"}]}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": []}]),
    }
    [step] = spans_to_steps([span(1, "chat gpt-4o-mini", end=3_000_000, attributes=attributes)])
    assert step["name"] == "chat"
    assert step["type"] == "model"
    assert step["inputs"] == {
        "model": "gpt-4o-mini",
        "params": {"temperature": 0.2, "max_tokens": 50},
        "messages": [{"role": "user", "parts": [{"content": "hi"}]}],
    }
    assert step["outputs"] == {
        "model": "gpt-4o-mini-2024-07-18",
        "messages": [{"role": "assistant", "parts": []}],
    }
    metrics = step["metrics"]
    assert metrics["input_tokens"] == 11
    assert metrics["output_tokens"] == 7
    assert metrics["total_tokens"] == 18
    assert metrics["latency_ms"] == 3.0
    assert metrics["cost_usd"] == pytest.approx((11 * 0.15 + 7 * 0.60) / 1e6)
    assert step["duration_ms"] == 3.0
    assert step["error"] is None


def test_an_openinference_llm_span_reads_its_flattened_messages() -> None:
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-2024-08-06",
        "llm.invocation_parameters": '{"model": "gpt-4o", "temperature": 0}',
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "be brief",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": "hi",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "search",
        "llm.token_count.prompt": 100,
        "llm.token_count.completion": 20,
        "llm.token_count.total": 120,
        "input.value": '{"model": "gpt-4o"}',
        "input.mime_type": "application/json",
    }
    [step] = spans_to_steps([span(1, "ChatCompletion", attributes=attributes)])
    assert step["name"] == "ChatCompletion"
    assert step["inputs"] == {
        "model": "gpt-4o",
        "params": {"temperature": 0},
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
        ],
    }
    assert step["outputs"]["messages"] == [
        {"role": "assistant", "tool_calls": [{"tool_call": {"function": {"name": "search"}}}]}
    ]
    assert step["metrics"]["total_tokens"] == 120
    assert step["metrics"]["cost_usd"] == pytest.approx((100 * 2.5 + 20 * 10) / 1e6)


def test_genai_events_give_the_messages_when_attributes_do_not() -> None:
    events = (
        SpanEvent("gen_ai.user.message", 1, {"content": "hi"}),
        SpanEvent("gen_ai.choice", 2, {"index": 0, "message": '{"content": "hello"}'}),
    )
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
    [step] = spans_to_steps([span(1, "chat m", attributes=attributes, events=events)])
    assert step["inputs"]["messages"] == [{"role": "user", "content": "hi"}]
    assert step["outputs"]["messages"] == [{"index": 0, "message": {"content": "hello"}}]
    assert "cost_usd" not in step["metrics"]  # no tokens


def test_tool_and_chain_spans_take_input_and_output_values() -> None:
    tool = span(
        2,
        "search",
        parent=1,
        attributes={
            "openinference.span.kind": "TOOL",
            "input.value": '{"q": "tides"}',
            "input.mime_type": "application/json",
            "output.value": "two results",
        },
    )
    genai_tool = span(
        3,
        "execute_tool lookup",
        parent=1,
        start=5,
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.arguments": "[1]"},
    )
    chain = span(1, "agent", attributes={"openinference.span.kind": "CHAIN"})
    [step] = spans_to_steps([tool, genai_tool, chain])
    assert step["type"] == "chain"
    first, second = step["children"]
    assert (first["type"], first["inputs"], first["outputs"]) == (
        "tool",
        {"q": "tides"},
        "two results",
    )
    assert (second["name"], second["inputs"]) == ("execute_tool lookup", [1])


def test_an_error_status_gives_the_step_its_error() -> None:
    exception = SpanEvent(
        "exception", 1, {"exception.type": "openai.APIError", "exception.message": "boom"}
    )
    failed = span(1, "a", status=SpanStatus.ERROR, message="boom", events=(exception,))
    bare = span(2, "b", start=1, status=SpanStatus.ERROR, message="it broke")
    handled = span(3, "c", start=2, events=(exception,))
    steps = spans_to_steps([failed, bare, handled])
    assert [s["error"] for s in steps] == ["APIError: boom", "it broke", None]


def test_children_follow_their_parents_in_start_order_and_orphans_are_roots() -> None:
    spans = [
        span(1, "root", start=0, end=100),
        span(3, "late", parent=1, start=50),
        span(2, "early", parent=1, start=10),
        span(4, "orphan", parent=99, start=20),
    ]
    steps = spans_to_steps(spans)
    assert [s["name"] for s in steps] == ["root", "orphan"]
    assert [c["name"] for c in steps[0]["children"]] == ["early", "late"]
    assert "children" not in steps[1]


def test_a_cycle_of_parents_does_not_loop_and_depth_is_bounded() -> None:
    cycle = [span(1, "a", parent=2), span(2, "b", parent=1)]
    assert spans_to_steps(cycle) == []  # neither is a root
    chain = [span(i + 1, f"s{i}", parent=i or None, start=i) for i in range(MAX_STEP_DEPTH + 5)]
    steps = spans_to_steps(chain)
    depths = [depth for depth, _ in walk_steps(steps)]
    assert max(depths) == MAX_STEP_DEPTH


def test_recorded_steps_replace_their_spans_and_take_the_spans_children() -> None:
    inner = {"name": "inner", "type": "tool", "metrics": {"hits": 1}}
    outer = {"name": "outer", "type": "chain", "children": [inner], "metrics": {}}
    spans = [
        span(1, "outer", start=0),
        span(2, "inner", parent=1, start=1),
        span(3, "chat m", parent=1, start=2, attributes={"gen_ai.operation.name": "chat"}),
    ]
    steps = spans_to_steps(spans, recorded={f"{1:016x}": outer, f"{2:016x}": inner})
    assert steps == [outer]
    assert [c["name"] for c in outer["children"]] == ["inner", "chat"]
    assert outer["children"][0] is inner


def test_a_bad_span_name_still_makes_a_step_name() -> None:
    steps = spans_to_steps([span(1, ""), span(2, "x\x00y", start=1), span(3, "n" * 500, start=2)])
    assert steps[0]["name"] == "span"
    assert steps[1]["name"] == "x y"
    assert len(steps[2]["name"]) <= 200


def test_the_price_table_matches_dates_prefixes_and_lets_users_win() -> None:
    table = PriceTable({"gpt-4o": (1.0, 1.0), "Local-Llama": ModelPrice(0.5)})
    assert table.price("gpt-4o-2024-08-06") == ModelPrice(1.0, 1.0)
    assert table.price("openai/gpt-4o") == ModelPrice(1.0, 1.0)
    assert table.price("gpt-4o-mini") == ModelPrice(0.15, 0.60)  # built-in, longer prefix
    assert table.price("local-llama-3-8b") == ModelPrice(0.5, 0.0)
    assert table.price("claude-3-5-sonnet-20241022") == ModelPrice(3.0, 15.0)
    assert table.price("unknown") is None
    assert table.cost("unknown", input_tokens=10) is None
    assert PriceTable(builtin=False).price("gpt-4o") is None
    with pytest.raises(InvalidInputError):
        PriceTable({"m": (1.0,)})  # type: ignore[dict-item]
    with pytest.raises(InvalidInputError):
        PriceTable({"m": (-1.0, 0.0)})


def test_a_given_price_table_prices_the_steps() -> None:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "house-model",
        "gen_ai.usage.input_tokens": 1_000_000,
        "gen_ai.usage.output_tokens": 1_000_000,
    }
    spans = [span(1, "chat house-model", attributes=attributes)]
    assert "cost_usd" not in spans_to_steps(spans)[0]["metrics"]
    priced = spans_to_steps(spans, prices=PriceTable({"house-model": (2.0, 3.0)}))
    assert priced[0]["metrics"]["cost_usd"] == 5.0


def test_rollup_counts_a_step_with_totals_once_with_what_is_below_it() -> None:
    steps = [
        {
            "name": "framework",
            "type": "model",
            "metrics": {"input_tokens": 10, "cost_usd": 0.5, "latency_ms": 100.0},
            "children": [
                {
                    "name": "client",
                    "type": "model",
                    "metrics": {"input_tokens": 10, "cost_usd": 0.5, "latency_ms": 90.0},
                }
            ],
        },
        {"name": "tool", "type": "tool", "metrics": {"latency_ms": 5.0}},
        {"name": "chat", "type": "model", "metrics": {"input_tokens": 3, "latency_ms": 10.0}},
    ]
    assert rollup(steps) == {"input_tokens": 13, "cost_usd": 0.5, "model_latency_ms": 110.0}
    assert rollup([{"name": "plain"}]) == {}
