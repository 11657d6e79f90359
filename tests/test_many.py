"""compare_many end to end through a store, on both backends, checked against compare_runs
of each pair and against a Holm adjustment written here."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence

import numpy as np
import pytest

import evalyard
from evalyard.core.stats import Verdict
from evalyard.errors import ComparisonWarning, InvalidInputError, RunNotFoundError
from evalyard.store import SQLStore

METRICS = ("score", "passed", "latency_ms", "label", "steady")


def _log_runs(store: SQLStore) -> list[str]:
    """A baseline and four runs over 60 datapoints: one better, one worse, one the same
    give or take noise, and one with repeated epochs and a few datapoints of its own."""
    evalyard.define_metric("latency_ms", direction="lower", store=store)
    rng = np.random.default_rng(7)
    base_score = rng.random(60)
    names = ["baseline", "better", "worse", "noisy", "epochs"]
    shifts = {"baseline": 0.0, "better": 0.15, "worse": -0.2, "noisy": 0.0, "epochs": 0.05}
    run_ids = []
    for name in names:
        ids = range(60) if name != "epochs" else range(5, 65)
        epochs = 2 if name == "epochs" else 1
        records = []
        for i in ids:
            base = base_score[i % 60]
            for epoch in range(epochs):
                noise = float(rng.normal(0, 0.05)) if name != "baseline" else 0.0
                records.append(
                    {
                        "id": f"q{i}",
                        "epoch": epoch,
                        "metrics": {
                            "score": base + shifts[name] + noise,
                            "passed": bool(base + shifts[name] + noise > 0.5),
                            "latency_ms": 100 + 40 * base - 50 * shifts[name] + 10 * noise,
                            "label": "long" if (i + len(name)) % 3 else "short",
                            "steady": 1.0,
                        },
                    }
                )
        with evalyard.start_run(name, dataset="qa", store=store) as run:
            run.log_many(records)
        run_ids.append(run.run_id)
    return run_ids


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment, from its definition: the i-th smallest p-value (from 1)
    becomes the largest of min(1, (m − j + 1)·p₍ⱼ₎) over j ≤ i."""
    m = len(p_values)
    ranked = sorted(p_values)
    steps = [min(1.0, (m - j) * p) for j, p in enumerate(ranked)]
    running = np.maximum.accumulate(np.array(steps)) if steps else np.array([])
    by_value = {}
    for p, adjusted in zip(ranked, running.tolist(), strict=True):
        by_value.setdefault(p, adjusted)  # ties take the adjustment of the first of them
    return [by_value[p] for p in p_values]


def test_compare_many_agrees_with_compare_runs_of_each_run(store: SQLStore) -> None:
    baseline, *runs = _log_runs(store)
    many = evalyard.compare_many(runs, baseline=baseline, store=store)
    assert many.baseline_id == baseline
    assert many.run_ids == runs
    assert [info.run_id for info in many.runs] == [baseline, *runs]

    family: list[tuple[str, str, float]] = []
    for run_id in runs:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            alone = evalyard.compare_runs(run_id, baseline, store=store)
        ours = many.comparisons[run_id]
        assert (ours.new_run_id, ours.old_run_id) == (run_id, baseline)
        assert ours.common_datapoints == alone.common_datapoints
        assert ours.new_only_datapoints == alone.new_only_datapoints
        assert ours.old_only_datapoints == alone.old_only_datapoints
        assert set(ours.metric_deltas) == set(alone.metric_deltas) == set(METRICS)
        for name, expected in alone.metric_deltas.items():
            got = ours.metric_deltas[name]
            for field in (
                "old_aggregate", "new_aggregate", "delta", "old_count", "new_count",
                "found_count", "improved", "degraded", "same", "changed", "mean_diff",
                "ci_low", "ci_high", "p_value", "test", "mde", "non_inferior", "flips",
                "flaky_datapoints",
            ):  # fmt: skip
                assert getattr(got, field) == getattr(expected, field), (run_id, name, field)
            if expected.p_value is not None:
                family.append((run_id, name, expected.p_value))
            else:
                assert got.p_adjusted is None
                assert got.verdict == expected.verdict

    assert many.family_size == len(family)
    assert len(family) == 4 * 3  # score, passed and latency_ms of each run
    adjusted = holm_adjusted([p for _, _, p in family])
    for (run_id, name, _), p_adjusted in zip(family, adjusted, strict=True):
        delta = many.comparisons[run_id].metric_deltas[name]
        assert delta.p_adjusted == pytest.approx(p_adjusted, rel=1e-12)
        # The family is larger than one comparison's: never less strict.
        alone_p = evalyard.compare_runs(run_id, baseline, store=store).metric_deltas[name]
        assert delta.p_adjusted >= alone_p.p_adjusted
        if delta.p_adjusted < 0.05:
            assert delta.verdict in (Verdict.IMPROVED, Verdict.REGRESSED)
        else:
            assert delta.verdict is Verdict.INCONCLUSIVE

    better, worse = runs[0], runs[1]
    assert many.comparisons[better].metric_deltas["score"].verdict is Verdict.IMPROVED
    assert many.comparisons[better].metric_deltas["latency_ms"].verdict is Verdict.IMPROVED
    assert many.comparisons[worse].metric_deltas["score"].verdict is Verdict.REGRESSED
    assert many.regressed_metrics() == {worse: ["latency_ms", "passed", "score"]}
    assert many.has_regression()


def test_leaderboards_rank_every_run_with_its_summary(store: SQLStore) -> None:
    baseline, better, worse, noisy, epochs = _log_runs(store)
    many = evalyard.compare_many([better, worse, noisy, epochs], baseline=baseline, store=store)
    assert list(many.leaderboards) == sorted(METRICS)

    score = many.get_leaderboard("score")
    assert score.ranked
    order = [s.run_id for s in score.standings]
    assert order[0] == better
    assert order[-1] == worse
    assert [s.rank for s in score.standings] == [1, 2, 3, 4, 5]
    aggregates = [s.aggregate for s in score.standings]
    assert aggregates == sorted(aggregates, reverse=True)
    for standing in score.standings:
        own = evalyard.summarise_run(standing.run_id, steps=False, store=store).metric("score")
        assert standing.summary == own
        assert (standing.aggregate, standing.count) == (own.aggregate, own.count)
        assert standing.summary is not None
        assert standing.summary.ci_low is not None
        assert standing.baseline == (standing.run_id == baseline)
        if standing.baseline:
            assert standing.delta is None
            assert standing.verdict is None
        else:
            assert standing.delta is many.comparisons[standing.run_id].metric_deltas["score"]

    latency = many.get_leaderboard("latency_ms")
    assert latency.standings[0].run_id == better  # lower is better
    assert latency.standings[0].aggregate == min(s.aggregate for s in latency.standings)

    steady = many.get_leaderboard("steady")
    assert [s.rank for s in steady.standings] == [1, 1, 1, 1, 1]  # a tie shares a rank
    assert [s.run_id for s in steady.standings] == [baseline, better, worse, noisy, epochs]

    label = many.get_leaderboard("label")
    assert not label.ranked
    assert [s.rank for s in label.standings] == [None] * 5
    assert label.standings[0].summary is not None
    assert label.standings[0].summary.most_common == "long"

    with pytest.raises(KeyError, match="no metric 'nope' in this comparison"):
        many.get_leaderboard("nope")


def test_matrix_mirrors_and_agrees_with_compare_runs_of_each_pair(store: SQLStore) -> None:
    run_ids = _log_runs(store)
    baseline, *runs = run_ids
    many = evalyard.compare_many(runs, baseline=baseline, store=store)
    matrix = many.matrix("score")
    assert matrix.run_ids == run_ids
    assert many.matrix("score") is matrix  # kept
    k = len(run_ids)
    pairs = []
    for row in range(k):
        assert math.isnan(matrix.mean_diff[row, row])
        assert matrix.verdicts[row][row] is None
        for column in range(k):
            if row == column:
                continue
            alone = evalyard.compare_runs(run_ids[row], run_ids[column], store=store)
            expected = alone.metric_deltas["score"]
            assert matrix.mean_diff[row, column] == pytest.approx(expected.mean_diff, rel=1e-12)
            assert matrix.ci_low[row, column] == pytest.approx(expected.ci_low, rel=1e-12)
            assert matrix.ci_high[row, column] == pytest.approx(expected.ci_high, rel=1e-12)
            assert matrix.p_value[row, column] == pytest.approx(expected.p_value, rel=1e-12)
            assert matrix.pairs[row, column] == expected.found_count
            # Row against column mirrors column against row.
            assert matrix.mean_diff[row, column] == -matrix.mean_diff[column, row]
            assert matrix.p_adjusted[row, column] == matrix.p_adjusted[column, row]
            mirror = {Verdict.IMPROVED: Verdict.REGRESSED, Verdict.REGRESSED: Verdict.IMPROVED}
            verdict = matrix.verdicts[row][column]
            assert matrix.verdicts[column][row] == mirror.get(verdict, verdict)
            if row > column:
                pairs.append((row, column, expected.p_value))
    assert matrix.family_size == len(pairs) == k * (k - 1) // 2
    adjusted = holm_adjusted([p for _, _, p in pairs])
    for (row, column, _), p_adjusted in zip(pairs, adjusted, strict=True):
        assert matrix.p_adjusted[row, column] == pytest.approx(p_adjusted, rel=1e-12)
    better, worse = 1, 2
    assert matrix.verdicts[better][worse] is Verdict.IMPROVED
    assert matrix.verdicts[worse][better] is Verdict.REGRESSED
    json.dumps(matrix.to_dict(), allow_nan=False)

    label = many.matrix("label")  # a category: compared, never judged
    assert all(v is None for row in label.verdicts for v in row)
    assert label.family_size == 0


def test_grid_lays_the_runs_side_by_side(store: SQLStore) -> None:
    run_ids = _log_runs(store)
    baseline, *runs = run_ids
    many = evalyard.compare_many(runs, baseline=baseline, store=store)
    grid = many.grid("latency_ms")
    assert grid.run_ids == run_ids
    assert grid.datapoint_ids == sorted(f"q{i}" for i in range(65))
    assert grid.values.shape == (65, 5)
    for column, run_id in enumerate(run_ids):
        values = store.load_scope(run_id)
        own = dict(zip(values.ids, values.columns["latency_ms"].values.tolist(), strict=True))
        for row, datapoint_id in enumerate(grid.datapoint_ids):
            expected = own.get(datapoint_id)
            if expected is None:
                assert math.isnan(grid.values[row, column])
            else:
                assert grid.values[row, column] == expected
    for row in range(len(grid)):
        present = [(v, c) for c, v in enumerate(grid.values[row].tolist()) if not math.isnan(v)]
        if len(present) < 2 or len({v for v, _ in present}) == 1:
            assert (grid.best[row], grid.worst[row]) == (-1, -1)
            continue
        lowest = min(v for v, _ in present)
        highest = max(v for v, _ in present)
        # Lower is better: the first run with the lowest value is the best.
        assert grid.best[row] == next(c for v, c in present if v == lowest)
        assert grid.worst[row] == next(c for v, c in present if v == highest)
    assert grid.best[grid.datapoint_ids.index("q62")] == -1  # only the "epochs" run has it

    natural = many.grid("latency_ms", natural=True)
    assert natural.datapoint_ids[:3] == ["q0", "q1", "q2"]
    assert natural.datapoint_ids[-1] == "q64"
    row = natural.datapoint_ids.index("q10")
    assert natural.values[row].tolist() == grid.values[grid.datapoint_ids.index("q10")].tolist()

    label = many.grid("label")
    names = ["baseline", "better", "worse", "noisy"]
    expected = ["long" if len(name) % 3 else "short" for name in names]  # q0
    assert label.values[0].tolist() == [*expected, None]  # the "epochs" run lacks q0
    assert set(label.best.tolist()) == {-1}
    page = label.to_dict(offset=60, limit=10)
    assert page["total"] == 65
    assert page["datapoint_ids"] == grid.datapoint_ids[60:]
    json.dumps(many.grid("score").to_dict(), allow_nan=False)


def test_compare_many_warns_about_repeats_the_baseline_and_disjoint_runs(
    store: SQLStore,
) -> None:
    baseline, better, *_ = _log_runs(store)
    with evalyard.start_run("elsewhere", store=store) as run:
        run.log("other", metrics={"score": 0.5})
    with pytest.warns(ComparisonWarning) as caught:
        many = evalyard.compare_many(
            ["better", baseline, "better", run.run_id], baseline=baseline, store=store
        )
    assert many.run_ids == [better, run.run_id]
    assert many.listed_run_ids == [better, baseline, better, run.run_id]
    assert [str(w.message) for w in caught] == many.warnings
    assert many.warnings == [
        "run 'better' is listed 2 times; it is compared once",
        "the baseline 'baseline' is also listed among the runs; it is the baseline only "
        "(a run compared with itself says nothing)",
        "run 'elsewhere' shares no datapoints with the baseline: nothing can be paired, so "
        "none of its metrics was tested; compare runs of the same dataset (datapoints are "
        "matched by datapoint_id)",
    ]
    data = json.loads(json.dumps(many.to_dict(), allow_nan=False))
    assert data["warnings"] == many.warnings
    assert data["comparisons"][better] == many.comparisons[better].to_dict()
    assert data["leaderboards"]["score"]["standings"][0]["run_id"] == better
    assert "3 runs" not in repr(many)
    assert repr(many).startswith("<MultiComparison 2 runs vs 'baseline':")


def test_compare_many_scoped_to_a_step_and_its_errors(store: SQLStore) -> None:
    for name, hits in (("old", 1), ("new", 2), ("newer", 3)):
        with evalyard.start_run(name, store=store) as run:
            run.log_many(
                {
                    "id": f"q{i}",
                    "metrics": {"score": 0.5},
                    "steps": [{"name": "retrieve", "metrics": {"hits": hits + i % 2}}],
                }
                for i in range(10)
            )
    many = evalyard.compare_many(["new", "newer"], baseline="old", step="retrieve", store=store)
    assert many.steps == ["retrieve"]
    assert list(many.leaderboards) == ["hits"]
    hits = many.get_leaderboard("hits")
    assert (hits.step, [s.aggregate for s in hits.standings]) == ("retrieve", [3.5, 2.5, 1.5])

    with pytest.raises(InvalidInputError, match="no run has a step named 'answer'"):
        evalyard.compare_many(["new"], baseline="old", step="answer", store=store)
    with pytest.raises(InvalidInputError, match=r"compare_many\(\['new'\], baseline=...\)"):
        evalyard.compare_many("new", baseline="old", store=store)
    with pytest.raises(InvalidInputError, match="at least one run"):
        evalyard.compare_many([], baseline="old", store=store)
    with pytest.raises(RunNotFoundError):
        evalyard.compare_many(["new", "missing"], baseline="old", store=store)
    with pytest.raises(InvalidInputError, match="alpha"):
        evalyard.compare_many(["new"], baseline="old", alpha=1.5, store=store)
