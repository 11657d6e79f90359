"""Ids and names: validation, and datapoint ids derived from content (docs/comparison.md §1).

A datapoint id a user gives is used as is. Otherwise it is derived from the datapoint's
content (its inputs and ground truth), never from its position, so re-ordering or extending
a dataset keeps the ids of unchanged datapoints.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from evalyard.errors import InvalidInputError, InvalidRecordError

__all__ = [
    "MAX_DATAPOINT_ID_LENGTH",
    "MAX_INTEGER_ID",
    "MAX_NAME_LENGTH",
    "MAX_RUN_ID_LENGTH",
    "NOT_UNICODE",
    "canonical_json",
    "check_datapoint_id",
    "check_name",
    "check_run_id",
    "derive_datapoint_id",
    "is_valid_unicode",
    "natural_key",
    "natural_sorted",
]

#: The longest datapoint id evalyard stores, in characters.
MAX_DATAPOINT_ID_LENGTH = 512
#: The longest run, project, metric or step name, in characters.
MAX_NAME_LENGTH = 200
#: The longest run id a caller may give, in characters (generated ids are 32).
MAX_RUN_ID_LENGTH = 64
#: The largest whole number taken as a datapoint id (either sign): 2**53 - 1, the largest
#: integer every JSON reader keeps exactly.
MAX_INTEGER_ID = 2**53 - 1

# Control characters are refused in ids and names: they break terminals, CSV and the
# newline-separated id columns of the store, and PostgreSQL cannot hold NUL in text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters that hide or reorder text: zero-width ones and direction controls. An id or a
# name holding one can print exactly like another (a spoofed run name, look-alike ids).
_SURROGATE = re.compile("[\ud800-\udfff]")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_DIGITS = re.compile(r"(\d+)")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal data gives equal text.

    Raises:
        TypeError, ValueError: when ``value`` is not JSON data (or holds NaN/inf, or text
            that is not valid Unicode).
    """
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    if not is_valid_unicode(text):
        raise ValueError(NOT_UNICODE)
    return text


#: Why text holding a lone surrogate is refused (said the same way everywhere).
NOT_UNICODE = (
    "it holds text that is not valid Unicode (a lone surrogate, as left by bytes decoded "
    "with errors='surrogateescape'); decode the bytes properly or replace those characters"
)


def is_valid_unicode(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: it holds no lone surrogate."""
    return text.isascii() or not _SURROGATE.search(text)


def derive_datapoint_id(inputs: Any, ground_truth: Any = None) -> str:
    """The id of a datapoint that has none: a hash of its canonical inputs and ground truth.

    Raises:
        InvalidRecordError: when the inputs or ground truth are not JSON data.
    """
    try:
        text = canonical_json({"inputs": inputs, "ground_truth": ground_truth})
    except (TypeError, ValueError) as exc:
        raise InvalidRecordError(
            f"cannot derive a datapoint id: inputs or ground truth are not JSON data ({exc}); "
            "give the record an 'id'",
            field="inputs",
        ) from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def check_datapoint_id(value: Any, *, index: int | None = None) -> str:
    """Return ``value`` as a datapoint id, or raise a clear error.

    Whole numbers are accepted and turned into their decimal text.
    """
    if (
        type(value) is str
        and 0 < len(value) <= MAX_DATAPOINT_ID_LENGTH
        and value.isascii()
        and value[0] != " "
        and value[-1] != " "
        and not _CONTROL.search(value)
    ):
        return value  # the common case, checked in one pass
    where = f" (record {index})" if index is not None else ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidRecordError(
            f"datapoint id{where} must be a string, not {type(value).__name__}",
            field="datapoint_id",
            index=index,
        )
    if isinstance(value, int) and not -MAX_INTEGER_ID <= value <= MAX_INTEGER_ID:
        raise InvalidRecordError(
            f"datapoint id{where} {value} is past 2**53; a whole-number id is at most "
            f"{MAX_INTEGER_ID:,} either side of 0 (give a larger one as a string)",
            field="datapoint_id",
            index=index,
        )
    text = _nfc(value) if isinstance(value, str) else str(value)
    if not text:
        raise InvalidRecordError(
            f"datapoint id{where} is empty; give a non-empty id or leave it out to derive one "
            "from the inputs",
            field="datapoint_id",
            index=index,
        )
    if len(text) > MAX_DATAPOINT_ID_LENGTH:
        raise InvalidRecordError(
            f"datapoint id {text[:40]!r}...{where} is {len(text)} characters long; "
            f"the limit is {MAX_DATAPOINT_ID_LENGTH}",
            field="datapoint_id",
            index=index,
        )
    problem = _text_problem(text)
    if problem is not None:
        raise InvalidRecordError(
            f"datapoint id {text!r}{where} {problem}",
            field="datapoint_id",
            index=index,
        )
    return text


def _nfc(text: str) -> str:
    """The text in Unicode's composed form (NFC): ``é`` typed two ways is one id."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _text_problem(text: str) -> str | None:
    """What makes ``text`` unusable as an id or a name, or None."""
    if _CONTROL.search(text):
        return "contains a control character (newline, tab, NUL...)"
    if text != text.strip():
        return "starts or ends with white space"
    if not text.isascii() and _INVISIBLE.search(text):
        return "contains an invisible character (zero-width or a direction control)"
    if not is_valid_unicode(text):
        return "is not valid Unicode (it holds a lone surrogate)"
    return None


def check_name(value: Any, *, what: str) -> str:
    """Return ``value`` as a name (of a run, project, metric or step), or raise a clear error.

    Args:
        value: the name to check.
        what: what the name is for, used in the message ("run name", "metric name"...).
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, not {type(value).__name__}")
    text: str = _nfc(value)
    if not text:
        raise InvalidInputError(f"{what} is empty")
    if len(text) > MAX_NAME_LENGTH:
        raise InvalidInputError(
            f"{what} {text[:40]!r}... is {len(text)} characters long; "
            f"the limit is {MAX_NAME_LENGTH}"
        )
    problem = _text_problem(text)
    if problem is not None:
        raise InvalidInputError(f"{what} {text!r} {problem}")
    return text


def _digits(found: re.Match[str]) -> str:
    run = found.group()
    value = run.lstrip("0") or "0"
    return f"{len(value):03d}{value}{len(run):03d}"


def check_run_id(value: Any) -> str:
    """Return ``value`` as a run id a caller gave, or raise a clear error.

    A run id is a name of at most :data:`MAX_RUN_ID_LENGTH` characters, the same limit on
    every store.
    """
    run_id = check_name(value, what="run id")
    if len(run_id) > MAX_RUN_ID_LENGTH:
        raise InvalidInputError(
            f"run id {run_id[:40]!r}... is {len(run_id)} characters long; the limit is "
            f"{MAX_RUN_ID_LENGTH} (leave it out to have one generated)"
        )
    return run_id


def natural_key(text: str) -> str:
    """A sort key that orders runs of digits by their value: ``q2`` before ``q10``.

    Each run of digits is written as its value's length, the value, then the run's own
    length (``q10`` → ``q00210002``), so runs compare by value whatever their size, and
    ``q1`` comes before ``q01``. A string key sorts fast (about 0.3 s for 100k ids).
    """
    return _DIGITS.sub(_digits, text)


def natural_sorted(ids: Iterable[str]) -> list[str]:
    """Datapoint ids in natural order (see :func:`natural_key`), as people read them."""
    return sorted(ids, key=natural_key)
