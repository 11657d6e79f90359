"""The server benchmark still runs (at a tiny size), checks its numbers and writes its
block of the benchmarks README."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_server.py"


def test_bench_server_runs_and_writes_its_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client processes are spawned: they import the script by its module name.
    monkeypatch.syspath_prepend(str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("bench_server", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_server"] = module
    try:
        spec.loader.exec_module(module)
        readme = tmp_path / "README.md"
        readme.write_text("# Benchmarks\n\n## Other\n\nkept\n", encoding="utf-8")
        module.main(
            [
                "--clients",
                "1,2",
                "--workers",
                "1,2",
                "--results",
                "300",
                "--datapoints",
                "500",
                "--repeat",
                "1",
                "--workdir",
                str(tmp_path),
                "--readme",
                str(readme),
            ]
        )
    finally:
        sys.modules.pop("bench_server", None)
    text = readme.read_text(encoding="utf-8")
    assert "kept" in text
    assert "| reference: `log_many`, no server | 1 worker | 2 workers |" in text
    assert "| SQLite | 2 | 600 |" in text
    assert "`--workers N`: >= 50,000 results/s" in text
    assert "compare_runs through the server (SDK)" in text


def test_a_run_too_short_to_measure_cpu_gets_a_dash_not_a_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("bench_server_rate", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_server_rate"] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop("bench_server_rate", None)
    # The kernel counts CPU in 10 ms ticks: a tiny, fast run may measure none at all.
    assert module._cpu_bound_rate(2, 0.0) == "-"
    assert module._cpu_bound_rate(2, 20.0) == "100,000/s"
