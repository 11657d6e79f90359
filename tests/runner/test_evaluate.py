"""evaluate(): results, errors as data, bounded concurrency, epochs, Ctrl-C, the summary."""

from __future__ import annotations

import _thread
import asyncio
import importlib.util
import io
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import evalyard
from evalyard.core.model import Direction, RunStatus
from evalyard.errors import InvalidInputError, RunNameTakenError
from evalyard.evaluators import exact_match
from evalyard.runner.progress import ProgressDisplay
from evalyard.store import SQLStore

DATASET = [
    {"id": f"q{n}", "inputs": {"n": n}, "ground_truth": str(2 * n), "metadata": {"odd": n % 2}}
    for n in range(10)
]


class InFlight:
    """Counts how many calls run at once, and the most that ever did."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *args: object) -> None:
        with self._lock:
            self.now -= 1


def test_a_sync_application_is_run_scored_and_logged(store: SQLStore) -> None:
    def double(inputs: dict[str, int]) -> str:
        return str(2 * inputs["n"]) if inputs["n"] != 7 else "wrong"

    result = evalyard.evaluate(
        double,
        dataset=DATASET,
        evaluators=[exact_match],
        name="doubler",
        metadata={"model": "arithmetic-1"},
        store=store,
        print_results=False,
    )
    info = store.get_run(result.run_id)
    assert (info.name, info.status, info.metadata) == (
        "doubler",
        RunStatus.COMPLETED,
        {"model": "arithmetic-1"},
    )
    assert result.status is RunStatus.COMPLETED
    assert result.result_count == 10
    assert result.aggregates["exact_match"] == pytest.approx(0.9)
    assert result.aggregates["error"] == 0.0
    assert result.aggregates["latency_ms"] >= 0
    stored = {r.datapoint_id: r for r in store.get_results(result.run_id)}
    assert stored["q3"].inputs == {"n": 3}
    assert stored["q3"].outputs == "6"
    assert stored["q3"].ground_truth == "6"
    assert stored["q3"].metadata == {"odd": 1}
    assert stored["q3"].metrics["error"] is False
    assert stored["q3"].metrics["latency_ms"] == stored["q3"].duration_ms
    assert stored["q7"].metrics["exact_match"] is False
    definitions = store.metric_definitions("default")
    assert definitions["error"].direction is Direction.LOWER
    assert definitions["latency_ms"].direction is Direction.LOWER
    assert definitions["exact_match"].direction is Direction.HIGHER


def test_an_async_application_taking_ground_truth(store: SQLStore) -> None:
    async def echo_truth(inputs: dict[str, int], ground_truth: str) -> str:
        await asyncio.sleep(0)
        return ground_truth

    result = evalyard.evaluate(
        echo_truth,
        dataset=evalyard.Dataset(DATASET, name="doubling"),
        evaluators=[exact_match],
        project="arithmetic",
        store=store,
        print_results=False,
    )
    assert result.aggregates["exact_match"] == 1.0
    info = store.get_run(result.run_id)
    assert (info.project, info.dataset) == ("arithmetic", "doubling")
    assert "error" in store.metric_definitions("arithmetic")


def test_failing_datapoints_keep_their_error_and_skip_evaluators(store: SQLStore) -> None:
    scored: list[Any] = []

    def scorer(outputs: str) -> bool:
        scored.append(outputs)
        return True

    def fragile(inputs: dict[str, int]) -> str:
        if inputs["n"] % 4 == 0:
            raise KeyError(f"no answer for {inputs['n']}")
        return "ok"

    result = evalyard.evaluate(
        fragile, dataset=DATASET, evaluators=[scorer], store=store, print_results=False
    )
    assert result.error_count == 3  # 0, 4, 8
    assert result.evaluator_error_count == 0
    assert len(scored) == 7
    failed = store.get_results(result.run_id, ["q4"])[0]
    assert failed.error == "KeyError: 'no answer for 4'"
    assert failed.outputs is None
    assert failed.metrics["error"] is True
    assert "scorer" not in failed.metrics
    assert result.aggregates["error"] == pytest.approx(0.3)
    assert store.get_run(result.run_id).status is RunStatus.COMPLETED


def test_outputs_that_cannot_be_stored_become_an_error_on_that_datapoint(store: SQLStore) -> None:
    def app(inputs: dict[str, int]) -> Any:
        return object() if inputs["n"] == 2 else inputs["n"]

    result = evalyard.evaluate(app, dataset=DATASET, store=store, print_results=False)
    assert result.result_count == 10
    assert result.error_count == 1
    refused = store.get_results(result.run_id, ["q2"])[0]
    assert refused.metrics["error"] is True
    assert "could not store this result: outputs of datapoint 'q2'" in (refused.error or "")
    assert refused.inputs == {"n": 2}
    assert store.get_results(result.run_id, ["q3"])[0].outputs == 3


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_concurrency_is_bounded_by_max_workers(store: SQLStore, kind: str) -> None:
    in_flight = InFlight()
    dataset = [{"id": f"d{i}", "inputs": i} for i in range(24)]

    def sync_app(inputs: int) -> int:
        with in_flight:
            time.sleep(0.01)
        return inputs

    async def async_app(inputs: int) -> int:
        with in_flight:
            await asyncio.sleep(0.01)
        return inputs

    app = sync_app if kind == "sync" else async_app
    for workers in (1, 5):
        in_flight.peak = 0
        result = evalyard.evaluate(
            app, dataset=dataset, max_workers=workers, store=store, print_results=False
        )
        assert result.result_count == 24
        assert in_flight.peak == workers


def test_repeats_run_each_datapoint_as_epochs(store: SQLStore) -> None:
    calls: dict[int, int] = {}
    lock = threading.Lock()

    def flaky(inputs: dict[str, int]) -> bool:
        with lock:
            calls[inputs["n"]] = calls.get(inputs["n"], 0) + 1
            return calls[inputs["n"]] % 2 == 1

    def passed(outputs: bool) -> bool:
        return outputs

    result = evalyard.evaluate(
        flaky, dataset=DATASET[:4], evaluators=[passed], repeats=3, store=store, print_results=False
    )
    assert result.result_count == 12
    assert set(calls.values()) == {3}
    keys = store.result_keys(result.run_id)
    assert keys == [(f"q{n}", epoch) for n in range(4) for epoch in range(3)]
    # each datapoint passed 2 of 3 epochs: the epochs are averaged first (docs/comparison.md §1)
    assert result.aggregates["passed"] == pytest.approx(2 / 3)


def test_resuming_runs_only_what_is_missing_and_checks_the_name(store: SQLStore) -> None:
    seen: list[str] = []

    def app(inputs: dict[str, int]) -> int:
        seen.append(f"{inputs['n']}")
        return inputs["n"]

    first = evalyard.evaluate(
        app, dataset=DATASET[:6], name="growing", store=store, print_results=False
    )
    seen.clear()
    more = evalyard.evaluate(
        app, dataset=DATASET, resume=first.run_id, repeats=2, store=store, print_results=False
    )
    assert more.run_id == first.run_id
    assert (more.result_count, more.skipped_count) == (14, 6)
    assert sorted(seen) == sorted([str(n) for n in range(6, 10)] + [str(n) for n in range(10)])
    assert store.get_run(first.run_id).result_count == 20
    assert store.get_run(first.run_id).status is RunStatus.COMPLETED

    nothing = evalyard.evaluate(
        app,
        dataset=DATASET,
        resume="growing",
        name="growing",
        repeats=2,
        store=store,
        print_results=False,
    )
    assert (nothing.result_count, nothing.skipped_count) == (0, 20)

    with pytest.raises(InvalidInputError, match="is named 'growing', not 'other'"):
        evalyard.evaluate(app, dataset=DATASET, resume=first.run_id, name="other", store=store)
    with pytest.raises(InvalidInputError, match="belongs to project 'default', not 'elsewhere'"):
        evalyard.evaluate(
            app, dataset=DATASET, resume=first.run_id, project="elsewhere", store=store
        )
    with pytest.raises(LookupError, match="no run matches 'missing-run'"):
        evalyard.evaluate(app, dataset=DATASET, resume="missing-run", store=store)


def test_a_taken_name_is_refused_with_how_to_resume_it(store: SQLStore) -> None:
    ran: list[int] = []

    def app(inputs: dict[str, int]) -> int:
        ran.append(inputs["n"])
        return inputs["n"]

    first = evalyard.evaluate(
        app, dataset=DATASET[:6], name="taken", store=store, print_results=False
    )
    ran.clear()
    with pytest.raises(RunNameTakenError) as caught:
        evalyard.evaluate(app, dataset=DATASET, name="taken", store=store, print_results=False)
    message = str(caught.value)
    assert message.startswith(
        f"project 'default' has a run named 'taken' already: {first.run_id} (completed, created "
    )
    assert message.endswith(
        f"pass resume={first.run_id!r} to evaluate to go on with it (only what it lacks is run), "
        "or give the new run another name"
    )
    assert ran == []
    assert len(store.list_runs()) == 1
    resumed = evalyard.evaluate(
        app, dataset=DATASET, resume=first.run_id, store=store, print_results=False
    )
    assert (resumed.run_id, resumed.result_count, resumed.skipped_count) == (first.run_id, 4, 6)


def test_ctrl_c_cancels_the_run_and_keeps_finished_datapoints(store: SQLStore) -> None:
    def app(inputs: dict[str, int]) -> int:
        if inputs["n"] == 4:
            _thread.interrupt_main()  # what Ctrl-C does to the main thread
            time.sleep(0.3)
        return inputs["n"]

    with pytest.raises(KeyboardInterrupt) as raised:
        evalyard.evaluate(
            app, dataset=DATASET, name="stopped", max_workers=1, store=store, print_results=False
        )
    (info,) = store.find_runs("stopped")
    assert info.status is RunStatus.CANCELLED
    kept = [key[0] for key in store.result_keys(info.run_id)]
    assert kept[:4] == ["q0", "q1", "q2", "q3"]
    assert len(kept) <= 5
    assert f"resume={info.run_id!r}" in "\n".join(raised.value.__notes__)

    resumed = evalyard.evaluate(
        lambda inputs: inputs["n"],
        dataset=DATASET,
        resume="stopped",
        store=store,
        print_results=False,
    )
    assert resumed.result_count == 10 - len(kept)
    assert store.get_run(info.run_id).status is RunStatus.COMPLETED


def test_ctrl_c_cancels_an_async_run(store: SQLStore) -> None:
    async def app(inputs: dict[str, int]) -> int:
        if inputs["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(5)
        return inputs["n"]

    with pytest.raises(KeyboardInterrupt):
        evalyard.evaluate(
            app,
            dataset=DATASET,
            name="stopped-async",
            max_workers=1,
            store=store,
            print_results=False,
        )
    (info,) = store.find_runs("stopped-async")
    assert info.status is RunStatus.CANCELLED
    assert [key[0] for key in store.result_keys(info.run_id)] == ["q0", "q1", "q2"]


def test_refused_records_are_replaced_and_store_failures_fail_the_run(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def app(inputs: dict[str, int]) -> dict[str, str]:
        return {"text": "x" * 2_000}

    with monkeypatch.context() as patch:
        patch.setenv("EVALYARD_MAX_FIELD_BYTES", "100")
        # The refused outputs are replaced by an error record, so this still completes...
        result = evalyard.evaluate(app, dataset=DATASET[:2], store=store, print_results=False)
    assert result.error_count == 2
    assert [r.metrics["error"] for r in store.get_results(result.run_id)] == [True, True]
    assert store.get_run(result.run_id).status is RunStatus.COMPLETED

    # ...but a store that cannot write at all fails the run, with what was written kept.
    original = store.write_batch

    def broken_write(run_id: str, batch: Any) -> int:
        if any(row.datapoint_id == "q6" for row in batch.rows):
            raise OSError("disk full")
        return original(run_id, batch)

    def slow_on_q6(inputs: dict[str, int]) -> int:
        if inputs["n"] == 6:  # so that q0..q5 are written in an earlier batch
            time.sleep(0.4)
        return inputs["n"]

    store.write_batch = broken_write  # type: ignore[method-assign]
    try:
        with pytest.raises(OSError, match="disk full") as raised:
            evalyard.evaluate(
                slow_on_q6,
                dataset=DATASET,
                name="broken",
                max_workers=1,
                store=store,
                print_results=False,
            )
    finally:
        del store.write_batch
    (info,) = store.find_runs("broken")
    assert info.status is RunStatus.FAILED
    assert "failed with" in "\n".join(raised.value.__notes__)
    assert [key[0] for key in store.result_keys(info.run_id)] == [f"q{n}" for n in range(6)]


def test_bad_arguments_are_refused_before_a_run_starts(store: SQLStore) -> None:
    def app(inputs: Any) -> Any:
        return inputs

    for kwargs, message in [
        ({"max_workers": 0}, "max_workers must be a whole number from 1"),
        ({"repeats": 1.5}, "repeats must be a whole number"),
        ({"evaluators": [exact_match, exact_match]}, "two evaluators are named 'exact_match'"),
        ({"evaluators": [evalyard.evaluator(name="error")(app)]}, "metric evaluate records"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            evalyard.evaluate(app, dataset=DATASET, store=store, **kwargs)
    with pytest.raises(InvalidInputError, match="takes 3 required arguments"):
        evalyard.evaluate(lambda a, b, c: a, dataset=DATASET, store=store)
    with pytest.raises(InvalidInputError, match="from_jsonl"):
        evalyard.evaluate(app, dataset="qa.jsonl", store=store)  # type: ignore[arg-type]
    assert store.list_runs() == []


def test_compare_with_a_baseline(store: SQLStore) -> None:
    baseline = evalyard.evaluate(
        lambda inputs: str(2 * inputs["n"]) if inputs["n"] < 5 else "?",
        dataset=DATASET,
        evaluators=[exact_match],
        name="baseline",
        store=store,
        print_results=False,
    )
    candidate = evalyard.evaluate(
        lambda inputs: str(2 * inputs["n"]) if inputs["n"] > 2 else "?",
        dataset=DATASET,
        evaluators=[exact_match],
        name="candidate",
        store=store,
        print_results=False,
    )
    comparison = candidate.compare_with("baseline")
    delta = comparison.get_metric_delta("exact_match")
    assert delta is not None
    assert (delta.improved_count, delta.degraded_count) == (5, 3)
    assert comparison.old_run_id == baseline.run_id
    assert comparison.get_metric_delta("error") is not None


def test_the_summary_is_printed_and_the_progress_bar_only_on_a_terminal(
    store: SQLStore, capsys: pytest.CaptureFixture[str]
) -> None:
    evalyard.evaluate(
        lambda inputs: str(2 * inputs["n"]),
        dataset=DATASET,
        evaluators=[exact_match],
        name="printed <b>[red]",
        store=store,
    )
    captured = capsys.readouterr()
    assert "printed <b>[red]" in captured.out
    assert "completed" in captured.out
    assert "10 results in" in captured.out
    assert "exact_match" in captured.out
    assert "100.0%" in captured.out
    assert captured.err == ""  # not a terminal: no progress bar

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    with ProgressDisplay(3, description="run-a", console=terminal) as bar:
        assert bar.active
        for failed in (False, True, False):
            bar.advance(failed)
    drawn = screen.getvalue()
    assert "run-a" in drawn
    assert "3/3" in drawn
    assert "1 errors" in drawn
    assert not ProgressDisplay(3, description="quiet", console=Console(file=io.StringIO())).active


def test_evaluate_inside_a_running_event_loop(store: SQLStore) -> None:
    async def app(inputs: dict[str, int]) -> int:
        await asyncio.sleep(0)
        return inputs["n"]

    async def notebook_cell() -> evalyard.EvaluationResult:
        return evalyard.evaluate(app, dataset=DATASET, store=store, print_results=False)

    result = asyncio.run(notebook_cell())
    assert result.result_count == 10


def test_the_evaluate_benchmark_runs_and_writes_its_block(tmp_path: Path) -> None:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_evaluate.py"
    spec = importlib.util.spec_from_file_location("bench_evaluate", path)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_evaluate"] = bench  # dataclasses look their module up while it runs
    try:
        spec.loader.exec_module(bench)
        readme = tmp_path / "README.md"
        readme.write_text("# Benchmarks\n\nkept as is\n", encoding="utf-8")
        argv = ["--sizes", "30", "--repeat", "1", "--fanout", "20", "--workdir", str(tmp_path)]
        # 0 or 1 (a target missed): at this size fixed costs dominate, and only rot matters.
        assert bench.main([*argv, "--readme", str(readme)]) in (0, 1)
    finally:
        sys.modules.pop("bench_evaluate", None)
    text = readme.read_text(encoding="utf-8")
    assert "kept as is" in text
    assert "| overhead, sync app | 30 | 8 |" in text
    assert "| async, sleeps 100 ms | 20 | 100 |" in text
