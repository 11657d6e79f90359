"""Close names: what a mistyped run name was probably meant to be."""

from __future__ import annotations

from evalyard.core.names import close_names

NAMES = [
    "gpt-4o-temp-0.3",
    "gpt-4o-temp-0.7",
    "gpt-4o-mini",
    "baseline",
    "candidate",
    "demo-bm25",
    "demo-keyword",
    "nightly-2024-05-01",
    "a",
    "qa",
]


def test_typos_find_their_names_best_first() -> None:
    assert close_names("gpt4o-temp", NAMES) == ["gpt-4o-temp-0.3", "gpt-4o-temp-0.7"]
    assert close_names("gpt-4o-temp-07", NAMES)[0] == "gpt-4o-temp-0.7"
    assert close_names("Baselin", NAMES) == ["baseline"]
    assert close_names("GPT-4O-MINI", NAMES)[0] == "gpt-4o-mini"


def test_a_part_of_a_longer_name_finds_it() -> None:
    assert close_names("nightly", NAMES) == ["nightly-2024-05-01"]
    assert close_names("bm25", NAMES) == ["demo-bm25"]
    assert close_names("demo", NAMES) == ["demo-bm25", "demo-keyword"]


def test_unrelated_references_get_nothing() -> None:
    for reference in ("ghost", "nope", "missing-run", "xyz", "foo", "other"):
        assert close_names(reference, NAMES) == [], reference
    # A short name inside the reference is no reason to suggest it.
    assert "a" not in close_names("baselin", NAMES)


def test_at_most_limit_names() -> None:
    days = [f"nightly-2024-05-0{day}" for day in range(1, 8)]
    assert close_names("nightly", days) == days[:3]
    assert close_names("nightly", days, limit=1) == days[:1]
    assert close_names("nightly", []) == []
