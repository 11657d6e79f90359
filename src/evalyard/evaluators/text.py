"""Evaluators of text: exact match, contains, regex, edit similarity and token F1.

Example:
    >>> from evalyard.evaluators import edit_similarity, exact_match, token_f1
    >>> exact_match("Paris ", "Paris"), token_f1("the city of Paris", "Paris")
    (True, 0.4)
    >>> round(edit_similarity("kitten", "sitting"), 3)
    0.571

Outputs that are not strings are compared as their canonical JSON text (sorted keys).
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rapidfuzz.distance import Levenshtein

from evalyard.errors import InvalidInputError
from evalyard.runner.evaluator import Evaluator, make_evaluator

__all__ = ["contains", "edit_similarity", "exact_match", "regex", "token_f1"]

_PUNCTUATION = str.maketrans(dict.fromkeys(string.punctuation, " "))


def as_text(value: Any) -> str:
    """A value as text: a string as is, None as empty, anything else as canonical JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _exact_match(outputs: Any, ground_truth: Any) -> bool | None:
    if ground_truth is None:
        return None
    if isinstance(outputs, str) and isinstance(ground_truth, str):
        return outputs.strip() == ground_truth.strip()
    return bool(outputs == ground_truth)


exact_match: Evaluator = make_evaluator(_exact_match, name="exact_match", direction="higher")
"""Whether the outputs equal the ground truth (strings compared without surrounding
whitespace); a bool metric ``exact_match``, missing without a ground truth."""


def _edit_similarity(outputs: Any, ground_truth: Any) -> float | None:
    if ground_truth is None:
        return None
    return float(Levenshtein.normalized_similarity(as_text(outputs), as_text(ground_truth)))


edit_similarity: Evaluator = make_evaluator(
    _edit_similarity, name="edit_similarity", direction="higher"
)
"""1 − the Levenshtein distance between outputs and ground truth divided by the longer
length: 1.0 for equal texts, 0.0 for nothing in common. Metric ``edit_similarity``."""


def _tokens(text: str) -> list[str]:
    return text.lower().translate(_PUNCTUATION).split()


def _token_f1(outputs: Any, ground_truth: Any) -> float | None:
    if ground_truth is None:
        return None
    predicted = _tokens(as_text(outputs))
    expected = _tokens(as_text(ground_truth))
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision = common / len(predicted)
    recall = common / len(expected)
    return 2 * precision * recall / (precision + recall)


token_f1: Evaluator = make_evaluator(_token_f1, name="token_f1", direction="higher")
"""The F1 score of the outputs' words against the ground truth's words (lower-cased,
punctuation removed), as in extractive question answering. Metric ``token_f1``."""


def contains(
    text: str | Sequence[str] | None = None,
    *,
    ignore_case: bool = False,
    name: str = "contains",
    step: str | None = None,
) -> Evaluator:
    """An evaluator: whether the outputs contain a text (or every one of several).

    Example:
        >>> from evalyard.evaluators import contains
        >>> contains("Paris", ignore_case=True)("I think it is paris.")
        True

    Args:
        text: what to look for; None looks for the datapoint's ground truth.
        ignore_case: compare without regard to case.
        name: the metric's name.
        step: score the steps of this name instead.
    """
    wanted = [text] if isinstance(text, str) else (None if text is None else list(text))

    def score(outputs: Any, ground_truth: Any = None) -> bool | None:
        needles = (
            wanted
            if wanted is not None
            else (None if ground_truth is None else [as_text(ground_truth)])
        )
        if needles is None:
            return None
        haystack = as_text(outputs)
        if ignore_case:
            haystack = haystack.casefold()
            return all(needle.casefold() in haystack for needle in needles)
        return all(needle in haystack for needle in needles)

    return make_evaluator(score, name=name, direction="higher", step=step)


def regex(
    pattern: str | re.Pattern[str],
    *,
    full_match: bool = False,
    flags: int = 0,
    name: str = "regex_match",
    step: str | None = None,
) -> Evaluator:
    """An evaluator: whether the outputs match a regular expression.

    Example:
        >>> from evalyard.evaluators import regex
        >>> regex(r"\\d{4}")("founded in 1214")
        True

    Args:
        pattern: the expression (searched anywhere in the outputs' text).
        full_match: require the whole text to match.
        flags: ``re`` flags, such as ``re.IGNORECASE``.
        name: the metric's name.
        step: score the steps of this name instead.

    Raises:
        InvalidInputError: for a pattern that does not compile.
    """
    try:
        compiled = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
    except re.error as exc:
        raise InvalidInputError(
            f"regex evaluator {name!r}: bad pattern {pattern!r}: {exc}"
        ) from None
    test = compiled.fullmatch if full_match else compiled.search

    def score(outputs: Any) -> bool:
        return test(as_text(outputs)) is not None

    return make_evaluator(score, name=name, direction="higher", step=step)
