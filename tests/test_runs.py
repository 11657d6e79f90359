"""compare_runs end to end through a store, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

import evalyard
from evalyard.core.stats import Verdict
from evalyard.errors import (
    AmbiguousRunError,
    ComparisonWarning,
    InvalidInputError,
    InvalidReferenceError,
    RunNotFoundError,
    UnknownAggregateError,
)
from evalyard.runs import resolve_run
from evalyard.store import SQLStore
from evalyard.store.schema import runs


def _two_runs(store: SQLStore) -> tuple[evalyard.Run, evalyard.Run]:
    evalyard.define_metric("latency_ms", direction="lower", store=store)
    evalyard.define_metric("score", tolerance=0.5, store=store)
    with evalyard.start_run("gpt-4o-temp-0.7", store=store) as old:
        old.log_many(
            [
                {
                    "id": "q1",
                    "metrics": {"correct": True, "score": 7, "latency_ms": 100},
                    "steps": [{"name": "retrieve", "type": "tool", "metrics": {"hits": 1}}],
                },
                {
                    "id": "q2",
                    "metrics": {"correct": False, "score": 4, "latency_ms": 300},
                    "steps": [{"name": "retrieve", "type": "tool", "metrics": {"hits": 3}}],
                },
                {"id": "q3", "metrics": {"correct": True, "score": 9, "latency_ms": 200}},
                {"id": "old-only", "metrics": {"correct": True, "score": 1}},
            ]
        )
    with evalyard.start_run("gpt-4o-temp-0.3", store=store) as new:
        new.log_many(
            [
                {
                    "id": "q1",
                    "metrics": {"correct": False, "score": 7.4, "latency_ms": 90},
                    "steps": [{"name": "retrieve", "type": "tool", "metrics": {"hits": 2}}],
                },
                {
                    "id": "q2",
                    "metrics": {"correct": True, "score": 6, "latency_ms": 400},
                    "steps": [{"name": "retrieve", "type": "tool", "metrics": {"hits": 3}}],
                },
                {"id": "q3", "epoch": 0, "metrics": {"correct": True, "score": 8}},
                {"id": "q3", "epoch": 1, "metrics": {"correct": False, "score": 6}},
                {"id": "new-only", "metrics": {"correct": True}},
            ]
        )
    return new, old


def test_compare_runs_by_name(store: SQLStore) -> None:
    new, old = _two_runs(store)
    cmp = evalyard.compare_runs("gpt-4o-temp-0.3", "gpt-4o-temp-0.7", store=store)
    assert (cmp.new_run_id, cmp.old_run_id) == (new.run_id, old.run_id)
    assert cmp.common_datapoints == ["q1", "q2", "q3"]
    assert cmp.new_only_datapoints == ["new-only"]
    assert cmp.old_only_datapoints == ["old-only"]
    assert cmp.steps == ["retrieve"]

    correct = cmp.get_metric_delta("correct")
    assert correct is not None
    assert correct.old_aggregate == pytest.approx(3 / 4)
    # q3 averages its epochs to a pass fraction of 0.5
    assert correct.new_aggregate == pytest.approx((0 + 1 + 0.5 + 1) / 4)
    assert (correct.improved, correct.degraded, correct.same) == (["q2"], ["q1", "q3"], [])

    score = cmp.get_metric_delta("score")
    assert score is not None
    # tolerance 0.5: q1 moved by 0.4 (same), q2 by +2, q3 by -2
    assert (score.improved, score.degraded, score.same) == (["q2"], ["q3"], ["q1"])
    assert score.new_count == 3
    assert score.old_count == 4

    latency = cmp.get_metric_delta("latency_ms")
    assert latency is not None
    assert latency.direction.value == "lower"
    assert (latency.improved, latency.degraded) == (["q1"], ["q2"])
    assert latency.found_count == 2

    assert cmp.list_improved_metrics() == ["correct", "latency_ms", "score"]
    assert cmp.list_degraded_metrics() == ["correct", "latency_ms", "score"]
    with pytest.raises(
        KeyError, match=r"no metric 'nope' in this comparison; its metrics: 'correct'"
    ):
        cmp.get_metric_delta("nope")

    data = cmp.to_dict()
    assert data["metric_deltas"]["score"]["improved"] == ["q2"]
    assert data["new_run"]["name"] == "gpt-4o-temp-0.3"


def test_compare_runs_scoped_to_a_step(store: SQLStore) -> None:
    new, old = _two_runs(store)
    cmp = evalyard.compare_runs(new, old, step="retrieve", store=store)
    assert cmp.step == "retrieve"
    assert cmp.common_datapoints == ["q1", "q2"]
    hits = cmp.metric_deltas["hits"]
    assert (hits.improved, hits.same, hits.step) == (["q1"], ["q2"], "retrieve")
    assert set(cmp.metric_deltas) == {"hits"}
    with pytest.raises(InvalidInputError, match="neither run has a step named 'answer'"):
        evalyard.compare_runs(new, old, step="answer", store=store)


def test_aggregate_functions_apply_to_all_datapoints_of_each_run(store: SQLStore) -> None:
    new, old = _two_runs(store)
    cmp = evalyard.compare_runs(new.run_id, old.run_id, aggregate_function="max", store=store)
    score = cmp.metric_deltas["score"]
    assert (score.old_aggregate, score.new_aggregate, score.delta) == (
        9.0,
        7.4,
        pytest.approx(-1.6),
    )
    with pytest.raises(UnknownAggregateError):
        evalyard.compare_runs(new, old, aggregate_function="mean", store=store)


def test_swapping_and_self_comparison(store: SQLStore) -> None:
    new, old = _two_runs(store)
    forward = evalyard.compare_runs(new, old, store=store)
    backward = evalyard.compare_runs(old, new, store=store)
    for name, delta in forward.metric_deltas.items():
        assert delta.improved == backward.metric_deltas[name].degraded
    with pytest.warns(ComparisonWarning, match="the run is compared with itself"):
        itself = evalyard.compare_runs(new, new, store=store)
    assert all(d.same_count == d.found_count for d in itself.metric_deltas.values())
    assert itself.warnings
    assert not forward.warnings


def test_runs_without_shared_datapoints_warn(store: SQLStore) -> None:
    with evalyard.start_run("a", store=store) as a:
        a.log("q1", metrics={"score": 1.0})
    with evalyard.start_run("b", store=store) as b:
        b.log("q2", metrics={"score": 0.0})
    with pytest.warns(ComparisonWarning, match="the runs share no datapoints"):
        compared = evalyard.compare_runs(a, b, store=store)
    assert compared.get_metric_delta("score").verdict is Verdict.INSUFFICIENT_DATA


def test_run_references_fail_clearly(store: SQLStore) -> None:
    first = evalyard.start_run("twin", store=store)
    second = evalyard.start_run("twin", project="other", store=store)
    with pytest.raises(AmbiguousRunError) as caught:
        evalyard.compare_runs("twin", first, store=store)
    message = str(caught.value)
    assert first.run_id in message
    assert second.run_id in message
    assert "project 'other'" in message
    assert isinstance(caught.value, LookupError)
    with pytest.raises(RunNotFoundError, match="no run matches 'ghost'") as missing:
        evalyard.compare_runs("ghost", first, store=store)
    assert isinstance(missing.value, LookupError)
    with pytest.raises(InvalidReferenceError):
        evalyard.compare_runs(" ", first, store=store)
    assert evalyard.get_run(first.run_id[:10], store=store).run_id == first.run_id
    assert "pass --latest (latest=True in Python) for the newest" in message


def test_a_reference_matching_no_run_suggests_close_names(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["gpt-4o-temp-0.3", "gpt-4o-temp-0.7", "baseline", "claude-3-5-sonnet"]
    ids = {name: evalyard.start_run(name, store=store).run_id for name in names}
    newest = evalyard.start_run("gpt-4o-temp-0.3", project="other", store=store)
    with pytest.raises(RunNotFoundError) as caught:
        evalyard.get_run("gpt4o-temp", store=store)
    assert str(caught.value) == (
        f"no run matches 'gpt4o-temp'; did you mean 'gpt-4o-temp-0.3' ({newest.run_id[:8]}) or "
        f"'gpt-4o-temp-0.7' ({ids['gpt-4o-temp-0.7'][:8]})? `evalyard runs` lists the runs and "
        "their ids"
    )
    assert caught.value.suggestions == (
        ("gpt-4o-temp-0.3", newest.run_id),
        ("gpt-4o-temp-0.7", ids["gpt-4o-temp-0.7"]),
    )
    # Within a project, from that project's runs.
    with pytest.raises(RunNotFoundError, match=r"did you mean 'gpt-4o-temp-0.3' \(") as scoped:
        resolve_run("gpt-4o-temp-03", project="other", store=store)
    assert scoped.value.suggestions == (("gpt-4o-temp-0.3", newest.run_id),)
    # Nothing close: no guess at all.
    with pytest.raises(RunNotFoundError) as unrelated:
        evalyard.get_run("ghost", store=store)
    assert str(unrelated.value) == (
        "no run matches 'ghost'; `evalyard runs` lists the runs and their ids"
    )
    assert unrelated.value.suggestions is None
    # At most 3, from the newest runs only.
    for day in range(1, 6):
        evalyard.start_run(f"nightly-2024-05-0{day}", store=store)
    with pytest.raises(RunNotFoundError) as nightly:
        evalyard.get_run("nightly", store=store)
    assert [name for name, _ in nightly.value.suggestions or ()] == [
        "nightly-2024-05-05",
        "nightly-2024-05-04",
        "nightly-2024-05-03",
    ]
    monkeypatch.setattr(evalyard.runs, "SUGGESTION_POOL", 5)
    with pytest.raises(RunNotFoundError) as pooled:
        evalyard.get_run("baselin", store=store)  # its run is older than the 5 newest
    assert pooled.value.suggestions is None


def test_latest_takes_the_newest_run_of_a_name(store: SQLStore) -> None:
    older = evalyard.start_run("twin", project="a", store=store)
    newer = evalyard.start_run("twin", project="b", store=store)
    assert evalyard.get_run("twin", latest=True, store=store).run_id == newer.run_id
    assert resolve_run("twin", latest=True, project="a", store=store).run_id == older.run_id
    # A store from before names were unique within a project: a newer duplicate in "a".
    with store.engine.begin() as connection:
        row = connection.execute(select(runs).where(runs.c.run_id == older.run_id)).one()
        values = dict(row._mapping)
        values.update(run_id="legacy-twin", created_at=row.created_at + 3600)
        connection.execute(insert(runs).values(**values))
    with pytest.raises(AmbiguousRunError, match="3 runs match 'twin'"):
        evalyard.get_run("twin", store=store)
    assert evalyard.get_run("twin", latest=True, store=store).run_id == "legacy-twin"
    assert [info.run_id for info in store.find_runs("twin")] == [
        "legacy-twin",
        newer.run_id,
        older.run_id,
    ]
    # Resuming by name goes on with the newest of the project's runs of that name.
    with evalyard.start_run("twin", project="a", resume=True, store=store) as resumed:
        assert resumed.run_id == "legacy-twin"
