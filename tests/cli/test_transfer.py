"""`evalyard import` and `evalyard export` end to end, through click's runner, on real
SQLite and PostgreSQL stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import evalyard
from evalyard.cli.main import cli

SAMPLES = """doc_id,prompt,target,acc,latency_ms,split
0,2+2?,4,1,120,test
1,3+3?,6,0,95.5,test
2,capital of France?,Paris,1,300,dev
"""
SAMPLES_NEW = """doc_id,prompt,target,acc,latency_ms,split
2,capital of France?,Paris,1,250,dev
0,2+2?,4,1,110,test
1,3+3?,6,1,90,test
"""


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def import_samples(path: Path, store_url: str, *extra: str) -> Result:
    return invoke(
        "import",
        "csv",
        str(path),
        "--id-column",
        "doc_id",
        "--input-column",
        "prompt",
        "--expected-column",
        "target",
        "--metric-column",
        "acc",
        "--metric-column",
        "latency_ms",
        "--store",
        store_url,
        *extra,
    )


def test_import_twice_then_compare(store_url: str, tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    new = tmp_path / "new.csv"
    old.write_text(SAMPLES, encoding="utf-8")
    new.write_text(SAMPLES_NEW, encoding="utf-8")
    first = import_samples(old, store_url, "--project", "bench", "--dataset", "arith")
    assert first.exit_code == 0, first.output
    assert first.output.startswith(f"imported 3 results from {old} as run 'old' (")
    assert "in project 'bench'" in first.output
    again = import_samples(old, store_url, "--project", "bench")
    assert again.exit_code == 0
    assert "is imported already: run 'old'" in again.output
    assert "nothing was written" in again.output
    assert import_samples(new, store_url, "--project", "bench").exit_code == 0
    info = evalyard.get_run("old", store=store_url)
    assert (info.project, info.dataset, info.result_count) == ("bench", "arith", 3)
    assert info.metadata["imported_from"] == {"format": "csv", "file": "old.csv"}
    compared = invoke("compare", "new", "--with", "old", "--format", "json", "--store", store_url)
    assert compared.exit_code == 0, compared.output
    data = json.loads(compared.output)
    assert len(data["common_datapoints"]) == 3
    acc = data["metric_deltas"]["acc"]
    assert (acc["old_aggregate"], acc["new_aggregate"]) == (pytest.approx(2 / 3), 1.0)
    assert data["metric_deltas"]["latency_ms"]["new_aggregate"] == pytest.approx(150)
    assert len(evalyard.list_runs(store=store_url)) == 2


def test_export_to_stdout_and_files_round_trips(store_url: str, tmp_path: Path) -> None:
    source = tmp_path / "old.csv"
    source.write_text(SAMPLES, encoding="utf-8")
    import_samples(source, store_url)
    as_jsonl = invoke("export", "old", "--store", store_url)
    assert as_jsonl.exit_code == 0
    lines = [json.loads(line) for line in as_jsonl.output.splitlines()]
    assert [line["datapoint_id"] for line in lines] == ["0", "1", "2"]
    assert lines[0]["metrics"] == {"acc": 1, "latency_ms": 120}
    assert lines[0]["metadata"] == {"split": "test"}
    as_csv = invoke("export", "old", "--format", "csv", "--store", store_url)
    assert as_csv.output.splitlines()[0].endswith(",metrics.acc,metrics.latency_ms")
    for output_format in ("jsonl", "csv", "parquet"):
        path = tmp_path / f"export.{output_format}"
        written = invoke(
            "export", "old", "--format", output_format, "--output", str(path), "--store", store_url
        )
        assert written.exit_code == 0, written.output
        assert f"exported 3 results of run 'old' to {path}" in written.output
        back = invoke(
            "import",
            output_format,
            str(path),
            "--name",
            f"back-{output_format}",
            "--store",
            store_url,
        )
        assert back.exit_code == 0, back.output
        compared = invoke(
            "compare",
            f"back-{output_format}",
            "--with",
            "old",
            "--format",
            "json",
            "--store",
            store_url,
        )
        deltas = json.loads(compared.output)["metric_deltas"]
        assert all(d["same_count"] == 3 for d in deltas.values())
        assert all(d["delta"] == 0 for d in deltas.values())


def test_errors_name_the_place_and_exit_2(store_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "m": 1}\n{"id": "b", "m": "x"}\n', encoding="utf-8")
    refused = invoke("import", "jsonl", str(bad), "--metric-column", "m", "--store", store_url)
    assert refused.exit_code == 2
    assert f"error: cannot import {bad}, line 2, field 'm': metric 'm'" in refused.output
    unknown = invoke("import", "xml", str(bad), "--store", store_url)
    assert unknown.exit_code == 2
    assert "'xml' is not one of" in unknown.output
    source = tmp_path / "old.csv"
    source.write_text(SAMPLES, encoding="utf-8")
    import_samples(source, store_url)
    parquet = invoke("export", "old", "--format", "parquet", "--store", store_url)
    assert parquet.exit_code == 2
    assert "a Parquet export needs a file: give --output PATH" in parquet.output
    missing = invoke("export", "nope", "--store", store_url)
    assert missing.exit_code == 2
    assert "no run matches 'nope'" in missing.output


def test_export_never_creates_a_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'absent' / 'evalyard.db'}"
    result = invoke("export", "old", "--store", url)
    assert result.exit_code == 2
    assert "no store at" in result.output
    assert not (tmp_path / "absent").exists()
