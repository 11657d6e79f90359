"""Logging runs: the run handle's life, bad input, and nothing lost."""

from __future__ import annotations

import math
import multiprocessing
import time
from typing import Any

import pytest

import evalyard
from evalyard.core.model import RunStatus
from evalyard.core.steps import MAX_STEP_DEPTH, walk_steps
from evalyard.errors import (
    InvalidInputError,
    InvalidMetricError,
    InvalidRecordError,
    RunNameTakenError,
    StoreError,
)
from evalyard.store import SQLStore, open_store


def _chain(levels: int) -> list[dict[str, Any]]:
    """A trace of ``levels`` steps, each the only child of the one before."""
    steps: list[dict[str, Any]] = []
    for level in reversed(range(levels)):
        steps = [{"name": f"s{level}", "children": steps}]
    return steps


def _log_then_raise(run: evalyard.Run, error: BaseException) -> None:
    with run:
        run.log("q1", metrics={"m": 1.0})
        raise error


def test_a_run_block_completes_fails_or_is_cancelled(store: SQLStore) -> None:
    with evalyard.start_run("ok", store=store) as run:
        run.log("q1", metrics={"m": 1.0})
    assert store.get_run(run.run_id).status is RunStatus.COMPLETED

    failing = evalyard.start_run("boom", store=store)
    with pytest.raises(RuntimeError):
        _log_then_raise(failing, RuntimeError("the application crashed"))
    assert store.get_run(failing.run_id).status is RunStatus.FAILED

    stopped = evalyard.start_run("stop", store=store)
    with pytest.raises(KeyboardInterrupt):
        _log_then_raise(stopped, KeyboardInterrupt())
    info = store.get_run(stopped.run_id)
    assert info.status is RunStatus.CANCELLED
    # results logged before the end are kept in every case
    assert [store.get_run(r.run_id).result_count for r in (run, failing, stopped)] == [1, 1, 1]


def test_finish_inside_the_block_is_kept(store: SQLStore) -> None:
    with evalyard.start_run("r", store=store) as run:
        run.finish("cancelled")
    assert store.get_run(run.run_id).status is RunStatus.CANCELLED
    with pytest.raises(InvalidInputError, match="use completed, failed or cancelled"):
        run.finish("running")  # type: ignore[arg-type]


def test_log_returns_the_datapoint_id_given_or_derived(store: SQLStore) -> None:
    run = evalyard.start_run("r", store=store)
    assert run.log("given", outputs="x") == "given"
    derived = run.log(inputs={"q": "2+2?"}, ground_truth="4")
    assert derived == run.log(inputs={"q": "2+2?"}, ground_truth="4", outputs="again")
    assert len(store.get_results(run.run_id)) == 2


def test_log_many_returns_how_many_it_logged(store: SQLStore) -> None:
    run = evalyard.start_run("r", store=store)
    records = [{"id": f"q{i}", "metrics": {"m": i / 10}} for i in range(25)]
    assert run.log_many(iter(records)) == 25
    assert run.log_many([]) == 0
    assert store.get_run(run.run_id).result_count == 25


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (
            {"id": "q2", "metrics": {"accuracy": math.nan}},
            InvalidMetricError,
            "metric 'accuracy' on datapoint 'q2' is NaN",
        ),
        (
            {"id": "q2", "outputs": {1, 2}},
            InvalidRecordError,
            "outputs of datapoint 'q2' cannot be stored as JSON",
        ),
        ({"id": "", "outputs": "x"}, InvalidRecordError, "datapoint id \\(record 1\\) is empty"),
        ({"id": "q" * 600}, InvalidRecordError, "the limit is 512"),
        ({"id": "q2", "output": "typo"}, InvalidRecordError, "unknown keys \\['output'\\]"),
        ({"id": "q2", "epoch": -1}, InvalidRecordError, "epoch of datapoint 'q2'"),
        ({"id": "q2", "steps": [{"type": "tool"}]}, InvalidRecordError, "with a 'name'"),
        (
            {"id": "q2", "steps": [{"name": "s", "type": "llm"}]},
            InvalidRecordError,
            "has type 'llm'",
        ),
        (
            {"id": "q2", "steps": [{"name": "s", "children": "t"}]},
            InvalidRecordError,
            "children of step 's' of datapoint 'q2' must be a list",
        ),
        (
            {"id": "q2", "steps": _chain(MAX_STEP_DEPTH + 2)},
            InvalidRecordError,
            f"steps of datapoint 'q2' nest deeper than {MAX_STEP_DEPTH} levels",
        ),
        (
            {"id": "q2", "metrics": {"grade": 5}},
            InvalidMetricError,
            "metric 'grade' on datapoint 'q2' is a number, but run",
        ),
        ("not a dict", InvalidRecordError, "record 1 is a str"),
        # Records of an id and metrics alone take a shorter path, with the same errors.
        ({"id": "", "metrics": {"m": 1.0}}, InvalidRecordError, "datapoint id \\(record 1\\)"),
        ({"id": 2.5, "metrics": {}}, InvalidRecordError, "must be a string, not float"),
        (
            {"datapoint_id": "q2", "metrics": [1.0]},
            InvalidRecordError,
            "metrics on datapoint 'q2' must be a dict of name to value, not list",
        ),
        (
            {"datapoint_id": "q2", "metrics": {"m": float("inf")}},
            InvalidMetricError,
            "metric 'm' on datapoint 'q2'",
        ),
        (
            {"id": "q2", "outputs": {"text": "caf\udce9"}},
            InvalidRecordError,
            "outputs of datapoint 'q2' cannot be stored: it holds text that is not valid Unicode",
        ),
        (
            {"id": "q2", "steps": [{"name": "s", "outputs": "\ud800"}]},
            InvalidRecordError,
            "steps of datapoint 'q2' cannot be stored: it holds text that is not valid Unicode",
        ),
        (
            {"id": "q2", "metrics": {"grade": "\udfff"}},
            InvalidMetricError,
            "metric 'grade' on datapoint 'q2' cannot be stored: it holds text that is not valid",
        ),
        (
            {"id": "q\ud800"},
            InvalidRecordError,
            "datapoint id 'q\\\\ud800' \\(record 1\\) is not valid Unicode",
        ),
    ],
)
def test_a_bad_record_is_refused_and_the_ones_before_it_kept(
    store: SQLStore, bad: object, error: type[Exception], message: str
) -> None:
    run = evalyard.start_run("r", store=store)
    run.log("q0", metrics={"grade": "A"})
    records = [{"id": "q1", "metrics": {"grade": "B"}}, bad, {"id": "q3"}]
    with pytest.raises(error, match=message) as caught:
        run.log_many(records)
    assert isinstance(caught.value, ValueError)
    assert caught.value.index == 1
    assert caught.value.logged_count == 1
    assert [r.datapoint_id for r in store.get_results(run.run_id)] == ["q0", "q1"]


def test_a_trace_nests_as_deep_as_the_step_depth_limit_and_no_deeper(store: SQLStore) -> None:
    run = evalyard.start_run("r", store=store)
    run.log("q1", steps=_chain(MAX_STEP_DEPTH + 1), metrics={"m": 1.0})
    with pytest.raises(InvalidRecordError, match="nest deeper than") as caught:
        run.log("q2", steps=_chain(MAX_STEP_DEPTH + 2))
    assert caught.value.field == "steps"
    assert caught.value.datapoint_id == "q2"
    (result,) = store.get_results(run.run_id)
    depths = [depth for depth, _ in walk_steps(result.steps)]
    assert depths == list(range(MAX_STEP_DEPTH + 1))


def test_too_large_fields_name_the_limit(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALYARD_MAX_FIELD_BYTES", "1000")
    run = evalyard.start_run("r", store=store)
    with pytest.raises(InvalidRecordError, match="is 2,002 bytes of JSON; the limit is 1,000"):
        run.log("q1", outputs="x" * 2000)
    monkeypatch.setenv("EVALYARD_MAX_FIELD_BYTES", "lots")
    with pytest.raises(InvalidInputError, match="whole number of bytes"):
        evalyard.start_run("r2", store=store)


def test_run_arguments_are_checked(store: SQLStore) -> None:
    with pytest.raises(InvalidInputError, match="run name is empty"):
        evalyard.start_run("", store=store)
    with pytest.raises(InvalidInputError, match="run metadata must be JSON data"):
        evalyard.start_run("r", metadata={"f": object()}, store=store)
    with pytest.raises(InvalidInputError, match="direction of metric 'm'"):
        evalyard.define_metric("m", direction="up", store=store)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="tolerance of metric 'm'"):
        evalyard.define_metric("m", tolerance=math.inf, store=store)


def test_a_run_id_given_again_goes_on_with_that_run(store: SQLStore) -> None:
    with evalyard.start_run("r", run_id="shared-run", store=store) as run:
        run.log("q1", metrics={"m": 1.0})
    with evalyard.start_run(run_id="shared-run", store=store) as again:
        assert again.name == "r"
        assert store.get_run("shared-run").status is RunStatus.RUNNING
        again.log("q2", metrics={"m": 2.0})
    assert store.get_run("shared-run").result_count == 2
    with pytest.raises(InvalidInputError, match="is named 'r', not 'other'"):
        evalyard.start_run("other", run_id="shared-run", store=store)
    with pytest.raises(InvalidInputError, match="belongs to project 'default'"):
        evalyard.start_run(run_id="shared-run", project="p", store=store)


def test_a_run_name_is_unique_within_its_project(store: SQLStore) -> None:
    with evalyard.start_run("nightly", store=store) as first:
        first.log("q1", metrics={"m": 1.0})
    created = store.get_run(first.run_id).created_at
    with pytest.raises(RunNameTakenError) as caught:
        evalyard.start_run("nightly", store=store)
    taken = caught.value
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(created))
    assert str(taken) == (
        f"project 'default' has a run named 'nightly' already: {first.run_id} (completed, "
        f"created {when}); pass resume=True to start_run to go on logging into it, or give "
        "the new run another name"
    )
    assert (taken.name, taken.project, taken.run_id, taken.status) == (
        "nightly",
        "default",
        first.run_id,
        "completed",
    )
    assert (taken.exit_code, taken.http_status) == (2, 409)
    assert [info.run_id for info in store.list_runs()] == [first.run_id]
    # Another project may use the name.
    with evalyard.start_run("nightly", project="other", store=store) as elsewhere:
        elsewhere.log("q1", metrics={"m": 2.0})
    assert len(store.list_runs()) == 2


def test_resume_goes_on_with_the_run_of_that_name(store: SQLStore) -> None:
    with evalyard.start_run("nightly", resume=True, store=store) as run:  # none yet: created
        run.log("q1", metrics={"m": 1.0})
        run.log("q2", metrics={"m": 1.0})
    with evalyard.start_run("nightly", resume=True, store=store) as again:
        assert again.run_id == run.run_id
        assert store.get_run(run.run_id).status is RunStatus.RUNNING
        again.log("q2", metrics={"m": 5.0})  # replaces the record it had
        again.log("q3", metrics={"m": 3.0})
    info = store.get_run(run.run_id)
    assert (info.status, info.result_count) == (RunStatus.COMPLETED, 3)
    assert [r.metrics["m"] for r in store.get_results(run.run_id)] == [1.0, 5.0, 3.0]
    assert len(store.list_runs()) == 1
    with pytest.raises(InvalidInputError, match="give the name, and no run_id"):
        evalyard.start_run(resume=True, store=store)
    with pytest.raises(InvalidInputError, match="give the name, and no run_id"):
        evalyard.start_run("nightly", run_id="x", resume=True, store=store)


def test_made_up_names_differ_when_ids_share_their_start(store: SQLStore) -> None:
    first = evalyard.start_run(run_id="experiment-a", store=store)
    second = evalyard.start_run(run_id="experiment-b", store=store)
    assert (first.name, second.name) == ("run-experime", "run-experiment-b")
    assert evalyard.start_run(store=store).name.startswith("run-")


def _create(url: str, name: str, resume: bool, barrier: Any, out: Any) -> None:
    barrier.wait(timeout=60)
    try:
        run = evalyard.start_run(name, resume=resume, store=url)
    except RunNameTakenError as taken:
        out.put(("refused", taken.run_id))
    else:
        out.put(("started", run.run_id))


@pytest.mark.slow
def test_two_processes_cannot_both_create_one_name(store_url: str) -> None:
    open_store(store_url).close()  # migrated before the race
    context = multiprocessing.get_context("spawn")
    for resume in (False, True):
        name = f"race-{resume}"
        barrier = context.Barrier(4)
        out = context.Queue()
        workers = [
            context.Process(target=_create, args=(store_url, name, resume, barrier, out))
            for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        outcomes = [out.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
            assert worker.exitcode == 0
        runs = [info for info in evalyard.list_runs(store=store_url) if info.name == name]
        assert len(runs) == 1
        if resume:
            assert outcomes == [("started", runs[0].run_id)] * 4
        else:
            assert sorted(what for what, _ in outcomes) == ["refused"] * 3 + ["started"]
            assert {run_id for _, run_id in outcomes} == {runs[0].run_id}


def test_a_store_that_cannot_be_opened_says_why(tmp_path: object) -> None:
    with pytest.raises(StoreError, match="unsupported store URL"):
        evalyard.start_run("r", store="mysql://x")
    with pytest.raises(StoreError, match="cannot open the store"):
        evalyard.start_run("r", store="postgresql://nobody@127.0.0.1:1/none")


def test_the_default_store_is_a_file_under_the_current_folder(tmp_path: object) -> None:
    from pathlib import Path

    with evalyard.start_run("r") as run:
        run.log("q1", metrics={"m": 1.0})
    assert (Path.cwd() / ".evalyard" / "evalyard.db").exists()
    assert [r.name for r in evalyard.list_runs()] == ["r"]


def test_a_run_id_over_the_limit_is_refused_on_every_store(store: SQLStore) -> None:
    with pytest.raises(InvalidInputError, match="is 65 characters long; the limit is 64"):
        evalyard.start_run("long", run_id="r" * 65, store=store)
    with evalyard.start_run("fits", run_id="r" * 64, store=store) as run:
        run.log("q1", metrics={"m": 1.0})
    assert evalyard.get_run("r" * 64, store=store).name == "fits"


@pytest.mark.parametrize("depth", [201, 5_000])
def test_json_nested_too_deep_is_refused_and_the_records_before_it_are_kept(
    store: SQLStore, depth: int
) -> None:
    deep: object = "bottom"
    for _ in range(depth):
        deep = {"next": deep}
    with evalyard.start_run("deep", store=store) as run:
        with pytest.raises(InvalidRecordError, match="more than 200 levels deep") as caught:
            run.log_many([{"id": "ok", "outputs": "fine"}, {"id": "deep", "metadata": deep}])
        assert (caught.value.field, caught.value.index) == ("metadata", 1)
        assert caught.value.logged_count == 1
    assert [r.datapoint_id for r in evalyard.get_results(run, store=store)] == ["ok"]


def _deep(depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": "caf\udce9"}, "not valid Unicode"),
        ({"project": "p\ud800"}, "not valid Unicode"),
        ({"metadata": {"prompt": "caf\udce9"}}, "not valid Unicode"),
        ({"metadata": {"deep": _deep(200)}}, "more than 200 levels deep"),
        ({"metadata": {"deep": _deep(5_000)}}, "more than 200 levels deep"),
        ({"metadata": ["not", "a", "dict"]}, "must be a dict"),
    ],
)
def test_a_run_with_bad_names_or_metadata_is_refused_before_it_exists(
    store: SQLStore, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        evalyard.start_run(store=store, **arguments)  # type: ignore[arg-type]
    assert store.list_runs() == []
