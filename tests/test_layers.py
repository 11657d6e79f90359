"""Imports flow one way: cli/server → runner/runs → store → core; core stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "evalyard"

# What each layer may not import.
FORBIDDEN = {
    "core": (
        "evalyard.store",
        "evalyard.runner",
        "evalyard.runs",
        "evalyard.cli",
        "evalyard.server",
        "evalyard.config",
        "sqlalchemy",
        "click",
        "rich",
        "os",
        "threading",
        "time",
        "starlette",
        "fastapi",
    ),
    "store": ("evalyard.runner", "evalyard.runs", "evalyard.cli", "evalyard.server"),
    "runner": ("evalyard.cli", "evalyard.server"),
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


def test_layers_import_only_downwards() -> None:
    problems = []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((SRC / layer).rglob("*.py")):
            for name in _imports(path):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    problems.append(f"{path.relative_to(SRC)} imports {name}")
    assert problems == []
