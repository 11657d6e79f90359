"""Writes real Inspect AI logs, offline, with the mockllm provider (run by test_inspect.py in
a subprocess, so Inspect's logging and globals stay out of the test process).

    python make_inspect_logs.py OUTDIR

OUTDIR/weak.eval and OUTDIR/strong.json: one task of six questions, two epochs, four
scorers (match, includes, a graded C/P/I scorer and a dict-valued one), by two mock models
that get every second (weak) or third (strong) question wrong. OUTDIR/tools.eval: a task
with chat messages as input, whose model calls a tool. OUTDIR/failed.eval: an eval that
stops with an error.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import (
    ChatMessageSystem,
    ChatMessageUser,
    ModelOutput,
    ModelUsage,
    get_model,
)
from inspect_ai.scorer import (
    CORRECT,
    INCORRECT,
    PARTIAL,
    Score,
    Target,
    accuracy,
    includes,
    match,
    mean,
    scorer,
)
from inspect_ai.solver import Generate, TaskState, generate, solver, use_tools
from inspect_ai.tool import Tool, tool

USAGE = ModelUsage(input_tokens=10, output_tokens=2, total_tokens=12)


def answers(model: str, wrong_every: int) -> Any:
    """A mock model's outputs: 2i, but 2i + 1 for every ``wrong_every``-th question."""

    def next_output(input: Any, tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
        i = int(input[-1].text.split()[2])
        answer = str(2 * i) if i % wrong_every else str(2 * i + 1)
        output = ModelOutput.from_content(model=model, content=answer)
        output.usage = USAGE  # without usage, mockllm counts tokens with a downloaded tokenizer
        return output

    return next_output


@scorer(metrics=[accuracy()])
def graded() -> Any:
    """C when right, P when one off, I otherwise."""

    async def score(state: TaskState, target: Target) -> Score:
        got, want = int(state.output.completion), int(target.text)
        value = CORRECT if got == want else PARTIAL if abs(got - want) == 1 else INCORRECT
        return Score(value=value, answer=state.output.completion)

    return score


@scorer(metrics={"exact": [accuracy()], "length": [mean()]})
def parts() -> Any:
    """A dict of values: whether the answer is right, and its length."""

    async def score(state: TaskState, target: Target) -> Score:
        completion = state.output.completion
        exact = CORRECT if completion == target.text else INCORRECT
        return Score(value={"exact": exact, "length": len(completion)})

    return score


@task
def arith() -> Task:
    return Task(
        dataset=[
            Sample(id=f"q{i}", input=f"What is {i} + {i}?", target=str(2 * i)) for i in range(6)
        ],
        solver=[generate()],
        scorer=[match(), includes(), graded(), parts()],
        epochs=2,
    )


@tool
def add() -> Tool:
    async def execute(x: int, y: int) -> int:
        """Add two numbers.

        Args:
            x: the first number.
            y: the second number.
        """
        return x + y

    return execute


def tool_outputs(input: Any, tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
    if input[-1].role == "tool":
        output = ModelOutput.from_content(model="mockllm/tools", content=input[-1].text)
    else:
        output = ModelOutput.for_tool_call("mockllm/tools", "add", {"x": 2, "y": 2})
    output.usage = USAGE
    return output


@task
def calculator() -> Task:
    return Task(
        dataset=[
            Sample(
                id="add",
                input=[
                    ChatMessageSystem(content="Use the add tool."),
                    ChatMessageUser(content="What is 2 + 2?"),
                ],
                target="4",
            )
        ],
        solver=[use_tools(add()), generate()],
        scorer=match(),
    )


@solver
def fails_on(sample_id: str) -> Any:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if state.sample_id == sample_id:
            raise RuntimeError(f"the solver broke on {sample_id}")
        return await generate(state)

    return solve


@task
def broken() -> Task:
    return Task(
        dataset=[
            Sample(id=f"q{i}", input=f"What is {i} + {i}?", target=str(2 * i)) for i in range(4)
        ],
        solver=[fails_on("q3")],
        scorer=match(),
    )


def run(the_task: Task, model: Any, out: Path, name: str, log_format: str, **extra: Any) -> None:
    folder = out / name
    logs = inspect_eval(
        the_task, model=model, log_dir=str(folder), log_format=log_format, display="none", **extra
    )
    shutil.move(logs[0].location, out / f"{name}.{log_format}")
    shutil.rmtree(folder)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    weak = get_model("mockllm/weak", custom_outputs=answers("mockllm/weak", 2))
    strong = get_model("mockllm/strong", custom_outputs=answers("mockllm/strong", 3))
    run(arith(), weak, out, "weak", "eval")
    run(arith(), strong, out, "strong", "json")
    run(calculator(), get_model("mockllm/tools", custom_outputs=tool_outputs), out, "tools", "eval")
    run(
        broken(),
        get_model("mockllm/weak", custom_outputs=answers("mockllm/weak", 2)),
        out,
        "failed",
        "eval",
        max_samples=1,
    )


if __name__ == "__main__":
    main()
