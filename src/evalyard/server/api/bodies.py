"""Request bodies: the content type, the size limit, JSON, and the schema, in that order.

A JSON endpoint refuses another content type with 415 before reading anything (a web page
can POST ``text/plain`` to a local server without asking: docs/reliability.md), a body over the
server's limit with 413, and malformed JSON or a schema violation with 422 naming the
field (``records[3].epoch``). Integers keep their exact value (one beyond 64 bits is then
refused by the checks behind, naming its field, as locally). Bodies are read in the event
loop and parsed in a worker thread, with the endpoint.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from starlette.requests import Request

from evalyard.server.errors import BodyTooLargeError, RequestBodyError, UnsupportedMediaTypeError

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "FORM_MEDIA_TYPE",
    "JSON_MEDIA_TYPE",
    "field_path",
    "parse_json",
    "read_body",
    "validator",
    "whole_numbers",
]

#: The largest request body the server accepts unless told otherwise, in bytes.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
JSON_MEDIA_TYPE = "application/json"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, *, media_type: str | tuple[str, ...], limit: int) -> bytes:
    """The request's body, refused with 415 for another media type (or one of several) and
    413 over ``limit``.

    An empty body is accepted without a content type (``POST /runs/{id}/reopen``).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(limit, int(declared))
    got = _media_type(request)
    taken = (media_type,) if isinstance(media_type, str) else media_type
    if got not in taken and not (JSON_MEDIA_TYPE in taken and got.endswith("+json")):
        if declared == "0" or (declared is None and not got):
            return b""
        raise UnsupportedMediaTypeError(
            f"this endpoint takes {' or '.join(taken)}, not "
            f"{got or 'a body without a content type'}"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _integer_only(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else (kinds or [])
    if "integer" in kinds and "number" not in kinds:
        return True
    return any(_integer_only(choice) for choice in schema.get("anyOf", ()))


def whole_numbers(schema: Any, data: Any) -> Any:
    """``data`` with each whole number sent as a float (``3.0``) made an int where
    ``schema`` documents an integer: JSON does not tell ``3`` from ``3.0``, and neither does
    the schema, so neither does evalyard. Other values are left as they are."""
    if not isinstance(schema, dict):
        return data
    if type(data) is float and data.is_integer() and _integer_only(schema):
        return int(data)
    if isinstance(data, dict):
        properties = schema.get("properties", {})
        others = schema.get("additionalProperties")
        changed = {}
        for key, value in data.items():
            inner = properties.get(key, others)
            changed[key] = whole_numbers(inner, value) if isinstance(inner, dict) else value
        return changed
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [whole_numbers(schema["items"], value) for value in data]
    return data


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of bodies for ``schema`` (JSON Schema 2020-12, as in OpenAPI 3.1)."""
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def field_path(path: Iterable[Any]) -> str:
    """``["records", 3, "epoch"]`` → ``records[3].epoch``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _where(error: ValidationError) -> str | None:
    path = deque(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in error.validator_value if name not in instance]
        if missing:
            path.append(missing[0])
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = error.schema.get("properties", {})
        extra = sorted(str(name) for name in instance if name not in allowed)
        if extra:
            path.append(extra[0])
    return field_path(path) or None


# orjson reads an integer beyond 64 bits as a float, silently. Any such integer has 19
# digits or more: only a body holding such a run of digits is read again, exactly.
_LONG_DIGITS = re.compile(rb"\d{19}")
# Beyond this many digits an integer is refused anyway; past ~4300 Python would not even
# convert it. Stand-in: an integer still far out of range (and beyond any float).
_MAX_DIGITS = 400
_HUGE: int = 10**_MAX_DIGITS


def _exact_int(text: str) -> int:
    if len(text) <= _MAX_DIGITS:
        return int(text)
    return -_HUGE if text.startswith("-") else _HUGE


def parse_json(raw: bytes, check: Draft202012Validator | None = None) -> Any:
    """The JSON of a request body, checked against a schema.

    Raises:
        RequestBodyError: for malformed JSON or a schema violation, naming the field.
    """
    if not raw:
        raise RequestBodyError("the request body is empty; send a JSON object")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson also refuses an integer beyond a double's range: read it exactly below.
        if _LONG_DIGITS.search(raw) is None:
            raise RequestBodyError(f"the request body is not valid JSON: {exc}") from None
        refused: Exception | None = exc
    else:
        if _LONG_DIGITS.search(raw) is None:
            return _checked(data, check)
        refused = None
    # Read again keeping every integer an integer, so that the checks behind refuse one
    # beyond 64 bits by name, as they do locally. Strict as orjson: no NaN or Infinity.
    try:
        data = json.loads(raw, parse_int=_exact_int, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        if refused is not None:
            raise RequestBodyError(f"the request body is not valid JSON: {refused}") from None
        if isinstance(exc, ValueError):
            raise RequestBodyError(f"the request body is not valid JSON: {exc}") from None
        # Nested too deep for Python's reader: orjson's reading stands, and the depth
        # limit behind refuses the body anyway.
    return _checked(data, check)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _checked(data: Any, check: Draft202012Validator | None) -> Any:
    if check is not None:
        error = next(iter(sorted(check.iter_errors(data), key=_order)), None)
        if error is not None:
            field = _where(error)
            where = f" at {field}" if field else ""
            # The message quotes the value, which may be huge: keep it short.
            said = error.message if len(error.message) <= 300 else error.message[:300] + "…"
            raise RequestBodyError(
                f"the request body does not follow the schema{where}: {said}", field=field
            )
    return data


def _order(error: ValidationError) -> tuple[int, str]:
    return (len(error.absolute_path), str(list(error.absolute_path)))
