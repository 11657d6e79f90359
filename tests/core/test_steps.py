"""Steps: the walk of a trace (order, depth, the one depth limit) and Step as a value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalyard.core.model import Result
from evalyard.core.steps import MAX_STEP_DEPTH, Step, StepType, steps_from_dicts, walk_steps

TRACE: list[dict[str, Any]] = [
    {
        "name": "plan",
        "type": "chain",
        "children": [
            {"name": "retrieve", "type": "tool", "children": [{"name": "embed"}]},
            {"name": "answer", "type": "model"},
        ],
    },
    {"name": "format"},
]


def _chain(levels: int) -> list[dict[str, Any]]:
    """A trace of ``levels`` steps, each the only child of the one before: s0 > s1 > ..."""
    steps: list[dict[str, Any]] = []
    for level in reversed(range(levels)):
        step: dict[str, Any] = {"name": f"s{level}"}
        if steps:
            step["children"] = steps
        steps = [step]
    return steps


def test_walk_is_depth_first_in_the_order_steps_started() -> None:
    assert [(depth, step["name"]) for depth, step in walk_steps(TRACE)] == [
        (0, "plan"),
        (1, "retrieve"),
        (2, "embed"),
        (1, "answer"),
        (0, "format"),
    ]


def test_walk_reads_step_values_as_it_reads_dicts() -> None:
    tree = steps_from_dicts(TRACE)
    assert [(depth, step.name) for depth, step in walk_steps(tree)] == [
        (depth, step["name"]) for depth, step in walk_steps(TRACE)
    ]


def test_walk_yields_every_item_and_goes_only_into_children_lists() -> None:
    trace: list[Any] = [
        {"name": "a", "children": "not a list"},
        42,
        {"name": "b", "children": ({"name": "c"},)},
        {"name": "d", "children": {"name": "not a list either"}},
    ]
    assert [(depth, item) for depth, item in walk_steps(trace) if not isinstance(item, dict)] == [
        (0, 42)
    ]
    assert [step["name"] for _, step in walk_steps(trace) if isinstance(step, dict)] == [
        "a",
        "b",
        "c",
        "d",
    ]


def test_walk_stops_at_the_one_depth_limit() -> None:
    deep = _chain(MAX_STEP_DEPTH + 10)
    depths = [depth for depth, _ in walk_steps(deep)]
    assert depths == list(range(MAX_STEP_DEPTH + 1))
    assert [depth for depth, _ in walk_steps(_chain(MAX_STEP_DEPTH + 1))] == depths


def test_walk_tells_on_too_deep_which_step_has_children_below_the_limit() -> None:
    told: list[dict[str, Any]] = []
    walked = list(walk_steps(_chain(MAX_STEP_DEPTH + 3), on_too_deep=told.append))
    assert len(walked) == MAX_STEP_DEPTH + 1
    assert [step["name"] for step in told] == [f"s{MAX_STEP_DEPTH}"]
    fits: list[dict[str, Any]] = []
    walked = list(walk_steps(_chain(MAX_STEP_DEPTH + 1), on_too_deep=fits.append))
    assert len(walked) == MAX_STEP_DEPTH + 1
    assert fits == []


def test_raising_from_on_too_deep_refuses_the_trace() -> None:
    def refuse(step: Any) -> None:
        raise ValueError(f"too deep below {step['name']}")

    with pytest.raises(ValueError, match=f"too deep below s{MAX_STEP_DEPTH}"):
        list(walk_steps(_chain(MAX_STEP_DEPTH + 2), on_too_deep=refuse))


def test_walk_of_a_step_that_contains_itself_ends() -> None:
    loop: dict[str, Any] = {"name": "loop"}
    loop["children"] = [loop]
    assert len(list(walk_steps([loop]))) == MAX_STEP_DEPTH + 1


def test_walk_finds_children_with_the_function_given() -> None:
    tree = {1: [2, 3], 2: [4]}
    walked = list(walk_steps([1], children=lambda node: tree.get(node, [])))
    assert walked == [(0, 1), (1, 2), (2, 4), (1, 3)]


def test_from_dict_reads_a_stored_step() -> None:
    stored = {
        "name": "retrieve",
        "type": "tool",
        "inputs": {"k": 3},
        "outputs": ["doc"],
        "metrics": {"hits": 1, "latency_ms": 2.5},
        "error": "TimeoutError: slow",
        "duration_ms": 2.5,
        "children": [{"name": "embed", "type": "model"}],
    }
    step = Step.from_dict(stored)
    assert step == Step(
        name="retrieve",
        type=StepType.TOOL,
        inputs={"k": 3},
        outputs=["doc"],
        metrics={"hits": 1, "latency_ms": 2.5},
        error="TimeoutError: slow",
        duration_ms=2.5,
        children=(Step("embed", StepType.MODEL),),
    )
    assert step.to_dict() == {
        **stored,
        "children": [
            {
                "name": "embed",
                "type": "model",
                "inputs": None,
                "outputs": None,
                "metrics": {},
                "error": None,
                "duration_ms": None,
                "children": [],
            }
        ],
    }


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({"name": "s"}, Step("s")),
        ({"name": "s", "type": "llm"}, Step("s")),
        ({"name": "s", "type": ["model"]}, Step("s")),
        ({"name": "s", "type": None}, Step("s")),
        ({"type": "tool"}, Step("", StepType.TOOL)),
        ({"name": "s", "metrics": [1, 2]}, Step("s")),
        ({"name": "s", "metrics": {1: True}}, Step("s", metrics={"1": True})),
        ({"name": "s", "error": 404}, Step("s", error="404")),
        ({"name": "s", "duration_ms": 3}, Step("s", duration_ms=3.0)),
        ({"name": "s", "duration_ms": True}, Step("s")),
        ({"name": "s", "duration_ms": "3 ms"}, Step("s")),
        ({"name": "s", "children": "c"}, Step("s")),
        ({"name": "s", "children": {"name": "c"}}, Step("s")),
        (
            {"name": "s", "children": [{"name": "c"}, "not a step", None]},
            Step("s", children=(Step("c"),)),
        ),
    ],
)
def test_from_dict_is_lenient(stored: dict[str, Any], expected: Step) -> None:
    assert Step.from_dict(stored) == expected


def test_from_dict_refuses_what_is_not_a_dict() -> None:
    with pytest.raises(TypeError, match="not a list"):
        Step.from_dict([{"name": "s"}])  # type: ignore[arg-type]


def test_a_read_trace_stops_at_the_one_depth_limit() -> None:
    (top,) = steps_from_dicts(_chain(MAX_STEP_DEPTH + 10))
    assert [depth for depth, _ in walk_steps([top])] == list(range(MAX_STEP_DEPTH + 1))


def test_a_result_reads_its_trace_as_steps() -> None:
    result = Result("q1", 0, steps=TRACE)
    tree = result.step_tree()
    assert [step.name for step in tree] == ["plan", "format"]
    assert tree[0].type is StepType.CHAIN
    assert [child.name for child in tree[0].children] == ["retrieve", "answer"]
    assert result.steps is TRACE  # the stored form stays as it is
    assert Result("q2", 0).step_tree() == ()


def test_step_types_are_their_text() -> None:
    assert [kind.value for kind in StepType] == ["model", "tool", "chain", "other"]
    assert StepType("tool") is StepType.TOOL
    assert json.dumps({"type": StepType.TOOL}) == '{"type": "tool"}'


_NAMES = st.text(min_size=1, max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_NAMES, inner, max_size=3),
    max_leaves=6,
)


def _steps(children: st.SearchStrategy[tuple[Step, ...]]) -> st.SearchStrategy[Step]:
    return st.builds(
        Step,
        name=_NAMES,
        type=st.sampled_from(StepType),
        inputs=_JSON,
        outputs=_JSON,
        metrics=st.dictionaries(_NAMES, st.floats(allow_nan=False) | st.booleans(), max_size=3),
        error=st.none() | st.text(max_size=8),
        duration_ms=st.none() | st.floats(min_value=0, allow_infinity=False),
        children=children,
    )


_TREES = st.lists(
    st.recursive(
        _steps(st.just(())),
        lambda inner: _steps(st.lists(inner, max_size=3).map(tuple)),
        max_leaves=12,
    ),
    max_size=3,
).map(tuple)


def _preorder(steps: tuple[Step, ...], depth: int = 0) -> list[tuple[int, Step]]:
    """The walk written as a plain recursion, to check the walk against."""
    out: list[tuple[int, Step]] = []
    for step in steps:
        out.append((depth, step))
        out.extend(_preorder(step.children, depth + 1))
    return out


@settings(max_examples=200, deadline=None)
@given(_TREES)
def test_steps_survive_a_round_trip_and_walk_in_preorder(tree: tuple[Step, ...]) -> None:
    stored = [step.to_dict() for step in tree]
    assert steps_from_dicts(stored) == tree
    assert list(walk_steps(tree)) == _preorder(tree)
    assert [(depth, s["name"]) for depth, s in walk_steps(stored)] == [
        (depth, s.name) for depth, s in _preorder(tree)
    ]
