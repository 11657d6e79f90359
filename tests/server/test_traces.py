"""Two traces side by side: steps paired by name and place in the tree."""

from __future__ import annotations

from typing import Any

from evalyard.core.steps import MAX_STEP_DEPTH
from evalyard.server.web.traces import pair_traces, step_outputs

OLD = [
    {"name": "retrieve", "type": "tool", "outputs": ["a"], "metrics": {"hits": 1}},
    {"name": "answer", "type": "model", "outputs": "x", "children": [{"name": "format"}]},
    {"name": "retrieve", "type": "tool", "outputs": ["b"]},
]
NEW = [
    {"name": "retrieve", "type": "tool", "outputs": ["a"], "metrics": {"hits": 2}},
    {"name": "rerank", "type": "tool"},
    {"name": "answer", "type": "model", "outputs": "y", "children": [{"name": "format"}]},
]


def test_steps_pair_by_name_and_occurrence() -> None:
    pairs = pair_traces(OLD, NEW)
    shape = [(p.depth, p.name, p.old is not None, p.new is not None) for p in pairs]
    assert shape == [
        (0, "retrieve", True, True),
        (0, "rerank", False, True),
        (0, "answer", True, True),
        (1, "format", True, True),
        (0, "retrieve", True, False),
    ]
    assert pairs[0].differing_metrics == {"hits"}
    assert pairs[0].diff is None  # same outputs
    assert pairs[2].diff is not None
    assert not pairs[2].diff.identical


def test_a_model_steps_model_and_parameters_are_shown_and_their_changes_marked() -> None:
    def chat(model: str, temperature: float) -> list[dict[str, Any]]:
        inputs = {"model": model, "params": {"temperature": temperature, "seed": 1}}
        return [{"name": "chat", "type": "model", "inputs": inputs}]

    [pair] = pair_traces(chat("gpt-4o-mini", 0.2), chat("gpt-4o", 0.2))
    assert pair.new is not None
    assert pair.new.settings == [("model", "gpt-4o"), ("seed", "1"), ("temperature", "0.2")]
    assert pair.differing_settings == {"model"}
    [tool] = pair_traces(None, [{"name": "t", "type": "tool", "inputs": {"model": "x"}}])
    assert tool.new is not None
    assert tool.new.settings == []


def test_one_trace_alone() -> None:
    pairs = pair_traces(None, NEW)
    assert [p.name for p in pairs] == ["retrieve", "rerank", "answer", "format"]
    assert all(p.old is None for p in pairs)


def test_step_outputs_finds_nested_steps() -> None:
    assert step_outputs(OLD, "retrieve") == (True, [["a"], ["b"]])
    assert step_outputs(NEW, "answer") == (True, "y")
    assert step_outputs(NEW, "format") == (True, None)
    assert step_outputs(NEW, "missing") == (False, None)


def _chain(levels: int) -> list[dict[str, Any]]:
    """A trace of ``levels`` steps, each the only child of the one before."""
    steps: list[dict[str, Any]] = []
    for level in reversed(range(levels)):
        steps = [{"name": f"s{level}", "outputs": level, "children": steps}]
    return steps


def test_a_trace_is_drawn_and_searched_as_deep_as_steps_nest() -> None:
    deep = _chain(MAX_STEP_DEPTH + 5)
    pairs = pair_traces(deep, deep)
    assert [p.depth for p in pairs] == list(range(MAX_STEP_DEPTH + 1))
    assert all(p.old is not None and p.new is not None for p in pairs)
    assert step_outputs(deep, f"s{MAX_STEP_DEPTH}") == (True, MAX_STEP_DEPTH)
    assert step_outputs(deep, f"s{MAX_STEP_DEPTH + 1}") == (False, None)


def test_what_is_not_a_step_is_left_out() -> None:
    trace = [{"name": "a", "children": "not a list"}, "not a step", {"name": "b", "type": "llm"}]
    pairs = pair_traces(trace, None)
    assert [(p.depth, p.name) for p in pairs] == [(0, "a"), (0, "b")]
    assert pairs[1].old is not None
    assert pairs[1].old.type == "other"
    assert step_outputs(trace, "b") == (True, None)
