"""Imports flow one way: cli → server → runner → runs → store → core; core stays pure.

Every part of the package has its rule here (a new subpackage fails the test until it is
given one), and no module inside the package imports the package itself
(``from evalyard import ...``): each names the module it needs.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "evalyard"

_EDGES = ("evalyard.cli", "evalyard.server")
_LIBRARIES = ("sqlalchemy", "click", "rich", "starlette", "fastapi", "uvicorn", "jinja2")

# What each part of the package may not import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": (
        "evalyard.store",
        "evalyard.runner",
        "evalyard.runs",
        "evalyard.many",
        "evalyard.evaluators",
        "evalyard.demo",
        *_EDGES,
        "evalyard.config",
        *_LIBRARIES,
        "os",
        "threading",
        "time",
        "httpx",
    ),
    "store": (
        "evalyard.runner",
        "evalyard.runs",
        "evalyard.many",
        "evalyard.evaluators",
        "evalyard.demo",
        *_EDGES,
    ),
    "runs": ("evalyard.runner", "evalyard.evaluators", "evalyard.demo", *_EDGES),
    "many": ("evalyard.runner", "evalyard.evaluators", "evalyard.demo", *_EDGES),
    "runner": ("evalyard.demo", *_EDGES),
    "evaluators": ("evalyard.store", "evalyard.runs", "evalyard.demo", *_EDGES),
    "demo": _EDGES,
    "importers": ("evalyard.evaluators", "evalyard.demo", "evalyard.exports", *_EDGES),
    "exports": (
        "evalyard.runner",
        "evalyard.importers",
        "evalyard.evaluators",
        "evalyard.demo",
        *_EDGES,
    ),
    "server": ("evalyard.cli", "evalyard.demo", "evalyard.evaluators"),
    "cli": (),
    "errors": ("evalyard.",),
    "version": ("evalyard.",),
    "config": ("evalyard.core", "evalyard.store", "evalyard.runner", "evalyard.runs", *_EDGES),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _part(path: Path) -> str:
    relative = path.relative_to(SRC)
    return relative.parts[0].removesuffix(".py")


def _forbidden(name: str, rule: str) -> bool:
    if rule.endswith("."):
        # "evalyard." forbids every evalyard module but the part's own (a leaf).
        return name.startswith(rule) and name != "evalyard.errors"
    return name == rule or name.startswith(rule + ".")


def test_every_part_of_the_package_has_a_rule() -> None:
    parts = {
        _part(path)
        for path in SRC.rglob("*.py")
        if path.name != "__init__.py" or path.parent != SRC
    }
    assert parts - set(FORBIDDEN) == set()


def test_layers_import_only_downwards() -> None:
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        if path.parent == SRC and path.name == "__init__.py":
            continue
        for name in _imports(path):
            if any(_forbidden(name, rule) for rule in FORBIDDEN[_part(path)]):
                problems.append(f"{path.relative_to(SRC)} imports {name}")
    assert problems == []


def test_no_module_imports_the_package_itself() -> None:
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        if path.parent == SRC and path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "evalyard" and node.level == 0:
                problems.append(f"{path.relative_to(SRC)}:{node.lineno}")
            if isinstance(node, ast.Import) and any(a.name == "evalyard" for a in node.names):
                problems.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert problems == []
