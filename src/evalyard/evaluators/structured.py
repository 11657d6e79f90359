"""Evaluators of structured outputs: valid JSON, and JSON that matches a JSON Schema.

Example:
    >>> from evalyard.evaluators import json_schema_match, valid_json
    >>> valid_json('{"answer": 4}'), valid_json("{answer: 4}")
    (True, False)
    >>> schema = {"type": "object", "required": ["answer"]}
    >>> json_schema_match(schema)('{"answer": 4}')
    True
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from evalyard.errors import InvalidInputError
from evalyard.runner.evaluator import Evaluator, make_evaluator

__all__ = ["json_schema_match", "valid_json"]

_NOT_JSON = object()


def _parse(outputs: Any) -> Any:
    """The outputs as JSON data: a string is parsed; lists, dicts and scalars are data."""
    if isinstance(outputs, str | bytes):
        try:
            return json.loads(outputs)
        except ValueError:
            return _NOT_JSON
    return outputs


def _valid_json(outputs: Any) -> bool:
    return outputs is not None and _parse(outputs) is not _NOT_JSON


valid_json: Evaluator = make_evaluator(_valid_json, name="valid_json", direction="higher")
"""Whether the outputs are JSON: a string that parses as JSON, or JSON data already (a
dict, a list, a number...). None is not. Metric ``valid_json``."""


def json_schema_match(
    schema: Mapping[str, Any],
    *,
    name: str = "json_schema_match",
    step: str | None = None,
) -> Evaluator:
    """An evaluator: whether the outputs are JSON that validates against a JSON Schema.

    Uses the ``jsonschema`` library, with the draft the schema's ``$schema`` names (the
    latest draft by default). Outputs that are a string are parsed first; a string that is
    not JSON does not match.

    Args:
        schema: the JSON Schema.
        name: the metric's name.
        step: score the steps of this name instead.

    Raises:
        InvalidInputError: for a schema that is not a valid JSON Schema.
    """
    import jsonschema

    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidInputError(
            f"json_schema_match evaluator {name!r}: the schema is not valid: {exc.message}"
        ) from None
    validator = validator_class(schema)

    def score(outputs: Any) -> bool:
        data = _parse(outputs)
        return data is not _NOT_JSON and bool(validator.is_valid(data))

    return make_evaluator(score, name=name, direction="higher", step=step)
