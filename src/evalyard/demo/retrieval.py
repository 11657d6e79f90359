"""The demo's retrievers: naive keyword overlap, and BM25 written out by hand.

Both rank the passages of :mod:`evalyard.demo.corpus` for a question and return the top
``k``. Keyword overlap counts the distinct question words a passage contains, function
words included, which is why it often prefers long passages full of "the" and "of". BM25
weighs each content word by how rare it is in the corpus and how often it occurs in the
passage, normalised by the passage's length.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

from evalyard.demo.corpus import PASSAGES, Passage
from evalyard.demo.text import content_stems, words

__all__ = ["Index", "Retriever", "ScoredPassage", "corpus_index", "retrieve"]

Retriever = Literal["keyword", "bm25"]
"""The name of a retriever: ``keyword`` (overlap) or ``bm25``."""

# The usual BM25 constants: term-frequency saturation and length normalisation.
_K1 = 1.2
_B = 0.75


@dataclass(frozen=True, slots=True)
class ScoredPassage:
    """A passage a retriever returned, with its score."""

    passage: Passage
    """The passage."""
    score: float
    """The retriever's score; higher ranks first."""


class Index:
    """The corpus, tokenised once for both retrievers."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self.passages = tuple(passages)
        self._words = [frozenset(word.lower() for word in words(p.text)) for p in passages]
        self._stems = [Counter(content_stems(p.text)) for p in passages]
        self._lengths = [sum(counts.values()) for counts in self._stems]
        self._average_length = sum(self._lengths) / max(len(passages), 1)
        document_frequency: Counter[str] = Counter()
        for counts in self._stems:
            document_frequency.update(counts.keys())
        total = len(passages)
        #: Inverse document frequency of each stem (the BM25 form, kept positive).
        self.idf = {
            term: math.log(1 + (total - df + 0.5) / (df + 0.5))
            for term, df in document_frequency.items()
        }

    def keyword_overlap(self, question: str, *, k: int) -> list[ScoredPassage]:
        """The ``k`` passages sharing the most distinct words with the question."""
        asked = {word.lower() for word in words(question)}
        scores = [float(len(asked & passage_words)) for passage_words in self._words]
        return self._top(scores, k)

    def bm25(self, question: str, *, k: int) -> list[ScoredPassage]:
        """The ``k`` passages with the highest BM25 score for the question's content words."""
        terms = set(content_stems(question))
        scores = []
        for counts, length in zip(self._stems, self._lengths, strict=True):
            norm = _K1 * (1 - _B + _B * length / self._average_length)
            scores.append(
                sum(
                    self.idf[term] * counts[term] * (_K1 + 1) / (counts[term] + norm)
                    for term in terms
                    if counts[term]
                )
            )
        return self._top(scores, k)

    def _top(self, scores: list[float], k: int) -> list[ScoredPassage]:
        # Ties go to the earlier passage, so every ranking is deterministic.
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
        return [ScoredPassage(self.passages[i], scores[i]) for i in order]


@cache
def corpus_index() -> Index:
    """The index of the bundled corpus, built on first use."""
    return Index(PASSAGES)


def retrieve(question: str, *, retriever: Retriever, k: int = 3) -> list[ScoredPassage]:
    """The top ``k`` passages of the bundled corpus for a question."""
    index = corpus_index()
    if retriever == "keyword":
        return index.keyword_overlap(question, k=k)
    if retriever == "bm25":
        return index.bm25(question, k=k)
    raise ValueError(f"unknown retriever {retriever!r}; use keyword or bm25")
