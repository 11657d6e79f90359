"""Logged values as text for the pages: pretty-printed JSON, one-line JSON, clipping (pure).

Numbers, rates, p-values and times are written by :mod:`evalyard.core.formats`, as on
every surface; this module only turns what users and models logged into plain text, which
the templates then escape.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["clip", "compact_json", "value_text"]


def value_text(value: Any) -> str:
    """A logged value as text: a string as is, anything else as pretty-printed JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def compact_json(value: Any) -> str:
    """A logged value as one line of JSON (for table cells); None as empty text."""
    if value is None:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    except (TypeError, ValueError):
        return repr(value)


def clip(text: str, limit: int) -> tuple[str, bool]:
    """The first ``limit`` characters of ``text``, and whether anything was cut."""
    if len(text) <= limit:
        return text, False
    return text[:limit].rstrip() + "…", True
