"""The table importers (JSONL, CSV, Parquet) on real stores: typing, mappings, idempotence,
and malformed files that import nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import evalyard
from evalyard.errors import ImportFileError, InvalidInputError
from evalyard.importers import FORMATS, import_file, import_run_id
from evalyard.store import SQLStore

CSV_TEXT = """qid,question,answer,gold,acc,f1,latency,label,model
q1,2+2?,4,4,true,1.0,120,easy,m1
q2,capital of France?,Paris,Paris,true,0.9,80.5,easy,m1
q3,3*3?,6,9,false,0,200,hard,m1
q4,"a, b and ""c""?",{"x": 1},,,,,hard,m1
"""

MAPPING = {
    "id_column": "qid",
    "input_column": "question",
    "output_column": "answer",
    "expected_column": "gold",
    "metric_columns": ["acc", "f1", "latency", "label"],
}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def results_by_id(run_id: str, store: SQLStore) -> dict[str, evalyard.Result]:
    return {r.datapoint_id: r for r in evalyard.get_results(run_id, store=store)}


def test_formats_are_registered() -> None:
    assert {"jsonl", "csv", "parquet"} <= set(FORMATS)
    with pytest.raises(InvalidInputError, match="unknown import format 'nope'; use one of"):
        import_file("nope", "x.csv")


def test_csv_cells_are_typed(store: SQLStore, tmp_path: Path) -> None:
    path = write(tmp_path / "answers.csv", CSV_TEXT)
    outcome = import_file("csv", path, store=store, dataset="arith", **MAPPING)
    assert outcome.created
    assert outcome.record_count == 4
    run = outcome.run
    assert (run.name, run.project, run.dataset, run.result_count) == (
        "answers",
        "default",
        "arith",
        4,
    )
    assert run.metadata["imported_from"] == {"format": "csv", "file": "answers.csv"}
    found = results_by_id(run.run_id, store)
    q1 = found["q1"]
    assert q1.inputs == "2+2?"
    assert q1.outputs == 4
    assert q1.ground_truth == 4
    assert q1.metrics == {"acc": True, "f1": 1.0, "latency": 120, "label": "easy"}
    assert q1.metadata == {"model": "m1"}
    assert found["q2"].metrics["latency"] == 80.5
    q4 = found["q4"]
    assert q4.inputs == 'a, b and "c"?'
    assert q4.outputs == {"x": 1}
    assert q4.ground_truth is None
    assert q4.metrics == {"label": "hard"}  # a missing value is not stored
    summary = evalyard.summarise_run(run.run_id, store=store)
    assert summary.metric("acc").aggregate == pytest.approx(2 / 3)
    assert summary.metric("f1").count == 3


def test_metric_prefix_and_rest(store: SQLStore, tmp_path: Path) -> None:
    path = write(
        tmp_path / "scores.csv",
        "id,prompt,score_f1,score_em,note,extra\nd1,hi,0.5,true,n1,7\nd2,yo,0.25,false,n2,8\n",
    )
    kept = import_file(
        "csv", path, store=store, input_column="prompt", metric_columns=["score_*"]
    ).run
    first = results_by_id(kept.run_id, store)["d1"]
    assert first.metrics == {"f1": 0.5, "em": True}
    assert first.metadata == {"note": "n1", "extra": 7}
    dropped = import_file(
        "csv",
        path,
        store=store,
        name="scores-bare",
        input_column="prompt",
        metric_columns=["score_*"],
        rest="ignore",
    ).run
    assert dropped.run_id != kept.run_id  # another mapping: another run
    assert results_by_id(dropped.run_id, store)["d1"].metadata is None


def test_importing_the_same_file_again_writes_nothing(store: SQLStore, tmp_path: Path) -> None:
    path = write(tmp_path / "answers.csv", CSV_TEXT)
    first = import_file("csv", path, store=store, **MAPPING)
    again = import_file("csv", path, store=store, name="other-name", **MAPPING)
    assert not again.created
    assert again.run.run_id == first.run.run_id
    assert again.run.name == "answers"
    assert len(evalyard.list_runs(store=store)) == 1
    assert evalyard.get_run(first.run.run_id, store=store).result_count == 4
    expected_id = first.run.run_id
    assert len(expected_id) == 32
    assert int(expected_id, 16) >= 0
    assert import_run_id("csv", {}, "default", b"x") == import_run_id("csv", {}, "default", b"x")
    assert import_run_id("csv", {}, "default", b"x") != import_run_id("csv", {}, "other", b"x")


def test_datapoint_ids_are_stable_across_two_files_of_one_benchmark(
    store: SQLStore, tmp_path: Path
) -> None:
    rows_a = [
        {"question": f"q{i}?", "expected": str(i), "output": str(i), "correct": True}
        for i in range(20)
    ]
    rows_b = [
        {"question": f"q{i}?", "expected": str(i), "output": "?", "correct": i % 2 == 0}
        for i in reversed(range(20))
    ]
    a = write(tmp_path / "a.jsonl", "".join(json.dumps(r) + "\n" for r in rows_a))
    b = write(tmp_path / "b.jsonl", "".join(json.dumps(r) + "\n" for r in rows_b))
    options = {"input_column": "question", "metric_columns": ["correct"]}
    run_a = import_file("jsonl", a, store=store, **options).run
    run_b = import_file("jsonl", b, store=store, **options).run
    comparison = evalyard.compare_runs(run_b.run_id, run_a.run_id, store=store)
    assert len(comparison.common_datapoints) == 20
    assert comparison.get_metric_delta("correct").degraded_count == 10


def test_jsonl_with_nested_metrics_epochs_and_steps(store: SQLStore, tmp_path: Path) -> None:
    lines = [
        {
            "id": "s1",
            "epoch": epoch,
            "input": {"q": "x"},
            "metrics": {"accuracy": epoch == 0, "tokens": 10 + epoch},
            "steps": [{"name": "generate", "type": "model", "metrics": {"tokens": 10}}],
            "task": "t1",
        }
        for epoch in range(2)
    ]
    path = write(tmp_path / "log.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n")
    run = import_file("jsonl", path, store=store).run
    assert run.result_count == 2
    assert run.datapoint_count == 1
    results = evalyard.get_results(run.run_id, store=store)
    assert [r.epoch for r in results] == [0, 1]
    assert results[1].metrics == {"accuracy": False, "tokens": 11}
    assert results[0].metadata == {"task": "t1"}
    assert results[0].step_tree()[0].name == "generate"
    summary = evalyard.summarise_run(run.run_id, store=store)
    assert summary.metric("accuracy").aggregate == pytest.approx(0.5)
    assert summary.steps == {"generate": 1}


def test_parquet_written_by_pandas(store: SQLStore, tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pandas.DataFrame(
        {
            "doc_id": [0, 1, 2],
            "prompt": ["a", "b", "c"],
            "acc": [1.0, float("nan"), 0.0],
            "passed": [True, False, True],
        }
    )
    path = tmp_path / "samples.parquet"
    frame.to_parquet(path)
    run = import_file(
        "parquet",
        path,
        store=store,
        id_column="doc_id",
        input_column="prompt",
        metric_columns=["acc", "passed"],
        rest="ignore",
    ).run
    found = results_by_id(run.run_id, store)
    assert sorted(found) == ["0", "1", "2"]
    assert found["1"].metrics == {"passed": False}
    assert found["0"].metrics == {"acc": 1.0, "passed": True}


@pytest.mark.parametrize(
    ("name", "text", "options", "where"),
    [
        (
            "bad.jsonl",
            '{"id": "a", "m": 1}\n{"id": "b", "m": 2\n',
            {"metric_columns": ["m"]},
            r"bad\.jsonl, line 2: not valid JSON",
        ),
        (
            "list.jsonl",
            '{"id": "a"}\n[1, 2]\n',
            {},
            r"list\.jsonl, line 2: a row must be a JSON object",
        ),
        (
            "kinds.csv",
            "id,m\na,1\nb,2\nc,high\n",
            {"metric_columns": ["m"]},
            r"kinds\.csv, line 4, field 'm': metric 'm' on datapoint 'c' is a string, but "
            r"earlier rows hold number values",
        ),
        (
            "twice.csv",
            "id,m\na,1\nb,2\na,3\n",
            {"metric_columns": ["m"]},
            r"twice\.csv, line 4, field 'datapoint_id': datapoint 'a' epoch 0 is there already "
            r"at line 2",
        ),
        (
            "missing.csv",
            "id,m\na,1\n",
            {"metric_columns": ["score"]},
            r"missing\.csv, field 'score': the file has no column 'score'; its columns: id, m",
        ),
        (
            "cells.csv",
            "id,m\na,1\nb,2,3\n",
            {"metric_columns": ["m"]},
            r"cells\.csv, line 3: the row has 3 cells but the header has 2 columns",
        ),
        (
            "noid.csv",
            "m\n1\n",
            {"metric_columns": ["m"]},
            r"noid\.csv, line 2: the row has no id, inputs or expected output",
        ),
        (
            "epoch.jsonl",
            '{"id": "a", "epoch": -1}\n',
            {},
            r"epoch\.jsonl, line 1, field 'epoch': epoch of datapoint 'a' must be a whole number",
        ),
        ("empty.jsonl", "\n\n", {}, r"empty\.jsonl: the file holds no results"),
        ("header.csv", "id,m\n", {}, r"header\.csv: the file holds no results"),
        (
            "nested.jsonl",
            '{"id": "a", "metrics": {"m": [1, 2]}}\n',
            {},
            r"nested\.jsonl, line 1, field 'm': ",
        ),
    ],
)
def test_a_malformed_file_names_the_place_and_imports_nothing(
    store: SQLStore,
    tmp_path: Path,
    name: str,
    text: str,
    options: dict[str, object],
    where: str,
) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(ImportFileError, match=where) as caught:
        import_file(name.rsplit(".", 1)[1], path, store=store, **options)
    assert caught.value.exit_code == 2
    assert caught.value.http_status == 422
    assert str(path) in str(caught.value)
    assert evalyard.list_runs(store=store) == []


def test_a_missing_file_and_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="there is no such file"):
        import_file("csv", tmp_path / "absent.csv")
    path = write(tmp_path / "x.csv", "id\na\n")
    with pytest.raises(InvalidInputError, match="unknown table options"):
        import_file("csv", path, id_colum="id")
    with pytest.raises(InvalidInputError, match="rest must be metadata or ignore"):
        import_file("csv", path, rest="keep")


def test_csv_ids_stay_text(store: SQLStore, tmp_path: Path) -> None:
    path = write(tmp_path / "codes.csv", "id,code,m\n007,007,1\n7,7,2\n1e5,1e5,3\n")
    run = import_file("csv", path, store=store, metric_columns=["m"]).run
    found = results_by_id(run.run_id, store)
    assert sorted(found) == ["007", "1e5", "7"]
    assert found["007"].metadata == {"code": "007"}
    assert found["7"].metadata == {"code": 7}
    assert found["1e5"].metadata == {"code": 100000.0}
