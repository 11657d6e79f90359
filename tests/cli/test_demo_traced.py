"""`evalyard demo --traced`: the demo's two runs with OpenTelemetry spans and two models."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("opentelemetry.sdk")

import evalyard
from evalyard.cli.demo import MODEL_STEP, OTEL_MISSING
from evalyard.cli.main import cli
from evalyard.core.compare import RunComparisonResult
from evalyard.core.otel import BUILTIN_PRICES
from evalyard.core.report import comparison_report
from evalyard.demo.experiment import TRACED_BASELINE, TRACED_CANDIDATE
from evalyard.demo.questions import QUESTIONS
from evalyard.demo.traced import MODELS, SYSTEM_PROMPT, answer_question_traced, count_tokens

TOKENS_AND_COST = {"input_tokens", "output_tokens", "total_tokens", "cost_usd"}


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store' / 'evalyard.db'}"


def traced_run_ids(url: str) -> tuple[str, str]:
    runs = evalyard.list_runs(project="demo", store=url)
    (new,) = [info for info in runs if info.name == TRACED_CANDIDATE.run_name]
    (old,) = [info for info in runs if info.name == TRACED_BASELINE.run_name]
    return new.run_id, old.run_id


def assert_printed(lines: list[str], comparison: RunComparisonResult) -> None:
    """Each metric's row states the report's numbers and words, in the table's order."""
    for line in comparison_report(comparison).lines:
        row = next(text for text in lines if text.startswith(line.metric + " "))
        cells = [line.baseline, line.new, line.difference_with_percent, line.trend.text]
        cells += [line.interval, line.p_adjusted, line.verdict.text]
        at = 0
        for cell in cells:
            found = row.find(cell, at)
            assert found >= 0, (cell, row)
            at = found + len(cell)
        assert row.split()[-3:] == [line.improved, line.degraded, line.same]


def test_traced_demo_prints_the_model_steps_tokens_cost_and_latency(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(self: socket.socket, *args: Any) -> None:
        raise AssertionError("the traced demo opened a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    result = CliRunner().invoke(cli, ["demo", "--traced", "--store", url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.stdout
    new_id, old_id = traced_run_ids(url)
    session = evalyard.compare_runs(new_id, old_id, store=url)
    step = evalyard.compare_runs(new_id, old_id, step=MODEL_STEP, store=url)
    assert session.steps == ["chat", "retrieve"]
    assert len(step.common_datapoints) == len(QUESTIONS)
    assert set(step.metric_deltas) == TOKENS_AND_COST | {"latency_ms"}
    for name in (*TOKENS_AND_COST, "latency_ms"):
        assert step.get_metric_delta(name).direction == "lower"  # type: ignore[union-attr]
    # A larger model answering: dearer and slower per call, whatever the tokens do.
    assert step.get_metric_delta("cost_usd").verdict.value == "regressed"  # type: ignore[union-attr]
    assert step.get_metric_delta("latency_ms").verdict.value == "regressed"  # type: ignore[union-attr]
    assert session.get_metric_delta("exact_match").verdict.value == "improved"  # type: ignore[union-attr]

    lines = out.splitlines()
    heading = next(i for i, text in enumerate(lines) if text.startswith("The model step (chat"))
    assert "gpt-4o-mini → gpt-4o" in lines[heading]
    assert_printed(lines[:heading], session)
    assert_printed(lines[heading:], step)
    assert "evalyard compare demo-traced-4o --with demo-traced-mini --step chat" in out
    assert f"http://127.0.0.1:8000/runs/{new_id}?compare={old_id}" in out


def test_traced_demo_steps_are_spans_with_models_tokens_and_prices(url: str) -> None:
    result = CliRunner().invoke(cli, ["demo", "--traced", "--store", url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    new_id, old_id = traced_run_ids(url)
    for run_id, configuration in ((new_id, TRACED_CANDIDATE), (old_id, TRACED_BASELINE)):
        model = configuration.model
        assert model is not None
        assert evalyard.get_run(run_id, store=url).metadata["model"] == model
        results = evalyard.get_results(run_id, store=url)
        assert len(results) == len(QUESTIONS)
        for each in results:
            retrieve_step, chat = each.steps
            assert (retrieve_step["name"], retrieve_step["type"]) == ("retrieve", "tool")
            assert [p["passage_id"] for p in retrieve_step["outputs"]]
            assert (chat["name"], chat["type"]) == ("chat", "model")
            assert chat["inputs"]["model"] == model
            assert chat["inputs"]["params"] == {"temperature": 0.0, "max_tokens": 64}
            assert chat["outputs"]["model"] == MODELS[model].response_model
            # The tokens are the prompt's and the answer's, priced at the model's list price.
            prompt = chat["inputs"]["messages"][1]["parts"][0]["content"]
            metrics = chat["metrics"]
            assert metrics["input_tokens"] == count_tokens(SYSTEM_PROMPT) + count_tokens(prompt)
            assert metrics["output_tokens"] == count_tokens(str(each.outputs))
            assert metrics["total_tokens"] == metrics["input_tokens"] + metrics["output_tokens"]
            assert metrics["cost_usd"] == pytest.approx(
                BUILTIN_PRICES[model].cost(metrics["input_tokens"], metrics["output_tokens"])
            )
            assert metrics["latency_ms"] >= MODELS[model].latency_ms(
                metrics["input_tokens"], metrics["output_tokens"]
            )
            # The result's totals are its one model call's.
            for name in TOKENS_AND_COST:
                assert each.metrics[name] == pytest.approx(metrics[name])
            assert retrieve_step["metrics"]["recall_at_3"] in (True, False)


def test_traced_pipeline_answers_as_the_plain_one() -> None:
    from evalyard.demo.pipeline import answer_question

    question = {"question": "Who invented the tide clock?"}
    traced = answer_question_traced(question, model="gpt-4o-mini")
    assert traced.answer == answer_question(question).answer == "Oren Vale"
    assert [s["name"] for s in traced.steps] == ["retrieve", "chat"]


def test_traced_demo_without_opentelemetry_says_how_to_install_it(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "evalyard.demo.traced", None)
    result = CliRunner().invoke(cli, ["demo", "--traced", "--store", url])
    assert result.exit_code == 2
    assert OTEL_MISSING in result.output
    assert "pip install 'evalyard[otel]'" in OTEL_MISSING
    assert evalyard.list_runs(store=url) == []
