"""User text in the terminal and in Markdown: one line, no control characters, escaped.

Numbers and words come from :mod:`evalyard.core.formats` and :mod:`evalyard.core.words`
(shared with the web pages); this module only makes text that users or models wrote safe
to print: a run named ``\\x1b[31m`` must not recolour a terminal, and a metric named
``a|b`` must not split a Markdown table cell.
"""

from __future__ import annotations

import json
import re
from typing import Any

from evalyard.core.formats import MISSING

__all__ = ["excerpt", "markdown_escape", "printable"]

_WHITESPACE = re.compile(r"\s+")
# C0 and C1 control characters: user text must not move the cursor or recolour a terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def printable(text: str) -> str:
    """User text with control characters shown as ``\\xNN`` escapes, never sent raw."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def excerpt(value: Any, *, width: int = 60) -> str:
    """A one-line excerpt of a value: text as is, other data as compact JSON.

    Whitespace (newlines included) collapses to single spaces; a longer excerpt is cut at
    ``width`` characters and ends with ``…``.
    """
    if value is None:
        return MISSING
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    text = printable(_WHITESPACE.sub(" ", text).strip())
    if len(text) > width:
        return text[: width - 1].rstrip() + "…"
    return text


def markdown_escape(text: str) -> str:
    """User text made safe for a GitHub-flavoured Markdown table cell.

    Newlines become spaces (a table row is one line), ``|`` and Markdown punctuation are
    escaped with a backslash, and ``&``, ``<``, ``>`` become HTML entities so that user
    text cannot open a tag.
    """
    text = printable(_WHITESPACE.sub(" ", text).strip())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
