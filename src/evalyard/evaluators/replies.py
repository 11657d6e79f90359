"""Reading an LLM judge's reply: a pass/fail verdict, or a score on a scale.

Example:
    >>> from evalyard.evaluators.replies import parse_score, parse_verdict
    >>> parse_verdict("The answer names the right city.\\nVerdict: **PASS**")
    True
    >>> parse_score('{"score": 4, "reason": "mostly complete"}', (1.0, 5.0))
    4.0

Judges answer in many shapes: a labelled last line (as they are asked to), a JSON object,
markdown emphasis, ``8/10``, a bare word or number. A reply that gives no clear answer, or
contradicts itself, is a :class:`JudgeError` (an evaluator error on that datapoint), never a
guess.
"""

from __future__ import annotations

import json
import re
from typing import Any

from evalyard.errors import EvalyardError

__all__ = ["JudgeError", "number_text", "parse_score", "parse_verdict"]


class JudgeError(EvalyardError):
    """The judge's endpoint failed, or its reply held no verdict or score.

    Raised inside an evaluator, it is recorded as an evaluator error on the datapoint.
    """


_YES = {"pass", "passed", "yes", "correct", "true", "good", "acceptable"}
_NO = {"fail", "failed", "no", "incorrect", "false", "bad", "unacceptable"}
_LABELLED_VERDICT = re.compile(
    r"\b(?:verdict|grade|result|decision|judgement|judgment|answer)\b\s*[:=\-]?\s*[*_`\"']*\s*"
    r"(pass(?:ed)?|fail(?:ed)?|yes|no|correct|incorrect|true|false)\b",
    re.IGNORECASE,
)
_VERDICT_WORD = re.compile(r"\b(pass(?:ed)?|fail(?:ed)?|correct|incorrect)\b", re.IGNORECASE)
_NEGATION = re.compile(r"(?:\bnot|n't)\s+(?:\w+\s+)?$", re.IGNORECASE)
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_LABELLED_SCORE = re.compile(
    rf"\b(?:score|rating|grade)\b\s*(?:is|of)?\s*[:=]?\s*[*_`\"']*\s*({_NUMBER})"
    rf"(?:\s*(?:/|out of)\s*({_NUMBER}))?",
    re.IGNORECASE,
)
_BARE_SCORE = re.compile(rf"^\W*({_NUMBER})(?:\s*(?:/|out of)\s*({_NUMBER}))?\W*$")


def parse_verdict(reply: str) -> bool:
    """Read pass (True) or fail (False) from a judge's reply.

    Raises:
        JudgeError: when the reply gives no verdict, or contradicts itself.
    """
    data = _json_object(reply)
    if data is not None:
        for key in ("verdict", "pass", "passed", "result", "grade", "correct"):
            value = data.get(key)
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _YES | _NO:
                return value.strip().lower() in _YES
    labelled = _LABELLED_VERDICT.findall(reply)
    if labelled:
        return labelled[-1].lower() in _YES
    bare = reply.strip().strip("*_`.!\"' ").lower()
    if bare in _YES | _NO:
        return bare in _YES
    words = set()
    for match in _VERDICT_WORD.finditer(reply):
        # "does not pass", "isn't correct": a negated verdict word counts the other way.
        negated = _NEGATION.search(reply[max(0, match.start() - 12) : match.start()])
        words.add((match.group(1).lower() in _YES) != bool(negated))
    if len(words) == 1:
        return words.pop()
    raise JudgeError(f"the judge's reply gives no clear PASS or FAIL: {reply[-200:]!r}")


def parse_score(reply: str, scale: tuple[float, float]) -> float:
    """Read a score on ``scale`` from a judge's reply (the last one it states).

    Raises:
        JudgeError: when the reply states no score, or one outside the scale.
    """
    low, high = scale
    found: tuple[str, str | None] | None = None
    data = _json_object(reply)
    if data is not None:
        for key in ("score", "rating", "grade"):
            value = data.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                found = (str(value), None)
                break
    if found is None:
        labelled = _LABELLED_SCORE.findall(reply)
        if labelled:
            found = labelled[-1]
    if found is None:
        lines = [line for line in reply.strip().splitlines() if line.strip()]
        for line in (lines[-1:] if lines else []) + [reply]:
            bare = _BARE_SCORE.match(line)
            if bare:
                found = (bare.group(1), bare.group(2))
                break
    if found is None:
        raise JudgeError(f"the judge's reply states no score: {reply[-200:]!r}")
    value = float(found[0])
    if found[1] and float(found[1]) != high:
        raise JudgeError(
            f"the judge scored {found[0]}/{found[1]}, but the scale is "
            f"{number_text(low)} to {number_text(high)}"
        )
    if not low <= value <= high:
        raise JudgeError(
            f"the judge's score {number_text(value)} is outside the scale "
            f"{number_text(low)} to {number_text(high)}"
        )
    return value


def _json_object(reply: str) -> dict[str, Any] | None:
    text = reply.strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    elif not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(key).lower(): value for key, value in data.items()}


def number_text(value: float) -> str:
    """A number as a person writes it: ``5`` rather than ``5.0``."""
    return str(int(value)) if float(value).is_integer() else str(value)
