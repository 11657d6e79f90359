"""The promptfoo importer on files promptfoo itself writes in the test (its offline ``echo``
provider, and an ``http`` provider on a port that refuses for errors), checked against
promptfoo's own counts, on SQLite and PostgreSQL.

promptfoo 0.121.20 is installed by ``./scripts/setup dev`` into .tools/promptfoo (or set
EVALYARD_PROMPTFOO to its executable); the tests are skipped only when node is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import evalyard
from evalyard.cli.main import cli
from evalyard.core.model import Direction
from evalyard.errors import ImportFileError, InvalidInputError
from evalyard.importers import FORMATS, ImportOutcome, import_file, import_runs
from evalyard.store import SQLStore, open_store
from tests.api.conftest import (
    ServerProcess,
    server,  # noqa: F401  (a team server, on SQLite then PostgreSQL)
)

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = ROOT / ".tools" / "promptfoo" / "node_modules" / ".bin" / "promptfoo"

PROMPTS = """prompts:
  - {raw: "Answer: {{question}}", label: plain}
  - {raw: "Reply briefly: {{question}}", label: brief}
providers:
  - {id: echo, label: echo-a}
"""
# The same suite twice: the second has its tests in another order and stricter assertions.
SUITE = (
    "description: geography-and-sums\n"
    + PROMPTS
    + """tests:
  - description: arithmetic
    vars: {question: "two plus two"}
    assert:
      - {type: contains, value: two}
      - {type: icontains, value: FOUR, metric: knows}
  - vars: {question: "capital of France"}
    assert:
      - {type: contains, value: France}
  - vars: {question: "colour of the sky"}
    assert:
      - {type: icontains, value: SKY}
      - {type: contains, value: blue}
"""
)
STRICTER = (
    "description: geography-and-sums\n"
    + PROMPTS
    + """tests:
  - vars: {question: "colour of the sky"}
    assert:
      - {type: icontains, value: SKY}
  - vars: {question: "capital of France"}
    assert:
      - {type: contains, value: France}
      - {type: contains, value: Paris}
  - description: arithmetic
    vars: {question: "two plus two"}
    assert:
      - {type: contains, value: two}
      - {type: icontains, value: FOUR, metric: knows}
"""
)
# Two providers, one of which fails (port 9 is refused at once), each test run twice.
FAILING = """description: errors
prompts: ["Answer: {{question}}"]
providers:
  - {id: echo, label: echo-a}
  - id: http://127.0.0.1:9/complete
    label: down
    config: {method: POST, body: {q: "{{prompt}}"}, maxRetries: 0}
tests:
  - vars: {question: "two plus two"}
    assert: [{type: contains, value: two}]
  - vars: {question: "capital of France"}
    assert: [{type: contains, value: Paris}]
"""


def promptfoo_executable() -> Path:
    """promptfoo to run, or the reason the tests cannot run."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the promptfoo importer's tests run promptfoo")
    given = os.environ.get("EVALYARD_PROMPTFOO")
    found = Path(given) if given else INSTALLED
    if not found.exists():
        pytest.fail(
            f"promptfoo is not at {found}: run ./scripts/setup dev (it installs promptfoo "
            "0.121.20 with npm), or set EVALYARD_PROMPTFOO"
        )
    return found


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Result files written by promptfoo: ``suite``, ``stricter`` and ``failing``."""
    executable = promptfoo_executable()
    folder = tmp_path_factory.mktemp("promptfoo")
    environment = {
        **os.environ,
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_CONFIG_DIR": str(folder / "config"),
        "PROMPTFOO_REQUEST_BACKOFF_MS": "1",
    }
    made: dict[str, Path] = {}
    for name, config, extra in [
        ("suite", SUITE, []),
        ("stricter", STRICTER, []),
        ("failing", FAILING, ["--repeat", "2"]),
    ]:
        (folder / f"{name}.yaml").write_text(config, encoding="utf-8")
        output = folder / f"{name}.json"
        command = [str(executable), "eval", "-c", f"{name}.yaml", "-o", output.name]
        done = subprocess.run(
            [*command, "--no-cache", "--no-progress-bar", *extra],
            cwd=folder,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        # promptfoo exits with 100 when an assertion fails: the files are written all the same.
        assert output.is_file(), done.stdout + done.stderr
        made[name] = output
    return made


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def column_summary(data: dict[str, Any], provider: str, prompt: str) -> dict[str, Any]:
    """promptfoo's own counts of one prompt × provider."""
    for column in data["results"]["prompts"]:
        if column["provider"] == provider and column["label"] == prompt:
            found: dict[str, Any] = column["metrics"]
            return found
    raise AssertionError(f"no column {provider}/{prompt}")


def by_name(outcomes: list[ImportOutcome]) -> dict[str, ImportOutcome]:
    return {outcome.run.name: outcome for outcome in outcomes}


def test_the_format_is_registered() -> None:
    assert "promptfoo" in FORMATS


def test_each_provider_and_prompt_is_a_run_with_promptfoos_counts(
    store: SQLStore, files: dict[str, Path]
) -> None:
    data = load(files["suite"])
    outcomes = by_name(import_runs("promptfoo", files["suite"], store=store))
    assert sorted(outcomes) == ["suite/echo-a/brief", "suite/echo-a/plain"]
    stats = data["results"]["stats"]
    passes = fails = 0
    for prompt in ("plain", "brief"):
        outcome = outcomes[f"suite/echo-a/{prompt}"]
        run = outcome.run
        assert outcome.created
        assert (run.result_count, run.datapoint_count, run.dataset) == (
            3,
            3,
            "geography-and-sums",
        )
        assert run.metadata["provider"] == {"id": "echo", "label": "echo-a"}
        assert run.metadata["prompt"]["label"] == prompt
        assert run.metadata["promptfoo"]["version"] == "0.121.20"
        assert run.metadata["imported_from"] == {"format": "promptfoo", "file": "suite.json"}
        own = column_summary(data, "echo-a", prompt)
        assert run.metadata["promptfoo_summary"]["testPassCount"] == own["testPassCount"]
        results = evalyard.get_results(run.run_id, store=store)
        passed = sum(r.metrics["pass"] for r in results)
        assert passed == own["testPassCount"]
        assert len(results) - passed == own["testFailCount"]
        assert sum(r.error is not None for r in results) == own["testErrorCount"] == 0
        asserted = [v for r in results for k, v in r.metrics.items() if k.startswith("assert.")]
        assert sum(asserted) == own["assertPassCount"]
        assert len(asserted) - sum(asserted) == own["assertFailCount"]
        assert sum(r.metrics["score"] for r in results) == pytest.approx(own["score"])
        summary = evalyard.summarise_run(run.run_id, store=store)
        assert summary.metric("pass").aggregate == pytest.approx(own["testPassCount"] / 3)
        passes += passed
        fails += len(results) - passed
        # Each result against promptfoo's own entry for it.
        entries = {
            e["testIdx"]: e for e in data["results"]["results"] if e["prompt"]["label"] == prompt
        }
        for result in results:
            entry = entries[result.metadata["test"]]
            assert result.metrics["pass"] is entry["success"]
            assert result.metrics["score"] == pytest.approx(entry["score"])
            assert result.outputs == entry["response"]["output"]
            assert result.inputs == {"vars": entry["vars"], "prompt": entry["prompt"]["raw"]}
            assert result.metrics["latency_ms"] == entry["latencyMs"]
            assert result.metrics["tokens_total"] == entry["tokenUsage"]["total"]
            assert result.duration_ms == entry["latencyMs"]
    assert (passes, fails) == (stats["successes"], stats["failures"])
    arithmetic = next(
        r
        for r in evalyard.get_results(outcomes["suite/echo-a/plain"].run.run_id, store=store)
        if r.metadata.get("description") == "arithmetic"
    )
    # Named by the assertion's metric, else its type; a named score is a number.
    assert arithmetic.metrics["assert.contains"] is True
    assert arithmetic.metrics["assert.knows"] is False
    assert arithmetic.metrics["score.knows"] == 0
    assert arithmetic.metrics["score"] == 0.5
    assert [a["metric"] for a in arithmetic.metadata["assertions"]] == [
        "assert.contains",
        "assert.knows",
    ]
    assert arithmetic.metadata["reason"] == 'Expected output to contain "FOUR"'
    sky = next(
        r
        for r in evalyard.get_results(outcomes["suite/echo-a/plain"].run.run_id, store=store)
        if r.inputs["vars"]["question"] == "colour of the sky"
    )
    assert sky.metrics["assert.icontains"] is True
    assert sky.metrics["assert.contains"] is False
    definitions = store.metric_definitions("default")
    assert definitions["latency_ms"].direction is Direction.LOWER
    assert definitions["cost"].direction is Direction.LOWER
    assert "pass" not in definitions


def test_prompts_and_files_compare_by_test(store: SQLStore, files: dict[str, Path]) -> None:
    suite = by_name(import_runs("promptfoo", files["suite"], store=store))
    stricter = by_name(import_runs("promptfoo", files["stricter"], store=store))
    plain = suite["suite/echo-a/plain"].run.run_id
    brief = suite["suite/echo-a/brief"].run.run_id
    # Two prompts of one file: the same tests.
    prompts = evalyard.compare_runs(brief, plain, store=store)
    assert len(prompts.common_datapoints) == 3
    # Two files: tests reordered and assertions changed, still the same datapoints.
    new = stricter["stricter/echo-a/plain"].run.run_id
    files_compared = evalyard.compare_runs(new, plain, store=store)
    assert len(files_compared.common_datapoints) == 3
    assert files_compared.new_only_datapoints == []

    def passed(path: Path) -> dict[str, bool]:
        return {
            e["vars"]["question"]: e["success"]
            for e in load(path)["results"]["results"]
            if e["prompt"]["label"] == "plain"
        }

    before, after = passed(files["suite"]), passed(files["stricter"])
    delta = files_compared.get_metric_delta("pass")
    assert delta.degraded_count == sum(before[q] and not after[q] for q in before) == 1
    assert delta.improved_count == sum(after[q] and not before[q] for q in before) == 1
    assert delta.new_aggregate == pytest.approx(sum(after.values()) / 3)


def test_errors_repeats_and_providers(store: SQLStore, files: dict[str, Path]) -> None:
    data = load(files["failing"])
    stats = data["results"]["stats"]
    outcomes = by_name(import_runs("promptfoo", files["failing"], store=store))
    prompt = "Answer: {{question}}"
    assert sorted(outcomes) == [f"failing/down/{prompt}", f"failing/echo-a/{prompt}"]
    down = outcomes[f"failing/down/{prompt}"].run
    echo = outcomes[f"failing/echo-a/{prompt}"].run
    # --repeat 2: each test twice, as two epochs of one datapoint.
    assert (down.result_count, down.datapoint_count) == (4, 2)
    errors = [r for r in evalyard.get_results(down.run_id, store=store) if r.error is not None]
    assert len(errors) == stats["errors"] == 4
    assert all("fetch failed" in r.error for r in errors if r.error)
    assert sorted(r.epoch for r in errors) == [0, 0, 1, 1]
    echoed = evalyard.get_results(echo.run_id, store=store)
    assert sum(r.metrics["pass"] for r in echoed) == stats["successes"] == 2
    assert sum(not r.metrics["pass"] for r in echoed) == stats["failures"] == 2
    assert all(r.error is None for r in echoed)
    # One provider of the file, then the run import_runs made, found again.
    only = import_runs("promptfoo", files["failing"], store=store, provider="down")
    assert [(o.run.run_id, o.created) for o in only] == [(down.run_id, False)]
    again = import_file("promptfoo", files["failing"], store=store, provider="echo", prompt=prompt)
    assert (again.run.run_id, again.created) == (echo.run_id, False)
    comparison = evalyard.compare_runs(echo.run_id, down.run_id, store=store)
    assert len(comparison.common_datapoints) == 2


def test_import_through_a_team_server(
    server: ServerProcess,  # noqa: F811
    files: dict[str, Path],
) -> None:
    stats = load(files["failing"])["results"]["stats"]
    first = import_runs("promptfoo", files["failing"], project="pf-remote", store=server.url)
    again = import_runs("promptfoo", files["failing"], project="pf-remote", store=server.url)
    assert [o.created for o in first] == [True, True]
    assert [(o.run.run_id, o.created) for o in again] == [(o.run.run_id, False) for o in first]
    on_the_store = open_store(server.store_url)
    try:
        runs = on_the_store.list_runs(project="pf-remote")
        assert sorted(run.result_count for run in runs) == [4, 4]
        assert {run.status.value for run in runs} == {"completed"}
        errors = sum(
            r.error is not None
            for run in runs
            for r in evalyard.get_results(run.run_id, store=on_the_store)
        )
        assert errors == stats["errors"]
        definitions = on_the_store.metric_definitions("pf-remote")
        assert definitions["latency_ms"].direction is Direction.LOWER
    finally:
        on_the_store.close()


def test_importing_again_writes_nothing(store: SQLStore, files: dict[str, Path]) -> None:
    first = import_runs("promptfoo", files["suite"], store=store)
    again = import_runs("promptfoo", files["suite"], store=store, name="other")
    assert [o.created for o in again] == [False, False]
    assert [o.run.run_id for o in again] == [o.run.run_id for o in first]
    assert len(evalyard.list_runs(store=store)) == 2
    # A selection names one run; another project is another run.
    one = import_file("promptfoo", files["suite"], store=store, prompt="brief")
    assert not one.created
    assert one.run.name == "suite/echo-a/brief"
    elsewhere = import_runs("promptfoo", files["suite"], store=store, project="p2", name="x")
    assert sorted(o.run.name for o in elsewhere) == ["x/echo-a/brief", "x/echo-a/plain"]
    assert {o.run.project for o in elsewhere} == {"p2"}


def test_selections(store: SQLStore, files: dict[str, Path]) -> None:
    with pytest.raises(InvalidInputError, match=r"holds 2 runs \('echo-a/plain', 'echo-a/brief'\)"):
        import_file("promptfoo", files["suite"], store=store)
    with pytest.raises(InvalidInputError, match=r"has prompt 'nope'; it holds: provider 'echo-a'"):
        import_runs("promptfoo", files["suite"], store=store, prompt="nope")
    with pytest.raises(InvalidInputError, match=r"unknown promptfoo options \['id_column'\]"):
        import_runs("promptfoo", files["suite"], store=store, id_column="x")
    named = import_file("promptfoo", files["suite"], store=store, prompt="plain", name="mine")
    assert named.run.name == "mine"
    assert evalyard.list_runs(store=store)[0].name == "mine"


def damage(path: Path, tmp_path: Path, change: Callable[[dict[str, Any]], Any]) -> Path:
    data = load(path)
    change(data)
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps(data), encoding="utf-8")
    return damaged


def _set(keys: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        holder: Any = data
        for key in keys[:-1]:
            holder = holder[key]
        if value is KeyError:
            del holder[keys[-1]]
        else:
            holder[keys[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            _set(["results", "results", 4, "success"], "yes"),
            r"results\.results\[4\], field 'success': success must be true or false, not a "
            r"string",
        ),
        (
            _set(["results", "results", 1, "provider"], KeyError),
            r"results\.results\[1\], field 'provider': provider must be an object, not null",
        ),
        (
            _set(["results", "results", 2, "gradingResult", "componentResults", 0, "pass"], 1),
            r"results\.results\[2\], field 'gradingResult\.componentResults\[0\]\.pass': ",
        ),
        (
            _set(["results", "results", 3, "namedScores"], {"knows": "high"}),
            r"results\.results\[3\], field 'namedScores\.knows': namedScores\.knows must be a "
            r"number",
        ),
        (
            _set(["results", "results", 5, "promptIdx"], KeyError),
            r"results\.results\[5\], field 'promptIdx': the result has no promptIdx",
        ),
        (
            _set(["results", "results"], {}),
            r"field 'results\.results': results\.results must be a list",
        ),
        (
            _set(["results"], [1]),
            r"field 'results': not a promptfoo results file",
        ),
        (_set(["results", "results"], []), r"damaged\.json: the file holds no results"),
    ],
)
def test_a_damaged_file_names_the_place_and_imports_nothing(
    store: SQLStore,
    files: dict[str, Path],
    tmp_path: Path,
    change: Callable[[dict[str, Any]], Any],
    where: str,
) -> None:
    damaged = damage(files["suite"], tmp_path, change)
    with pytest.raises((ImportFileError, InvalidInputError), match=where) as caught:
        import_runs("promptfoo", damaged, store=store)
    assert str(damaged) in str(caught.value)
    assert caught.value.exit_code == 2
    assert evalyard.list_runs(store=store) == []


def test_not_json(store: SQLStore, tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text('{"results": ', encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"out\.json: not valid JSON"):
        import_runs("promptfoo", path, store=store)
    assert evalyard.list_runs(store=store) == []


def test_the_command_imports_every_run_then_compares(
    store_url: str, files: dict[str, Path]
) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["import", "promptfoo", str(files["suite"]), "--store", store_url])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        f"imported 3 results from {files['suite']} as run 'suite/echo-a/plain' ("
    )
    again = runner.invoke(
        cli,
        ["import", "promptfoo", str(files["suite"]), "--prompt", "brief", "--store", store_url],
    )
    assert again.exit_code == 0, again.output
    assert "is imported already: run 'suite/echo-a/brief'" in again.output
    compared = runner.invoke(
        cli,
        [
            "compare",
            "suite/echo-a/brief",
            "--with",
            "suite/echo-a/plain",
            "--format",
            "json",
            "--store",
            store_url,
        ],
    )
    assert compared.exit_code == 0, compared.output
    assert len(json.loads(compared.output)["common_datapoints"]) == 3
    refused = runner.invoke(
        cli,
        ["import", "promptfoo", str(files["suite"]), "--id-column", "x", "--store", store_url],
    )
    assert refused.exit_code == 2
    assert "--id-column is an option of the table formats" in refused.output
    table = files["suite"].with_suffix(".jsonl")
    table.write_text('{"id": "a"}\n', encoding="utf-8")
    wrong = runner.invoke(
        cli, ["import", "jsonl", str(table), "--provider", "echo-a", "--store", store_url]
    )
    assert wrong.exit_code == 2
    assert "--provider is an option of the promptfoo format" in wrong.output
