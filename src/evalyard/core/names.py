"""Close names: what a mistyped run name was probably meant to be.

Example:
    >>> close_names("gpt4o-temp", ["gpt-4o-temp-0.3", "baseline", "gpt-4o-temp-0.7"])
    ['gpt-4o-temp-0.3', 'gpt-4o-temp-0.7']

A name scores by its edit similarity to the reference (case and punctuation aside), or,
when the reference is a part of a longer name (``nightly`` of ``nightly-2024-05-01``), by
how well it matches there, a little lower. Names below the cutoff are never suggested, so
an unrelated reference gets no suggestion at all rather than a random one.
"""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz import fuzz, process, utils

__all__ = ["SUGGESTION_CUTOFF", "close_names"]

#: The lowest score (0-100) of a name worth suggesting.
SUGGESTION_CUTOFF = 75.0

# A reference found inside a longer name scores this fraction of how well it matches there.
_PART_WEIGHT = 0.9
# Shorter references match parts of too many names to say anything.
_PART_MIN_LENGTH = 4


def _score(reference: str, name: str, **_: object) -> float:
    # Both strings arrive processed (lower case, punctuation as spaces).
    score = fuzz.ratio(reference, name)
    if len(reference) >= _PART_MIN_LENGTH and len(name) > len(reference):
        score = max(score, _PART_WEIGHT * fuzz.partial_ratio(reference, name))
    return score


def close_names(
    reference: str,
    names: Sequence[str],
    *,
    limit: int = 3,
    cutoff: float = SUGGESTION_CUTOFF,
) -> list[str]:
    """The names closest to ``reference``, best first: at most ``limit``, none below
    ``cutoff``; ties keep the order of ``names``.

    Args:
        reference: what was asked for.
        names: the names there are (distinct).
        limit: the most names to return.
        cutoff: the lowest score (0-100) a returned name has.
    """
    found = process.extract(
        reference,
        names,
        scorer=_score,
        processor=utils.default_process,
        limit=limit,
        score_cutoff=cutoff,
    )
    return [name for name, _, _ in found]
