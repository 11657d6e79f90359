"""Running the demo pipeline over the demo dataset and logging the run (``evalyard demo``).

Example:
    >>> from evalyard.demo.experiment import BASELINE, CANDIDATE, run_experiment
    >>> old_run_id = run_experiment(BASELINE)  # doctest: +SKIP
    >>> new_run_id = run_experiment(CANDIDATE)  # doctest: +SKIP

Each configuration has one run per store, named after it (run names are unique within a
project): the first call logs it, and later calls resume it, running only the questions
it lacks (all of them were run when a call was not interrupted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalyard.core.model import RunInfo
from evalyard.demo.corpus import PASSAGES
from evalyard.demo.pipeline import answer_question
from evalyard.demo.questions import QUESTIONS, Question
from evalyard.demo.reader import Reader
from evalyard.demo.retrieval import Retriever, corpus_index
from evalyard.demo.scoring import exact_match, recall_at_k, token_f1
from evalyard.runner.datasets import Dataset
from evalyard.runner.evaluate import evaluate
from evalyard.runner.evaluator import evaluator
from evalyard.runner.logging import define_metric
from evalyard.store import Store, get_store

__all__ = [
    "BASELINE",
    "CANDIDATE",
    "DEMO_DATASET",
    "DEMO_PROJECT",
    "TRACED_BASELINE",
    "TRACED_CANDIDATE",
    "Configuration",
    "existing_run",
    "run_experiment",
]

#: The project the demo's runs belong to, apart from the runs of your own projects.
DEMO_PROJECT = "demo"
#: The dataset name the demo's runs record.
DEMO_DATASET = "demo-qa"


@dataclass(frozen=True, slots=True)
class Configuration:
    """One configuration of the demo pipeline: what a run of it is named and uses."""

    run_name: str
    """The name of the runs of this configuration."""
    retriever: Retriever
    """``keyword`` or ``bm25``."""
    reader: Reader
    """``overlap`` (v1) or ``span`` (v2)."""
    k: int = 3
    """How many passages the retriever returns."""
    model: str | None = None
    """The model the answer step calls (one of :data:`evalyard.demo.traced.MODELS`), for a
    configuration traced with OpenTelemetry spans; None: the steps are ``evalyard.step``'s."""


#: Configuration A, the baseline: keyword-overlap retrieval and the v1 reader.
BASELINE = Configuration("demo-keyword", retriever="keyword", reader="overlap")
#: Configuration B, the candidate: BM25 retrieval and the v2 reader.
CANDIDATE = Configuration("demo-bm25", retriever="bm25", reader="span")
#: The traced baseline (``evalyard demo --traced``): configuration A, answering with a
#: small model, its steps OpenTelemetry spans.
TRACED_BASELINE = Configuration(
    "demo-traced-mini", retriever="keyword", reader="overlap", model="gpt-4o-mini"
)
#: The traced candidate: configuration B, answering with a larger model.
TRACED_CANDIDATE = Configuration("demo-traced-4o", retriever="bm25", reader="span", model="gpt-4o")


def existing_run(
    configuration: Configuration, *, store: Store | str | None = None
) -> RunInfo | None:
    """The run of this configuration in the store (the newest, in a store that predates
    unique run names), or None when the demo has not logged it yet."""
    name = configuration.run_name
    found = [
        info for info in get_store(store).find_runs(name, project=DEMO_PROJECT) if info.name == name
    ]
    return max(found, key=lambda info: info.created_at, default=None)


def run_experiment(
    configuration: Configuration,
    *,
    questions: tuple[Question, ...] = QUESTIONS,
    store: Store | str | None = None,
) -> str:
    """Answer the demo questions with one configuration, log the run, and return its id.

    The configuration's run is created the first time; after that it is resumed: only the
    questions it lacks are run (none, unless a call was interrupted).

    Args:
        configuration: the pipeline's configuration.
        questions: the datapoints to run (all of the demo dataset by default).
        store: a store, or a store URL; by default the usual resolution.
    """
    existing = existing_run(configuration, store=store)
    # The length of an answer is neither good nor bad, only reported when it changes;
    # evaluate() declares latency_ms and error as lower-is-better itself.
    define_metric("answer_tokens", direction="none", project=DEMO_PROJECT, store=store)
    metadata = {
        "retriever": configuration.retriever,
        "reader": configuration.reader,
        "k": configuration.k,
        **({} if configuration.model is None else {"model": configuration.model}),
        "corpus": "saltmere-isles",
        "passages": len(PASSAGES),
    }
    corpus_index()  # built once, before the clock starts, so no datapoint pays for it
    dataset = Dataset(
        [
            {
                "id": question.datapoint_id,
                "inputs": question.inputs,
                "ground_truth": question.answer,
                "metadata": {"gold_passage": question.passage_id},
            }
            for question in questions
        ],
        name=DEMO_DATASET,
    )

    model = configuration.model
    if model is None:

        def application(inputs: dict[str, Any]) -> str:
            return answer_question(
                inputs,
                retriever=configuration.retriever,
                reader=configuration.reader,
                k=configuration.k,
            ).answer

    else:
        # Imports OpenTelemetry's SDK: only a traced configuration needs it.
        from evalyard.demo.traced import answer_question_traced, demo_tracer

        demo_tracer()  # its span processor must exist before evaluate() starts capturing

        def application(inputs: dict[str, Any]) -> str:
            return answer_question_traced(
                inputs,
                model=model,
                retriever=configuration.retriever,
                reader=configuration.reader,
                k=configuration.k,
            ).answer

    result = evaluate(
        application,
        dataset=dataset,
        evaluators=[
            evaluator(name="exact_match", direction="higher")(exact_match),
            evaluator(name="token_f1", direction="higher")(token_f1),
            evaluator(name="recall_at_3", direction="higher", step="retrieve")(_recall_at_3),
        ],
        name=configuration.run_name,
        project=DEMO_PROJECT,
        metadata=metadata,
        # The run's own id: resumed whatever its status, even if its metadata changed.
        run_id=None if existing is None else existing.run_id,
        # One at a time, so that latencies measure the pipeline, not the machine's queue.
        max_workers=1,
        print_results=False,
        store=store,
    )
    return result.run_id


def _recall_at_3(outputs: list[dict[str, Any]], metadata: dict[str, Any]) -> bool:
    """Whether the gold passage is among the first three retrieved."""
    return recall_at_k([p["passage_id"] for p in outputs], [metadata["gold_passage"]], k=3)
