"""The server's cache of comparisons: reused while runs are unchanged, refreshed when not."""

from __future__ import annotations

import evalyard
from evalyard.core.model import RunInfo, RunStatus
from evalyard.server.reader import RUNNING_TTL, Reader, fingerprint
from evalyard.store import SQLStore


def _log(store: SQLStore, name: str, ids: list[str], value: float) -> str:
    with evalyard.start_run(name, store=store) as run:
        for datapoint_id in ids:
            run.log(datapoint_id, metrics={"m": value})
    return run.run_id


def test_a_comparison_is_computed_once_while_the_runs_are_unchanged(store: SQLStore) -> None:
    old = _log(store, "old", ["a", "b"], 1.0)
    new = _log(store, "new", ["a", "b"], 2.0)
    reader = Reader(store)
    new_info, old_info = store.get_run(new), store.get_run(old)
    first = reader.comparison(new_info, old_info, aggregate_function="average", step=None)
    again = reader.comparison(
        store.get_run(new), store.get_run(old), aggregate_function="average", step=None
    )
    other = reader.comparison(new_info, old_info, aggregate_function="median", step=None)
    assert again is first
    assert other is not first
    assert first.result.to_dict() == evalyard.compare_runs(new, old, store=store).to_dict()


def test_a_new_metric_definition_gives_a_new_comparison(store: SQLStore) -> None:
    old = _log(store, "old", ["a"], 1.0)
    new = _log(store, "new", ["a"], 2.0)
    reader = Reader(store)
    args = (store.get_run(new), store.get_run(old))
    before = reader.comparison(*args, aggregate_function="average", step=None)
    evalyard.define_metric("m", direction="lower", store=store)
    after = reader.comparison(*args, aggregate_function="average", step=None)
    assert before.result.metric_deltas["m"].improved == ["a"]
    assert after.result.metric_deltas["m"].degraded == ["a"]


def test_a_running_runs_fingerprint_expires() -> None:
    info = RunInfo("r", "n", "default", RunStatus.RUNNING, 0.0, result_count=3)
    done = RunInfo("r", "n", "default", RunStatus.COMPLETED, 0.0, 1.0, result_count=3)
    assert fingerprint(info, now=0.0) != fingerprint(info, now=RUNNING_TTL + 0.1)
    assert fingerprint(done, now=0.0) == fingerprint(done, now=1e9)


def test_candidates_are_runs_sharing_datapoints_with_the_count(store: SQLStore) -> None:
    a = _log(store, "a", ["1", "2", "3"], 1.0)
    b = _log(store, "b", ["2", "3", "4"], 1.0)
    _log(store, "c", ["9"], 1.0)
    reader = Reader(store)
    found = reader.candidates(store.get_run(a))
    assert [(c.info.run_id, c.shared) for c in found] == [(b, 2)]
