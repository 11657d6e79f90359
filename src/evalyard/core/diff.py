"""Differences between two outputs, as segments the pages render as ``<ins>``/``<del>``.

Word level for text, line level for pretty-printed JSON (comparison.md §7), and always bounded in
time: :mod:`difflib` is quadratic at worst and can take minutes on a megabyte of words
(docs/reliability.md), so

1. the common prefix and suffix are split off first (linear, and most edits are local);
2. the middle is diffed with ``SequenceMatcher`` on word tokens only while each side has
   at most :data:`WORD_TOKEN_LIMIT` tokens; beyond that on lines, while each side has at
   most :data:`LINE_LIMIT` lines;
3. beyond both limits the middle is shown as one deletion and one insertion.

``benchmarks/bench_ui.py`` measures the time of each level.

Example:
    >>> d = diff_values("the cat sat", "the dog sat")
    >>> [(s.op, s.text) for s in d.segments]
    [('equal', 'the '), ('delete', 'cat'), ('insert', 'dog'), ('equal', ' sat')]
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from evalyard.core.formats import value_text

__all__ = [
    "LINE_LIMIT",
    "WORD_TOKEN_LIMIT",
    "Diff",
    "DiffLevel",
    "Segment",
    "diff_texts",
    "diff_values",
]

#: Most tokens (words and the white space between them) per side diffed at word level
#: (about 25 KB of prose).
WORD_TOKEN_LIMIT = 8_000
#: Most lines per side diffed at line level.
LINE_LIMIT = 5_000

# A word, or a run of white space: joining the tokens gives the text back exactly. White
# space is its own token, so a word compares equal wherever it stands: the last word of a
# text (no space after it) matches the same word followed by more text.
_WORDS = re.compile(r"\S+|\s+")

Op = Literal["equal", "insert", "delete"]


class DiffLevel(StrEnum):
    """How finely a diff was computed."""

    WORD = "word"
    LINE = "line"
    COARSE = "coarse"
    """Too large for either: the changed middle is one deletion and one insertion."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of text that both sides share, or that only one side has."""

    op: Op
    """``equal`` (both), ``delete`` (only the baseline) or ``insert`` (only this run)."""
    text: str
    """The text of the run."""


@dataclass(frozen=True, slots=True)
class Diff:
    """The difference of two texts, as segments in reading order."""

    level: DiffLevel
    """How finely it was computed."""
    segments: tuple[Segment, ...]
    """Equal, deleted and inserted runs; the baseline is equal + delete, this run equal +
    insert."""

    @property
    def identical(self) -> bool:
        """Whether the two texts are the same."""
        return all(segment.op == "equal" for segment in self.segments)

    @property
    def old_segments(self) -> tuple[Segment, ...]:
        """What the baseline side shows: equal and deleted runs."""
        return tuple(s for s in self.segments if s.op != "insert")

    @property
    def new_segments(self) -> tuple[Segment, ...]:
        """What this run's side shows: equal and inserted runs."""
        return tuple(s for s in self.segments if s.op != "delete")


def diff_values(old: Any, new: Any) -> Diff:
    """Diff two logged values: strings word by word, anything else as JSON line by line."""
    old_text, new_text = value_text(old), value_text(new)
    if isinstance(old, str) and isinstance(new, str):
        return diff_texts(old_text, new_text, level=DiffLevel.WORD)
    return diff_texts(old_text, new_text, level=DiffLevel.LINE)


def diff_texts(old: str, new: str, *, level: DiffLevel = DiffLevel.WORD) -> Diff:
    """Diff two texts at ``level`` (word or line), falling back to coarser levels past the
    size limits."""
    if old == new:
        return Diff(level, (Segment("equal", old),) if old else ())
    if level is DiffLevel.WORD:
        old_tokens, new_tokens = _WORDS.findall(old), _WORDS.findall(new)
        segments = _diff_tokens(old_tokens, new_tokens, limit=WORD_TOKEN_LIMIT)
        if segments is not None:
            return Diff(DiffLevel.WORD, segments)
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    segments = _diff_tokens(old_lines, new_lines, limit=LINE_LIMIT)
    if segments is not None:
        return Diff(DiffLevel.LINE, segments)
    return Diff(DiffLevel.COARSE, _coarse(old_lines, new_lines))


def _affixes(old: Sequence[str], new: Sequence[str]) -> tuple[int, int]:
    """The lengths of the common prefix and (not overlapping it) the common suffix."""
    limit = min(len(old), len(new))
    prefix = 0
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    return prefix, suffix


def _diff_tokens(
    old: Sequence[str], new: Sequence[str], *, limit: int
) -> tuple[Segment, ...] | None:
    """Segments of a token diff, or None when the changed middle is over ``limit`` tokens."""
    prefix, suffix = _affixes(old, new)
    old_mid = old[prefix : len(old) - suffix]
    new_mid = new[prefix : len(new) - suffix]
    if len(old_mid) > limit or len(new_mid) > limit:
        return None
    parts: list[tuple[Op, str]] = [("equal", "".join(old[:prefix]))]
    matcher = difflib.SequenceMatcher(None, old_mid, new_mid, autojunk=True)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            parts.append(("equal", "".join(old_mid[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            parts.append(("delete", "".join(old_mid[i1:i2])))
        if tag in ("insert", "replace"):
            parts.append(("insert", "".join(new_mid[j1:j2])))
    parts.append(("equal", "".join(old[len(old) - suffix :])))
    return _merge(_regroup(parts))


def _regroup(parts: list[tuple[Op, str]]) -> list[tuple[Op, str]]:
    """Join the changes on either side of a bare space into one deletion and one insertion.

    ``8 because`` → ``9 since`` shares only the space between the words; shown as it is, it
    reads as four scraps. White space alone between two changes joins them instead.
    """
    out: list[tuple[Op, str]] = []
    deleted: list[str] = []
    inserted: list[str] = []
    for index, (op, text) in enumerate(parts):
        between = 0 < index < len(parts) - 1 and (deleted or inserted)
        if op == "equal" and between and not text.strip() and parts[index + 1][0] != "equal":
            deleted.append(text)
            inserted.append(text)
        elif op == "delete":
            deleted.append(text)
        elif op == "insert":
            inserted.append(text)
        else:
            out += [("delete", "".join(deleted)), ("insert", "".join(inserted)), (op, text)]
            deleted, inserted = [], []
    out += [("delete", "".join(deleted)), ("insert", "".join(inserted))]
    return out


def _coarse(old: Sequence[str], new: Sequence[str]) -> tuple[Segment, ...]:
    prefix, suffix = _affixes(old, new)
    return _merge(
        [
            ("equal", "".join(old[:prefix])),
            ("delete", "".join(old[prefix : len(old) - suffix])),
            ("insert", "".join(new[prefix : len(new) - suffix])),
            ("equal", "".join(old[len(old) - suffix :])),
        ]
    )


def _merge(parts: list[tuple[Op, str]]) -> tuple[Segment, ...]:
    """Drop empty runs and join neighbours of the same kind."""
    merged: list[Segment] = []
    for op, text in parts:
        if not text:
            continue
        if merged and merged[-1].op == op:
            merged[-1] = Segment(op, merged[-1].text + text)
        else:
            merged.append(Segment(op, text))
    return tuple(merged)
