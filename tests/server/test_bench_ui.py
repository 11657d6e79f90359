"""The UI benchmark still runs end to end (tiny size) and writes its block; not a timed test
(benchmarks/README.md targets are measured by the benchmark itself)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCH_UI = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ui.py"


@pytest.fixture(scope="module")
def bench_ui() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("bench_ui", BENCH_UI)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_ui"] = module  # dataclasses look their module up while it executes
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("bench_ui", None)


def test_bench_ui_runs_and_writes_its_block(
    bench_ui: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\nother text\n", encoding="utf-8")
    code = bench_ui.main(
        [
            "--datapoints",
            "400",
            "--repeat",
            "2",
            "--workdir",
            str(tmp_path),
            "--readme",
            str(readme),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| comparison page |" in printed
    assert "| Viewing event: a step |" in printed
    text = readme.read_text(encoding="utf-8")
    assert "other text" in text
    assert text.count("bench_ui:begin") == 1
    bench_ui.write_readme(readme, "second")
    assert "second" in readme.read_text(encoding="utf-8")
    assert "| comparison page |" not in readme.read_text(encoding="utf-8")
    assert [p for p in tmp_path.iterdir() if p.name.startswith("bench_ui-")] == []
