"""The documentation the code cites exists, and the code cites nothing outside the repo."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    *sorted((ROOT / "src").rglob("*.py")),
    *sorted((ROOT / "benchmarks").glob("*.py")),
    *sorted((ROOT / "src").rglob("*.html")),
]
# Names of documents that live outside this repository.
OUTSIDE = re.compile(r"\bSPEC\b|RELIABILITY\.md|MEASUREMENTS\.md|STATISTICS\.md|STYLE\.md|shared/")
_NAMES = r"(?:comparison|statistics|reliability|server|README)\.md"
CITED = re.compile(rf"\b((?:docs/|benchmarks/)?{_NAMES})(?: (§\d+(?:, §\d+)*))?")


def test_no_source_cites_a_file_outside_the_repo() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in SOURCES
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == []


def test_every_cited_document_and_section_exists() -> None:
    missing = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for match in CITED.finditer(text):
            name = match.group(1)
            places = [ROOT / name] if "/" in name else [path.parent / name, ROOT / "docs" / name]
            document = next((place for place in places if place.exists()), places[0])
            if not document.exists():
                missing.append(f"{path.relative_to(ROOT)} cites {match.group(1)}")
                continue
            headings = document.read_text(encoding="utf-8")
            for section in re.findall(r"§(\d+)", match.group(2) or ""):
                if not re.search(rf"^## {section}\. ", headings, re.MULTILINE):
                    missing.append(f"{path.relative_to(ROOT)} cites {match.group(1)} §{section}")
    assert missing == []


TEST_NAME = re.compile(r"`(test_\w+)`")
DEFINED = re.compile(r"^\s*(?:async\s+)?def (test_\w+)\(", re.M)


def test_every_test_the_docs_name_exists() -> None:
    defined = {
        name
        for path in (ROOT / "tests").rglob("test_*.py")
        for name in DEFINED.findall(path.read_text(encoding="utf-8"))
    }
    named = {
        (doc.name, name)
        for doc in [ROOT / "docs" / "security.md", ROOT / "docs" / "reliability.md"]
        for name in TEST_NAME.findall(doc.read_text(encoding="utf-8"))
    }
    assert named, "the docs name no tests"
    assert sorted((doc, name) for doc, name in named if name not in defined) == []
