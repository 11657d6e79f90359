"""Exports and pandas frames: a run exported and imported back compares as the original,
on SQLite and PostgreSQL, in every format."""

from __future__ import annotations

import builtins
import io
import json
from pathlib import Path
from typing import Any

import pytest

import evalyard
from evalyard.core.words import STATUS_WORDS
from evalyard.errors import InvalidInputError, MissingDependencyError
from evalyard.exports import BASE_COLUMNS, export_run
from evalyard.importers import import_file
from evalyard.store import SQLStore


def tricky_records(shift: int) -> list[dict[str, Any]]:
    """Records whose values a careless export would change: text that looks like numbers,
    JSON or nothing; nested inputs; steps; two epochs; errors; every kind of metric."""
    records: list[dict[str, Any]] = []
    for i in range(12):
        for epoch in range(2):
            records.append(
                {
                    "id": f"q{i}",
                    "epoch": epoch,
                    "inputs": {"question": f"what is {i}?", "choices": [1, 2, None]},
                    "outputs": ["4", "", "true", '{"a": 1}', "null", "plain, text\nline"][i % 6],
                    "ground_truth": i if i % 3 else None,
                    "metadata": {"topic": "math" if i % 2 else "geo"},
                    "metrics": {
                        "correct": (i + shift + epoch) % 3 != 0,
                        "score": ((i * 7 + shift) % 10) / 10,
                        "tokens": 100 + i + shift,
                        "label": "a" if (i + shift) % 2 else "b",
                    },
                    "steps": [
                        {
                            "name": "retrieve",
                            "type": "tool",
                            "metrics": {"hits": (i + shift) % 4},
                            "children": [{"name": "rank", "metrics": {"depth": 2}}],
                        }
                    ],
                    "error": "Timeout: 30 s" if i == 5 else None,
                    "duration_ms": 12.5 * (i + 1),
                }
            )
    return records


def log(name: str, shift: int, store: SQLStore) -> str:
    with evalyard.start_run(name, dataset="qa", store=store) as run:
        run.log_many(tricky_records(shift))
        return run.run_id


def comparable(comparison: evalyard.RunComparisonResult) -> dict[str, Any]:
    data = comparison.to_dict()
    for key in ("new_run_id", "old_run_id", "new_run", "old_run"):
        data.pop(key)
    return data


@pytest.mark.parametrize("output_format", ["jsonl", "csv", "parquet"])
def test_export_then_import_gives_the_same_comparison(
    store: SQLStore, tmp_path: Path, output_format: str
) -> None:
    if output_format == "parquet":
        pytest.importorskip("pyarrow")
    old = log("old", 0, store)
    new = log("new", 1, store)
    path = tmp_path / f"new.{output_format}"
    assert export_run(new, output_format, path, store=store) == 24
    imported = import_file(output_format, path, name="new-again", store=store).run
    assert imported.result_count == 24
    original = [r.to_dict() for r in evalyard.get_results(new, store=store)]
    again = [r.to_dict() for r in evalyard.get_results(imported.run_id, store=store)]
    assert again == original
    for step in (None, "retrieve", "rank"):
        assert comparable(evalyard.compare_runs(imported.run_id, old, step=step, store=store)) == (
            comparable(evalyard.compare_runs(new, old, step=step, store=store))
        )
    assert not import_file(output_format, path, name="new-again", store=store).created


def test_jsonl_export_lines_are_log_many_records(store: SQLStore) -> None:
    run_id = log("old", 0, store)
    stream = io.StringIO()
    export_run(run_id, "jsonl", stream, store=store)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 24
    with evalyard.start_run("copy", store=store) as copy:
        assert copy.log_many(lines) == 24
    assert evalyard.get_results(copy.run_id, store=store) == evalyard.get_results(
        run_id, store=store
    )


def test_csv_export_columns(store: SQLStore) -> None:
    run_id = log("old", 0, store)
    stream = io.StringIO()
    export_run(run_id, "csv", stream, store=store)
    header = stream.getvalue().splitlines()[0].split(",")
    assert header == [
        *BASE_COLUMNS,
        "metrics.correct",
        "metrics.label",
        "metrics.score",
        "metrics.tokens",
    ]


def test_export_refuses_what_it_cannot_write(store: SQLStore) -> None:
    run_id = log("old", 0, store)
    with pytest.raises(InvalidInputError, match="unknown export format 'xml'"):
        export_run(run_id, "xml", io.StringIO(), store=store)
    with pytest.raises(InvalidInputError, match="a Parquet export needs a file"):
        export_run(run_id, "parquet", None, store=store)


def test_run_and_evaluation_to_pandas(store: SQLStore) -> None:
    pytest.importorskip("pandas")
    with evalyard.start_run("old", store=store) as run:
        run.log_many(tricky_records(0))
        frame = run.to_pandas()
    assert len(frame) == 24
    assert list(frame.columns[: len(BASE_COLUMNS)]) == list(BASE_COLUMNS)
    assert frame["metrics.score"].mean() == pytest.approx(
        sum(((i * 7) % 10) / 10 for i in range(12)) / 12
    )
    assert str(frame["metrics.correct"].dtype) == "boolean"
    assert frame.loc[0, "inputs"] == {"question": "what is 0?", "choices": [1, 2, None]}

    result = evalyard.evaluate(
        lambda inputs: inputs["x"] * 2,
        dataset=[{"inputs": {"x": i}, "ground_truth": i * 2} for i in range(5)],
        evaluators=[evalyard.evaluators.exact_match],
        name="doubler",
        store=store,
    )
    evaluated = result.to_pandas()
    assert len(evaluated) == 5
    assert evaluated["metrics.exact_match"].all()


def test_comparison_to_pandas_by_datapoint(store: SQLStore) -> None:
    pytest.importorskip("pandas")
    evalyard.define_metric("latency", direction="lower", store=store)
    with evalyard.start_run("old", store=store) as old:
        old.log("a", metrics={"acc": True, "latency": 100, "label": "x"})
        old.log("b", metrics={"acc": True, "latency": 100, "label": "x"})
        old.log("c", metrics={"acc": False})
        old.log("gone", metrics={"acc": True})
    with evalyard.start_run("new", store=store) as new:
        new.log("a", metrics={"acc": False, "latency": 50, "label": "x"})
        new.log("b", metrics={"acc": True, "latency": 150, "label": "y"})
        new.log("c", metrics={"acc": True, "latency": 10})
        new.log("fresh", metrics={"acc": True})
    comparison = evalyard.compare_runs("new", "old", store=store)
    frame = comparison.to_pandas(by="datapoint")
    assert list(frame.columns) == ["datapoint_id", "metric", "old", "new", "delta", "status"]
    assert len(frame) == 5 * 3  # every datapoint of either run × every metric
    assert set(frame["status"]) <= set(STATUS_WORDS)
    rows = {(r.datapoint_id, r.metric): r for r in frame.itertuples()}
    assert (rows["a", "acc"].old, rows["a", "acc"].new, rows["a", "acc"].status) == (
        1.0,
        0.0,
        "regressed",
    )
    assert rows["a", "acc"].delta == -1.0
    assert rows["a", "latency"].status == "improved"
    assert rows["b", "latency"].status == "regressed"
    assert rows["b", "acc"].status == "unchanged"
    assert rows["b", "label"].status == "changed"
    assert (rows["b", "label"].old, rows["b", "label"].new) == ("x", "y")
    assert rows["c", "latency"].status == "missing"
    assert rows["fresh", "acc"].status == "new_only"
    assert rows["gone", "acc"].status == "old_only"
    by_metric = comparison.to_pandas()
    assert list(by_metric.index) == ["acc", "label", "latency"]
    with pytest.raises(InvalidInputError, match="takes metric or datapoint"):
        comparison.to_pandas(by="run")


def test_a_missing_pandas_is_said(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> None:
    with evalyard.start_run("old", store=store) as run:
        run.log("a", metrics={"acc": True})
    real_import = builtins.__import__

    def no_pandas(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in ("pandas", "pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(MissingDependencyError, match="needs pandas: pip install pandas"):
        run.to_pandas()
    with pytest.raises(MissingDependencyError, match="needs pyarrow"):
        export_run(run.run_id, "parquet", "x.parquet", store=store)
