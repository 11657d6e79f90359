"""Values in CSV cells: how a cell is read, and how a value is written so it reads back.

An empty cell is None, ``true``/``false`` are bools, numbers are numbers, a cell holding a
JSON object, array or quoted string is that JSON, and anything else is text.
:func:`cell_text` quotes (as a JSON string) the text that would read otherwise, so every
value written by it comes back as it was.

Example:
    >>> [read_cell(c) for c in ["", "true", "3", "0.5", '{"a": 1}', "4 apples"]]
    [None, True, 3, 0.5, {'a': 1}, '4 apples']
    >>> cell_text("3")
    '"3"'
"""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = ["cell_text", "read_cell"]

_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
# No leading zeros: "007" is text (an id, a code), not the number 7.
_FLOAT = re.compile(r"-?((0|[1-9][0-9]*)(\.[0-9]+)?|\.[0-9]+)([eE][-+]?[0-9]+)?")


def read_cell(text: str) -> Any:
    """The value a CSV cell holds."""
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    if _INTEGER.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if text[0] in '{["':
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    return text


def cell_text(value: Any) -> str:
    """A value as a CSV cell that :func:`read_cell` reads back as the same value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value if type(read_cell(value)) is str else orjson.dumps(value).decode("utf-8")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return orjson.dumps(value).decode("utf-8")
