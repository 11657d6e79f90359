"""The inspect importer on real Inspect AI logs, written in the test by inspect_ai itself
(offline, with its mockllm provider; make_inspect_logs.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import evalyard
from evalyard.cli.main import cli
from evalyard.errors import (
    ImportFileError,
    IncompleteLogWarning,
    InvalidInputError,
    MissingDependencyError,
)
from evalyard.importers import FORMATS, import_file
from evalyard.store import SQLStore

inspect_log = pytest.importorskip("inspect_ai.log", reason="needs the inspect extra")

MAKER = Path(__file__).with_name("make_inspect_logs.py")
#: Inspect's score name → evalyard's metric of the same values.
SCORES = {
    "match": "match",
    "includes": "includes",
    "graded": "graded",
    "exact": "parts.exact",
}


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """weak.eval, strong.json, tools.eval and failed.eval, made once for the module."""
    folder = tmp_path_factory.mktemp("inspect")
    home = folder / "home"
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("INSPECT_")},
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "NO_PROXY": "*",
        "INSPECT_DISPLAY": "none",
    }
    made = subprocess.run(
        [sys.executable, str(MAKER), str(folder / "logs")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    return folder / "logs"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def inspect_metrics(path: Path) -> dict[str, float]:
    """Inspect's own summary: each score's accuracy (or mean), by evalyard's metric name."""
    log = inspect_log.read_eval_log(str(path), header_only=True)
    values: dict[str, float] = {}
    for score in log.results.scores:
        if score.name in SCORES:
            values[SCORES[score.name]] = score.metrics["accuracy"].value
        elif score.name == "length":
            values["parts.length"] = score.metrics["mean"].value
    return values


def test_the_format_is_registered() -> None:
    assert "inspect" in FORMATS
    assert "Inspect AI" in FORMATS["inspect"].description


def test_two_models_import_and_compare(store_url: str, logs: Path) -> None:
    weak, strong = logs / "weak.eval", logs / "strong.json"
    first = invoke("import", "inspect", str(weak), "--store", store_url)
    assert first.exit_code == 0, first.output
    assert first.output.startswith(f"imported 12 results from {weak} as run 'arith-mockllm/weak' (")
    again = invoke("import", "inspect", str(weak), "--store", store_url)
    assert again.exit_code == 0
    assert "is imported already: run 'arith-mockllm/weak'" in again.output
    outcome = import_file("inspect", strong, store=store_url)
    assert outcome.created
    assert outcome.record_count == 12
    assert not import_file("inspect", strong, store=store_url).created
    assert len(evalyard.list_runs(store=store_url)) == 2

    old = evalyard.get_run("arith-mockllm/weak", store=store_url)
    new = outcome.run
    assert (new.name, new.result_count, new.datapoint_count) == ("arith-mockllm/strong", 12, 6)
    assert (old.result_count, old.datapoint_count) == (12, 6)
    meta = new.metadata
    assert meta["task"] == "arith"
    assert meta["model"] == "mockllm/strong"
    assert meta["status"] == "success"
    assert (
        meta["inspect_version"]
        == inspect_log.read_eval_log(str(strong)).eval.packages["inspect_ai"]
    )
    assert {"eval_id", "run_id", "task_args", "model_generate_config"} <= set(meta)
    assert meta["results"]["scores"]["match"]["accuracy"] == pytest.approx(2 / 3)
    assert meta["imported_from"] == {"format": "inspect", "file": "strong.json"}

    comparison = evalyard.compare_runs(new.run_id, old.run_id, store=store_url)
    assert sorted(comparison.common_datapoints) == [f"q{i}" for i in range(6)]
    expected_old, expected_new = inspect_metrics(weak), inspect_metrics(strong)
    assert set(expected_old) == {*SCORES.values(), "parts.length"}
    for metric, value in expected_new.items():
        delta = comparison.get_metric_delta(metric)
        assert delta.new_aggregate == pytest.approx(value), metric
        assert delta.old_aggregate == pytest.approx(expected_old[metric]), metric
    assert comparison.get_metric_delta("match").old_aggregate == pytest.approx(0.5)
    assert comparison.get_metric_delta("total_tokens").new_aggregate == 12
    # Model calls are steps named "model" in both logs, so they compare across models.
    by_step = evalyard.compare_runs(new.run_id, old.run_id, step="model", store=store_url)
    assert by_step.get_metric_delta("output_tokens").new_aggregate == 2

    compared = invoke(
        "compare", new.name, "--with", old.name, "--format", "json", "--store", store_url
    )
    assert compared.exit_code == 0, compared.output
    deltas = json.loads(compared.output)["metric_deltas"]
    assert deltas["match"]["new_aggregate"] == pytest.approx(2 / 3)


def test_records_scores_and_steps(store: SQLStore, logs: Path) -> None:
    run = import_file("inspect", logs / "weak.eval", store=store).run
    results = evalyard.get_results(run.run_id, store=store)
    assert len(results) == 12
    assert sorted({r.epoch for r in results}) == [0, 1]  # Inspect's epochs 1 and 2
    q0 = next(r for r in results if r.datapoint_id == "q0" and r.epoch == 0)
    assert q0.inputs == "What is 0 + 0?"
    assert q0.ground_truth == "0"
    assert q0.outputs == "1"  # the weak model gets every second question wrong
    assert q0.metrics == {
        "match": False,
        "includes": False,
        "graded": 0.5,  # P: one off; the graded scorer gives P, so it is a number
        "parts.exact": False,
        "parts.length": 1,
        "input_tokens": 10,
        "output_tokens": 2,
        "total_tokens": 12,
    }
    q1 = next(r for r in results if r.datapoint_id == "q1" and r.epoch == 1)
    assert (q1.metrics["match"], q1.metrics["graded"]) == (True, 1.0)
    assert q0.duration_ms is not None
    assert q0.duration_ms > 0
    assert q0.metadata["inspect"]["scores"]["match"]["answer"] == "1"
    assert "working_time" in q0.metadata["inspect"]

    tree = q0.step_tree()
    assert [step.name for step in tree] == ["init", "solvers", "scorers"]
    generate = tree[1].children[0]
    assert (generate.name, generate.type) == ("generate", "chain")
    model = generate.children[0]
    assert (model.name, model.type) == ("model", "model")
    assert model.inputs["model"] == "mockllm/weak"
    assert model.inputs["messages"][0]["content"] == "What is 0 + 0?"
    assert model.outputs == "1"
    assert model.metrics == {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}
    assert [step.name for step in tree[2].children] == ["match", "includes", "graded", "parts"]

    definitions = store.metric_definitions("default")
    assert definitions["total_tokens"].direction == "lower"
    assert "match" not in definitions  # a bool: higher, by default


def test_tool_calls_are_tool_steps(store: SQLStore, logs: Path) -> None:
    run = import_file("inspect", logs / "tools.eval", store=store).run
    (result,) = evalyard.get_results(run.run_id, store=store)
    assert result.datapoint_id == "add"
    assert result.inputs == [
        {"role": "system", "content": "Use the add tool."},
        {"role": "user", "content": "What is 2 + 2?"},
    ]
    assert result.outputs == "4"
    assert result.metrics["match"] is True
    assert result.metrics["total_tokens"] == 24  # two model calls
    generate = result.step_tree()[1].children[1]
    assert [(step.name, step.type) for step in generate.children] == [
        ("model", "model"),
        ("add", "tool"),
        ("model", "model"),
    ]
    tool = generate.children[1]
    assert (tool.inputs, tool.outputs) == ({"x": 2, "y": 2}, "4")
    second = generate.children[2]
    # The second call's inputs are what it added: the tool's result, not the whole chat.
    assert [m["role"] for m in second.inputs["messages"]] == ["tool"]


def test_a_failed_eval_imports_its_samples_and_says_so(store: SQLStore, logs: Path) -> None:
    path = logs / "failed.eval"
    with pytest.warns(IncompleteLogWarning, match=r"failed\.eval: the eval's status is 'error'"):
        outcome = import_file("inspect", path, store=store)
    run = outcome.run
    assert run.metadata["status"] == "error"
    assert "the solver broke on q3" in run.metadata["error"]
    found = {r.datapoint_id: r for r in evalyard.get_results(run.run_id, store=store)}
    assert sorted(found) == ["q0", "q1", "q2", "q3"]
    assert "the solver broke on q3" in (found["q3"].error or "")
    assert found["q3"].outputs is None
    assert found["q3"].metrics.get("match") is None
    assert found["q1"].metrics["match"] is True


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("cut.eval", None, r"not an Inspect log"),
        ("garbage.json", b'{"version": 2, "status": ', r"not an Inspect log"),
        ("list.json", b"[1, 2, 3]", r"not an Inspect log"),
        ("log.txt", b"{}", r"field 'format': an Inspect log is a \.eval or \.json file"),
    ],
)
def test_a_malformed_log_imports_nothing(
    store: SQLStore,
    store_url: str,
    logs: Path,
    tmp_path: Path,
    name: str,
    content: bytes | None,
    message: str,
) -> None:
    path = tmp_path / name
    if content is None:
        whole = (logs / "weak.eval").read_bytes()
        content = whole[: len(whole) // 2]
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message) as caught:
        import_file("inspect", path, store=store)
    assert str(path) in str(caught.value)
    assert caught.value.exit_code == 2
    assert evalyard.list_runs(store=store) == []
    refused = invoke("import", "inspect", str(path), "--store", store_url)
    assert refused.exit_code == 2
    assert f"error: cannot import {path}" in refused.output


def test_options_and_a_missing_inspect(
    logs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weak = logs / "weak.eval"
    with pytest.raises(InvalidInputError, match="the inspect format takes no options"):
        import_file("inspect", weak, id_column="id")
    refused = invoke("import", "inspect", str(weak), "--metric-column", "match")
    assert refused.exit_code == 2
    assert "--metric-column is an option of the table formats" in refused.output
    monkeypatch.setitem(sys.modules, "inspect_ai.log", None)
    with pytest.raises(MissingDependencyError, match="importing Inspect logs needs inspect_ai"):
        import_file("inspect", weak, store=f"sqlite:///{tmp_path / 'x.db'}")


def test_a_score_kind_that_changes_names_the_sample(
    store: SQLStore, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = inspect_log.read_eval_log

    changed: list[Any] = []

    def mixed(path: str, *args: Any, **kwargs: Any) -> Any:
        log = read(path, *args, **kwargs)
        log.samples[3].scores["match"].value = "maybe"  # text where the others are C/I
        changed.append(log.samples[3])
        return log

    monkeypatch.setattr(inspect_log, "read_eval_log", mixed)
    with pytest.raises(ImportFileError, match=r"field 'match': metric 'match'") as caught:
        import_file("inspect", logs / "weak.eval", store=store)
    assert f"sample {changed[0].id!r} epoch {changed[0].epoch}," in str(caught.value)
    assert evalyard.list_runs(store=store) == []


def test_a_transcript_deeper_than_evalyard_keeps_every_step() -> None:
    from inspect_ai.event import SpanBeginEvent, SpanEndEvent

    from evalyard.core.steps import MAX_STEP_DEPTH, walk_steps
    from evalyard.importers.inspect import _steps

    events: list[Any] = []
    parent = None
    for level in range(MAX_STEP_DEPTH + 6):
        events.append(
            SpanBeginEvent(id=f"s{level}", parent_id=parent, name=f"level{level}", type="solver")
        )
        parent = f"s{level}"
    events += [SpanEndEvent(id=f"s{level}") for level in reversed(range(MAX_STEP_DEPTH + 6))]
    walked = list(walk_steps(_steps(events)))
    assert [step["name"] for _, step in walked] == [f"level{i}" for i in range(MAX_STEP_DEPTH + 6)]
    assert max(depth for depth, _ in walked) == MAX_STEP_DEPTH
    assert all("duration_ms" in step for _, step in walked)
