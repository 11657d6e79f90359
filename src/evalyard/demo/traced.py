"""The demo pipeline traced with OpenTelemetry spans (``evalyard demo --traced``).

The same retrieve → answer pipeline as :mod:`evalyard.demo.pipeline`, with its steps
reported the way an instrumented application reports them: an ``execute_tool`` span for
the retrieval and a ``chat`` span for the model call, with the attributes of the
OpenTelemetry GenAI semantic conventions (``gen_ai.operation.name``,
``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.usage.input_tokens``,
``gen_ai.usage.output_tokens``, the input and output messages). Nothing leaves the
machine: the "model" is the demo's deterministic reader, its prompt and answer are
counted in tokens (words and punctuation marks), and it takes the time a model of its
size would, scaled down to milliseconds (:data:`MODELS`). ``evaluate`` captures the spans
as the result's steps and prices the model step with the built-in price table.

Needs the OpenTelemetry SDK (``pip install 'evalyard[otel]'``). The spans go to a tracer
provider of the demo's own, so the global provider (yours, if you set one up) is left
alone.

Example:
    >>> from evalyard.demo.traced import count_tokens
    >>> count_tokens("Who invented the tide clock?")
    6
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Tracer

from evalyard.demo.pipeline import PipelineResult
from evalyard.demo.reader import Reader, read
from evalyard.demo.retrieval import Retriever, corpus_index, retrieve
from evalyard.runner.otel import EvalyardSpanProcessor

__all__ = [
    "MODELS",
    "SYSTEM_PROMPT",
    "ModelSpeed",
    "answer_question_traced",
    "count_tokens",
    "demo_tracer",
]

#: The system message of every model call.
SYSTEM_PROMPT = "Answer the question with a short phrase taken from the passages."

_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True, slots=True)
class ModelSpeed:
    """How long a demo model takes, scaled down to milliseconds, and what it reports."""

    response_model: str
    """The model named in the response (``gen_ai.response.model``): a dated version."""
    first_token_ms: float
    """Time before the first output token."""
    per_input_token_ms: float
    """Time per prompt token."""
    per_output_token_ms: float
    """Time per output token."""

    def latency_ms(self, input_tokens: int, output_tokens: int) -> float:
        """The time a call with these token counts takes."""
        return (
            self.first_token_ms
            + input_tokens * self.per_input_token_ms
            + output_tokens * self.per_output_token_ms
        )


#: The models the traced demo can "call": names the built-in price table knows.
MODELS: Mapping[str, ModelSpeed] = {
    # Tens of milliseconds a call: far enough apart that a busy machine's scheduling
    # (a sleep overshooting by a few milliseconds) cannot blur which model is slower.
    "gpt-4o-mini": ModelSpeed("gpt-4o-mini-2024-07-18", 8.0, 0.02, 1.0),
    "gpt-4o": ModelSpeed("gpt-4o-2024-08-06", 20.0, 0.05, 3.0),
}

_LOCK = threading.Lock()
_TRACER: list[Tracer] = []


def demo_tracer() -> Tracer:
    """The demo's tracer: a provider of its own, with evalyard's span processor on it.

    Made on first use; ``evaluate`` captures spans only once a span processor exists, so
    call this before it starts (:func:`evalyard.demo.experiment.run_experiment` does)."""
    with _LOCK:
        if not _TRACER:
            provider = TracerProvider()
            provider.add_span_processor(EvalyardSpanProcessor())
            _TRACER.append(provider.get_tracer("evalyard.demo"))
        return _TRACER[0]


def count_tokens(text: str) -> int:
    """The demo's token count of a text: its words and punctuation marks."""
    return len(_TOKEN.findall(text))


def answer_question_traced(
    inputs: Mapping[str, Any],
    *,
    model: str,
    retriever: Retriever = "bm25",
    reader: Reader = "span",
    k: int = 3,
) -> PipelineResult:
    """Answer ``inputs["question"]`` as :func:`evalyard.demo.pipeline.answer_question`
    does, reporting the two steps as OpenTelemetry spans.

    Args:
        inputs: the datapoint's inputs; ``question`` is the only key used.
        model: the model the answer step "calls", one of :data:`MODELS`.
        retriever: ``keyword`` (overlap) or ``bm25``.
        reader: ``overlap`` (v1) or ``span`` (v2).
        k: how many passages to retrieve.

    Returns:
        the answer, the retrieved passage ids, and the steps as the spans describe them
        (without metrics: ``evaluate`` computes them from the spans).
    """
    speed = MODELS[model]
    tracer = demo_tracer()
    question = str(inputs["question"])
    arguments = {"query": question, "k": k}
    with tracer.start_as_current_span(
        "retrieve",
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "retrieve",
            "gen_ai.tool.type": "function",
            "gen_ai.tool.call.arguments": json.dumps(arguments),
        },
    ) as span:
        found = retrieve(question, retriever=retriever, k=k)
        retrieved = [
            {"passage_id": f.passage.passage_id, "title": f.passage.title, "score": f.score}
            for f in found
        ]
        span.set_attribute("gen_ai.tool.call.result", json.dumps(retrieved))
    passages = [f.passage for f in found]
    prompt = "\n\n".join(
        [f"Question: {question}", *(f"[{p.passage_id}] {p.title}: {p.text}" for p in passages)]
    )
    input_messages = [
        {"role": "system", "parts": [{"type": "text", "content": SYSTEM_PROMPT}]},
        {"role": "user", "parts": [{"type": "text", "content": prompt}]},
    ]
    with tracer.start_as_current_span(
        f"chat {model}",
        kind=SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": model,
            "gen_ai.request.temperature": 0.0,
            "gen_ai.request.max_tokens": 64,
            "gen_ai.input.messages": json.dumps(input_messages),
        },
    ) as span:
        started = time.perf_counter()
        answered = read(question, passages, reader=reader, idf=corpus_index().idf)
        input_tokens = count_tokens(SYSTEM_PROMPT) + count_tokens(prompt)
        output_tokens = count_tokens(answered.answer)
        # The model's time, less what reading took already.
        rest = speed.latency_ms(input_tokens, output_tokens) / 1000 - (
            time.perf_counter() - started
        )
        if rest > 0:
            time.sleep(rest)
        output_messages = [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": answered.answer}],
                "finish_reason": "stop",
            }
        ]
        span.set_attributes(
            {
                "gen_ai.response.model": speed.response_model,
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.usage.input_tokens": input_tokens,
                "gen_ai.usage.output_tokens": output_tokens,
                "gen_ai.output.messages": json.dumps(output_messages),
            }
        )
    passage_ids = [p.passage_id for p in passages]
    steps: list[dict[str, Any]] = [
        {
            "name": "retrieve",
            "type": "tool",
            "inputs": {**arguments, "retriever": retriever},
            "outputs": retrieved,
        },
        {
            "name": "chat",
            "type": "model",
            "inputs": {"model": model, "messages": input_messages, "reader": reader},
            "outputs": {"model": speed.response_model, "messages": output_messages},
        },
    ]
    return PipelineResult(answered.answer, passage_ids, steps)
