from __future__ import annotations

import pytest

from evalyard.core.ids import (
    check_datapoint_id,
    check_name,
    derive_datapoint_id,
    natural_sorted,
)
from evalyard.errors import InvalidInputError, InvalidRecordError


def test_derived_id_depends_on_content_not_position() -> None:
    first = derive_datapoint_id({"question": "2+2?"}, "4")
    assert first == derive_datapoint_id({"question": "2+2?"}, "4")
    assert first != derive_datapoint_id({"question": "2+3?"}, "4")
    assert first != derive_datapoint_id({"question": "2+2?"}, "5")


def test_derived_id_ignores_key_order() -> None:
    assert derive_datapoint_id({"a": 1, "b": [1, 2]}) == derive_datapoint_id({"b": [1, 2], "a": 1})


def test_derived_id_refuses_data_that_is_not_json() -> None:
    with pytest.raises(InvalidRecordError, match="not JSON data"):
        derive_datapoint_id({"x": object()})


def test_given_ids_are_kept_as_is_and_whole_numbers_become_text() -> None:
    assert check_datapoint_id("q 1") == "q 1"
    assert check_datapoint_id("naïve/☃") == "naïve/☃"
    assert check_datapoint_id(42) == "42"


def test_an_id_or_name_typed_two_ways_is_one_text() -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert check_datapoint_id(decomposed) == composed
    assert check_name(decomposed, what="run name") == composed


@pytest.mark.parametrize(
    "value",
    [" q1", "q1 ", "q\u200b1", "\u202eq1", "q1\ufeff", "\u2066q\u2069", "q\u200d1"],
)
def test_ids_and_names_that_hide_or_pad_text_are_refused(value: str) -> None:
    with pytest.raises(InvalidRecordError, match=r"white space|invisible character"):
        check_datapoint_id(value)
    with pytest.raises(InvalidInputError, match=r"white space|invisible character"):
        check_name(value, what="run name")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "is empty"),
        ("x" * 513, "the limit is 512"),
        ("a\nb", "control character"),
        ("a\x00b", "control character"),
        (True, "must be a string"),
        (1.5, "must be a string"),
    ],
)
def test_bad_datapoint_ids_are_refused_with_a_clear_message(value: object, message: str) -> None:
    with pytest.raises(InvalidRecordError, match=message) as caught:
        check_datapoint_id(value, index=3)
    assert caught.value.field == "datapoint_id"
    assert caught.value.index == 3


def test_names_are_checked() -> None:
    assert check_name("gpt-4o temp 0.3", what="run name") == "gpt-4o temp 0.3"
    with pytest.raises(InvalidInputError, match="run name is empty"):
        check_name("", what="run name")
    with pytest.raises(InvalidInputError, match="characters long"):
        check_name("n" * 201, what="metric name")
    with pytest.raises(InvalidInputError, match="control character"):
        check_name("a\tb", what="step name")


def test_natural_order_reads_numbers_by_value() -> None:
    ids = ["q10", "q2", "q1", "q01", "a", "b2c10", "b2c9", "10", "9", "x" + "9" * 30, "x1"]
    assert natural_sorted(ids) == [
        "9", "10", "a", "b2c9", "b2c10", "q1", "q01", "q2", "q10", "x1", "x" + "9" * 30,
    ]  # fmt: skip
