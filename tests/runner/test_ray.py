"""``evaluate(executor="ray")`` on a local Ray cluster the tests start (loopback, 2 CPUs):
every datapoint stored once, over SQLite, PostgreSQL and a team server; resume; a task
whose worker dies is retried and still stored once (docs/scale.md).

Select them with ``-m ray``; they are skipped when Ray is not installed.
"""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import evalyard
from evalyard.core.model import RunStatus
from evalyard.errors import InvalidInputError
from evalyard.store import open_store
from tests.api.conftest import ServerProcess, server  # noqa: F401 (the fixture)

ray = pytest.importorskip("ray")

pytestmark = [
    pytest.mark.ray,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
DATAPOINTS = 30


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    """A local Ray cluster on loopback; its workers import this module like the driver."""
    saved = {name: os.environ.get(name) for name in ("RAY_USAGE_STATS_ENABLED", "PYTHONPATH")}
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), saved["PYTHONPATH"]]))
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    try:
        yield
    finally:
        ray.shutdown()
        # Ray leaves sockets and files for the garbage collector: close them here, quietly,
        # rather than as a ResourceWarning in whichever test runs next.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gc.collect()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def double(inputs: dict[str, Any]) -> dict[str, Any]:
    with evalyard.step("compute", type="tool", inputs=inputs) as step:
        step.log(outputs=inputs["n"] * 2)
    if inputs["n"] % 7 == 3:
        raise ValueError(f"no answer for {inputs['n']}")
    return {"answer": inputs["n"] * 2, "pid": os.getpid()}


def step_right(outputs: int, ground_truth: int) -> bool:
    return outputs == ground_truth


def right(outputs: dict[str, Any], ground_truth: int) -> bool:
    return bool(outputs["answer"] == ground_truth)


def data(count: int = DATAPOINTS) -> list[dict[str, Any]]:
    return [{"id": f"d{n:03d}", "inputs": {"n": n}, "ground_truth": n * 2} for n in range(count)]


def check_exact(store_url: str, run_id: str, epochs: int = 1) -> None:
    store = open_store(store_url)
    keys = store.result_keys(run_id)
    assert len(keys) == DATAPOINTS * epochs
    assert set(keys) == {(f"d{n:03d}", e) for n in range(DATAPOINTS) for e in range(epochs)}


def test_evaluate_on_ray_stores_every_datapoint_once(store_url: str) -> None:
    result = evalyard.evaluate(
        double,
        dataset=data(),
        evaluators=[right, evalyard.evaluator(step="compute")(step_right)],
        name="on-ray",
        repeats=2,
        max_workers=4,
        executor="ray",
        store=store_url,
        print_results=False,
    )
    failing = sum(1 for n in range(DATAPOINTS) if n % 7 == 3)
    assert result.status is RunStatus.COMPLETED
    assert result.result_count == DATAPOINTS * 2
    assert result.error_count == failing * 2
    assert result.evaluator_error_count == 0
    assert result.aggregates["right"] == 1.0
    assert result.step_aggregates["compute"]["step_right"] == 1.0
    assert result.aggregates["error"] == pytest.approx(failing / DATAPOINTS)
    check_exact(store_url, result.run_id, epochs=2)
    pids = {row["outputs"]["pid"] for row in _outputs(store_url, result.run_id)}
    assert os.getpid() not in pids  # the application ran in Ray's worker processes

    threads = evalyard.evaluate(
        double,
        dataset=data(),
        evaluators=[right, evalyard.evaluator(step="compute")(step_right)],
        name="on-threads",
        repeats=2,
        store=store_url,
        print_results=False,
    )
    assert threads.aggregates.keys() == result.aggregates.keys()
    assert threads.aggregates["right"] == result.aggregates["right"]
    assert threads.step_aggregates.keys() == result.step_aggregates.keys()
    assert threads.error_count == result.error_count


def _outputs(store_url: str, run_id: str) -> list[dict[str, Any]]:
    from evalyard.exports import results_frame

    table = results_frame(run_id, store=open_store(store_url))
    return [{"outputs": value} for value in table["outputs"] if isinstance(value, dict)]


def test_resume_on_ray_runs_only_what_the_run_lacks(store_url: str) -> None:
    first = evalyard.evaluate(
        double,
        dataset=data(12),
        name="resumed-on-ray",
        executor="ray",
        store=store_url,
        print_results=False,
    )
    assert first.result_count == 12
    again = evalyard.evaluate(
        double,
        dataset=data(),
        resume=first.run_id,
        executor="ray",
        store=store_url,
        print_results=False,
    )
    assert again.skipped_count == 12
    assert again.result_count == DATAPOINTS - 12
    check_exact(store_url, first.run_id)


def dies_once(inputs: dict[str, Any]) -> dict[str, Any]:
    """Kills its worker process the first time it sees datapoint 5 (a marker file says)."""
    marker = Path(inputs["marker"])
    if inputs["n"] == 5 and not marker.exists():
        marker.write_text("died")
        os._exit(1)
    return {"answer": inputs["n"] * 2}


def test_a_task_whose_worker_dies_is_retried_and_stored_once(
    store_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "died-once"
    dataset = [
        {"id": f"d{n:03d}", "inputs": {"n": n, "marker": str(marker)}, "ground_truth": n * 2}
        for n in range(DATAPOINTS)
    ]
    result = evalyard.evaluate(
        dies_once,
        dataset=dataset,
        evaluators=[right],
        name="worker-died",
        executor="ray",
        max_workers=3,
        store=store_url,
        print_results=False,
    )
    assert marker.read_text() == "died"
    assert result.result_count == DATAPOINTS
    assert result.error_count == 0
    assert result.aggregates["right"] == 1.0
    check_exact(store_url, result.run_id)


def test_evaluate_on_ray_through_a_team_server(server: ServerProcess) -> None:  # noqa: F811
    first = evalyard.evaluate(
        double,
        dataset=data(10),
        evaluators=[right],
        name="via-server",
        executor="ray",
        store=server.url,
        print_results=False,
    )
    assert first.result_count == 10
    again = evalyard.evaluate(
        double,
        dataset=data(),
        evaluators=[right],
        resume=first.run_id,
        executor="ray",
        store=server.url,
        print_results=False,
    )
    assert (again.skipped_count, again.result_count) == (10, DATAPOINTS - 10)
    assert again.status is RunStatus.COMPLETED
    check_exact(server.store_url, first.run_id)


def test_a_function_that_cannot_be_pickled_is_refused_clearly(store_url: str) -> None:
    import threading

    lock = threading.Lock()

    def holds_a_lock(inputs: dict[str, Any]) -> int:
        with lock:
            return 1

    with pytest.raises(InvalidInputError, match="picklable"):
        evalyard.evaluate(
            holds_a_lock,
            dataset=data(3),
            name="unpicklable",
            executor="ray",
            store=store_url,
            print_results=False,
        )


def test_a_bad_executor_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="executor"):
        evalyard.evaluate(double, dataset=data(3), executor="dask", print_results=False)
    with pytest.raises(InvalidInputError, match="executor='ray'"):
        evalyard.evaluate(double, dataset=data(3), ray_address="auto", print_results=False)


def always_dies(inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs["n"] == 2:
        os._exit(1)
    return {"answer": inputs["n"] * 2}


def test_a_task_that_always_kills_its_worker_fails_the_run_resumably(
    store_url: str,
) -> None:
    with pytest.raises(ray.exceptions.WorkerCrashedError) as raised:
        evalyard.evaluate(
            always_dies,
            dataset=data(6),
            name="always-dies",
            executor="ray",
            max_workers=2,
            store=store_url,
            print_results=False,
        )
    assert any("resume=" in note for note in raised.value.__notes__)
    store = open_store(store_url)
    (info,) = store.find_runs("always-dies")
    assert info.status is RunStatus.FAILED
    assert ("d002", 0) not in set(store.result_keys(info.run_id))
