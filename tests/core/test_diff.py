"""Output diffs: word level for text, line level for JSON, bounded in size and time."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from evalyard.core.diff import (
    LINE_LIMIT,
    WORD_TOKEN_LIMIT,
    DiffLevel,
    diff_texts,
    diff_values,
)


def _sides(old: str, new: str) -> tuple[str, str]:
    d = diff_texts(old, new)
    return "".join(s.text for s in d.old_segments), "".join(s.text for s in d.new_segments)


def test_text_is_diffed_word_by_word() -> None:
    d = diff_values("the cat sat on the mat", "the dog sat on the mat")
    assert d.level is DiffLevel.WORD
    assert [(s.op, s.text) for s in d.segments] == [
        ("equal", "the "),
        ("delete", "cat"),
        ("insert", "dog"),
        ("equal", " sat on the mat"),
    ]


def test_an_unchanged_last_word_is_never_marked() -> None:
    grown = diff_values("the cat sat", "the cat sat down")
    assert [(s.op, s.text) for s in grown.segments] == [
        ("equal", "the cat sat"),
        ("insert", " down"),
    ]
    words = diff_values("is 8 because we", "is 9 since we")
    assert [(s.op, s.text) for s in words.segments] == [
        ("equal", "is "),
        ("delete", "8 because"),
        ("insert", "9 since"),
        ("equal", " we"),
    ]
    shrunk = diff_values("answer: 42 apples", "answer: 41 apples")
    assert [(s.op, s.text) for s in shrunk.segments] == [
        ("equal", "answer: "),
        ("delete", "42"),
        ("insert", "41"),
        ("equal", " apples"),
    ]


def test_json_is_pretty_printed_and_diffed_line_by_line() -> None:
    d = diff_values({"answer": "4", "sources": [1, 2]}, {"answer": "5", "sources": [1, 2]})
    assert d.level is DiffLevel.LINE
    assert ("delete", '  "answer": "4",\n') in [(s.op, s.text) for s in d.segments]
    assert ("insert", '  "answer": "5",\n') in [(s.op, s.text) for s in d.segments]


def test_identical_values_are_one_equal_segment() -> None:
    assert diff_values("same", "same").identical
    assert diff_values(None, None).segments == ()


def test_a_string_against_json_is_line_level() -> None:
    d = diff_values("4", {"answer": "4"})
    assert d.level is DiffLevel.LINE
    assert not d.identical


@given(st.text(max_size=200), st.text(max_size=200))
def test_each_side_reads_back_exactly(old: str, new: str) -> None:
    assert _sides(old, new) == (old, new)


def test_past_the_word_limit_it_falls_back_to_lines() -> None:
    words = [f"w{i}" for i in range(WORD_TOKEN_LIMIT + 10)]
    old = "\n".join(" ".join(words[i : i + 10]) for i in range(0, len(words), 10))
    new = old.replace("w5 ", "CHANGED ").replace("w4005", "OTHER")
    d = diff_texts(old, new)
    assert d.level is DiffLevel.LINE
    assert "".join(s.text for s in d.new_segments) == new


def test_past_the_line_limit_it_shows_the_changed_middle_coarsely() -> None:
    old_lines = [json.dumps({"i": i}) for i in range(2 * LINE_LIMIT + 10)]
    new_lines = list(old_lines)
    new_lines[5] = "changed"
    new_lines[-5] = "changed too"
    old, new = "\n".join(old_lines), "\n".join(new_lines)
    d = diff_texts(old, new, level=DiffLevel.LINE)
    assert d.level is DiffLevel.COARSE
    assert "".join(s.text for s in d.old_segments) == old
    assert "".join(s.text for s in d.new_segments) == new
    assert d.segments[0].op == "equal"  # the common prefix is kept


def test_a_local_edit_in_a_huge_text_stays_word_level() -> None:
    # The common prefix and suffix are split off first, so the size of the text is no
    # obstacle when the change is local.
    text = "lorem ipsum " * 200_000
    d = diff_texts(text + "end", text + "finish")
    assert d.level is DiffLevel.WORD
    assert [s.op for s in d.segments] == ["equal", "delete", "insert"]
