"""`evalyard compare A B C --with BASELINE`: leaderboards, through click's runner, on real
SQLite files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import evalyard
from evalyard.cli.leaderboards import leaderboards_table
from evalyard.cli.main import cli
from evalyard.cli.render import render_text
from evalyard.core.formats import format_interval
from tests.cli.test_cli import log_two_runs


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store' / 'evalyard.db'}"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def log_runs(url: str) -> None:
    """A baseline of 40 datapoints and three runs of it: one clearly better on score, one
    clearly worse, one that differs by noise only."""
    evalyard.define_metric("latency_ms", direction="lower", store=url)
    for name, shift in (("baseline", 0.0), ("better", 0.2), ("worse", -0.2), ("same", 0.0)):
        with evalyard.start_run(name, dataset="qa", store=url) as run:
            run.log_many(
                {
                    "id": f"q{i:02d}",
                    "metrics": {
                        "score": 0.4 + (i % 7) / 20 + shift + (i % 3 - 1) / 1000 * len(name),
                        "latency_ms": 100.0 + i % 5,
                    },
                }
                for i in range(40)
            )


def _compare_many(url: str) -> evalyard.MultiComparison:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evalyard.compare_many(["better", "worse", "same"], baseline="baseline", store=url)


def test_several_runs_print_a_leaderboard_per_metric(url: str) -> None:
    log_runs(url)
    result = invoke("compare", "better", "worse", "same", "--with", "baseline", "--store", url)
    assert result.exit_code == 0
    assert result.stderr == ""
    out = result.stdout
    many = _compare_many(url)
    assert f"baseline  baseline  {many.baseline_id[:8]}" in out
    assert "40 shared" in out
    lines = out.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("score · higher")))
    header = lines[start + 1].split()
    assert header[:3] == ["rank", "run", "id"]
    assert header[-1] == "verdict"
    rows = [line.split() for line in lines[start + 3 : start + 7]]
    assert [(row[0], row[1]) for row in rows] == [
        ("1", "better"),
        ("2", "same"),
        ("3", "baseline"),
        ("4", "worse"),
    ]
    assert rows[0][-2:] == ["▲", "improved"]
    assert rows[2][-1] == "baseline"
    assert rows[3][-2:] == ["▼", "regressed"]
    latency = lines.index(next(line for line in lines if line.startswith("latency_ms")))
    assert "lower is better" in lines[latency]
    # Equal aggregates share rank 1.
    assert [line.split()[0] for line in lines[latency + 3 : latency + 7]] == ["1"] * 4
    assert f"Holm-adjusted across all {many.family_size} tests" in out


def test_one_run_prints_the_comparison_of_two_runs(url: str) -> None:
    log_two_runs(url)
    one = invoke("compare", "candidate", "--with", "baseline", "--store", url)
    data = invoke("compare", "candidate", "--with", "baseline", "--format", "json", "--store", url)
    expected = evalyard.compare_runs("candidate", "baseline", store=url).to_dict()
    assert json.loads(data.stdout) == expected
    assert "this run" in one.stdout
    assert "rank" not in one.stdout


def test_json_is_exactly_to_dict(url: str) -> None:
    log_runs(url)
    result = invoke(
        "compare", "better", "worse", "same", "--with", "baseline", "--format", "json",
        "--store", url,
    )  # fmt: skip
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(json.dumps(_compare_many(url).to_dict()))


def test_markdown_has_a_table_per_metric(url: str) -> None:
    log_runs(url)
    result = invoke(
        "compare", "better", "worse", "same", "--with", "baseline", "--format", "markdown",
        "--store", url,
    )  # fmt: skip
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("### evalyard: 3 runs vs baseline baseline\n")
    lines = out.splitlines()
    start = lines.index("#### score (higher is better)")
    assert lines[start + 2].startswith("| rank | run | id | mean [95% CI] |")
    rows = [line.split(" | ") for line in lines[start + 4 : start + 8]]
    assert [row[1] for row in rows] == ["better", "same", "**baseline**", "worse"]
    assert rows[0][-1] == "▲ improved |"
    assert rows[3][-1] == "**▼ regressed** |"
    assert "#### latency\\_ms (lower is better)" in lines


def test_fail_on_regression_names_the_run_and_the_metric(url: str) -> None:
    log_runs(url)
    result = invoke(
        "compare", "better", "worse", "same", "--with", "baseline", "--fail-on", "regression",
        "--store", url,
    )  # fmt: skip
    assert result.exit_code == 1
    worse = evalyard.get_run("worse", store=url).run_id
    score = _compare_many(url).get_leaderboard("score").standing(worse)
    assert score.delta is not None
    interval = format_interval(
        score.delta.mean_diff, score.delta.ci_low, score.delta.ci_high, kind=score.delta.kind
    )
    assert result.stderr == (
        f"--fail-on regression held for: worse: score (mean diff {interval}, p(Holm) <0.001)\n"
    )
    assert interval.startswith("−0.1999 [")
    assert "▼ regressed" in result.stdout  # the leaderboards are printed all the same

    passing = invoke(
        "compare", "better", "same", "--with", "baseline", "--fail-on", "regression",
        "--store", url,
    )  # fmt: skip
    assert passing.exit_code == 0


def test_fail_on_any_degraded_looks_at_every_run(url: str) -> None:
    log_runs(url)
    result = invoke(
        "compare", "better", "same", "--with", "baseline", "--fail-on", "any-degraded",
        "--format", "json", "--store", url,
    )  # fmt: skip
    assert result.exit_code == 1
    json.loads(result.stdout)
    # "same" moved a few datapoints down by noise; "better" improved every one.
    assert result.stderr == "--fail-on any-degraded held for: same: score\n"


def test_options_apply_to_every_run(url: str) -> None:
    log_runs(url)
    result = invoke(
        "compare", "better", "worse", "--with", "baseline", "--aggregate", "median",
        "--alpha", "0.01", "--format", "json", "--store", url,
    )  # fmt: skip
    data = json.loads(result.stdout)
    assert (data["aggregate_function"], data["alpha"]) == ("median", 0.01)
    standings = data["leaderboards"]["score"]["standings"]
    assert standings[0]["ci_low"] is None  # only a mean has an interval
    table = invoke(
        "compare", "better", "worse", "--with", "baseline", "--aggregate", "median",
        "--store", url,
    )  # fmt: skip
    assert "rank   run        id         median" in table.stdout
    strict = invoke("compare", "better", "worse", "--with", "baseline", "--alpha", "0.01",
                    "--format", "markdown", "--store", url)  # fmt: skip
    assert "| rank | run | id | mean [99% CI] | datapoints | delta vs baseline | " in strict.stdout
    assert "| mean diff [99% CI] | p (Holm) | verdict |" in strict.stdout


def test_warnings_go_to_stderr(url: str) -> None:
    log_runs(url)
    result = invoke("compare", "better", "better", "--with", "baseline", "--store", url)
    assert result.exit_code == 0
    assert result.stderr == "warning: run 'better' is listed 2 times; it is compared once\n"
    unknown = invoke("compare", "better", "nope", "--with", "baseline", "--store", url)
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("error: no run matches 'nope'")


def test_the_tables_fit_a_narrow_terminal(url: str) -> None:
    log_runs(url)
    text = render_text(leaderboards_table(_compare_many(url), width=80), width=80)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    assert "left out to fit 80 columns:" in text
    assert "verdict" in text
    wide = render_text(leaderboards_table(_compare_many(url), width=200), width=200)
    assert "left out" not in wide


def test_markup_and_markdown_in_names_stay_text(url: str) -> None:
    for name in ("[red]x", "a|b *c*"):
        with evalyard.start_run(name, store=url) as run:
            run.log("q1", metrics={"x|y": 1.0})
    with evalyard.start_run("base", store=url) as run:
        run.log("q1", metrics={"x|y": 0.0})
    table = invoke("compare", "[red]x", "a|b *c*", "--with", "base", "--store", url).stdout
    assert "[red]x" in table
    markdown = invoke(
        "compare", "[red]x", "a|b *c*", "--with", "base", "--format", "markdown", "--store", url
    ).stdout
    assert "a\\|b \\*c\\*" in markdown
    assert "#### x\\|y (higher is better)" in markdown
