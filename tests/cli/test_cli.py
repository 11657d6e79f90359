"""The `evalyard` commands end to end, through click's runner, on real SQLite files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import evalyard
from evalyard.cli.main import cli
from evalyard.store import open_store


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store' / 'evalyard.db'}"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def log_two_runs(
    url: str, *, new_name: str = "candidate", project: str = "default"
) -> tuple[str, str]:
    """A baseline and a candidate sharing q1-q3; on q2 the candidate degrades."""
    evalyard.define_metric("latency_ms", direction="lower", project=project, store=url)
    with evalyard.start_run(
        "baseline", project=project, dataset="qa", metadata={"model": "small"}, store=url
    ) as old:
        for datapoint_id, score, correct, latency in [
            ("q1", 0.5, False, 100.0),
            ("q2", 0.9, True, 200.0),
            ("q3", 0.4, False, 300.0),
            ("q4", 0.1, False, 400.0),
        ]:
            old.log(
                datapoint_id,
                inputs={"question": f"question {datapoint_id}"},
                outputs=f"old answer {datapoint_id}",
                metrics={"score": score, "correct": correct, "latency_ms": latency},
                steps=[{"name": "retrieve", "type": "tool", "metrics": {"hits": 1}}],
            )
    with evalyard.start_run(
        new_name, project=project, dataset="qa", metadata={"model": "large"}, store=url
    ) as new:
        for datapoint_id, score, correct, latency in [
            ("q1", 0.75, True, 90.0),
            ("q2", 0.5, False, 250.0),
            ("q3", 0.4, False, 300.0),
            ("q5", 1.0, True, 50.0),
        ]:
            new.log(
                datapoint_id,
                inputs={"question": f"question {datapoint_id}"},
                outputs=f"new answer {datapoint_id}",
                metrics={"score": score, "correct": correct, "latency_ms": latency},
                steps=[{"name": "retrieve", "type": "tool", "metrics": {"hits": 3}}],
            )
    return new.run_id, old.run_id


# -- runs ------------------------------------------------------------------------------------


def test_runs_lists_runs_newest_first(url: str) -> None:
    new_id, old_id = log_two_runs(url)
    result = invoke("runs", "--store", url)
    assert result.exit_code == 0
    out = result.stdout
    assert new_id[:8] in out
    assert old_id[:8] in out
    assert out.index("candidate") < out.index("baseline")
    assert "completed" in out


def test_runs_json_is_every_run_as_a_dict(url: str) -> None:
    log_two_runs(url)
    result = invoke("runs", "--format", "json", "--store", url)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [info.to_dict() for info in evalyard.list_runs(store=url)]


def test_runs_filters_by_project(url: str) -> None:
    log_two_runs(url)
    with evalyard.start_run("elsewhere", project="other", store=url) as run:
        run.log("q1", metrics={"score": 1.0})
    result = invoke("runs", "--project", "other", "--format", "json", "--store", url)
    assert [info["name"] for info in json.loads(result.stdout)] == ["elsewhere"]


def test_runs_on_an_empty_store_says_how_to_start(url: str) -> None:
    open_store(url).close()  # a store without runs
    result = invoke("runs", "--store", url)
    assert result.exit_code == 0
    assert "evalyard demo" in result.stdout


def test_store_comes_from_the_environment(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    log_two_runs(url)
    monkeypatch.setenv("EVALYARD_STORE", url)
    assert "candidate" in invoke("runs").stdout


def test_default_store_is_under_the_current_folder(tmp_path: Path) -> None:
    # The suite runs each test in its own folder (conftest), with no EVALYARD_STORE.
    with evalyard.start_run("here") as run:
        run.log("q1", metrics={"score": 1.0})
    assert (tmp_path / ".evalyard" / "evalyard.db").exists()
    assert "here" in invoke("runs").stdout


# -- show ------------------------------------------------------------------------------------


def test_show_prints_the_header_metrics_steps_and_first_results(url: str) -> None:
    new_id, _ = log_two_runs(url)
    result = invoke("show", "candidate", "--store", url)
    assert result.exit_code == 0
    out = result.stdout
    for expected in (new_id, "candidate", "completed", "model: large", "retrieve"):
        assert expected in out
    # score averages 0.6625 over the 4 datapoints of the run; hits averages 3.
    assert any("score" in line and "0.6625" in line and "4" in line for line in out.splitlines())
    assert any("hits" in line and "retrieve" in line for line in out.splitlines())
    assert "new answer q1" in out
    assert "q5" in out


def test_show_json_holds_the_run_its_metrics_and_results(url: str) -> None:
    new_id, _ = log_two_runs(url)
    result = invoke("show", new_id[:8], "--format", "json", "--limit", "2", "--store", url)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["run"] == evalyard.get_run(new_id, store=url).to_dict()
    assert data["steps"] == {"retrieve": 4}
    own = evalyard.summarise_run(new_id, store=url)
    session = {m["metric"]: m for m in data["metrics"] if m["step"] is None}
    assert session["score"]["aggregate"] == own.metric("score").aggregate == 0.6625
    assert session["latency_ms"]["direction"] == "lower"
    assert [r["datapoint_id"] for r in data["results"]] == ["q1", "q2"]


# -- compare ---------------------------------------------------------------------------------


def test_compare_table_shows_both_runs_counts_and_one_row_per_metric(url: str) -> None:
    new_id, old_id = log_two_runs(url)
    result = invoke("compare", "candidate", "--with", "baseline", "--store", url)
    assert result.exit_code == 0
    out = result.stdout
    assert new_id[:8] in out
    assert old_id[:8] in out
    assert "3 shared · 1 only in this run · 1 only in the baseline" in out
    assert "model: small → large" in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("metric"))
    assert header.split() == [
        "metric", "baseline", "this", "run", "delta", "(change)", "trend",
        "mean", "diff", "[95%", "CI]", "p", "(Holm)", "verdict",
        "improved", "degraded", "same",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines if line.strip()}
    # score: 0.475 → 0.6625 over all datapoints; on the shared ones q1 improved, q2
    # degraded, q3 stayed the same; three pairs are far too few for a verdict.
    score = evalyard.compare_runs("candidate", "baseline", store=url).metric_deltas["score"]
    assert score.verdict == "inconclusive"
    assert rows["score"][:6] == ["score", "0.475", "0.6625", "+0.1875", "(+39.5%)", "▲"]
    assert rows["score"][-3:] == ["1", "1", "1"]
    assert "≈" in rows["score"]
    # Lower is better for latency_ms: 250 → 172.5 is better.
    assert rows["latency_ms"][1:7] == ["250", "172.5", "−77.5", "(−31.0%)", "▲", "better"]
    assert rows["correct"][1:3] == ["25.0%", "50.0%"]  # pass rates
    assert "verdicts: 0 improved, 0 regressed, 3 inconclusive" in out


def test_compare_json_is_exactly_to_dict(url: str) -> None:
    new_id, old_id = log_two_runs(url)
    result = invoke("compare", new_id, "--with", old_id, "--format", "json", "--store", url)
    assert result.exit_code == 0
    expected = evalyard.compare_runs(new_id, old_id, store=url).to_dict()
    assert json.loads(result.stdout) == expected


def test_compare_markdown_is_a_table_with_one_row_per_metric(url: str) -> None:
    log_two_runs(url)
    result = invoke(
        "compare", "candidate", "--with", "baseline", "--format", "markdown", "--store", url
    )
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("| metric |")))
    end = lines.index("", start)
    rows = [line for line in lines[start + 2 : end] if line.startswith("|")]
    assert [row.split(" | ")[0] for row in rows] == ["| correct", "| latency\\_ms", "| score"]
    cells = rows[2].strip("| ").split(" | ")
    assert cells[:6] == ["score", "0.475", "0.6625", "+0.1875", "+39.5%", "▲ better"]
    assert cells[8].startswith("≈ inconclusive")
    assert cells[-3:] == ["1", "**1**", "1"]


def test_compare_step_scopes_the_comparison(url: str) -> None:
    new_id, old_id = log_two_runs(url)
    result = invoke(
        "compare", new_id, "--with", old_id, "--step", "retrieve", "--format", "json",
        "--store", url,
    )  # fmt: skip
    expected = evalyard.compare_runs(new_id, old_id, step="retrieve", store=url).to_dict()
    assert json.loads(result.stdout) == expected
    table = invoke("compare", new_id, "--with", old_id, "--step", "retrieve", "--store", url)
    assert "step retrieve" in table.stdout
    hits = next(line for line in table.stdout.splitlines() if line.startswith("hits"))
    assert hits.split()[:4] == ["hits", "1", "3", "+2"]
    assert "score" not in table.stdout.split("metric", 1)[1]


def test_compare_aggregate_is_passed_on(url: str) -> None:
    new_id, old_id = log_two_runs(url)
    result = invoke(
        "compare", new_id, "--with", old_id, "--aggregate", "p90", "--format", "json",
        "--store", url,
    )  # fmt: skip
    expected = evalyard.compare_runs(new_id, old_id, aggregate_function="p90", store=url)
    assert json.loads(result.stdout) == expected.to_dict()


# -- exit codes ------------------------------------------------------------------------------


def test_fail_on_regression_ignores_a_few_degraded_datapoints(url: str) -> None:
    log_two_runs(url)
    result = invoke(
        "compare", "candidate", "--with", "baseline", "--fail-on", "regression", "--store", url
    )
    # One datapoint of three got worse: noise until the statistics say otherwise.
    assert result.exit_code == 0
    assert result.stderr == ""


def test_fail_on_regression_exits_1_on_a_significant_regression(url: str) -> None:
    for name, shift in (("before", 0.0), ("after", -0.2)):
        with evalyard.start_run(name, store=url) as run:
            run.log_many(
                {"id": f"q{i:02d}", "metrics": {"score": 0.5 + (i % 7) / 20 + shift}}
                for i in range(40)
            )
    result = invoke("compare", "after", "--with", "before", "--fail-on", "regression",
                    "--store", url)  # fmt: skip
    assert result.exit_code == 1
    assert "score" in result.stdout  # the comparison is printed all the same
    assert result.stderr.startswith("--fail-on regression held for: score (mean diff −0.2")
    assert "▼ regressed" in result.stdout


@pytest.mark.parametrize("condition", ["regression", "any-degraded"])
def test_fail_on_passes_when_nothing_degraded(url: str, condition: str) -> None:
    new_id, _ = log_two_runs(url)
    result = invoke("compare", new_id, "--with", new_id, "--fail-on", condition, "--store", url)
    assert result.exit_code == 0
    # Comparing a run with itself passes, and says that it means nothing.
    assert result.stderr == (
        "warning: the run is compared with itself: every datapoint is the same, so nothing "
        "can improve or regress; pick another run as the baseline\n"
    )


def test_fail_on_any_degraded_exits_1(url: str) -> None:
    log_two_runs(url)
    result = invoke(
        "compare", "candidate", "--with", "baseline", "--fail-on", "any-degraded",
        "--format", "json", "--store", url,
    )  # fmt: skip
    assert result.exit_code == 1
    json.loads(result.stdout)  # the output stays valid JSON; the reason goes to stderr


def test_unknown_run_exits_2_with_one_line(url: str) -> None:
    log_two_runs(url)
    result = invoke("compare", "nope", "--with", "baseline", "--store", url)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: no run matches 'nope'")
    assert result.stderr.count("\n") == 1


def test_ambiguous_name_exits_2_and_lists_both_ids(url: str) -> None:
    first_id, _ = log_two_runs(url)
    second_id, _ = log_two_runs(url, project="other")
    result = invoke("show", "candidate", "--store", url)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: 2 runs match 'candidate'")
    assert first_id in result.stderr
    assert second_id in result.stderr


def test_an_unknown_run_gets_close_names_suggested(store_url: str) -> None:
    new_id, old_id = log_two_runs(store_url, new_name="gpt-4o-temp-0.3")
    result = invoke("compare", "gpt4o-temp", "--with", "baseline", "--store", store_url)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: no run matches 'gpt4o-temp'; did you mean 'gpt-4o-temp-0.3' ({new_id[:8]})? "
        "`evalyard runs` lists the runs and their ids\n"
    )
    result = invoke("show", "basline", "--store", store_url)
    assert result.stderr.startswith(
        f"error: no run matches 'basline'; did you mean 'baseline' ({old_id[:8]})?"
    )


def test_latest_takes_the_newest_of_the_runs_a_name_matches(store_url: str) -> None:
    log_two_runs(store_url)
    new_id, old_id = log_two_runs(store_url, project="other")
    ambiguous = invoke("compare", "candidate", "--with", "baseline", "--store", store_url)
    assert ambiguous.exit_code == 2
    assert ambiguous.stderr.startswith("error: 2 runs match 'candidate'")
    assert ambiguous.stderr.rstrip().endswith(
        "refer to one by its id, or pass --latest (latest=True in Python) for the newest"
    )
    shown = invoke("show", "candidate", "--latest", "--format", "json", "--store", store_url)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["run"]["run_id"] == new_id
    compared = invoke(
        "compare", "candidate", "--with", "baseline", "--latest", "--format", "json",
        "--store", store_url,
    )  # fmt: skip
    assert compared.exit_code == 0, compared.output
    data = json.loads(compared.stdout)
    assert (data["new_run_id"], data["old_run_id"]) == (new_id, old_id)


def test_unknown_aggregate_exits_2_listing_the_valid_ones(url: str) -> None:
    log_two_runs(url)
    result = invoke(
        "compare", "candidate", "--with", "baseline", "--aggregate", "mode", "--store", url
    )
    assert result.exit_code == 2
    assert "unknown aggregate function 'mode'" in result.stderr
    assert all(name in result.stderr for name in evalyard.AGGREGATE_FUNCTIONS)


def test_unknown_step_exits_2(url: str) -> None:
    log_two_runs(url)
    result = invoke(
        "compare", "candidate", "--with", "baseline", "--step", "rerank", "--store", url
    )
    assert result.exit_code == 2
    assert "'retrieve'" in result.stderr


def test_usage_errors_exit_2(url: str) -> None:
    assert invoke("compare", "candidate", "--store", url).exit_code == 2  # no --with
    assert invoke("runs", "--format", "yaml", "--store", url).exit_code == 2


def test_a_store_that_cannot_be_opened_exits_2() -> None:
    result = invoke("runs", "--store", "mysql://localhost/evalyard")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unsupported store URL")


NO_STORE = (
    "; `evalyard demo` or logging a run creates one (or pass --store URL / set EVALYARD_STORE)\n"
)
READ_ONLY_COMMANDS = (
    ("runs",),
    ("show", "candidate"),
    ("compare", "candidate", "--with", "baseline"),
    ("ui", "--port", "0"),
    ("token", "list"),
)


def test_read_only_commands_create_no_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = tmp_path / ".evalyard" / "evalyard.db"
    elsewhere = tmp_path / "elsewhere" / "evalyard.db"
    for args in READ_ONLY_COMMANDS:
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert (result.stdout, result.stderr) == ("", f"error: no store at {default}{NO_STORE}")
        result = invoke(*args, "--store", f"sqlite:///{elsewhere}")
        assert result.stderr == f"error: no store at {elsewhere}{NO_STORE}"
        with monkeypatch.context() as env:
            env.setenv("EVALYARD_STORE", str(elsewhere))
            assert invoke(*args).stderr == f"error: no store at {elsewhere}{NO_STORE}"
    assert list(tmp_path.iterdir()) == []
    # The commands that write create it.
    assert invoke("token", "create", "--scope", "read").exit_code == 0
    assert default.exists()
    assert invoke("runs").exit_code == 0


def test_read_only_commands_leave_an_empty_database_alone(store_url: str) -> None:
    # An empty SQLite path, or an empty PostgreSQL schema: no store in either.
    for args in READ_ONLY_COMMANDS:
        result = invoke(*args, "--store", store_url)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: no store at ")
        assert result.stderr.endswith(NO_STORE)
    with pytest.raises(evalyard.StoreError, match="no store at"):
        open_store(store_url, create=False)  # still nothing there: no file, no tables
    log_two_runs(store_url)  # logging creates it
    assert invoke("show", "candidate", "--store", store_url).exit_code == 0


def test_the_console_script_prints_no_traceback(url: str) -> None:
    open_store(url).close()
    script = Path(sys.executable).with_name("evalyard")
    done = subprocess.run(
        [str(script), "show", "missing-run", "--store", url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: no run matches 'missing-run'")
    assert "Traceback" not in done.stderr


# -- untrusted text --------------------------------------------------------------------------


def test_markup_like_names_print_literally(url: str) -> None:
    with evalyard.start_run("[red]x[/red]", metadata={"[b]key": "[link=evil]v"}, store=url) as run:
        run.log("[i]q1", outputs="\x1b[31mred\x1b[0m", metrics={"[bold]m": 1.0})
    for args in (
        ["runs"],
        ["show", run.run_id],
        ["compare", run.run_id, "--with", run.run_id],
    ):
        out = invoke(*args, "--store", url).stdout
        assert "[red]x[/red]" in out
        assert "\x1b" not in out
    shown = invoke("show", run.run_id, "--store", url).stdout
    for literal in ("[b]key: [link=evil]v", "[i]q1", "[bold]m=1", "\\x1b[31mred"):
        assert literal in shown
    compared = invoke("compare", run.run_id, "--with", run.run_id, "--store", url).stdout
    assert "[bold]m" in compared


def test_markdown_breaking_names_are_escaped(url: str) -> None:
    with evalyard.start_run("a|b *c* <img>", store=url) as run:
        run.log("q1", metrics={"x|y": 1.0})
    out = invoke(
        "compare", run.run_id, "--with", run.run_id, "--format", "markdown", "--store", url
    ).stdout
    assert "a\\|b \\*c\\* &lt;img&gt;" in out
    assert "<img>" not in out
    row = next(line for line in out.splitlines() if line.startswith("| x"))
    assert row.startswith("| x\\|y | 1 | 1 | 0 |")
    header = next(line for line in out.splitlines() if line.startswith("| metric"))
    unescaped = row.replace("\\|", "")
    assert unescaped.count("|") == header.count("|")
