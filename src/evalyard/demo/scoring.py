"""The demo's scores: exact match and token F1 on answers, recall of the retriever.

Each takes its values by the names an evaluator is given (``outputs``, ``ground_truth``),
so the same functions can score the pipeline however it is run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from evalyard.demo.text import normalize_answer

__all__ = ["exact_match", "recall_at_k", "token_f1"]


def exact_match(outputs: str, ground_truth: str) -> bool:
    """Whether the answer equals the expected one, once both are normalised."""
    return normalize_answer(outputs) == normalize_answer(ground_truth)


def token_f1(outputs: str, ground_truth: str) -> float:
    """The F1 score of the answer's words against the expected answer's words."""
    predicted = normalize_answer(outputs).split()
    expected = normalize_answer(ground_truth).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision = common / len(predicted)
    recall = common / len(expected)
    return 2 * precision * recall / (precision + recall)


def recall_at_k(retrieved_ids: Sequence[str], gold_ids: Sequence[str], *, k: int) -> bool:
    """Whether a gold passage is among the first ``k`` retrieved."""
    return any(passage_id in gold_ids for passage_id in retrieved_ids[:k])
