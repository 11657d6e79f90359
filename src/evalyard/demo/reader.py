"""The demo's "model": a deterministic extractive reader.

It picks the sentence of the retrieved passages that best matches the question and
extracts an answer from it. Two versions stand for two prompts of a real model:

- ``overlap`` (v1) scores sentences by the question words they share and answers with the
  sentence minus those words;
- ``span`` (v2) scores sentences by the rarity of the shared content words, splits the
  rest into spans at function words and punctuation, and picks the span that fits the
  kind of question (a name for *who*, a year for *when*, a number for *how many*...).
  It is usually more precise, and sometimes cuts a long answer short.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from evalyard.demo.corpus import Passage
from evalyard.demo.text import STOPWORDS, split_sentences, stem, tokenize, words

__all__ = ["Reader", "ReaderAnswer", "read"]

Reader = Literal["overlap", "span"]
"""The name of a reader version: ``overlap`` (v1) or ``span`` (v2)."""

_NUMBER_WORDS = frozenset(
    {
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
        "eighty", "ninety", "hundred", "thousand",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReaderAnswer:
    """What the reader answered, and from where."""

    answer: str
    """The extracted answer."""
    sentence: str
    """The sentence it came from."""
    passage_id: str | None
    """The passage of that sentence (None when there was no passage)."""


def read(
    question: str,
    passages: Sequence[Passage],
    *,
    reader: Reader,
    idf: Mapping[str, float],
) -> ReaderAnswer:
    """Answer a question from passages.

    Args:
        question: the question.
        passages: the retrieved passages, best first.
        reader: ``overlap`` (v1) or ``span`` (v2).
        idf: the inverse document frequency of each stem, for the ``span`` reader.
    """
    candidates = [(p, sentence) for p in passages for sentence in split_sentences(p.text)]
    if not candidates:
        return ReaderAnswer("", "", None)
    if reader == "overlap":
        asked = {word.lower() for word in words(question)}
        passage, sentence = max(
            candidates, key=lambda c: len(asked & {w.lower() for w in words(c[1])})
        )
        kept = [word for word in words(sentence) if word.lower() not in asked]
        answer = " ".join(_trim_stopwords(kept)) or sentence
    elif reader == "span":
        asked_stems = {stem(w) for w in words(question) if w.lower() not in STOPWORDS}

        def relevance(candidate: tuple[Passage, str]) -> float:
            # The passage's title stands in for the pronouns of its sentences ("It feeds
            # on sand eels"), so a sentence is read together with what it is about.
            about, sentence = candidate
            seen = {stem(w) for w in words(sentence)} | {stem(w) for w in words(about.title)}
            return sum(idf.get(term, 0.0) for term in asked_stems & seen)

        passage, sentence = max(candidates, key=relevance)
        answer = _best_span(question, sentence, asked_stems) or sentence
    else:
        raise ValueError(f"unknown reader {reader!r}; use overlap or span")
    return ReaderAnswer(answer, sentence, passage.passage_id)


def _trim_stopwords(tokens: list[str]) -> list[str]:
    start, end = 0, len(tokens)
    while start < end and tokens[start].lower() in STOPWORDS:
        start += 1
    while end > start and tokens[end - 1].lower() in STOPWORDS:
        end -= 1
    return tokens[start:end]


def _spans(sentence: str, asked_stems: set[str]) -> list[list[tuple[int, str]]]:
    """Runs of tokens that are neither punctuation, function words nor question words."""
    spans: list[list[tuple[int, str]]] = [[]]
    for position, token in enumerate(tokenize(sentence)):
        breaks = not token[0].isalnum() or token.lower() in STOPWORDS or stem(token) in asked_stems
        if breaks:
            if spans[-1]:
                spans.append([])
        else:
            spans[-1].append((position, token))
    return [span for span in spans if span]


def _best_span(question: str, sentence: str, asked_stems: set[str]) -> str:
    spans = _spans(sentence, asked_stems)
    if not spans:
        return ""
    lowered = question.lower()
    opening = lowered.split()[0] if lowered.split() else ""

    def is_name(position: int, token: str) -> bool:
        # A capital after the sentence's first word marks a name.
        return position > 0 and token[0].isupper()

    def is_number(token: str) -> bool:
        return token[0].isdigit() or any(part in _NUMBER_WORDS for part in token.lower().split("-"))

    if opening in {"who", "where"} or " name" in lowered or "called" in lowered:
        for span in spans:
            leading: list[str] = []
            for position, token in span:
                if not is_name(position, token):
                    break
                leading.append(token)
            if leading:
                return " ".join(leading)
    if opening == "when" or "what year" in lowered:
        for span in spans:
            if any(token[0].isdigit() for _, token in span):
                return " ".join(token for _, token in span)
    if lowered.startswith("how "):
        for span in spans:
            if any(is_number(token) for _, token in span):
                return " ".join(token for _, token in span)
    longest = max(spans, key=len)
    return " ".join(token for _, token in longest)
