"""Request bodies read as the API documents them: whole floats made ints only where the
schema has an integer, integers beyond 64 bits found however they are written, and a
batch's envelope checked without visiting each record, naming the same errors."""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest

from evalyard.errors import EvalyardError
from evalyard.server.api import bodies
from evalyard.server.api.bodies import parse_json, validator, whole_numbers
from evalyard.server.api.schemas import (
    BATCH_ENVELOPE,
    METRIC_DEFINITION_BODY,
    RECORD,
    RUN_CREATE,
    RUN_FINISH,
    STEP,
)


def _integer_only(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else (kinds or [])
    if "integer" in kinds and "number" not in kinds:
        return True
    return any(_integer_only(choice) for choice in schema.get("anyOf", ()))


def _spelled_out(schema: Any, data: Any) -> Any:
    """What whole_numbers is to do, said the plain way: visit every value."""
    if not isinstance(schema, dict):
        return data
    if type(data) is float and data.is_integer() and _integer_only(schema):
        return int(data)
    if isinstance(data, dict):
        properties = schema.get("properties", {})
        others = schema.get("additionalProperties")
        out = {}
        for key, value in data.items():
            inner = properties.get(key, others)
            out[key] = _spelled_out(inner, value) if isinstance(inner, dict) else value
        return out
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [_spelled_out(schema["items"], value) for value in data]
    return data


_INTEGER = {"type": "integer"}
_SCHEMAS: list[dict[str, Any]] = [
    RECORD,
    RUN_CREATE,
    RUN_FINISH,
    BATCH_ENVELOPE,
    METRIC_DEFINITION_BODY,
    STEP,
    {"type": "array", "items": RECORD},
    {"type": "object", "additionalProperties": _INTEGER},
    {"type": "object", "properties": {"n": {"type": "number"}}, "additionalProperties": _INTEGER},
    {
        "type": "object",
        "properties": {
            "epoch": _INTEGER,
            "shard": RUN_FINISH["properties"]["shard"],
            "many": {"type": "array", "items": {"anyOf": [{"type": "string"}, _INTEGER]}},
            "deep": {"type": "array", "items": {"type": "array", "items": _INTEGER}},
            "free": {},
        },
    },
]
_KEYS = [
    "epoch",
    "id",
    "datapoint_id",
    "index",
    "count",
    "shard",
    "many",
    "deep",
    "free",
    "n",
    "x",
    "metrics",
    "tolerance",
    "duration_ms",
]


def _value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return float(rng.randrange(-5, 5))
    if choice == 1:
        return rng.randrange(-5, 5) + 0.5
    if choice == 2:
        return rng.randrange(10)
    if choice == 3:
        return rng.choice(["a", True, None, float("inf")])
    if choice == 4:
        return 1e300
    if choice == 5:
        return -0.0
    if choice == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(_KEYS): _value(rng, depth + 1) for _ in range(rng.randrange(5))}


def test_whole_numbers_change_what_visiting_every_value_would_and_nothing_else() -> None:
    rng = random.Random(20261204)
    for _ in range(3000):
        data = _value(rng)
        for schema in _SCHEMAS:
            before = repr(data)
            got = whole_numbers(schema, data)
            want = _spelled_out(schema, data)
            assert repr(got) == repr(want), (schema, data)
            assert repr(data) == before  # the given data is never changed in place


def test_whole_numbers_of_a_batch_touch_only_ids_and_epochs() -> None:
    records = [
        {"id": 7.0, "epoch": 2.0, "metrics": {"m": 1.0}, "inputs": {"epoch": 1.0}},
        {"datapoint_id": "a", "epoch": 0.5, "duration_ms": 3.0},
        {"id": "b"},
    ]
    got = whole_numbers({"type": "array", "items": RECORD}, records)
    assert repr(got) == repr(
        [
            {"id": 7, "epoch": 2, "metrics": {"m": 1.0}, "inputs": {"epoch": 1.0}},
            {"datapoint_id": "a", "epoch": 0.5, "duration_ms": 3.0},
            {"id": "b"},
        ]
    )
    # Unchanged records are not copied.
    assert got[1] is records[1]
    assert got[2] is records[2]


def _body_with(number: str, where: int) -> bytes:
    spots = [
        f"{number}",
        f'{{"a": {number}}}',
        f'{{"a": [1, {number}]}}',
        f'{{"a":[{number}]}}',
        f'{{"a":\n\t{number} }}',
        f'{{"a": {{"b": -{number}}}}}',
        f'{{"s": "x.5", "a": [0.25,{number}]}}',
    ]
    return spots[where % len(spots)].encode()


def _huge(text: str) -> int | str:
    if len(text) <= 400:
        return int(text)
    return "-huge" if text.startswith("-") else "huge"


def _marked(data: Any) -> Any:
    """``data`` with each integer beyond any float said as "huge" (or "-huge")."""
    if isinstance(data, dict):
        return {key: _marked(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_marked(value) for value in data]
    if type(data) is int and abs(data) >= 10**400:
        return "-huge" if data < 0 else "huge"
    return data


@pytest.mark.parametrize("where", range(7))
@pytest.mark.parametrize(
    "number",
    [
        "18446744073709551616",
        "18446744073709551615",
        "9223372036854775808",
        "9223372036854775809",
        "1" + "0" * 25,
        "9" * 500,
        "1234567890123456789",
        "99999999999999999999",
    ],
)
def test_every_integer_of_19_digits_or_more_is_read_exactly(number: str, where: int) -> None:
    raw = _body_with(number, where)
    exact = json.loads(raw, parse_int=_huge)
    assert repr(_marked(parse_json(raw))) == repr(exact)
    # Read a second time only for an integer beyond 64 bits: orjson reads the others.
    value = _first_int(json.loads(raw))
    beyond = not -(2**63) <= value <= 2**64 - 1
    assert bodies._may_hold_long_integer(raw) is beyond


def _first_int(data: Any) -> int:
    """The integer of a body of :func:`_body_with` (its last value, wherever it is)."""
    while not isinstance(data, int):
        data = list(data.values())[-1] if isinstance(data, dict) else data[-1]
    return data


def test_a_run_of_digits_beyond_64_bits_anywhere_has_the_body_read_again() -> None:
    for raw in [
        b'{"a": [1, 2, 18446744073709551615, 3, 18446744073709551616]}',
        b'{"a": [-9223372036854775808, -9223372036854775809]}',
        b'{"s": "18446744073709551616"}',  # in text: read again, the same
        b'{"s": "000000000000000000000001"}',
    ]:
        assert bodies._may_hold_long_integer(raw), raw
    for raw in [
        b'{"a": [18446744073709551615, -9223372036854775808, 1234567890123456789]}',
        b'{"a": 0.00000000000000000000000001, "b": 1.0000000000000000000000001e5}',
        b"[1e000000000000000005]",
    ]:
        assert not bodies._may_hold_long_integer(raw), raw
        assert parse_json(raw) == json.loads(raw)


def test_long_fractions_and_short_integers_are_not_read_twice_and_read_the_same() -> None:
    rng = random.Random(7)
    numbers = [
        0.0012345678901234567,
        0.00010309278350515464,
        1.2345678901234567e-5,
        123456789012345678.0,
        -0.0001234567890123456,
    ]
    numbers += [rng.random() / 10 ** rng.randrange(1, 12) for _ in range(2000)]
    raw = orjson.dumps({"m": numbers, "n": [2**53 + 1, -(2**59), 10**17]})
    assert bodies._LONG_DIGITS.search(raw) is not None  # the old scan read these again
    assert not bodies._may_hold_long_integer(raw)
    assert parse_json(raw) == json.loads(raw)
    assert [repr(x) for x in parse_json(raw)["m"]] == [repr(x) for x in numbers]


def test_a_long_run_of_digits_in_text_is_read_the_same_too() -> None:
    raw = b'{"note": "id 12345678901234567890123", "v": 1.5}'
    assert bodies._may_hold_long_integer(raw)
    assert parse_json(raw) == {"note": "id 12345678901234567890123", "v": 1.5}


_CHECK = validator(BATCH_ENVELOPE)


def _refusal(raw: bytes, **options: Any) -> tuple[str, str | None]:
    with pytest.raises(EvalyardError) as refused:
        parse_json(raw, _CHECK, **options)
    return str(refused.value), getattr(refused.value, "field", None)


@pytest.mark.parametrize(
    "body",
    [
        {"idempotency_key": "k" * 8, "records": [{"id": "a"}, 5, {"id": "b"}]},
        {"idempotency_key": "k" * 8, "records": [{"id": "a"}, [], "x"]},
        {"idempotency_key": "k" * 8, "records": {"id": "a"}},
        {"idempotency_key": "k" * 8, "records": None},
        {"idempotency_key": "k" * 8, "records": [{"id": "a"}], "extra": 1},
        {"idempotency_key": "short", "records": [{"id": "a"}]},
        {"idempotency_key": "bad key!", "records": [{}, {}]},
        {"records": [{"id": "a"}]},
        {"idempotency_key": "k" * 8},
        {},
        [{"id": "a"}],
        "records",
        {"idempotency_key": 12345678, "records": [{"id": "a"}, 3]},
    ],
)
def test_a_batch_envelope_is_refused_as_before_with_its_records_seen_or_not(body: Any) -> None:
    raw = orjson.dumps(body)
    message, field = _refusal(raw, objects="records")
    assert (message, field) == _refusal(raw)
    assert message.startswith("the request body does not follow the schema")


def test_a_batch_of_objects_passes_the_envelope_and_is_given_back_whole() -> None:
    body = {"idempotency_key": "k" * 8, "records": [{"id": str(i)} for i in range(100)]}
    assert parse_json(orjson.dumps(body), _CHECK, objects="records") == body
