"""The team server benchmark: results/s logged through it, and comparing runs through it.

``evalyard server`` runs in a child process on 127.0.0.1 (one uvicorn process) over a fresh
store. Then:

- **Logging.** For each client count (1, 4 and 8 by default) that many processes log into
  one shared run at once, each ``--results`` results with 10 float metrics and a short
  output, through ``Run.log_many`` in chunks of 1,000 (the SDK batches them in the
  background and sends up to 5,000 per request). Each process starts on a barrier once
  imported and connected; the time is from the barrier to the last ``Run.flush``. The
  run must hold exactly clients x results afterwards, or the benchmark stops. Target
  (the target): >= 20,000 results/s in total.
- **Comparing.** Two runs of ``--datapoints`` datapoints x 10 metrics (95% shared) are
  logged straight into the store; then ``compare_runs`` is timed in this process on the
  store (the reference), through the server with the SDK (``store="http://..."``: both
  runs' values come as binary columns and the comparison is computed here), and as the
  API's comparison endpoint (``GET /api/v1/runs/{id}/comparison``: the server computes it;
  its first answer, cold, apart from the cached ones). The SDK's ``to_dict()`` must equal
  the reference's.

Usage:
    python benchmarks/bench_server.py                       # SQLite, 1/4/8 clients, 100k
    python benchmarks/bench_server.py --store postgresql://postgres@127.0.0.1:5432/test
    python benchmarks/bench_server.py --clients 1,4 --results 5000 --datapoints 10000

The tables are printed, and written into this benchmark's block of ``benchmarks/README.md``
(``--readme PATH`` or ``--no-readme`` to change that).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing
import os
import platform
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

import evalyard
from evalyard.store import HTTPStore, close_stores, open_store
from readme_blocks import write_block

SCRIPT = Path(__file__).resolve()
DEFAULT_README = SCRIPT.parent / "README.md"
TARGET_RESULTS_PER_S = 20_000
METRICS = 10
CHUNK = 1_000


class BenchmarkMismatchError(RuntimeError):
    """The server stored or computed something other than the reference."""


@dataclass(frozen=True)
class Throughput:
    clients: int
    results: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.results / self.seconds


@dataclass(frozen=True)
class Latency:
    name: str
    times_ms: list[float]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serve(store_url: str, folder: Path) -> Iterator[str]:
    """``evalyard server`` in a child process; yields its URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVALYARD_")}
    log = open(folder / "server.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from evalyard.cli.main import main; main()",
            "server",
            "--port",
            str(port),
            "--store",
            store_url,
        ],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError((folder / "server.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _client(
    url: str, run_id: str, client: int, results: int, folder: str, barrier: Any, out: Any
) -> None:
    os.chdir(folder)
    records = [
        {
            "id": f"c{client}-{i:07d}",
            "outputs": f"answer {i}",
            "metrics": {f"m{k}": (i * (k + 1) % 97) / 97 for k in range(METRICS)},
        }
        for i in range(results)
    ]
    run = evalyard.start_run(run_id=run_id, store=url)
    barrier.wait()
    started = time.perf_counter()
    for start in range(0, results, CHUNK):
        run.log_many(records[start : start + CHUNK])
    run.flush()
    out.put((started, time.perf_counter()))
    close_stores()


def measure_logging(url: str, clients: int, results: int, folder: Path) -> Throughput:
    """Time ``clients`` processes logging ``results`` each into one run."""
    # Run names are unique within a project: a store given by URL may hold earlier ones.
    run = evalyard.start_run(f"bench-log-{clients}-{uuid.uuid4().hex[:6]}", store=url)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(clients + 1)
    out = context.Queue()
    workers = [
        context.Process(
            target=_client, args=(url, run.run_id, c, results, str(folder), barrier, out)
        )
        for c in range(clients)
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)
    spans = [out.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        if worker.exitcode != 0:
            raise RuntimeError(f"a client exited with {worker.exitcode}")
    info = run.finish()
    if info.result_count != clients * results:
        raise BenchmarkMismatchError(
            f"the run holds {info.result_count} results, not {clients * results}"
        )
    seconds = max(end for _, end in spans) - min(start for start, _ in spans)
    return Throughput(clients, clients * results, seconds)


def log_pair(store_url: str, datapoints: int) -> tuple[str, str]:
    """Two runs of ``datapoints`` x 10 metrics, 95% shared, straight into the store."""
    store = open_store(store_url)
    ids = []
    try:
        for shift, name in ((0, "bench-base"), (1, "bench-cand")):
            with evalyard.start_run(f"{name}-{uuid.uuid4().hex[:6]}", store=store) as run:
                offset = int(datapoints * 0.05) * shift
                for start in range(0, datapoints, 20_000):
                    run.log_many(
                        {
                            "id": f"dp-{i + offset:07d}",
                            "metrics": {
                                f"m{k}": ((i * (k + 3) + shift * k) % 101) / 101
                                for k in range(METRICS)
                            },
                        }
                        for i in range(start, min(start + 20_000, datapoints))
                    )
                ids.append(run.run_id)
    finally:
        store.close()
    return ids[1], ids[0]


def _timed(repeat: int, call: Any) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def measure_compare(store_url: str, url: str, new: str, old: str, repeat: int) -> list[Latency]:
    """Time comparing two runs on the store, through the SDK, and as the API endpoint."""
    local = open_store(store_url)
    remote = HTTPStore(url)
    try:
        reference = evalyard.compare_runs(new, old, store=local).to_dict()
        through = evalyard.compare_runs(new, old, store=remote).to_dict()
        if through != reference:
            raise BenchmarkMismatchError("compare_runs through the server differs from local")
        with httpx.Client(base_url=url, timeout=120) as client:
            path = f"/api/v1/runs/{new}/comparison?compare={old}"
            cold = _timed(1, lambda: client.get(path).raise_for_status())
            endpoint = _timed(repeat, lambda: client.get(path).raise_for_status())
            body = client.get(path).json()
        body.pop("datapoints")
        body.pop("notices")
        if body != reference:
            raise BenchmarkMismatchError("the comparison endpoint differs from compare_runs")
        return [
            Latency(
                "compare_runs on the store (reference)",
                _timed(repeat, lambda: evalyard.compare_runs(new, old, store=local)),
            ),
            Latency(
                "compare_runs through the server (SDK)",
                _timed(repeat, lambda: evalyard.compare_runs(new, old, store=remote)),
            ),
            Latency("GET /api/v1/runs/{id}/comparison, first", cold),
            Latency("GET /api/v1/runs/{id}/comparison, cached", endpoint),
        ]
    finally:
        remote.close()
        local.close()


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def render(
    *,
    backend: str,
    results: int,
    datapoints: int,
    repeat: int,
    logging: list[Throughput],
    latencies: list[Latency],
    command: str,
) -> str:
    """The markdown block of the results."""
    lines = [
        f"Measured {dt.date.today().isoformat()} on {backend}: one `evalyard server` process "
        f"(uvicorn) on 127.0.0.1, clients in separate processes on the same machine "
        f"({os.cpu_count()} cores). Each client logs {results:,} results x {METRICS} metrics "
        f"with `log_many` in chunks of {CHUNK:,}.",
        "",
        "| client processes | results | seconds | results/s (total) |",
        "|---:|---:|---:|---:|",
    ]
    for t in logging:
        lines.append(f"| {t.clients} | {t.results:,} | {t.seconds:.2f} | {t.per_second:,.0f} |")
    best = max(t.per_second for t in logging)
    verdict = "meets" if best >= TARGET_RESULTS_PER_S else "misses"
    lines += [
        "",
        f"Target: >= {TARGET_RESULTS_PER_S:,} results/s in total: best {best:,.0f}/s, "
        f"{verdict} it.",
        "",
        f"Comparing two runs of {datapoints:,} datapoints x {METRICS} metrics (95% shared); "
        f"medians of {repeat}:",
        "",
        "| how | median | min |",
        "|---|---:|---:|",
    ]
    for latency in latencies:
        lines.append(
            f"| {latency.name} | {_ms(statistics.median(latency.times_ms))} | "
            f"{_ms(min(latency.times_ms))} |"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines += [
        "",
        f"Machine: {platform.machine()}, CPython {platform.python_version()}; load average "
        f"(1 min) {load:.2f} at the end. Reproduce: `{command}`",
    ]
    return "\n".join(lines)


def write_readme(path: Path, block: str) -> None:
    """Replace this benchmark's block in ``path`` (append it if absent)."""
    write_block(path, "bench_server", block, script="bench_server.py")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 1 when the best throughput misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,8", help="client process counts")
    parser.add_argument("--results", type=int, default=20_000, help="results per client")
    parser.add_argument("--datapoints", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store", default="sqlite", help="sqlite (a fresh file) or a URL")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--readme", type=Path, default=DEFAULT_README)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="bench-server-", dir=args.workdir))
    try:
        store_url = f"sqlite:///{folder / 'evalyard.db'}" if args.store == "sqlite" else args.store
        open_store(store_url).close()
        backend = "SQLite" if store_url.startswith("sqlite") else "PostgreSQL"
        with serve(store_url, folder) as url:
            logging = [measure_logging(url, n, args.results, folder) for n in clients]
            new, old = log_pair(store_url, args.datapoints)
            latencies = measure_compare(store_url, url, new, old, args.repeat)
        close_stores()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    command = shlex.join(
        [
            "python",
            "benchmarks/bench_server.py",
            "--clients",
            args.clients,
            "--results",
            str(args.results),
            "--datapoints",
            str(args.datapoints),
            "--repeat",
            str(args.repeat),
            *(["--store", args.store] if args.store != "sqlite" else []),
        ]
    )
    block = render(
        backend=backend,
        results=args.results,
        datapoints=args.datapoints,
        repeat=args.repeat,
        logging=logging,
        latencies=latencies,
        command=command,
    )
    print(block)
    if not args.no_readme and args.readme.exists():
        write_readme(args.readme, block)
    return 0 if max(t.per_second for t in logging) >= TARGET_RESULTS_PER_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
