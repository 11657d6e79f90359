"""The SDK through a real team server (SQLite and PostgreSQL behind it): the same runs,
results and comparisons as on the store itself."""

from __future__ import annotations

import pytest

import evalyard
from evalyard.store import HTTPStore, open_store
from tests.api.conftest import ServerProcess


def _records(n: int, shift: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"q{i:04d}",
            "inputs": {"question": f"what is {i}?"},
            "outputs": f"answer {i + shift}",
            "ground_truth": f"answer {i}",
            "metrics": {
                "accuracy": (i + shift) % 3 != 0,
                "score": ((i * 7 + shift) % 10) / 10,
                "label": "a" if (i + shift) % 2 else "b",
            },
            "steps": [
                {"name": "retrieve", "type": "tool", "metrics": {"hits": (i + shift) % 4}},
            ],
            "epoch": 0,
        }
        for i in range(n)
    ]


def test_runs_logged_through_the_server_compare_as_on_the_store(server: ServerProcess) -> None:
    url = server.url
    evalyard.define_metric("score", direction="higher", tolerance=0.05, store=url)
    with evalyard.start_run("base", dataset="qa", metadata={"model": "m1"}, store=url) as run:
        assert run.log_many(_records(300, 0)) == 300
        run.log("only-old", outputs="x", metrics={"accuracy": True})
    with evalyard.start_run("cand", dataset="qa", store=url) as cand:
        cand.log_many(_records(300, 1))
        for epoch in range(2):
            cand.log("q0001", outputs="again", metrics={"accuracy": bool(epoch)}, epoch=epoch)
    remote = evalyard.compare_runs("cand", "base", store=url)
    local = evalyard.compare_runs(cand.run_id, run.run_id, store=server.store_url)
    assert remote.to_dict() == local.to_dict()
    assert remote.get_metric_delta("score").improved  # type: ignore[union-attr]
    step = evalyard.compare_runs(cand.run_id, run.run_id, step="retrieve", store=url)
    assert (
        step.to_dict()
        == evalyard.compare_runs(
            cand.run_id, run.run_id, step="retrieve", store=server.store_url
        ).to_dict()
    )
    info = evalyard.get_run(cand.run_id, store=url)
    assert info.status is evalyard.RunStatus.COMPLETED
    assert info.result_count == 301


def test_results_come_back_as_logged(server: ServerProcess) -> None:
    url = server.url
    with evalyard.start_run("results", store=url) as run:
        run.log_many(_records(2500, 0))
        run.log("q0001", outputs={"nested": [1, 2.5, None]}, metrics={"accuracy": False}, epoch=1)
    store = HTTPStore(url)
    try:
        every = store.get_results(run.run_id)  # paged
        assert len(every) == 2501
        assert [(r.datapoint_id, r.epoch) for r in every] == sorted(
            (r.datapoint_id, r.epoch) for r in every
        )
        some = store.get_results(run.run_id, ["q0001", "q0002", "nope"])
        assert [(r.datapoint_id, r.epoch) for r in some] == [
            ("q0001", 0),
            ("q0001", 1),
            ("q0002", 0),
        ]
        assert some[1].outputs == {"nested": [1, 2.5, None]}
        assert some[0].steps[0]["name"] == "retrieve"
        assert some[0].metrics["accuracy"] is True
        assert store.result_keys(run.run_id)[:2] == [("q0000", 0), ("q0001", 0)]
        assert store.list_steps(run.run_id) == ["retrieve"]
        kinds = store.metric_kinds(run.run_id)
        assert kinds[("", "accuracy")] is evalyard.MetricKind.BOOL
        assert kinds[("", "label")] is evalyard.MetricKind.STRING
    finally:
        store.close()


def test_evaluate_and_resume_through_the_server(server: ServerProcess) -> None:
    url = server.url
    data = [{"id": f"d{i}", "inputs": {"n": i}, "ground_truth": 2 * i} for i in range(40)]

    def app(inputs: dict[str, int]) -> int:
        return inputs["n"] * 2 if inputs["n"] % 5 else -1

    def exact(outputs: int, ground_truth: int) -> bool:
        return outputs == ground_truth

    result = evalyard.evaluate(
        app,
        dataset=data[:30],
        evaluators=[exact],
        name="eval-remote",
        store=url,
        print_results=False,
    )
    assert result.status is evalyard.RunStatus.COMPLETED
    assert result.aggregates["exact"] == pytest.approx(24 / 30)
    resumed = evalyard.evaluate(
        app,
        dataset=data,
        evaluators=[exact],
        resume=result.run_id,
        store=url,
        print_results=False,
    )
    assert (resumed.result_count, resumed.skipped_count) == (10, 30)
    assert evalyard.get_run(result.run_id, store=url).result_count == 40
    definitions = HTTPStore(url).metric_definitions("default")
    assert definitions["latency_ms"].direction is evalyard.Direction.LOWER


def test_bad_input_is_refused_with_the_local_message(server: ServerProcess) -> None:
    url = server.url
    with pytest.raises(evalyard.RunNotFoundError):
        evalyard.get_run("no-such-run", store=url)
    with pytest.raises(evalyard.RunNotFoundError):
        evalyard.compare_runs("no-such-run", "other", store=url)
    with evalyard.start_run("remote-suggested-run", store=url) as near:
        near.log("a", metrics={"m": 1.0})
    with pytest.raises(evalyard.RunNotFoundError) as missing:
        evalyard.get_run("remote-suggested", store=url)
    assert missing.value.suggestions == (("remote-suggested-run", near.run_id),)
    assert f"did you mean 'remote-suggested-run' ({near.run_id[:8]})?" in str(missing.value)
    with evalyard.start_run("kinds", store=url) as run:
        run.log("a", metrics={"m": 1.0})
        with pytest.raises(evalyard.InvalidMetricError, match="NaN"):
            run.log("b", metrics={"m": float("nan")})
    store = HTTPStore(url)
    try:
        with pytest.raises(evalyard.InvalidInputError, match="cannot be used in a URL"):
            store.create_run(run_id="a/b", name="x", project="default", dataset=None, metadata={})
    finally:
        store.close()


def test_start_run_goes_on_with_an_existing_run_id(server: ServerProcess) -> None:
    url = server.url
    first = evalyard.start_run("shared", run_id="shared-run-1", store=url)
    first.log("a", metrics={"v": 1.0})
    first.finish()
    again = evalyard.start_run(run_id="shared-run-1", store=url)
    again.log("b", metrics={"v": 2.0})
    info = again.finish()
    assert info.result_count == 2
    store = open_store(server.store_url)
    try:
        assert store.get_run("shared-run-1").result_count == 2
    finally:
        store.close()


def test_a_taken_name_is_refused_and_resumed_through_the_server(server: ServerProcess) -> None:
    url = server.url
    with evalyard.start_run("remote-nightly", store=url) as first:
        first.log("a", metrics={"v": 1.0})
    with pytest.raises(evalyard.RunNameTakenError) as caught:
        evalyard.start_run("remote-nightly", store=url)
    taken = caught.value
    assert (taken.name, taken.project, taken.run_id, taken.status) == (
        "remote-nightly",
        "default",
        first.run_id,
        "completed",
    )
    assert "pass resume=True to start_run" in str(taken)
    with evalyard.start_run("remote-nightly", resume=True, store=url) as again:
        assert again.run_id == first.run_id
        again.log("a", metrics={"v": 2.0})
        again.log("b", metrics={"v": 3.0})
    assert evalyard.get_run(first.run_id, store=url).result_count == 2
    result = evalyard.get_results(first.run_id, ["a"], store=url)
    assert result[0].metrics == {"v": 2.0}


def test_the_cli_reads_through_the_server(server: ServerProcess) -> None:
    from click.testing import CliRunner

    from evalyard.cli.main import cli

    with evalyard.start_run("cli-a", store=server.url) as a:
        a.log("x", metrics={"v": 1.0})
    with evalyard.start_run("cli-b", store=server.url) as b:
        b.log("x", metrics={"v": 2.0})
    runner = CliRunner()
    shown = runner.invoke(cli, ["runs", "--format", "json", "--store", server.url])
    assert shown.exit_code == 0, shown.output
    assert "cli-a" in shown.output
    compared = runner.invoke(
        cli, ["compare", b.run_id, "--with", a.run_id, "--format", "json", "--store", server.url]
    )
    assert compared.exit_code == 0, compared.output
    assert '"improved_count": 1' in compared.output


def test_a_record_refused_in_the_background_is_reported_and_others_kept(
    server: ServerProcess,
) -> None:
    first, second = HTTPStore(server.url), HTTPStore(server.url)
    try:
        a = evalyard.start_run("refused-later", store=first)
        b = evalyard.start_run(run_id=a.run_id, store=second)
        b.log("b0", metrics={"other": 1.0})  # b learns the run's metric kinds now
        b.flush()
        a.log("a0", metrics={"m": 1.0})
        a.flush()
        # b does not know that m holds numbers: its check passes, the server's does not.
        b.log_many(
            [
                {"id": "b1", "metrics": {"other": 2.0}},
                {"id": "b2", "metrics": {"m": "text"}},
                {"id": "b3", "metrics": {"other": 3.0}},
            ]
        )
        with pytest.raises(evalyard.InvalidMetricError, match="'m'"):
            b.flush()
        b.flush()  # reported once
        keys = [key for key, _ in first.result_keys(a.run_id)]
        assert keys == ["a0", "b0", "b1", "b3"]
    finally:
        first.close()
        second.close()
