"""Fixtures of the UI tests: runs logged with the SDK, and the app served by uvicorn.

The app runs in a real uvicorn server on 127.0.0.1 and a free port, in a background thread
(loopback only). Runs are logged with ``evalyard.start_run`` / ``run.log(steps=...)``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

import evalyard
from evalyard.server import create_app
from evalyard.store import SQLStore, open_store
from tests.conftest import postgres_schema_url

#: Text that would run script if it were not escaped (docs/comparison.md §7, docs/reliability.md).
XSS_PAYLOADS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
)


@dataclass(frozen=True)
class Logged:
    """The runs logged for the UI tests, by role."""

    url: str
    baseline: str
    candidate: str
    unrelated: str
    other_project: str


def _steps(i: int, shift: int) -> list[dict[str, Any]]:
    return [
        {
            "name": "retrieve",
            "type": "tool",
            "inputs": {"query": f"question {i}"},
            "outputs": [f"doc-{i}", f"doc-{i + shift}"],
            "metrics": {"hits": (i + shift) % 3, "recall": ((i * 3 + shift) % 5) / 4},
        },
        {
            "name": "answer",
            "type": "model",
            "outputs": f"The answer is {i}",
            "metrics": {"faithfulness": ((i * 7 + shift) % 10) / 10},
            "children": [{"name": "format", "type": "other", "outputs": "ok"}],
        },
    ]


def log_runs(store: SQLStore | str, *, shared: int = 60) -> dict[str, str]:
    """Log a baseline and a candidate sharing ``shared`` datapoints (each with one more of
    its own), a run on another dataset, and a run in another project. Returns their ids."""
    evalyard.define_metric("latency_ms", direction="lower", store=store)
    ids: dict[str, str] = {}
    with evalyard.start_run(
        "baseline",
        dataset="qa-v1",
        metadata={"model": "small-1", "temperature": 0.3},
        store=store,
    ) as run:
        for i in range(shared):
            run.log(
                f"q{i:03d}",
                inputs={"question": f"What is {i} plus {i}?"},
                outputs=f"The answer is {2 * i} because we add them",
                ground_truth=str(2 * i),
                metrics={
                    "accuracy": i % 3 != 0,
                    "score": (i % 10) / 10,
                    "latency_ms": 100 + i,
                    "label": "a" if i % 2 else "b",
                },
                steps=_steps(i, 0),
            )
        run.log("old-only", inputs={"question": "gone"}, outputs="x", metrics={"accuracy": True})
        ids["baseline"] = run.run_id
    with evalyard.start_run(
        "candidate",
        dataset="qa-v1",
        metadata={"model": "small-2", "temperature": 0.3},
        store=store,
    ) as run:
        for i in range(shared):
            answer = 2 * i if i % 4 else 2 * i + 1
            run.log(
                f"q{i:03d}",
                inputs={"question": f"What is {i} plus {i}?"},
                outputs=f"The answer is {answer} since we add them",
                ground_truth=str(2 * i),
                metrics={
                    "accuracy": i % 4 != 0,
                    "score": ((i + 3) % 10) / 10,
                    "latency_ms": 90 + (i * 7) % 25,
                    "label": "a" if i % 3 else "b",
                },
                steps=_steps(i, 1),
            )
        run.log(
            "new-only",
            inputs={"question": "fresh"},
            outputs={"answer": "w", "sources": [1, 2]},
            metrics={"accuracy": False},
        )
        ids["candidate"] = run.run_id
    with evalyard.start_run("unrelated", dataset="other", store=store) as run:
        run.log("zzz", outputs="x", metrics={"accuracy": True})
        ids["unrelated"] = run.run_id
    with evalyard.start_run("elsewhere", project="side", dataset="qa-v1", store=store) as run:
        run.log("q000", outputs="x", metrics={"accuracy": True})
        ids["other_project"] = run.run_id
    return ids


def log_payload_runs(store: SQLStore | str) -> dict[str, str]:
    """Two runs whose every user-given text holds the XSS payloads."""
    a, b, c = XSS_PAYLOADS
    ids = {}
    for role, name in (("baseline", f"base {a}"), ("candidate", f"cand {b}")):
        with evalyard.start_run(
            name,
            dataset=f"data {c}",
            metadata={a: b, "prompt": c},
            store=store,
        ) as run:
            for i in range(3):
                run.log(
                    f"dp-{i} {c}",
                    inputs={"question": f"{a} {i}"},
                    outputs=f"{b} answer {i} {role}",
                    ground_truth=c,
                    metadata={"note": a},
                    metrics={f"metric {a}": i + (role == "candidate"), "ok": True},
                    steps=[
                        {
                            "name": f"step {b}",
                            "type": "tool",
                            "outputs": f"{c} step {role}",
                            "metrics": {f"m {c}": i},
                            "error": a,
                        }
                    ],
                    error=c if i == 2 else None,
                )
            ids[role] = run.run_id
    return ids


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` in uvicorn on 127.0.0.1 and a free port; yield its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="evalyard-ui-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass(frozen=True)
class Served:
    """A store with the test runs, served: its base URL, the runs, and the store."""

    base_url: str
    runs: Logged
    store: SQLStore

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)


@contextmanager
def served_store(url: str) -> Iterator[Served]:
    store = open_store(url)
    try:
        ids = log_runs(store)
        logged = Logged(
            url, ids["baseline"], ids["candidate"], ids["unrelated"], ids["other_project"]
        )
        with serve(create_app(store)) as base_url:
            yield Served(base_url, logged, store)
    finally:
        store.close()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The test runs in a fresh store (SQLite, then PostgreSQL), served over HTTP."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("ui") / "evalyard.db"
        with served_store(f"sqlite:///{path}") as found:
            yield found
    else:
        for url in postgres_schema_url():
            with served_store(url) as found:
                yield found


@pytest.fixture(scope="module")
def served_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The test runs in a fresh SQLite store, served over HTTP."""
    path = tmp_path_factory.mktemp("ui") / "evalyard.db"
    with served_store(f"sqlite:///{path}") as found:
        yield found


@pytest.fixture(scope="module")
def payload_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, str]]]:
    """Runs whose every text field holds XSS payloads, served: (base URL, run ids)."""
    path: Path = tmp_path_factory.mktemp("xss") / "evalyard.db"
    store = open_store(f"sqlite:///{path}")
    try:
        ids = log_payload_runs(store)
        with serve(create_app(store)) as base_url:
            yield base_url, ids
    finally:
        store.close()
