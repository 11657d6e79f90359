"""Traced steps: recorded inside evaluate on the right datapoint, no-ops outside it."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import evalyard
from evalyard.errors import InvalidInputError
from evalyard.runner.tracing import jsonable
from evalyard.store import SQLStore


def _steps_by_id(store: SQLStore, run_id: str) -> dict[str, list[dict[str, Any]]]:
    return {r.datapoint_id: r.steps for r in store.get_results(run_id)}


def _names(steps: list[dict[str, Any]]) -> list[str]:
    out = []
    for step in steps:
        out.append(step["name"])
        out.extend(_names(step.get("children", [])))
    return out


def test_steps_and_traced_calls_are_no_ops_outside_evaluate() -> None:
    @evalyard.trace
    def double(x: int) -> int:
        return 2 * x

    with evalyard.step("retrieve", type="tool") as s:
        s.log(outputs=[1], metrics={"hits": 1})
        assert not s.recording
    assert double(4) == 8


def test_nested_steps_record_inputs_outputs_metrics_durations_and_errors(store: SQLStore) -> None:
    class Client:
        @evalyard.trace(name="generate", type="model")
        def complete(self, prompt: str, *, temperature: float = 0.0) -> dict[str, Any]:
            return {"text": prompt.upper(), "tokens": {1, 2}}

    def app(inputs: dict[str, Any]) -> str:
        with evalyard.step("pipeline", type="chain", inputs=inputs):
            with evalyard.step("retrieve", type="tool") as s:
                s.log(outputs=["doc"], metrics={"hits": 1})
            reply = Client().complete(inputs["q"], temperature=0.5)
            try:
                with evalyard.step("flaky"):
                    raise TimeoutError("the tool timed out")
            except TimeoutError:
                pass
        return str(reply["text"])

    result = evalyard.evaluate(
        app, dataset=[{"id": "d1", "inputs": {"q": "hi"}}], store=store, print_results=False
    )
    (pipeline,) = store.get_results(result.run_id)[0].steps
    assert pipeline["type"] == "chain"
    assert pipeline["inputs"] == {"q": "hi"}
    retrieve, generate, flaky = pipeline["children"]
    assert retrieve["outputs"] == ["doc"]
    assert retrieve["metrics"]["hits"] == 1
    assert generate["inputs"] == {"prompt": "hi", "temperature": 0.5}  # no self
    assert generate["outputs"]["text"] == "HI"
    assert isinstance(generate["outputs"]["tokens"], str)  # not JSON: its repr
    assert flaky["error"] == "TimeoutError: the tool timed out"
    for step in (pipeline, retrieve, generate, flaky):
        assert step["duration_ms"] >= 0
        assert step["metrics"]["latency_ms"] == step["duration_ms"]
    assert "children" not in retrieve
    assert result.step_aggregates["retrieve"]["hits"] == 1.0


def test_steps_from_asyncio_tasks_land_on_their_own_datapoint(store: SQLStore) -> None:
    @evalyard.trace(type="tool")
    async def fetch(tag: str, part: int) -> str:
        await asyncio.sleep(0.001 * (part % 3))
        with evalyard.step(f"inner-{tag}"):
            await asyncio.sleep(0)
        return f"{tag}-{part}"

    async def app(inputs: dict[str, str]) -> list[str]:
        tag = inputs["tag"]
        with evalyard.step(f"outer-{tag}", type="chain"):
            return list(await asyncio.gather(*(fetch(tag, part) for part in range(3))))

    dataset = [{"id": f"d{i}", "inputs": {"tag": f"t{i}"}} for i in range(12)]
    result = evalyard.evaluate(
        app, dataset=dataset, max_workers=6, store=store, print_results=False
    )
    for datapoint_id, steps in _steps_by_id(store, result.run_id).items():
        tag = f"t{datapoint_id[1:]}"
        assert len(steps) == 1
        assert steps[0]["name"] == f"outer-{tag}"
        fetches = steps[0]["children"]
        assert [f["name"] for f in fetches] == ["fetch"] * 3
        assert all(f["inputs"]["tag"] == tag for f in fetches)
        assert all(f["children"][0]["name"] == f"inner-{tag}" for f in fetches)


def test_steps_from_threads_land_on_their_own_datapoint(store: SQLStore) -> None:
    barrier = threading.Barrier(4, timeout=10)

    def work(tag: str, part: int) -> int:
        with evalyard.step(f"part-{tag}", type="tool") as s:
            s.log(metrics={"part": part})
        return part

    def app(inputs: dict[str, str]) -> int:
        tag = inputs["tag"]
        barrier.wait()  # four datapoints really run at once
        with evalyard.step(f"fan-out-{tag}"), ThreadPoolExecutor(3) as pool:
            futures = [
                pool.submit(contextvars.copy_context().run, work, tag, part) for part in range(3)
            ]
            return sum(f.result() for f in futures)

    dataset = [{"id": f"d{i}", "inputs": {"tag": f"t{i}"}} for i in range(8)]
    result = evalyard.evaluate(
        app, dataset=dataset, max_workers=4, store=store, print_results=False
    )
    assert result.error_count == 0
    for datapoint_id, steps in _steps_by_id(store, result.run_id).items():
        tag = f"t{datapoint_id[1:]}"
        assert _names(steps) == [f"fan-out-{tag}"] + [f"part-{tag}"] * 3
        assert sorted(c["metrics"]["part"] for c in steps[0]["children"]) == [0, 1, 2]


def test_traced_async_functions_record_errors_and_reraise(store: SQLStore) -> None:
    @evalyard.trace(name="call-model", type="model")
    async def call_model(prompt: str) -> str:
        raise ConnectionError(f"no route for {prompt}")

    async def app(inputs: str) -> str:
        return await call_model(inputs)

    result = evalyard.evaluate(
        app, dataset=[{"id": "a", "inputs": "x"}], store=store, print_results=False
    )
    stored = store.get_results(result.run_id)[0]
    assert stored.error == "ConnectionError: no route for x"
    assert stored.steps[0]["error"] == "ConnectionError: no route for x"
    assert stored.steps[0]["inputs"] == {"prompt": "x"}
    assert result.error_count == 1


def test_bad_step_names_and_types_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="use one of model, tool, chain, other"):
        evalyard.step("retrieve", type="retriever")
    with pytest.raises(InvalidInputError, match="step name is empty"):
        evalyard.step("")
    with pytest.raises(InvalidInputError, match="type 'llm'"):
        evalyard.trace(type="llm")(lambda: None)


def test_jsonable_keeps_json_data_and_reprs_the_rest() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    value = {"a": (1, 2.5, None), 3: [Opaque(), float("inf")], "s": "x" * 5}
    assert jsonable(value) == {"a": [1, 2.5, None], "3": ["<Opaque>", "inf"], "s": "xxxxx"}
    assert (
        len(jsonable(Opaque.__new__(type("Big", (), {"__repr__": lambda s: "y" * 5000})))) == 1000
    )
