"""The lm-eval importer on files lm-evaluation-harness writes in the test: its ``dummy``
model on two small local tasks (a multiple-choice one and a generation one with two
filters), run offline with ``--log_samples`` at two seeds, imported on real stores."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

import evalyard
from evalyard.cli.main import cli
from evalyard.errors import ImportFileError, InvalidInputError
from evalyard.importers import FORMATS, import_file
from evalyard.store import SQLStore

MC_TASK = """task: tiny_mc
dataset_path: json
dataset_kwargs: {{data_files: {{test: {data}}}}}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list: [{{metric: acc, aggregation: mean, higher_is_better: true}}]
"""

GEN_TASK = """task: tiny_gen
dataset_path: json
dataset_kwargs: {{data_files: {{test: {data}}}}}
test_split: test
output_type: generate_until
doc_to_text: "{{{{question}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs: {{until: ["\\n"]}}
metric_list: [{{metric: exact_match, aggregation: mean, higher_is_better: true}}]
filter_list:
  - name: none
    filter: [{{function: take_first}}]
  - name: strict-match
    filter: [{{function: regex, regex_pattern: "(\\\\d+)"}}, {{function: take_first}}]
"""

TASKS = ("tiny_gen", "tiny_mc")
MC_DOCS = 12
GEN_DOCS = 6


@dataclass(frozen=True)
class LmEvalRun:
    """One ``lm_eval`` run: its output folder, the model folder in it and its files."""

    output: Path
    folder: Path
    results_file: Path
    results: dict[str, object]

    def samples(self, task: str) -> Path:
        return next(self.folder.glob(f"samples_{task}_*.jsonl"))


def _write_tasks(folder: Path) -> None:
    folder.mkdir()
    mc = folder / "mc.jsonl"
    with mc.open("w", encoding="utf-8") as handle:
        for i in range(MC_DOCS):
            row = {
                "id": f"mc-{i}",
                "question": f"Pick the number {i % 3}.",
                "choices": ["0", "1", "2"],
                "answer": i % 3,
            }
            handle.write(json.dumps(row) + "\n")
    gen = folder / "gen.jsonl"
    with gen.open("w", encoding="utf-8") as handle:
        for i in range(GEN_DOCS):
            # The dummy model answers "lol": every other document expects it.
            answer = "lol" if i % 2 else str(i)
            handle.write(
                json.dumps({"id": f"gen-{i}", "question": f"Say {answer}.", "answer": answer})
                + "\n"
            )
    (folder / "tiny_mc.yaml").write_text(MC_TASK.format(data=mc), encoding="utf-8")
    (folder / "tiny_gen.yaml").write_text(GEN_TASK.format(data=gen), encoding="utf-8")


def _run_lm_eval(tasks: Path, output: Path, seed: int, home: Path) -> LmEvalRun:
    script = Path(sys.executable).with_name("lm_eval")
    command = [str(script), "--model", "dummy", "--tasks", ",".join(TASKS)]
    command += ["--include_path", str(tasks), "--log_samples", "--output_path", str(output)]
    command += ["--seed", str(seed)]
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(home),
        "TOKENIZERS_PARALLELISM": "false",
    }
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (results_file,) = output.glob("*/results_*.json")
    return LmEvalRun(
        output, results_file.parent, results_file, json.loads(results_file.read_text("utf-8"))
    )


@pytest.fixture(scope="session")
def lm_eval_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[LmEvalRun, LmEvalRun]:
    """Two runs of the dummy model (random log-likelihoods: another seed, other answers)."""
    root = tmp_path_factory.mktemp("lm-eval")
    _write_tasks(root / "tasks")
    first = _run_lm_eval(root / "tasks", root / "out-1", 1, root / "hf")
    second = _run_lm_eval(root / "tasks", root / "out-2", 2, root / "hf")
    return first, second


@pytest.fixture
def runs(lm_eval_runs: tuple[LmEvalRun, LmEvalRun], tmp_path: Path) -> tuple[LmEvalRun, LmEvalRun]:
    """The two runs, copied for a test that may change them."""
    copies = []
    for number, run in enumerate(lm_eval_runs, 1):
        output = tmp_path / f"out-{number}"
        shutil.copytree(run.output, output)
        folder = output / run.folder.name
        copies.append(LmEvalRun(output, folder, folder / run.results_file.name, run.results))
    return copies[0], copies[1]


def _headline(run: LmEvalRun) -> dict[str, float]:
    """lm-eval's aggregates: ``acc,none`` → ``acc``, ``exact_match,strict-match`` as is."""
    found: dict[str, float] = {}
    results = run.results["results"]
    assert isinstance(results, dict)
    for task in TASKS:
        for key, value in results[task].items():
            metric, _, filter_name = key.partition(",")
            if filter_name and "_stderr" not in metric:
                found[metric if filter_name == "none" else key] = value
    return found


def test_the_format_is_registered() -> None:
    assert "lm-eval" in FORMATS
    with pytest.raises(InvalidInputError, match=r"unknown lm-eval options \['id_column'\]"):
        import_file("lm-eval", ".", id_column="doc_id")
    with pytest.raises(InvalidInputError, match="rest must be metadata or ignore"):
        import_file("lm-eval", ".", rest="keep")


def test_two_runs_import_compare_and_match_lm_evals_numbers(
    store: SQLStore, store_url: str, runs: tuple[LmEvalRun, LmEvalRun]
) -> None:
    first, second = runs
    # The first through the command line (the output folder), the second from Python
    # (its results file).
    printed = CliRunner().invoke(
        cli,
        ["import", "lm-eval", str(first.output), "--store", store_url],
        catch_exceptions=False,
    )
    assert printed.exit_code == 0, printed.output
    assert printed.output.startswith(f"imported {MC_DOCS + GEN_DOCS} results from ")
    outcome = import_file("lm-eval", second.results_file, store=store)
    assert outcome.created
    (old,) = [r for r in evalyard.list_runs(store=store) if r.run_id != outcome.run.run_id]
    new = outcome.run

    for run, info in ((first, old), (second, new)):
        n_samples = run.results["n-samples"]
        assert isinstance(n_samples, dict)
        assert info.result_count == sum(n_samples[t]["effective"] for t in TASKS)
        assert info.dataset == "tiny_gen,tiny_mc"
        assert info.name.endswith(run.results_file.stem.removeprefix("results_"))
        assert info.metadata["model"] == "dummy"
        assert info.metadata["lm_eval_version"] == run.results["lm_eval_version"]
        assert info.metadata["versions"] == run.results["versions"]
        assert info.metadata["n-shot"] == {"tiny_gen": 0, "tiny_mc": 0}
        assert info.metadata["results"] == run.results["results"]
        assert info.metadata["tasks"] == list(TASKS)
        assert info.metadata["imported_from"]["format"] == "lm-eval"
        assert info.metadata["higher_is_better"] == run.results["higher_is_better"]
        summary = evalyard.summarise_run(info.run_id, store=store)
        headline = _headline(run)
        assert set(headline) == {"acc", "exact_match", "exact_match,strict-match"}
        for metric, value in headline.items():
            assert summary.metric(metric).aggregate == pytest.approx(value), metric
        assert summary.metric("acc").count == MC_DOCS
        assert summary.metric("exact_match").count == GEN_DOCS
    assert _headline(first)["exact_match"] == pytest.approx(0.5)

    comparison = evalyard.compare_runs(new.run_id, old.run_id, store=store)
    assert len(comparison.common_datapoints) == MC_DOCS + GEN_DOCS
    assert sorted(comparison.common_datapoints) == sorted(
        [f"tiny_mc/{i}" for i in range(MC_DOCS)] + [f"tiny_gen/{i}" for i in range(GEN_DOCS)]
    )
    delta = comparison.get_metric_delta("acc")
    assert delta is not None
    # lm-eval's higher_is_better became the metrics' directions in the project.
    defined = store.metric_definitions("default")
    assert {name: str(d.direction) for name, d in defined.items()} == {
        "acc": "higher",
        "exact_match": "higher",
        "exact_match,strict-match": "higher",
    }

    results = {r.datapoint_id: r for r in evalyard.get_results(old.run_id, store=store)}
    line = json.loads(first.samples("tiny_mc").read_text("utf-8").splitlines()[0])
    mc = results[f"tiny_mc/{line['doc_id']}"]
    assert mc.inputs == line["arguments"]["gen_args_0"]["arg_0"]
    assert mc.outputs == line["filtered_resps"]
    assert mc.ground_truth == line["target"]
    assert mc.metrics == {"acc": line["acc"]}
    assert mc.metadata["doc"] == line["doc"]
    assert mc.metadata["resps"] == line["resps"]
    gen = results["tiny_gen/1"]
    assert gen.outputs == {"none": ["lol"], "strict-match": ["[invalid]"]}
    assert gen.metrics == {"exact_match": 1.0, "exact_match,strict-match": 0.0}
    assert gen.inputs == "Say lol."
    assert gen.ground_truth == "lol"


def test_importing_again_writes_nothing(
    store: SQLStore, store_url: str, runs: tuple[LmEvalRun, LmEvalRun]
) -> None:
    first, _ = runs
    made = import_file("lm-eval", first.output, store=store)
    # The model folder and the results file stand for the same files: the same run.
    for path in (first.output, first.folder, first.results_file):
        again = import_file("lm-eval", path, store=store)
        assert not again.created
        assert again.run.run_id == made.run.run_id
    printed = CliRunner().invoke(
        cli,
        ["import", "lm-eval", str(first.folder), "--store", store_url],
        catch_exceptions=False,
    )
    assert "is imported already" in printed.output
    assert len(evalyard.list_runs(store=store)) == 1
    assert evalyard.get_run(made.run.run_id, store=store).result_count == MC_DOCS + GEN_DOCS


def test_one_task_by_option_or_by_samples_file(
    store: SQLStore, runs: tuple[LmEvalRun, LmEvalRun]
) -> None:
    first, second = runs
    picked = import_file("lm-eval", first.output, task="tiny_mc", store=store).run
    assert picked.result_count == MC_DOCS
    assert picked.dataset == "tiny_mc"
    assert "-tiny_mc-" in picked.name
    assert picked.metadata["tasks"] == ["tiny_mc"]
    assert set(picked.metadata["results"]) == {"tiny_mc"}
    alone = import_file("lm-eval", second.samples("tiny_mc"), store=store).run
    assert alone.result_count == MC_DOCS
    assert alone.metadata["model"] == "dummy"  # from the results file beside it
    comparison = evalyard.compare_runs(alone.run_id, picked.run_id, store=store)
    assert len(comparison.common_datapoints) == MC_DOCS
    # Without its results file, a samples file is still a run (named after the file).
    second.results_file.unlink()
    bare = import_file("lm-eval", second.samples("tiny_gen"), store=store).run
    assert bare.name == second.samples("tiny_gen").stem
    assert bare.result_count == GEN_DOCS
    with pytest.raises(
        ImportFileError, match="the run has no task 'nope'; its tasks: tiny_gen, tiny_mc"
    ):
        import_file("lm-eval", first.output, task="nope", store=store)
    with pytest.raises(
        ImportFileError, match="holds the samples of task 'tiny_gen', not 'tiny_mc'"
    ):
        import_file("lm-eval", second.samples("tiny_gen"), task="tiny_mc", store=store)


def test_rest_ignore_drops_the_documents(
    store: SQLStore, runs: tuple[LmEvalRun, LmEvalRun]
) -> None:
    first, _ = runs
    run = import_file("lm-eval", first.output, rest="ignore", store=store).run
    results = evalyard.get_results(run.run_id, store=store)
    assert {r.metadata for r in results} == {None}
    assert results[0].metrics


def _lines(path: Path) -> list[str]:
    return path.read_text("utf-8").splitlines()


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda lines: lines.__setitem__(2, lines[2][:-5]), r"line 3: not valid JSON"),
        (lambda lines: lines.__setitem__(1, "[1, 2]"), r"line 2: a sample line is a JSON object"),
        (
            lambda lines: lines.append(lines[0]),
            r"line 13, field 'doc_id': doc_id 0 with filter 'none' is there already at line 1",
        ),
        (
            lambda lines: lines.__setitem__(3, lines[3].replace('"acc": ', '"acc_x": ')),
            r"line 4, field 'acc': the line lists metric 'acc' but has no 'acc' field",
        ),
        (
            lambda lines: lines.__setitem__(4, lines[4].replace('"doc_id": 4', '"doc_id": null')),
            r"line 5, field 'doc_id': doc_id must be a number or a string",
        ),
        (
            lambda lines: lines.__setitem__(5, lines[5].replace('"acc": ', '"acc": "high", "x": ')),
            r"line \d+, field 'acc': metric 'acc' on datapoint 'tiny_mc/\d+' is a string",
        ),
    ],
)
def test_a_malformed_samples_file_names_the_line_and_imports_nothing(
    store: SQLStore, runs: tuple[LmEvalRun, LmEvalRun], change: object, where: str
) -> None:
    first, _ = runs
    samples = first.samples("tiny_mc")
    lines = _lines(samples)
    change(lines)  # type: ignore[operator]
    samples.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=where) as caught:
        import_file("lm-eval", first.output, store=store)
    assert caught.value.exit_code == 2
    assert samples.name in str(caught.value)
    assert evalyard.list_runs(store=store) == []
    assert gc.isenabled()  # paused while reading, on again after the error


def test_folders_and_files_that_are_not_one_run(
    store: SQLStore, runs: tuple[LmEvalRun, LmEvalRun], tmp_path: Path
) -> None:
    first, second = runs
    both = tmp_path / "both"
    shutil.copytree(first.folder, both / "a")
    shutil.copytree(second.folder, both / "b")
    with pytest.raises(ImportFileError, match="holds the results of 2 runs"):
        import_file("lm-eval", both, store=store)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImportFileError, match="holds no results_"):
        import_file("lm-eval", empty, store=store)
    other = tmp_path / "answers.jsonl"
    other.write_text('{"id": 1}\n', encoding="utf-8")
    with pytest.raises(ImportFileError, match="not lm-eval output"):
        import_file("lm-eval", other, store=store)
    first.samples("tiny_gen").unlink()
    with pytest.raises(ImportFileError, match="samples of task 'tiny_gen' are written by"):
        import_file("lm-eval", first.output, store=store)
    with pytest.raises(ImportFileError, match="this is a folder; the jsonl format reads one file"):
        import_file("jsonl", second.output, store=store)
    assert evalyard.list_runs(store=store) == []


def test_lines_in_the_older_04_shape(store: SQLStore, runs: tuple[LmEvalRun, LmEvalRun]) -> None:
    """Before 0.4.3 a line had no filter, metrics list or hashes, and the arguments were
    lists: the metric fields are then the fields that are not the sample's own."""
    first, _ = runs
    samples = first.samples("tiny_mc")
    lines = []
    for text in _lines(samples):
        line = json.loads(text)
        line["arguments"] = [[a["arg_0"], a["arg_1"]] for a in line["arguments"].values()]
        for key in ("filter", "metrics", "doc_hash", "prompt_hash", "target_hash"):
            del line[key]
        lines.append(json.dumps(line))
    samples.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = import_file("lm-eval", samples, store=store).run
    results = {r.datapoint_id: r for r in evalyard.get_results(run.run_id, store=store)}
    assert len(results) == MC_DOCS
    line = json.loads(lines[0])
    assert results["tiny_mc/0"].inputs == line["arguments"][0][0]
    assert results["tiny_mc/0"].metrics == {"acc": line["acc"]}
    summary = evalyard.summarise_run(run.run_id, store=store)
    results_table = first.results["results"]
    assert isinstance(results_table, dict)
    assert summary.metric("acc").aggregate == pytest.approx(results_table["tiny_mc"]["acc,none"])


def test_the_command_takes_task_and_rest_for_lm_eval_only(
    store_url: str, runs: tuple[LmEvalRun, LmEvalRun], tmp_path: Path
) -> None:
    first, _ = runs
    runner = CliRunner()
    args = ["import", "lm-eval", str(first.output), "--task", "tiny_gen", "--rest", "ignore"]
    done = runner.invoke(cli, [*args, "--store", store_url], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert f"imported {GEN_DOCS} results" in done.output
    (run,) = evalyard.list_runs(store=store_url)
    assert run.dataset == "tiny_gen"
    assert {r.metadata for r in evalyard.get_results(run.run_id, store=store_url)} == {None}
    table = tmp_path / "t.csv"
    table.write_text("id,m\na,1\n", encoding="utf-8")
    wrong = runner.invoke(cli, ["import", "csv", str(table), "--task", "x", "--store", store_url])
    assert wrong.exit_code == 2
    assert "--task is an option of the lm-eval format" in wrong.output
    columns = runner.invoke(
        cli, ["import", "lm-eval", str(first.output), "--id-column", "doc_id", "--store", store_url]
    )
    assert columns.exit_code == 2
    assert "--id-column is an option of the table formats" in columns.output
