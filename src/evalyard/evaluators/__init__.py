"""Built-in evaluators: exact match, contains, regex, JSON checks, edit similarity, token F1
and an LLM judge.

Example:
    >>> import evalyard
    >>> from evalyard.evaluators import contains, exact_match, regex, token_f1
    >>> evaluators = [exact_match, token_f1, contains("Paris"), regex(r"\\d{4}")]
    >>> result = evalyard.evaluate(my_app, dataset=records, evaluators=evaluators)  # doctest: +SKIP

Ready to use as they are: :data:`exact_match`, :data:`edit_similarity`, :data:`token_f1`,
:data:`valid_json`. Made by calling with options: :func:`contains`, :func:`regex`,
:func:`json_schema_match`, :func:`llm_judge`. Each scores a datapoint's ``outputs`` (against
its ``ground_truth`` where it needs one; with no ground truth its metric is missing) and
works on a step too, through ``evalyard.evaluator(step=...)`` or the ``step=`` option of the
factories.
"""

from __future__ import annotations

from evalyard.evaluators.judge import JudgeError, llm_judge
from evalyard.evaluators.structured import json_schema_match, valid_json
from evalyard.evaluators.text import contains, edit_similarity, exact_match, regex, token_f1

__all__ = [
    "JudgeError",
    "contains",
    "edit_similarity",
    "exact_match",
    "json_schema_match",
    "llm_judge",
    "regex",
    "token_f1",
    "valid_json",
]
