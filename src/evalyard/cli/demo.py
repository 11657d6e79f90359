"""``evalyard demo``: log two runs of the demo pipeline, compare them, show what to try next.

It works offline, on whatever store the other commands use. The first call logs two runs in
project ``demo`` (``demo-keyword``, the baseline, and ``demo-bm25``); later calls resume
them, running only what they lack (nothing, unless a call was interrupted), and compare
them again. The commands it suggests refer to the runs by name when the name is all it
takes, else by id.

``evalyard demo --traced`` logs two other runs (``demo-traced-mini``, the baseline, and
``demo-traced-4o``) whose steps are OpenTelemetry spans, the answer step a model call with
tokens and a cost (:mod:`evalyard.demo.traced`), and also prints the comparison of that
step. It needs the OpenTelemetry SDK (``pip install 'evalyard[otel]'``).
"""

from __future__ import annotations

import importlib
import re
import shlex

from rich.console import Console
from rich.table import Table
from rich.text import Text

from evalyard.cli.render import comparison_table
from evalyard.core.compare import RunComparisonResult
from evalyard.core.report import short_id
from evalyard.demo.experiment import (
    BASELINE,
    CANDIDATE,
    DEMO_DATASET,
    DEMO_PROJECT,
    TRACED_BASELINE,
    TRACED_CANDIDATE,
    Configuration,
    existing_run,
    run_experiment,
)
from evalyard.demo.questions import QUESTIONS
from evalyard.errors import InvalidInputError
from evalyard.runs import compare_runs, resolve_run
from evalyard.store import Store

__all__ = ["MODEL_STEP", "OTEL_MISSING", "run_demo"]

#: The traced demo's model step, as its ``chat`` spans name it.
MODEL_STEP = "chat"
#: What ``evalyard demo --traced`` says without the OpenTelemetry SDK.
OTEL_MISSING = "evalyard demo --traced needs the OpenTelemetry SDK: pip install 'evalyard[otel]'"

_PASSWORD = re.compile(r"(://[^/:@]*):[^/@]*@")


def _describe(configuration: Configuration) -> str:
    described = (
        f"{configuration.retriever} retrieval (k={configuration.k}), {configuration.reader} reader"
    )
    if configuration.model is not None:
        described += f", model {configuration.model}"
    return described


def _reference(name: str, run_id: str, store: Store) -> str:
    """How a command refers to the run: by its name when that finds it alone (another
    project may have a run of that name), else by its short id."""
    try:
        found = resolve_run(name, store=store).run_id
    except LookupError:
        found = None
    return name if found == run_id else short_id(run_id)


def run_demo(
    console: Console, *, store: Store, store_option: str | None = None, traced: bool = False
) -> RunComparisonResult:
    """Log a baseline and a candidate run of the demo pipeline, and print their comparison.

    Args:
        console: where to print.
        store: the store to log to.
        store_option: the ``--store`` URL given on the command line, repeated in the
            suggested commands; None when the store came from the environment or default.
        traced: run the traced variant (steps from OpenTelemetry spans, two models), and
            also print the comparison of its model step.

    Returns:
        the comparison printed (the candidate run compared with the baseline).

    Raises:
        InvalidInputError: ``traced`` without the OpenTelemetry SDK installed.
    """
    if traced:
        try:
            importlib.import_module("evalyard.demo.traced")
        except ImportError as error:
            raise InvalidInputError(OTEL_MISSING) from error
    baseline, candidate = (TRACED_BASELINE, TRACED_CANDIDATE) if traced else (BASELINE, CANDIDATE)
    pipeline = "retrieve → chat, traced with OpenTelemetry" if traced else "retrieve → answer"
    console.print(
        Text(
            f"Running a small question-answering pipeline ({pipeline}) over the "
            f"{len(QUESTIONS)} questions of dataset {DEMO_DATASET!r}, twice."
        )
    )
    if traced:
        console.print(
            Text(
                "Its model is local and deterministic: no provider is called. Its spans carry "
                "the GenAI semantic conventions' model names and token counts; the cost is "
                "from the built-in price table.",
                style="dim",
            )
        )
    shown_url = _PASSWORD.sub(r"\1:***@", store.url)
    console.print(Text(f"store: {shown_url}", style="dim"))
    logged = [existing_run(c, store=store) for c in (baseline, candidate)]
    if all(info is not None for info in logged):
        console.print(
            Text(
                "The demo's runs are in this store already: resuming them (only what they "
                "lack is run), then comparing them again.",
                style="dim",
            )
        )
    old_id = run_experiment(baseline, store=store)
    new_id = run_experiment(candidate, store=store)
    runs = Table.grid(padding=(0, 2))
    for label, configuration, run_id in (
        ("baseline", baseline, old_id),
        ("candidate", candidate, new_id),
    ):
        runs.add_row(
            Text(label, style="dim"),
            Text(configuration.run_name, style="bold"),
            Text(short_id(run_id), style="cyan"),
            Text(_describe(configuration)),
        )
    console.print(runs)
    comparison = compare_runs(new_id, old_id, store=store)
    console.print()
    console.print(comparison_table(comparison, width=console.width))
    console.print()
    if traced:
        console.print(
            Text(
                f"The model step ({MODEL_STEP}, {baseline.model} → {candidate.model}): "
                "tokens, cost in USD and latency per call.",
                style="bold",
            )
        )
        step = compare_runs(new_id, old_id, step=MODEL_STEP, store=store)
        console.print(comparison_table(step, width=console.width))
        console.print()
    new = _reference(candidate.run_name, new_id, store)
    old = _reference(baseline.run_name, old_id, store)
    suffix = "" if store_option is None else f" --store {shlex.quote(store_option)}"
    console.print(Text("Explore further:", style="bold"))
    for command in (
        f"evalyard runs --project {DEMO_PROJECT}",
        f"evalyard show {new}",
        f"evalyard compare {new} --with {old}",
        f"evalyard compare {new} --with {old} --step retrieve",
        *([f"evalyard compare {new} --with {old} --step {MODEL_STEP}"] if traced else []),
        f"evalyard compare {new} --with {old} --aggregate p90",
        f"evalyard compare {new} --with {old} --format markdown",
        f"evalyard compare {new} --with {old} --fail-on regression",
    ):
        console.print(Text(f"  {command}{suffix}"))
    console.print()
    console.print(Text("See them side by side in the web UI:", style="bold"))
    console.print(Text(f"  evalyard ui{suffix}"))
    console.print(Text(f"  then open http://127.0.0.1:8000/runs/{new_id}?compare={old_id}"))
    return comparison
