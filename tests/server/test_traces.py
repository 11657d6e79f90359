"""Two traces side by side: steps paired by name and place in the tree."""

from __future__ import annotations

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


def test_one_trace_alone() -> None:
    pairs = pair_traces(None, NEW)
    assert [p.name for p in pairs] == ["retrieve", "rerank", "answer", "format"]
    assert all(p.old is None for p in pairs)


def test_step_outputs_finds_nested_steps() -> None:
    assert step_outputs(OLD, "retrieve") == (True, [["a"], ["b"]])
    assert step_outputs(NEW, "answer") == (True, "y")
    assert step_outputs(NEW, "format") == (True, None)
    assert step_outputs(NEW, "missing") == (False, None)
