"""OpenTelemetry capture in evaluate, with the real SDK, openai client and instrumentors.

An app with a chain span around a tool span and an OpenAI chat call (made by the real
``openai`` client to a fake server on 127.0.0.1) is evaluated twice with a changed model;
the comparison's steps, tokens and cost must be what the server returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import evalyard
from evalyard.core.otel import BUILTIN_PRICES
from evalyard.store import SQLStore

from .conftest import RESPONSE_SUFFIX, usage_for

QUESTIONS = [{"id": f"q{i}", "inputs": {"question": f"question {i}"}} for i in range(4)]


@pytest.fixture(params=["genai", "openinference"])
def instrumentor(
    request: pytest.FixtureRequest, provider: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Each instrumentation of the openai client in turn, on for the test (the GenAI one
    recording message content on its spans, as it does when asked to)."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    if request.param == "genai":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    else:
        from openinference.instrumentation.openai import (  # type: ignore[no-redef]
            OpenAIInstrumentor,
        )
    instrumentation = OpenAIInstrumentor()
    instrumentation.instrument(tracer_provider=provider)
    yield request.param
    instrumentation.uninstrument()


def make_app(base_url: str, model: str) -> Callable[[dict[str, Any]], str]:
    client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)
    tracer = trace.get_tracer("the-app")

    def app(inputs: dict[str, Any]) -> str:
        with tracer.start_as_current_span(
            "answer", attributes={"openinference.span.kind": "CHAIN"}
        ):
            with tracer.start_as_current_span(
                "search", attributes={"openinference.span.kind": "TOOL"}
            ) as span:
                span.set_attribute("input.value", inputs["question"])
                span.set_attribute("output.value", "a passage")
            reply = client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": inputs["question"]}],
                temperature=0.2,
            )
            return reply.choices[0].message.content or ""

    return app


def make_async_app(base_url: str, model: str) -> Callable[[dict[str, Any]], Any]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="test", max_retries=0)
    tracer = trace.get_tracer("the-app")

    async def app(inputs: dict[str, Any]) -> str:
        with tracer.start_as_current_span(
            "answer", attributes={"openinference.span.kind": "CHAIN"}
        ):
            with tracer.start_as_current_span(
                "search", attributes={"openinference.span.kind": "TOOL"}
            ):
                await asyncio.sleep(0)
            reply = await client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": inputs["question"]}],
                temperature=0.2,
            )
            return reply.choices[0].message.content or ""

    return app


def cost(model: str) -> float:
    usage = usage_for(model)
    return BUILTIN_PRICES[model].cost(usage["prompt_tokens"], usage["completion_tokens"])


def model_step_name(instrumentor: str) -> str:
    return "chat" if instrumentor == "genai" else "ChatCompletion"


@pytest.mark.parametrize("mode", ["threads", "sync", "asyncio"])
def test_spans_become_steps_with_tokens_and_cost_and_compare_across_models(
    store: SQLStore,
    fake_openai: str,
    instrumentor: str,
    exported: InMemorySpanExporter,
    mode: str,
) -> None:
    make = make_async_app if mode == "asyncio" else make_app
    workers = 1 if mode == "sync" else 4
    runs = {}
    for model in ("gpt-4o-mini", "gpt-4o"):
        runs[model] = evalyard.evaluate(
            make(fake_openai, model),
            dataset=QUESTIONS,
            name=f"{mode}-{instrumentor}-{model}",
            max_workers=workers,
            store=store,
            print_results=False,
        )
    chat = model_step_name(instrumentor)
    for model, run in runs.items():
        results = evalyard.get_results(run.run_id, store=store)
        assert len(results) == len(QUESTIONS)
        usage = usage_for(model)
        for result in results:
            assert result.error is None
            [answer] = result.step_tree()
            assert (answer.name, answer.type.value) == ("answer", "chain")
            assert [(s.name, s.type.value) for s in answer.children] == [
                ("search", "tool"),
                (chat, "model"),
            ]
            call = answer.children[1]
            assert call.metrics["input_tokens"] == usage["prompt_tokens"]
            assert call.metrics["output_tokens"] == usage["completion_tokens"]
            assert call.metrics["total_tokens"] == usage["total_tokens"]
            assert call.metrics["cost_usd"] == pytest.approx(cost(model))
            assert call.inputs["model"] == model
            assert call.inputs["params"]["temperature"] == 0.2
            assert call.outputs["model"] == model + RESPONSE_SUFFIX
            assert result.metrics["input_tokens"] == usage["prompt_tokens"]
            assert result.metrics["cost_usd"] == pytest.approx(cost(model))
            assert result.metrics["model_latency_ms"] == pytest.approx(call.metrics["latency_ms"])
    # The user's exporter got every span: 3 per datapoint and run.
    assert len(exported.get_finished_spans()) == 3 * len(QUESTIONS) * 2

    comparison = evalyard.compare_runs(
        runs["gpt-4o"].run_id, runs["gpt-4o-mini"].run_id, store=store
    )
    tokens = comparison.metric_deltas["input_tokens"]
    assert tokens.new_aggregate == usage_for("gpt-4o")["prompt_tokens"]
    assert tokens.old_aggregate == usage_for("gpt-4o-mini")["prompt_tokens"]
    assert tokens.direction is evalyard.Direction.LOWER
    assert tokens.degraded_count == len(QUESTIONS)
    assert chat in comparison.steps
    step = evalyard.compare_runs(
        runs["gpt-4o"].run_id, runs["gpt-4o-mini"].run_id, step=chat, store=store
    )
    spent = step.metric_deltas["cost_usd"]
    assert spent.new_aggregate == pytest.approx(cost("gpt-4o"))
    assert spent.old_aggregate == pytest.approx(cost("gpt-4o-mini"))
    assert spent.direction is evalyard.Direction.LOWER


def test_evalyard_steps_and_spans_make_one_tree_recorded_once(
    store: SQLStore, fake_openai: str, instrumentor: str, exported: InMemorySpanExporter
) -> None:
    client = openai.OpenAI(base_url=fake_openai, api_key="test", max_retries=0)

    def app(inputs: dict[str, Any]) -> str:
        with evalyard.step("plan", type="chain", inputs=inputs) as plan:
            with evalyard.step("lookup", type="tool") as lookup:
                lookup.log(outputs=["doc"], metrics={"hits": 1})
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
            text = reply.choices[0].message.content or ""
            plan.log(outputs=text)
        return text

    run = evalyard.evaluate(app, dataset=QUESTIONS[:2], store=store, print_results=False)
    for result in evalyard.get_results(run.run_id, store=store):
        [plan] = result.step_tree()
        assert (plan.name, plan.type.value, plan.inputs) == ("plan", "chain", result.inputs)
        assert plan.outputs == "answer to hi"
        lookup, call = plan.children
        assert (lookup.name, lookup.metrics["hits"], lookup.children) == ("lookup", 1, ())
        assert call.type.value == "model"
        assert call.metrics["input_tokens"] == usage_for("gpt-4o-mini")["prompt_tokens"]
    names = sorted(span.name for span in exported.get_finished_spans())
    assert names.count("plan") == 2
    assert names.count("lookup") == 2


def test_spans_outside_evaluate_and_failed_calls(
    store: SQLStore, provider: Any, exported: InMemorySpanExporter
) -> None:
    tracer = trace.get_tracer("the-app")
    with tracer.start_as_current_span("outside"):
        pass

    def app(inputs: dict[str, Any]) -> str:
        with tracer.start_as_current_span("fails"):
            raise ValueError("no answer")

    run = evalyard.evaluate(app, dataset=QUESTIONS[:1], store=store, print_results=False)
    [result] = evalyard.get_results(run.run_id, store=store)
    assert result.error == "ValueError: no answer"
    [step] = result.step_tree()
    assert step.name == "fails"
    assert step.error == "ValueError: no answer"
    assert {span.name for span in exported.get_finished_spans()} == {"outside", "fails"}


def test_a_processor_on_a_provider_of_your_own_captures_its_spans(
    store: SQLStore, provider: Any
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    own_exporter = InMemorySpanExporter()
    own = TracerProvider()
    own.add_span_processor(evalyard.EvalyardSpanProcessor())
    own.add_span_processor(SimpleSpanProcessor(own_exporter))
    tracer = own.get_tracer("mine")

    def app(inputs: dict[str, Any]) -> str:
        with tracer.start_as_current_span(
            "lookup", attributes={"gen_ai.operation.name": "execute_tool"}
        ):
            return "found"

    run = evalyard.evaluate(app, dataset=QUESTIONS[:2], store=store, print_results=False)
    for result in evalyard.get_results(run.run_id, store=store):
        assert [(s.name, s.type.value) for s in result.step_tree()] == [("lookup", "tool")]
    assert len(own_exporter.get_finished_spans()) == 2


def test_a_thread_that_carries_the_otel_context_is_captured_by_its_parent(
    store: SQLStore, provider: Any
) -> None:
    import threading

    from opentelemetry import context

    tracer = trace.get_tracer("the-app")

    def app(inputs: dict[str, Any]) -> str:
        with tracer.start_as_current_span("outer"):
            carried = context.get_current()

            def work() -> None:  # a plain thread: no copy of the context variables
                token = context.attach(carried)
                try:
                    with tracer.start_as_current_span("in-thread"):
                        pass
                finally:
                    context.detach(token)

            thread = threading.Thread(target=work)
            thread.start()
            thread.join()
        return "done"

    run = evalyard.evaluate(app, dataset=QUESTIONS[:3], store=store, print_results=False)
    for result in evalyard.get_results(run.run_id, store=store):
        [outer] = result.step_tree()
        assert [child.name for child in outer.children] == ["in-thread"]


def test_evaluate_prices_the_model_steps_with_the_given_table(
    store: SQLStore, fake_openai: str, instrumentor: str
) -> None:
    prices = evalyard.PriceTable({"gpt-4o-mini": (1.0, 2.0)})
    run = evalyard.evaluate(
        make_app(fake_openai, "gpt-4o-mini"),
        dataset=QUESTIONS[:1],
        store=store,
        print_results=False,
        prices=prices,
    )
    [result] = evalyard.get_results(run.run_id, store=store)
    usage = usage_for("gpt-4o-mini")
    expected = (usage["prompt_tokens"] * 1.0 + usage["completion_tokens"] * 2.0) / 1e6
    assert result.metrics["cost_usd"] == pytest.approx(expected)


def test_async_steps_and_spans_of_concurrent_datapoints_stay_apart(
    store: SQLStore, fake_openai: str, instrumentor: str
) -> None:
    client = openai.AsyncOpenAI(base_url=fake_openai, api_key="test", max_retries=0)

    async def app(inputs: dict[str, Any]) -> str:
        async with asyncio.timeout(30):
            with evalyard.step("plan", type="chain"):
                await asyncio.sleep(0.01)
                reply = await client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": inputs["question"]}],
                )
        return reply.choices[0].message.content or ""

    run = evalyard.evaluate(app, dataset=QUESTIONS, store=store, max_workers=4, print_results=False)
    for result in evalyard.get_results(run.run_id, store=store):
        assert result.outputs == f"answer to {result.inputs['question']}"
        [plan] = result.step_tree()
        [call] = plan.children
        assert call.outputs["messages"]  # this datapoint's own reply
        assert result.inputs["question"] in str(call.inputs["messages"])
        assert result.metrics["input_tokens"] == usage_for("gpt-4o-mini")["prompt_tokens"]


def test_the_datapoint_page_shows_each_model_step_with_its_model_and_marks_the_change(
    store: SQLStore, fake_openai: str, instrumentor: str
) -> None:
    from starlette.testclient import TestClient

    from evalyard.server import create_app

    ids = {
        model: evalyard.evaluate(
            make_app(fake_openai, model),
            dataset=QUESTIONS[:1],
            name=model,
            store=store,
            print_results=False,
        ).run_id
        for model in ("gpt-4o-mini", "gpt-4o")
    }
    with TestClient(create_app(store), base_url="http://127.0.0.1") as client:
        page = client.get(f"/runs/{ids['gpt-4o']}/datapoints/q0?compare={ids['gpt-4o-mini']}")
    assert page.status_code == 200
    text = page.text
    assert f'data-step="{model_step_name(instrumentor)}"' in text
    assert (
        '<li class="chip differs"><span class="chip-name">model</span> <span>gpt-4o</span>' in text
    )
    assert '<span class="chip-name">temperature</span> <span>0.2</span>' in text
    assert '<span class="chip-name">cost_usd</span>' in text
