"""Real data: four τ-bench airline trials of the same agent are an A/A comparison.

The same gpt-4o agent ran the same 50 tasks four times. Per-datapoint counts say many tasks
"improved" and "degraded" between any two trials; the statistics must not call ``success``
improved or regressed at alpha 0.05, since nothing changed but the noise.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

import evalyard
from evalyard.core.stats import TestName, Verdict

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "realdata"
TAU_BENCH = REALDATA / "tau_bench_airline"
TRIALS = sorted(TAU_BENCH.glob("*.jsonl"))
KEPT = ("datapoint_id", "inputs", "ground_truth", "outputs", "metrics", "steps")

pytestmark = pytest.mark.skipif(len(TRIALS) != 4, reason="the τ-bench trials are not present")


def _records(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [{key: row[key] for key in KEPT if key in row} for row in rows]


@pytest.fixture(scope="module")
def trials(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """The four trials logged as runs; returns the store URL and the run ids."""
    store = f"sqlite:///{tmp_path_factory.mktemp('tau') / 's.db'}"
    run_ids = []
    for path in TRIALS:
        with evalyard.start_run(path.stem, store=store) as run:
            assert run.log_many(_records(path)) == 50
            run_ids.append(run.run_id)
    return store, run_ids


@pytest.mark.parametrize(("new", "old"), list(itertools.permutations(range(4), 2)))
def test_same_agent_trials_get_no_success_verdict(
    trials: tuple[str, list[str]], new: int, old: int
) -> None:
    store, run_ids = trials
    comparison = evalyard.compare_runs(run_ids[new], run_ids[old], store=store, alpha=0.05)
    success = comparison.get_metric_delta("success")
    assert success is not None
    # The naive per-datapoint view sees change everywhere...
    assert success.improved_count > 0
    assert success.degraded_count > 0
    assert success.found_count == 50
    # ...the statistics see noise.
    assert success.test is TestName.MCNEMAR_EXACT
    assert success.flips is not None
    assert success.flips["fail->pass"] == success.improved_count
    assert success.flips["pass->fail"] == success.degraded_count
    assert success.verdict is Verdict.INCONCLUSIVE
    assert success.p_value is not None
    assert success.p_value >= 0.05
    assert success.ci_low is not None
    assert success.ci_high is not None
    assert success.ci_low < 0 < success.ci_high
    assert success.mde is not None
    assert success.mde > abs(success.mean_diff or 0.0)
    assert "success" not in comparison.regressed_metrics()


def test_no_trial_pair_is_a_regression_of_success_or_reward(
    trials: tuple[str, list[str]],
) -> None:
    store, run_ids = trials
    naive_changes = 0
    for new, old in itertools.permutations(run_ids, 2):
        comparison = evalyard.compare_runs(new, old, store=store)
        verdicts = comparison.verdicts()
        assert verdicts["success"] is Verdict.INCONCLUSIVE
        assert verdicts["reward"] is Verdict.INCONCLUSIVE
        delta = comparison.metric_deltas["success"]
        naive_changes += delta.improved_count + delta.degraded_count
    # Twelve ordered pairs, each with a dozen or more tasks flipping one way or the other.
    assert naive_changes >= 12 * 10
