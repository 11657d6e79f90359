"""The web UI benchmark: server time and page weight of the comparison page (benchmarks/README.md).

Two runs of N datapoints x 10 float metrics, with a two-step trace per datapoint (a
``retrieve`` step with 2 metrics, an ``answer`` step with 1), 95% of the datapoint ids
shared, are logged into a fresh store. ``evalyard``'s app is then served by uvicorn in a
child process on 127.0.0.1, and each kind of request (the comparison page, each Show
filter, a sort, a deep page, the step view, Diff, a run's own page, a datapoint page, the
Experiments page, a JSON page) is sent ``--repeat`` times over HTTP on loopback. The
server time is the ``Server-Timing: app;dur=`` header the app sets (handler and template,
not the network); the first request of all, which computes the comparison, is reported
apart. The target is p95 < 300 ms for every kind at 100k datapoints.

It also times the output diff (:mod:`evalyard.core.diff`) on texts of growing size, to
show that it stays bounded.

Usage:
    python benchmarks/bench_ui.py                       # N = 100k, SQLite
    python benchmarks/bench_ui.py --datapoints 10000 --repeat 10
    python benchmarks/bench_ui.py --store postgresql://postgres@127.0.0.1:5432/test

The tables are printed, and written into this benchmark's block of ``benchmarks/README.md``
when that file exists (``--readme PATH`` or ``--no-readme`` to change that).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import platform
import random
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import evalyard
from evalyard.core.diff import DiffLevel, diff_texts, diff_values
from evalyard.store import open_store
from readme_blocks import write_block

SCRIPT = Path(__file__).resolve()
DEFAULT_README = SCRIPT.parent / "README.md"
TARGET_MS = 300.0
METRICS = 10
_TIMING = re.compile(r"app;dur=([0-9.]+)")


@dataclass(frozen=True)
class Measured:
    """The timings of one kind of request."""

    name: str
    path: str
    server_ms: list[float]
    client_ms: list[float]
    size: int

    @property
    def p50(self) -> float:
        return statistics.median(self.server_ms)

    @property
    def p95(self) -> float:
        return float(np.percentile(self.server_ms, 95))


def records(n: int, *, run: str, seed: int) -> Iterator[dict[str, Any]]:
    """The records of one run: ids ``dp-<hex>``; the candidate drops the first 5% of the
    baseline's ids and adds as many of its own."""
    rng = np.random.default_rng(seed)
    values = rng.random((n, METRICS))
    shift = 0 if run == "baseline" else n // 20
    words = ["the", "answer", "is", "found", "in", "passage", "according", "to", "source"]
    for i in range(n):
        k = i + shift
        answer = " ".join(words[(k + j * (run == "candidate")) % len(words)] for j in range(12))
        yield {
            "id": f"dp-{k:06x}",
            "inputs": {"question": f"Question number {k} about topic {k % 97}?"},
            "outputs": f"{answer} {k}",
            "ground_truth": str(k),
            "metrics": {f"metric_{m}": float(values[i, m]) for m in range(METRICS)},
            "steps": [
                {
                    "name": "retrieve",
                    "type": "tool",
                    "outputs": [f"passage-{k}", f"passage-{k + 1}"],
                    "metrics": {"hits": int(values[i, 0] * 5), "recall": float(values[i, 1])},
                },
                {
                    "name": "answer",
                    "type": "model",
                    "outputs": answer,
                    "metrics": {"faithfulness": float(values[i, 2])},
                },
            ],
        }


def log_runs(url: str, n: int) -> tuple[str, str, float]:
    """Log the baseline and the candidate; return their ids and the seconds it took."""
    store = open_store(url)
    started = time.perf_counter()
    try:
        ids = []
        for name, seed in (("baseline", 1), ("candidate", 2)):
            # Run names are unique within a project: a store given by URL may hold earlier ones.
            unique = f"bench-{name}-{uuid.uuid4().hex[:6]}"
            with evalyard.start_run(unique, dataset="bench", store=store) as run:
                run.log_many(records(n, run=name, seed=seed))
            ids.append(run.run_id)
    finally:
        store.close()
    return ids[1], ids[0], time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def server(url: str) -> Iterator[str]:
    """The app over ``url``, served by uvicorn in a child process; yields its base URL."""
    port = _free_port()
    code = (
        "import uvicorn; from evalyard.server import create_app; "
        f"uvicorn.run(create_app({url!r}), host='127.0.0.1', port={port}, "
        "log_level='warning', lifespan='off', ws='none')"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/static/app.css", timeout=2)
                break
            except httpx.TransportError:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the UI server did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _get(client: httpx.Client, path: str) -> tuple[float, float, int]:
    started = time.perf_counter()
    response = client.get(path)
    client_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
    found = _TIMING.search(response.headers.get("server-timing", ""))
    if found is None:
        raise RuntimeError(f"GET {path} has no Server-Timing header")
    return float(found.group(1)), client_ms, len(response.content)


def request_kinds(new: str, old: str, n: int) -> list[tuple[str, str]]:
    """Each kind of request: (what, path)."""
    page = f"/runs/{new}?compare={old}"
    deep = max(1, (n * 21 // 20) // 50 // 2)
    return [
        ("comparison page", page),
        ("Show: Improved", page + "&metric=metric_3&show=improved"),
        ("Show: Regressed", page + "&metric=metric_3&show=regressed"),
        ("Show: Unchanged", page + "&metric=metric_3&show=unchanged"),
        ("Show: Only in this run", page + "&show=new_only"),
        ("Show: Only in baseline", page + "&show=old_only"),
        ("sorted by change", page + "&metric=metric_7&sort=-delta"),
        (f"deep page ({deep:,})", page + f"&page={deep}"),
        ("Viewing event: a step", page + "&step=retrieve"),
        ("step + Regressed", page + "&step=retrieve&metric=recall&show=regressed"),
        ("Diff on", page + "&diff=1&metric=metric_1&show=regressed"),
        ("aggregate: p95", page + "&aggregate=p95"),
        ("run page (no baseline)", f"/runs/{new}?sort=-value"),
        ("datapoint page", f"/runs/{new}/datapoints/dp-{n // 2:06x}?compare={old}"),
        ("Experiments", "/experiments"),
        ("JSON: a table page", f"/api/v1/runs/{new}/datapoints?compare={old}&page=3"),
    ]


def measure(
    base: str, kinds: list[tuple[str, str]], repeat: int
) -> tuple[Measured, list[Measured]]:
    """The first request (cold: it computes the comparison), then each kind ``repeat``
    times, interleaved."""
    with httpx.Client(base_url=base, timeout=120) as client:
        server_ms, client_ms, size = _get(client, kinds[0][1])
        cold = Measured("first comparison (cold)", kinds[0][1], [server_ms], [client_ms], size)
        # One warm-up pass: each scope and aggregate is computed once, as a user's first
        # visit would.
        for _, path in kinds:
            _get(client, path)
        timings: dict[str, tuple[list[float], list[float], int]] = {
            name: ([], [], 0) for name, _ in kinds
        }
        for _ in range(repeat):
            for name, path in kinds:
                server_ms, client_ms, size = _get(client, path)
                s, c, _ = timings[name]
                s.append(server_ms)
                c.append(client_ms)
                timings[name] = (s, c, size)
    return cold, [Measured(name, path, *timings[name]) for name, path in kinds]


def _kb(size: int) -> str:
    return f"{size / 1024:,.0f} KB"


def diff_table() -> str:
    """Time the diff on texts of growing size (~5% of words changed)."""
    rng = random.Random(0)
    vocabulary = [f"w{i}" for i in range(400)] + ["the", "a", "of", "and", "to"] * 40
    rows = ["| input | level | time |", "|---|---|---|"]
    for size in (2_000, 20_000, 200_000, 2_000_000):
        words = [rng.choice(vocabulary) for _ in range(size // 5)]
        changed = [w if rng.random() > 0.05 else "CHANGED" for w in words]
        old, new = " ".join(words), " ".join(changed)
        started = time.perf_counter()
        d = diff_texts(old, new)
        rows.append(
            f"| prose, {_kb(len(old))} | {d.level} | {_ms(time.perf_counter() - started)} |"
        )
    for count in (200, 5_000, 50_000):
        items = [{"id": i, "text": rng.choice(vocabulary)} for i in range(count)]
        edited = [dict(item, text="CHANGED") if rng.random() < 0.05 else item for item in items]
        size = len(json.dumps(items, indent=2))
        started = time.perf_counter()
        d = diff_values(items, edited)
        rows.append(f"| JSON, {_kb(size)} | {d.level} | {_ms(time.perf_counter() - started)} |")
    # The worst case for word-level difflib: two long texts with nothing in common.
    a = " ".join(rng.choice(vocabulary) for _ in range(3_900))
    b = " ".join(rng.choice(vocabulary) for _ in range(3_900))
    started = time.perf_counter()
    d = diff_texts(a, b, level=DiffLevel.WORD)
    rows.append(
        f"| unrelated prose, {_kb(len(a))} | {d.level} | {_ms(time.perf_counter() - started)} |"
    )
    return "\n".join(rows)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def report(
    n: int, cold: Measured, kinds: list[Measured], *, log_seconds: float, store: str, command: str
) -> str:
    """The result as Markdown."""
    worst = max(m.p95 for m in kinds)
    lines = [
        f"Measured {dt.date.today().isoformat()}. Two runs of {n:,} datapoints x {METRICS} "
        f"metrics with a two-step trace each, 95% shared, on {store}; logged in "
        f"{log_seconds:,.1f} s. Server time from the "
        "app's `Server-Timing` header over HTTP on loopback (uvicorn, one process); "
        f"{len(kinds[0].server_ms)} requests per kind after one warm-up pass; "
        f"page weight uncompressed. Target: p95 < {TARGET_MS:.0f} ms.",
        "",
        "| request | p50 | p95 | client p50 | page weight |",
        "|---|---|---|---|---|",
        f"| {cold.name} | {cold.p50:,.0f} ms | — | {statistics.median(cold.client_ms):,.0f} ms "
        f"| {_kb(cold.size)} |",
    ]
    for m in kinds:
        lines.append(
            f"| {m.name} | {m.p50:,.1f} ms | {m.p95:,.1f} ms | "
            f"{statistics.median(m.client_ms):,.1f} ms | {_kb(m.size)} |"
        )
    verdict = "meets" if worst < TARGET_MS else "MISSES"
    lines += [
        "",
        f"Worst p95: {worst:,.1f} ms ({verdict} the target).",
        "",
        "Output diff (`evalyard.core.diff`; table cells diff at most 1,500 characters per side):",
        "",
        diff_table(),
        "",
        f"Machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}. Reproduce: `{command}`",
    ]
    return "\n".join(lines)


def write_readme(path: Path, block: str) -> None:
    """Replace this benchmark's block in ``path`` (append it if absent)."""
    write_block(path, "bench_ui", block, script="bench_ui.py")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code (1 when a p95 misses the target)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datapoints", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--store", default="sqlite", help="sqlite (a fresh file) or a URL")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--readme", type=Path, default=DEFAULT_README)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bench_ui-", dir=args.workdir))
    try:
        url = f"sqlite:///{workdir / 'evalyard.db'}" if args.store == "sqlite" else args.store
        new, old, log_seconds = log_runs(url, args.datapoints)
        kinds = request_kinds(new, old, args.datapoints)
        with server(url) as base:
            cold, measured = measure(base, kinds, args.repeat)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    command = shlex.join(
        [
            "python",
            "benchmarks/bench_ui.py",
            "--datapoints",
            str(args.datapoints),
            "--repeat",
            str(args.repeat),
        ]
        + ([] if args.store == "sqlite" else ["--store", "URL"])
    )
    store_name = "SQLite" if args.store == "sqlite" else "PostgreSQL"
    block = report(
        args.datapoints, cold, measured, log_seconds=log_seconds, store=store_name, command=command
    )
    print(block)
    if not args.no_readme and args.readme.exists():
        write_readme(args.readme, block)
    return 0 if max(m.p95 for m in measured) < TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
