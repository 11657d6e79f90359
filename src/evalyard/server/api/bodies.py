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
from collections.abc import Callable, Iterable
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
    the schema, so neither does evalyard. Other values are left as they are.

    The places of ``schema`` that can hold such an integer are found once per schema
    (:func:`_converter`), so a body is only visited where a change is possible: a batch's
    records are looked at in three keys each, not in every value.
    """
    convert = _converter(schema)
    return data if convert is None else convert(data)


Converter = Callable[[Any], Any]
# Per schema (by identity, the schema kept alive beside): its converter, or None. The
# schemas are the API's constants; a schema is not to change once used.
_CONVERTERS: dict[int, tuple[Any, Converter | None]] = {}
_MAX_CONVERTERS = 4096


def _converter(schema: Any) -> Converter | None:
    """What :func:`whole_numbers` does to a value of ``schema``, or None where it never
    changes anything (no integer-only schema below: only ``properties``,
    ``additionalProperties`` and ``items`` are followed, never a ``$ref``)."""
    found = _CONVERTERS.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    convert = _compile(schema)
    if len(_CONVERTERS) >= _MAX_CONVERTERS:
        _CONVERTERS.clear()  # schemas made on the fly, by the thousand: none kept for ever
    _CONVERTERS[id(schema)] = (schema, convert)
    return convert


def _whole(data: Any) -> Any:
    """A whole float as an int, anything else as it is: the converter of an integer."""
    return int(data) if type(data) is float and data.is_integer() else data


def _compile(schema: Any) -> Converter | None:
    if not isinstance(schema, dict):
        return None
    integer = _integer_only(schema)
    properties = schema.get("properties", {})
    named = {key: _converter(inner) for key, inner in properties.items()}
    changing = {key: convert for key, convert in named.items() if convert is not None}
    others = _converter(schema.get("additionalProperties"))
    items = _converter(schema["items"]) if isinstance(schema.get("items"), dict) else None
    if not (integer or changing or others or items):
        return None
    if not (changing or others or items):
        return _whole
    # Keys holding an integer, looked at in place (a batch's records: three keys each).
    leaves = tuple(key for key, convert in changing.items() if convert is _whole)
    inner = {key: convert for key, convert in changing.items() if convert is not _whole}

    def convert(data: Any) -> Any:
        if type(data) is float:
            return int(data) if integer and data.is_integer() else data
        if isinstance(data, dict):
            if others is None:
                return _converted_keys(data, leaves, inner)
            return _converted_object(data, named, changing, others)
        if isinstance(data, list) and items is not None:
            return [items(value) for value in data]
        return data

    return convert


def _converted_keys(
    data: dict[Any, Any], leaves: tuple[str, ...], inner: dict[str, Converter]
) -> dict[Any, Any]:
    """``data`` with the integers at ``leaves`` and the values at ``inner`` converted (no
    other key can change); a copy only when a value changes."""
    changed: dict[Any, Any] | None = None
    for key in leaves:
        value = data.get(key)
        if type(value) is float and value.is_integer():
            if changed is None:
                changed = dict(data)
            changed[key] = int(value)
    for key, convert in inner.items():
        if key in data:
            value = data[key]
            new = convert(value)
            if new is not value:
                if changed is None:
                    changed = dict(data)
                changed[key] = new
    return data if changed is None else changed


def _converted_object(
    data: dict[Any, Any],
    named: dict[str, Converter | None],
    changing: dict[str, Converter],
    others: Converter,
) -> dict[Any, Any]:
    """``data`` with its values converted: a named key by its own schema, any other key by
    ``additionalProperties``; a copy only when a value changes."""
    changed: dict[Any, Any] | None = None
    for key, value in data.items():
        convert = changing.get(key) if key in named else others
        if convert is None:
            continue
        new = convert(value)
        if new is not value:
            if changed is None:
                changed = dict(data)
            changed[key] = new
    return data if changed is None else changed


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
# The same question asked of a body orjson has read, faster and more narrowly: each byte
# mapped to "0" (a digit), "." (a point) or " " (anything else), then the result searched
# for 19 digits that follow anything but a digit or a point. The digits of an integer
# never follow a point; those of a fraction do (0.0012345678901234567 is a float, which
# orjson reads exactly already). So every integer of 19 digits or more is still found,
# more than ten times faster than by the regular expression above. Each one found is
# then read: one within 64 bits (a nanosecond timestamp, a 64-bit hash) orjson has read
# exactly too, and only one beyond has the body read again.
_DIGIT_CLASSES = bytes(
    ord("0") if byte in b"0123456789" else byte if byte == ord(".") else ord(" ")
    for byte in range(256)
)
_RUN = b"0" * 19
_RUN_AFTER_OTHER = b" " + _RUN
_DIGITS = re.compile(rb"[0-9]+")
_MAX_UNSIGNED = 2**64 - 1
_MAX_NEGATED = 2**63


def _may_hold_long_integer(raw: bytes) -> bool:
    """Whether ``raw`` may hold an integer literal beyond 64 bits (-2**63 to 2**64-1):
    never a false no; a yes for a long run of digits in a string, say, costs a second
    reading only."""
    classes = raw.translate(_DIGIT_CLASSES)
    at = 0 if classes.startswith(_RUN) else _next_run(classes, 0)
    while at >= 0:
        digits = _DIGITS.match(raw, at)
        assert digits is not None  # at a digit
        text = digits.group()
        # A JSON integer has no leading zeros: past 20 digits it is beyond 64 bits.
        if len(text) > 20:
            return True
        negative = raw[at - 1 : at] == b"-"
        if int(text) > (_MAX_NEGATED if negative else _MAX_UNSIGNED):
            return True
        at = _next_run(classes, digits.end())
    return False


def _next_run(classes: bytes, start: int) -> int:
    """Where the next run of 19 digits or more after a non-digit, non-point byte begins,
    from ``start`` on; -1 when there is none."""
    found = classes.find(_RUN_AFTER_OTHER, start)
    return -1 if found < 0 else found + 1


# Beyond this many digits an integer is refused anyway; past ~4300 Python would not even
# convert it. Stand-in: an integer still far out of range (and beyond any float).
_MAX_DIGITS = 400
_HUGE: int = 10**_MAX_DIGITS


def _exact_int(text: str) -> int:
    if len(text) <= _MAX_DIGITS:
        return int(text)
    return -_HUGE if text.startswith("-") else _HUGE


def parse_json(
    raw: bytes, check: Draft202012Validator | None = None, *, objects: str | None = None
) -> Any:
    """The JSON of a request body, checked against a schema.

    ``objects`` names a list of the body whose items the schema asks only to be objects
    (a batch's ``records``, each checked in full behind). When every item is one, the
    validator is shown the body with that list empty: it finds the same errors (none
    among the items) without visiting thousands of items, one by one, at a few
    microseconds each. Otherwise it sees the whole body, and names the first item
    that is not an object.

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
        if not _may_hold_long_integer(raw):
            return _checked(data, check, objects)
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
    return _checked(data, check, objects)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _checked(data: Any, check: Draft202012Validator | None, objects: str | None) -> Any:
    if check is not None:
        shown = data
        if objects is not None and type(data) is dict:
            items = data.get(objects)
            if type(items) is list and all(type(item) is dict for item in items):
                shown = {**data, objects: []}
        error = next(iter(sorted(check.iter_errors(shown), key=_order)), None)
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
