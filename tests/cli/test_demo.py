"""`evalyard demo` end to end, and the demo application it runs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import evalyard
from evalyard.cli.main import cli
from evalyard.core.report import comparison_report
from evalyard.demo.corpus import PASSAGES, passage_by_id
from evalyard.demo.experiment import BASELINE, CANDIDATE, run_experiment
from evalyard.demo.pipeline import answer_question
from evalyard.demo.questions import QUESTIONS
from evalyard.demo.retrieval import retrieve
from evalyard.demo.scoring import exact_match, token_f1
from evalyard.demo.text import normalize_answer


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store' / 'evalyard.db'}"


def run_demo(*args: str) -> Result:
    result = CliRunner().invoke(cli, ["demo", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def demo_run_ids(url: str) -> tuple[str, str]:
    """The candidate and baseline run ids (one run of each name in project demo)."""
    runs = evalyard.list_runs(project="demo", store=url)
    (new,) = [info for info in runs if info.name == CANDIDATE.run_name]
    (old,) = [info for info in runs if info.name == BASELINE.run_name]
    return new.run_id, old.run_id


def test_demo_logs_two_runs_and_prints_their_comparison(url: str) -> None:
    out = run_demo("--store", url).stdout
    new_id, old_id = demo_run_ids(url)
    comparison = evalyard.compare_runs(new_id, old_id, store=url)
    assert len(comparison.common_datapoints) == len(QUESTIONS)
    assert set(comparison.metric_deltas) == {"error", "exact_match", "latency_ms", "token_f1"}
    assert comparison.steps == ["answer", "retrieve"]
    lines = out.splitlines()
    for line in comparison_report(comparison).lines:
        row = next(text for text in lines if text.startswith(line.metric + " "))
        # The row states the report's numbers and words, in the table's order.
        cells = [line.baseline, line.new, line.difference_with_percent, line.trend.text]
        cells += [line.interval, line.p_adjusted, line.verdict.text]
        at = 0
        for cell in cells:
            found = row.find(cell, at)
            assert found >= 0, (cell, row)
            at = found + len(cell)
        assert row.split()[-3:] == [line.improved, line.degraded, line.same]
    assert "evalyard compare demo-bm25 --with demo-keyword" in out
    assert f"--store {url}" in out
    assert f"http://127.0.0.1:8000/runs/{new_id}?compare={old_id}" in out


def test_demo_runs_differ_both_ways() -> None:
    # Configuration B is better on the whole, and still worse on some questions.
    better = worse = 0
    for question in QUESTIONS:
        old = answer_question(question.inputs, retriever="keyword", reader="overlap")
        new = answer_question(question.inputs, retriever="bm25", reader="span")
        change = token_f1(new.answer, question.answer) - token_f1(old.answer, question.answer)
        better += change > 0
        worse += change < 0
    assert better > worse > 0


def test_demo_logs_steps_metrics_and_directions(url: str) -> None:
    run_demo("--store", url)
    new_id, old_id = demo_run_ids(url)
    session = evalyard.compare_runs(new_id, old_id, store=url)
    assert session.get_metric_delta("latency_ms").direction == "lower"  # type: ignore[union-attr]
    retrieve_step = evalyard.compare_runs(new_id, old_id, step="retrieve", store=url)
    assert {"recall_at_3", "hits", "latency_ms"} <= set(retrieve_step.metric_deltas)
    answer_step = evalyard.compare_runs(new_id, old_id, step="answer", store=url)
    assert answer_step.get_metric_delta("answer_tokens").direction == "none"  # type: ignore[union-attr]
    info = evalyard.get_run(new_id, store=url)
    assert info.dataset == "demo-qa"
    assert info.metadata["retriever"] == "bm25"
    first = evalyard.get_results(new_id, ["q01"], store=url)[0]
    assert first.inputs == {"question": QUESTIONS[0].question}
    assert [(s["name"], s["type"]) for s in first.steps] == [
        ("retrieve", "tool"),
        ("answer", "model"),
    ]


def test_demo_twice_resumes_its_two_runs(url: str) -> None:
    first = run_demo("--store", url).stdout
    ids = demo_run_ids(url)
    results = {run_id: evalyard.get_results(run_id, store=url) for run_id in ids}
    again = run_demo("--store", url).stdout
    assert "already" not in first
    assert "The demo's runs are in this store already: resuming them" in again
    assert demo_run_ids(url) == ids
    assert len(evalyard.list_runs(store=url)) == 2
    for run_id in ids:  # complete runs: nothing ran again
        info = evalyard.get_run(run_id, store=url)
        assert (info.status, info.datapoint_count) == (evalyard.RunStatus.COMPLETED, len(QUESTIONS))
        assert evalyard.get_results(run_id, store=url) == results[run_id]
    table = [line for line in again.splitlines() if line.startswith("exact_match ")]
    assert table == [line for line in first.splitlines() if line.startswith("exact_match ")]
    assert "evalyard compare demo-bm25 --with demo-keyword" in again


def test_demo_completes_an_interrupted_run(url: str) -> None:
    # As a demo stopped part-way leaves it: the baseline with 5 questions, no candidate.
    partial = run_experiment(BASELINE, questions=QUESTIONS[:5], store=url)
    assert evalyard.get_run(partial, store=url).datapoint_count == 5
    run_demo("--store", url)
    new_id, old_id = demo_run_ids(url)
    assert old_id == partial
    assert evalyard.get_run(old_id, store=url).datapoint_count == len(QUESTIONS)
    assert evalyard.get_run(new_id, store=url).datapoint_count == len(QUESTIONS)


def test_demo_refers_to_its_runs_by_id_when_a_name_is_not_enough(url: str) -> None:
    with evalyard.start_run(CANDIDATE.run_name, project="mine", store=url) as mine:
        mine.log("q01", metrics={"exact_match": True})
    out = run_demo("--store", url).stdout
    new_id, _ = demo_run_ids(url)
    assert new_id != mine.run_id
    assert f"evalyard compare {new_id[:8]} --with demo-keyword" in out


def test_demo_uses_the_store_of_the_current_folder(tmp_path: Path) -> None:
    out = run_demo().stdout
    assert (tmp_path / ".evalyard" / "evalyard.db").exists()
    assert "--store" not in out


def test_every_answer_is_written_in_its_passage() -> None:
    assert 30 <= len(PASSAGES) <= 60
    assert len(QUESTIONS) == 40
    assert len({q.datapoint_id for q in QUESTIONS}) == len(QUESTIONS)
    for question in QUESTIONS:
        text = normalize_answer(passage_by_id(question.passage_id).text)
        assert normalize_answer(question.answer) in text, question


def test_pipeline_answers_with_its_trace() -> None:
    result = answer_question({"question": "Who invented the tide clock?"})
    assert result.answer == "Oren Vale"
    assert result.passage_ids[0] == "p07"
    retrieve_step, answer_step = result.steps
    assert retrieve_step["name"] == "retrieve"
    assert retrieve_step["type"] == "tool"
    assert retrieve_step["metrics"]["hits"] == 3
    assert answer_step["name"] == "answer"
    assert answer_step["type"] == "model"
    assert answer_step["metrics"]["answer_tokens"] == 2


def test_bm25_prefers_rare_words_where_overlap_counts_common_ones() -> None:
    question = "What is the name of the ferry to Tessaly?"
    assert retrieve(question, retriever="bm25", k=1)[0].passage.passage_id == "p06"
    keyword = [found.passage.passage_id for found in retrieve(question, retriever="keyword", k=3)]
    assert "p06" not in keyword


def test_scores() -> None:
    assert exact_match("The Grey Heron.", "grey heron")
    assert not exact_match("Grey", "Grey Heron")
    assert token_f1("Grey", "Grey Heron") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0
    assert token_f1("x", "y") == 0.0
    assert Counter(normalize_answer("A white puffin").split()) == Counter(["white", "puffin"])
