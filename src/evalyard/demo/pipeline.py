"""The demo application: retrieve passages, then read an answer out of them.

Example:
    >>> from evalyard.demo.pipeline import answer_question
    >>> result = answer_question({"question": "Who invented the tide clock?"})
    >>> result.answer, [step["name"] for step in result.steps]
    ('Oren Vale', ['retrieve', 'answer'])
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evalyard.demo.reader import Reader, read
from evalyard.demo.retrieval import Retriever, corpus_index, retrieve
from evalyard.demo.text import content_stems, words
from evalyard.runner.tracing import step

__all__ = ["PipelineResult", "answer_question"]


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """What the pipeline answered, and the trace of how."""

    answer: str
    """The answer: the application's outputs."""
    passage_ids: list[str]
    """The retrieved passages, best first."""
    steps: list[dict[str, Any]]
    """The trace as step dicts (``retrieve``, then ``answer``), ready to log by hand.

    Inside ``evaluate`` the same steps are also recorded through ``evalyard.step``."""


def answer_question(
    inputs: Mapping[str, Any],
    *,
    retriever: Retriever = "bm25",
    reader: Reader = "span",
    k: int = 3,
) -> PipelineResult:
    """Answer ``inputs["question"]`` from the bundled corpus.

    Args:
        inputs: the datapoint's inputs; ``question`` is the only key used.
        retriever: ``keyword`` (overlap) or ``bm25``.
        reader: ``overlap`` (v1) or ``span`` (v2).
        k: how many passages to retrieve.

    Returns:
        the answer, the retrieved passage ids, and both steps with their metrics
        (``hits``, ``answer_tokens``, ``latency_ms``).
    """
    question = str(inputs["question"])
    with step("retrieve", type="tool", inputs={"query": question, "k": k}) as retrieval:
        started = time.perf_counter()
        found = retrieve(question, retriever=retriever, k=k)
        retrieved = time.perf_counter()
        # A hit is a passage sharing a content word with the question, whatever the retriever.
        asked = set(content_stems(question))
        hits = sum(1 for f in found if asked & set(content_stems(f.passage.text)))
        retrieve_outputs = [
            {"passage_id": f.passage.passage_id, "title": f.passage.title, "score": f.score}
            for f in found
        ]
        retrieval.log(outputs=retrieve_outputs, metrics={"hits": hits})
    passage_ids = [f.passage.passage_id for f in found]
    with step(
        "answer", type="model", inputs={"question": question, "passages": passage_ids}
    ) as answering:
        answered = read(question, [f.passage for f in found], reader=reader, idf=corpus_index().idf)
        finished = time.perf_counter()
        answer_tokens = len(words(answered.answer))
        answer_outputs = {"answer": answered.answer, "sentence": answered.sentence}
        answering.log(outputs=answer_outputs, metrics={"answer_tokens": answer_tokens})

    steps: list[dict[str, Any]] = [
        {
            "name": "retrieve",
            "type": "tool",
            "inputs": {"query": question, "k": k, "retriever": retriever},
            "outputs": retrieve_outputs,
            "metrics": {"hits": hits, "latency_ms": (retrieved - started) * 1000},
        },
        {
            "name": "answer",
            "type": "model",
            "inputs": {"question": question, "passages": passage_ids, "reader": reader},
            "outputs": answer_outputs,
            "metrics": {
                "answer_tokens": answer_tokens,
                "latency_ms": (finished - retrieved) * 1000,
            },
        },
    ]
    return PipelineResult(answered.answer, passage_ids, steps)
