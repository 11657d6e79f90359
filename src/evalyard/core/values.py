"""Metric values and JSON fields: what may be stored, and the errors for what may not.

A metric value is a number, a bool (pass/fail) or a string (a category); ``None`` means the
metric is missing. NaN and ±inf are refused with an error that says how to log a missing
score, because a store that keeps them silently corrupts every aggregate after it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
import orjson

from evalyard.core.ids import NOT_UNICODE, canonical_json, check_name, is_valid_unicode
from evalyard.core.model import MetricKind
from evalyard.errors import InvalidInputError, InvalidMetricError, InvalidRecordError

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_JSON_INT",
    "MAX_STRING_METRIC_LENGTH",
    "MIN_JSON_INT",
    "NO_METRICS",
    "Checked",
    "check_metric_value",
    "check_metrics",
    "check_run_metadata",
    "dump_json_field",
    "dump_metrics",
]

#: The longest string a category metric may hold, in characters.
MAX_STRING_METRIC_LENGTH = 1000
#: The deepest nesting of lists and dicts a field of a result may hold. Deeper JSON can be
#: written but not read back by every JSON library (some stop at 255 levels), so it is
#: refused when logged, the same on every store and through the team server.
MAX_JSON_DEPTH = 200

#: The integers a JSON field or run metadata keeps exactly: those of 64 bits, signed or
#: not, which every store, the team server and its clients read back as the same integer.
#: Larger ones are refused by name rather than turned into floats on the way.
MIN_JSON_INT = -(2**63)
MAX_JSON_INT = 2**64 - 1
# Any integer outside that range has 19 digits or more (JSON writes them in ASCII digits);
# text without such a run of digits holds none, so the common case never walks the value.
# The runs are matched from the start with possessive repeats, so each character is looked
# at once: a search for 19 digits starts again at every digit of the long fractions that
# floats written as text have (log-likelihoods), which made it most of the cost of checking
# a record.
_SHORT_DIGIT_RUNS = re.compile(r"(?:[^0-9]++|[0-9]{1,18}+(?![0-9]))*+")


def _has_long_digits(text: str) -> bool:
    """Whether ``text`` holds a run of 19 or more ASCII digits."""
    found = _SHORT_DIGIT_RUNS.match(text)
    return found is None or found.end() != len(text)


MetricValue = float | str | None
"""A stored metric value: bools and numbers as floats (bools as 0.0/1.0), categories as str."""

_NAME_CACHE: set[str] = set()


def _where(datapoint_id: str | None, step: str | None) -> str:
    parts = []
    if step is not None:
        parts.append(f"step {step!r}")
    if datapoint_id is not None:
        parts.append(f"datapoint {datapoint_id!r}")
    return (" on " + " of ".join(parts)) if parts else ""


def check_metric_value(
    name: str, value: Any, *, datapoint_id: str | None = None, step: str | None = None
) -> tuple[MetricKind, MetricValue]:
    """Return the kind and stored form of one metric value, or raise InvalidMetricError."""
    if value is None:
        return MetricKind.NUMBER, None
    if isinstance(value, bool):
        return MetricKind.BOOL, 1.0 if value else 0.0
    if isinstance(value, float | int) or (
        isinstance(value, Real | Integral) and not isinstance(value, bool)
    ):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf if value > 0 else -math.inf  # type: ignore[operator]
        if not math.isfinite(number):
            label = "NaN" if math.isnan(number) else ("inf" if number > 0 else "-inf")
            raise InvalidMetricError(
                f"metric {name!r}{_where(datapoint_id, step)} is {label}; "
                "log None for a missing score",
                metric=name,
                datapoint_id=datapoint_id,
                step=step,
            )
        return MetricKind.NUMBER, number
    if isinstance(value, str):
        if len(value) > MAX_STRING_METRIC_LENGTH:
            raise InvalidMetricError(
                f"metric {name!r}{_where(datapoint_id, step)} is a string of {len(value)} "
                f"characters; a category metric holds at most {MAX_STRING_METRIC_LENGTH}",
                metric=name,
                datapoint_id=datapoint_id,
                step=step,
            )
        if not is_valid_unicode(value):
            raise InvalidMetricError(
                f"metric {name!r}{_where(datapoint_id, step)} cannot be stored: {NOT_UNICODE}",
                metric=name,
                datapoint_id=datapoint_id,
                step=step,
            )
        return MetricKind.STRING, value
    if isinstance(value, np.bool_):
        return MetricKind.BOOL, 1.0 if bool(value) else 0.0
    raise InvalidMetricError(
        f"metric {name!r}{_where(datapoint_id, step)} is a {type(value).__name__}; "
        "a metric is a number, a bool, a string or None",
        metric=name,
        datapoint_id=datapoint_id,
        step=step,
    )


Checked = tuple[dict[str, float | str], tuple[tuple[str, MetricKind], ...]]
"""Checked metrics: ``{name: value}`` (bools as 0.0/1.0), and the (name, kind) of each
metric that is not a plain number (usually none, which keeps the common case fast)."""

NO_METRICS: Checked = ({}, ())


def check_metrics(
    metrics: Any, *, datapoint_id: str | None = None, step: str | None = None
) -> Checked:
    """Check a ``{name: value}`` mapping of metrics; missing values (None) are dropped."""
    if metrics is None:
        return NO_METRICS
    if not isinstance(metrics, dict):
        raise InvalidRecordError(
            f"metrics{_where(datapoint_id, step)} must be a dict of name to value, "
            f"not {type(metrics).__name__}",
            field="metrics",
            datapoint_id=datapoint_id,
        )
    values: dict[str, float | str] = {}
    special: tuple[tuple[str, MetricKind], ...] = ()
    for name, value in metrics.items():
        if name not in _NAME_CACHE:
            try:
                check_name(name, what="metric name")
            except InvalidInputError as exc:
                raise InvalidMetricError(
                    f"{exc}{_where(datapoint_id, step)}",
                    metric=str(name)[:40],
                    datapoint_id=datapoint_id,
                    step=step,
                ) from None
            if len(_NAME_CACHE) < 10_000:
                _NAME_CACHE.add(name)
        if type(value) is float and value - value == 0.0:  # finite: the fast path
            values[name] = value
            continue
        kind, stored = check_metric_value(name, value, datapoint_id=datapoint_id, step=step)
        if stored is None:
            continue
        values[name] = stored
        if kind is not MetricKind.NUMBER:
            special += ((name, kind),)
    return values, special


def _plain(value: Any) -> Any:
    # numpy scalars and arrays (common in outputs and metrics) become Python values.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_ENCODE = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_plain
).encode


def dump_json_field(
    value: Any, *, field: str, datapoint_id: str | None, limit: int, index: int | None = None
) -> str | None:
    """Serialise one field of a result to JSON text, bounded in size; None stays None.

    Raises:
        InvalidRecordError: when the value is not JSON data, holds NaN/inf, or is too large.
    """
    if value is None:
        return None
    try:
        text = _ENCODE(value)
    except RecursionError:
        raise _too_deep(field, datapoint_id, index) from None
    except (TypeError, ValueError) as exc:
        huge = _int_out_of_range(value, field)  # too many digits even to be written
        if huge is not None:
            raise _int_too_large(huge, datapoint_id, index) from None
        raise InvalidRecordError(
            f"{field} of datapoint {datapoint_id!r} cannot be stored as JSON: {exc}; "
            "convert it to strings, numbers, lists and dicts first",
            field=field,
            datapoint_id=datapoint_id,
            index=index,
        ) from None
    if not is_valid_unicode(text):
        raise InvalidRecordError(
            f"{field} of datapoint {datapoint_id!r} cannot be stored: {NOT_UNICODE}",
            field=field,
            datapoint_id=datapoint_id,
            index=index,
        )
    if _has_long_digits(text):
        found = _int_out_of_range(value, field)
        if found is not None:
            raise _int_too_large(found, datapoint_id, index)
    # Nesting needs an opening bracket per level: few brackets, no need to look closer.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _deeper_than(value, MAX_JSON_DEPTH):
        raise _too_deep(field, datapoint_id, index)
    if len(text) > limit // 4 and len(text.encode("utf-8")) > limit:
        raise InvalidRecordError(
            f"{field} of datapoint {datapoint_id!r} is {len(text.encode('utf-8')):,} bytes "
            f"of JSON; the limit is {limit:,} (set EVALYARD_MAX_FIELD_BYTES to change it)",
            field=field,
            datapoint_id=datapoint_id,
            index=index,
        )
    return text


def check_run_metadata(metadata: Any) -> dict[str, Any]:
    """Return a run's metadata as a dict of JSON data (None: empty), or raise a clear error.

    The same rules as a result's fields: JSON data, no NaN or inf, valid Unicode, and no
    deeper than :data:`MAX_JSON_DEPTH` levels, so every surface can read it back.

    Raises:
        InvalidInputError: naming what is wrong.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(
            f"run metadata must be a dict of JSON data, not {type(metadata).__name__}"
        )
    value = dict(metadata)
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise InvalidInputError(
            f"run metadata nests lists and dicts more than {MAX_JSON_DEPTH} levels deep; "
            "flatten it, or store the deep part as a string"
        )
    try:
        text = canonical_json(value)
    except (TypeError, ValueError) as exc:
        huge = _int_out_of_range(value, "metadata")  # too many digits even to be written
        if huge is not None:
            raise InvalidInputError(f"run {huge} {_INT_TOO_LARGE}") from None
        raise InvalidInputError(f"run metadata must be JSON data: {exc}") from None
    if _has_long_digits(text):
        found = _int_out_of_range(value, "metadata")
        if found is not None:
            raise InvalidInputError(f"run {found} {_INT_TOO_LARGE}")
    return value


_INT_TOO_LARGE = (
    "is an integer outside -2**63..2**64-1 (64 bits), which evalyard "
    "cannot keep exactly on every store and through a team server; store it as a string"
)


def _int_too_large(path: str, datapoint_id: str | None, index: int | None) -> InvalidRecordError:
    return InvalidRecordError(
        f"{path} of datapoint {datapoint_id!r} {_INT_TOO_LARGE}",
        field=path,
        datapoint_id=datapoint_id,
        index=index,
    )


def _int_out_of_range(value: Any, root: str) -> str | None:
    """The path (``inputs.ids[3]``) of the first integer in ``value`` outside 64 bits."""
    pending: list[tuple[Any, str]] = [(value, root)]
    while pending:
        item, path = pending.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not MIN_JSON_INT <= item <= MAX_JSON_INT:
                return path
        elif isinstance(item, Mapping):
            pending.extend((child, f"{path}.{key}") for key, child in reversed(list(item.items())))
        elif isinstance(item, list | tuple):
            pending.extend((child, f"{path}[{i}]") for i, child in reversed(list(enumerate(item))))
        elif hasattr(item, "tolist") and not isinstance(item, float | str):
            pending.append((item.tolist(), path))
    return None


def _too_deep(field: str, datapoint_id: str | None, index: int | None) -> InvalidRecordError:
    return InvalidRecordError(
        f"{field} of datapoint {datapoint_id!r} nests lists and dicts more than "
        f"{MAX_JSON_DEPTH} levels deep; flatten it, or store the deep part as a string",
        field=field,
        datapoint_id=datapoint_id,
        index=index,
    )


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and dicts nest in ``value`` more than ``limit`` levels (no recursion)."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def dump_metrics(checked: Checked) -> str | None:
    """JSON text of metrics checked by :func:`check_metrics` (finite, bools restored)."""
    values, special = checked
    if not values:
        return None
    if special:
        values = dict(values)
        for name, kind in special:
            if kind is MetricKind.BOOL:
                values[name] = bool(values[name])
    return orjson.dumps(values).decode("utf-8")
