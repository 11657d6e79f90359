"""The store and compare_many benchmarks still run, and agree with their references.

The benchmark itself is not a timed test (benchmarks/README.md); this only keeps it from
rotting, at a size that takes a few seconds.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import evalyard

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str) -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module executes.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def bench_store() -> Iterator[ModuleType]:
    yield from _load("bench_store")


@pytest.fixture(scope="module")
def bench_many() -> Iterator[ModuleType]:
    yield from _load("bench_many")


def test_bench_store_runs_and_writes_its_table(
    bench_store: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\n## Other benchmark\n\nkept as is\n", encoding="utf-8")

    code = bench_store.main(
        ["--sizes", "2000", "--workdir", str(tmp_path / "stores"), "--readme", str(readme)]
    )

    assert code == 0
    printed = capsys.readouterr().out
    assert "| 2k |" in printed
    text = readme.read_text(encoding="utf-8")
    assert "kept as is" in text
    assert "| 2k |" in text
    assert "python benchmarks/bench_store.py --sizes 2000 --repeat 1" in text
    assert "not measured" not in text  # the peak RSS child processes ran
    # The stores are removed after measuring.
    assert list((tmp_path / "stores").iterdir()) == []


def test_bench_store_block_is_replaced_not_appended(
    bench_store: ModuleType, tmp_path: Path
) -> None:
    readme = tmp_path / "README.md"
    bench_store.write_readme(readme, "first", store_spec="sqlite")
    bench_store.write_readme(readme, "second", store_spec="sqlite")
    text = readme.read_text(encoding="utf-8")
    assert "second" in text
    assert "first" not in text
    assert text.count("bench_store:sqlite:begin") == 1


def test_bench_store_fails_loudly_when_the_reference_disagrees(
    bench_store: ModuleType, tmp_path: Path
) -> None:
    from evalyard import compare_runs
    from evalyard.store import open_store

    workload = bench_store.make_workload(200, seed=1)
    with bench_store.fresh_store("sqlite", tmp_path) as url:
        store = open_store(url)
        try:
            old_id, _ = bench_store.log_run(store, "baseline", workload.old_records())
            new_id, _ = bench_store.log_run(store, "candidate", workload.new_records())
            comparison = compare_runs(new_id, old_id, store=store)
        finally:
            store.close()
        connection = bench_store.ReferenceConnection(url)
        try:
            reference = bench_store.reference_compare(connection, new_id, old_id)
        finally:
            connection.close()

    bench_store.check_agreement(comparison, reference)
    metric = reference.metrics["metric_5"]
    wrong = dataclasses.replace(metric, same=metric.same[1:])
    broken = bench_store.ReferenceResult(
        reference.common_count, {**reference.metrics, "metric_5": wrong}
    )
    with pytest.raises(bench_store.BenchmarkMismatchError, match="metric_5 same count"):
        bench_store.check_agreement(comparison, broken)


def test_bench_many_runs_and_writes_its_table(
    bench_many: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\n## Other benchmark\n\nkept as is\n", encoding="utf-8")
    argv = ["--sizes", "500", "--runs", "3", "--repeat", "1", "--workdir", str(tmp_path)]

    assert bench_many.main([*argv, "--readme", str(readme)]) == 0

    assert "| 1 + 3 x 500 x 10 | 30 |" in capsys.readouterr().out
    text = readme.read_text(encoding="utf-8")
    assert "kept as is" in text
    assert "python benchmarks/bench_many.py --sizes 500 --runs 3 --repeat 1" in text
    assert text.count("bench_many:begin") == 1
    bench_many.main([*argv, "--readme", str(readme)])
    assert readme.read_text(encoding="utf-8").count("bench_many:begin") == 1
    assert [p for p in tmp_path.iterdir() if p.name.startswith("bench-many-")] == []


def test_bench_many_fails_loudly_when_the_reference_disagrees(
    bench_many: ModuleType, tmp_path: Path
) -> None:
    from evalyard.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'evalyard.db'}")
    try:
        run_ids, _ = bench_many.log_runs(store, bench_many.make_runs(300, 2, seed=1))
        expected = bench_many.reference(store, run_ids)
        many = evalyard.compare_many(run_ids[1:], baseline=run_ids[0], store=store)
    finally:
        store.close()
    bench_many.check_agreement(many, expected)
    key = next(iter(expected.p_adjusted))
    wrong = {**expected.p_adjusted, key: expected.p_adjusted[key] / 2}
    broken = dataclasses.replace(expected, p_adjusted=wrong)
    with pytest.raises(bench_many.BenchmarkMismatchError, match=f"{key[1]} p_adjusted"):
        bench_many.check_agreement(many, broken)


@pytest.fixture(scope="module")
def bench_import() -> Iterator[ModuleType]:
    yield from _load("bench_import")


def test_bench_import_runs_and_writes_its_table(
    bench_import: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\n## Other benchmark\n\nkept as is\n", encoding="utf-8")
    argv = ["--sizes", "300", "--repeat", "1", "--workdir", str(tmp_path)]

    assert bench_import.main([*argv, "--readme", str(readme)]) == 0

    printed = capsys.readouterr().out
    assert "| jsonl | 300 |" in printed
    assert "| lm-eval | 300 |" in printed
    text = readme.read_text(encoding="utf-8")
    assert "kept as is" in text
    assert "python benchmarks/bench_import.py --sizes 300 --repeat 1" in text
    bench_import.main([*argv, "--readme", str(readme)])
    assert readme.read_text(encoding="utf-8").count("bench_import:begin") == 1
    assert [p for p in tmp_path.iterdir() if p.name.startswith("bench-import-")] == []


def test_bench_import_fails_loudly_when_the_reference_disagrees(
    bench_import: ModuleType, tmp_path: Path
) -> None:
    from evalyard.importers import import_file

    path = tmp_path / "samples.jsonl"
    bench_import.write_samples(path, 20, seed=1)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    imported = import_file("jsonl", path, store=url, **bench_import.MAPPING).run.run_id
    logged = bench_import.reference(path, f"sqlite:///{tmp_path / 'b.db'}")
    bench_import.check_agreement(url, imported, f"sqlite:///{tmp_path / 'b.db'}", logged)
    with evalyard.start_run("changed", store=url) as run:
        run.log_many(
            {"id": r.datapoint_id, "inputs": r.inputs, "metrics": {"acc": 0.5}}
            for r in evalyard.get_results(imported, store=url)
        )
    with pytest.raises(bench_import.BenchmarkMismatchError, match="differs"):
        bench_import.check_agreement(url, imported, url, run.run_id)


def test_bench_import_lm_eval_workload_agrees_with_its_reference(
    bench_import: ModuleType, tmp_path: Path
) -> None:
    from evalyard.importers import import_file

    path = tmp_path / bench_import.LM_EVAL_FILE
    bench_import.write_lm_eval_samples(path, 20, seed=1)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    outcome = import_file("lm-eval", path, store=url)
    assert outcome.run.result_count == 20
    logged = bench_import.reference_lm_eval(path, f"sqlite:///{tmp_path / 'b.db'}")
    bench_import.check_agreement(url, outcome.run.run_id, f"sqlite:///{tmp_path / 'b.db'}", logged)
    first = evalyard.get_results(outcome.run.run_id, store=url)[0]
    assert first.datapoint_id == f"{bench_import.LM_EVAL_TASK}/0"
    assert set(first.metrics) == {"acc"}


@pytest.fixture(scope="module")
def bench_otel() -> Iterator[ModuleType]:
    pytest.importorskip("opentelemetry.sdk")
    yield from _load("bench_otel")


def test_bench_otel_runs_and_writes_its_table(
    bench_otel: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\n## Other benchmark\n\nkept as is\n", encoding="utf-8")
    argv = ["--datapoints", "20", "--repeat", "1", "--readme", str(readme)]

    bench_otel.main(argv)  # the target is not judged at this size

    assert "overhead of capture" in capsys.readouterr().out
    text = readme.read_text(encoding="utf-8")
    assert "kept as is" in text
    assert "python benchmarks/bench_otel.py --datapoints 20 --repeat 1" in text
    bench_otel.main(argv)
    assert readme.read_text(encoding="utf-8").count("bench_otel:begin") == 1


def test_bench_otel_fails_loudly_when_steps_are_lost(bench_otel: ModuleType) -> None:
    with pytest.raises(bench_otel.BenchmarkMismatchError, match="steps captured"):
        bench_otel._check([{"name": "agent"}], {})
