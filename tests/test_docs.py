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
