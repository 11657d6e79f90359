"""Text handling shared by the demo's retrievers, reader and scores."""

from __future__ import annotations

import re
import string

__all__ = [
    "QUESTION_WORDS",
    "STOPWORDS",
    "content_stems",
    "normalize_answer",
    "split_sentences",
    "stem",
    "tokenize",
    "words",
]

#: Words that open a question; they never appear in an answer.
QUESTION_WORDS = frozenset({"what", "which", "who", "whom", "whose", "when", "where", "why", "how"})

#: Function words that carry no topic: ignored by BM25 and by the span reader.
STOPWORDS = QUESTION_WORDS | frozenset(
    {
        "a", "about", "after", "an", "and", "are", "as", "at", "be", "been", "by", "did",
        "do", "does", "for", "from", "had", "has", "have", "he", "her", "his", "in", "into",
        "is", "it", "its", "long", "many", "much", "of", "on", "or", "she", "than", "that",
        "the", "their", "them", "then", "there", "they", "this", "to", "was", "were", "with",
    }
)  # fmt: skip

# A word keeps its inner hyphens, apostrophes and digit separators: "fifty-one", "1,142".
_WORD = re.compile(r"\w+(?:[-,.']\w+)*")
_TOKEN = re.compile(r"\w+(?:[-,.']\w+)*|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def words(text: str) -> list[str]:
    """The words of ``text``, as written (no punctuation)."""
    return _WORD.findall(text)


def tokenize(text: str) -> list[str]:
    """The words and punctuation marks of ``text``, in order."""
    return _TOKEN.findall(text)


def split_sentences(text: str) -> list[str]:
    """The sentences of a passage."""
    return [sentence for sentence in _SENTENCE_END.split(text.strip()) if sentence]


def stem(word: str) -> str:
    """A crude suffix-stripping stem, enough to match "covers" with "covered"."""
    word = word.lower()
    for suffix in ("ing", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


def content_stems(text: str) -> list[str]:
    """The stems of the words of ``text`` that are not stopwords, in order."""
    return [stem(word) for word in words(text) if word.lower() not in STOPWORDS]


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (the usual QA normalisation)."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())
