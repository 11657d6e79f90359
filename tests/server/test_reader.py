"""The server's cache of comparisons: reused while runs are unchanged, refreshed when not."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

import evalyard
from evalyard.core.model import RunInfo, RunStatus
from evalyard.server import create_app
from evalyard.server.reader import RUNNING_TTL, Reader, fingerprint
from evalyard.store import SQLStore, open_store
from tests.server.conftest import log_runs, serve


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
    first = reader.comparison(new_info, old_info, aggregate_function="average", step=None, steps=[])
    again = reader.comparison(
        store.get_run(new), store.get_run(old), aggregate_function="average", step=None, steps=[]
    )
    other = reader.comparison(new_info, old_info, aggregate_function="median", step=None, steps=[])
    assert again is first
    assert other is not first
    assert first.result.to_dict() == evalyard.compare_runs(new, old, store=store).to_dict()


def test_a_new_metric_definition_gives_a_new_comparison(store: SQLStore) -> None:
    old = _log(store, "old", ["a"], 1.0)
    new = _log(store, "new", ["a"], 2.0)
    reader = Reader(store)
    args = (store.get_run(new), store.get_run(old))
    before = reader.comparison(*args, aggregate_function="average", step=None, steps=[])
    evalyard.define_metric("m", direction="lower", store=store)
    after = reader.comparison(*args, aggregate_function="average", step=None, steps=[])
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


def _count_value_reads(store: SQLStore) -> Counter[tuple[str, str]]:
    """Count the reads of metric values, by (run id, scope), on the store's own engine."""
    reads: Counter[tuple[str, str]] = Counter()

    def seen(
        _conn: object, _cursor: object, statement: str, _p: object, context: Any, _m: bool
    ) -> None:
        if "metric_blocks.columns" in statement:
            params = context.compiled_parameters[0]
            run_id = next(v for k, v in params.items() if k.startswith("run_id"))
            scope = next(v for k, v in params.items() if k.startswith("scope"))
            reads[(run_id, scope)] += 1

    event.listen(store.engine, "before_cursor_execute", seen)
    return reads


@pytest.mark.parametrize("step", [None, "retrieve"])
def test_a_cold_comparison_page_reads_each_runs_values_once(
    tmp_path: Path, step: str | None
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'cold.db'}")
    try:
        ids = log_runs(store)
        reads = _count_value_reads(store)
        params = {"compare": ids["baseline"], **({"step": step} if step else {})}
        with serve(create_app(store)) as base, httpx.Client(base_url=base) as client:
            page = client.get(f"/runs/{ids['candidate']}", params=params)
            assert page.status_code == 200
            assert reads, "the page read no values"
            assert max(reads.values()) == 1, reads
            scope = step or ""
            assert reads[(ids["candidate"], scope)] == reads[(ids["baseline"], scope)] == 1
            # The next request (another page of the table, another filter) reads nothing.
            before = dict(reads)
            again = client.get(f"/runs/{ids['candidate']}", params={**params, "show": "regressed"})
            assert again.status_code == 200
            assert dict(reads) == before
    finally:
        store.close()
