"""The team server benchmark: results/s logged through it, and comparing runs through it.

For each store (``--store``, repeatable: SQLite, a fresh file, by default; a PostgreSQL
URL) and each number of worker processes (``--workers``, 1 and 2 by default),
``evalyard server --workers N`` runs in a child process on 127.0.0.1 over the store, and is
measured once its workers are up and idle. Then:

- **Logging.** For each client count (1, 4 and 8 by default) that many processes log into
  one shared run at once, each ``--results`` results with 10 float metrics and a short
  output, through ``Run.log_many`` in chunks of 1,000 (the SDK batches them in the
  background and sends up to 5,000 per request). Each process starts on a barrier once
  imported and connected; the time is from the barrier to the last ``Run.flush``. The
  run must hold exactly clients x results afterwards, or the benchmark stops. Targets:
  >= 20,000 results/s in total with one worker process, >= 50,000 with ``--workers N``.
- **Reference.** For each client count, the same records (clients x results) logged by
  ``Run.log_many`` straight into the same store, in chunks of 1,000, in this one
  process, without a server: the ceiling the server adds its cost to.
- **Comparing** (through the server with the first ``--workers`` value). Two runs of
  ``--datapoints`` datapoints x 10 metrics (95% shared) are logged straight into the
  store; then ``compare_runs`` is timed in this process on the store (the reference),
  through the server with the SDK (``store="http://..."``: both runs' values come as
  binary columns and the comparison is computed here), and as the API's comparison
  endpoint (``GET /api/v1/runs/{id}/comparison``: the server computes it; its first
  answer, cold, apart from the cached ones). The SDK's ``to_dict()`` must equal the
  reference's.

Usage:
    python benchmarks/bench_server.py                       # SQLite, 1/4/8 clients, 100k
    python benchmarks/bench_server.py --workers 1,2,3 --store sqlite --store URL  # two stores
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
from readme_blocks import machine_description, revision, write_block

SCRIPT = Path(__file__).resolve()
DEFAULT_README = SCRIPT.parent / "README.md"
TARGET_RESULTS_PER_S = 20_000
TARGET_WORKERS_RESULTS_PER_S = 50_000
METRICS = 10
CHUNK = 1_000


class BenchmarkMismatchError(RuntimeError):
    """The server stored or computed something other than the reference."""


@dataclass(frozen=True)
class Throughput:
    clients: int
    results: int
    seconds: float
    workers: int = 0
    """Worker processes of the server; 0 for the reference (no server)."""
    client_cpu: float = 0.0
    """CPU seconds of the clients while they logged (of this process, for the reference)."""
    server_cpu: float | None = None
    """CPU seconds of the server's processes meanwhile (None without /proc or server)."""
    db_cpu: float | None = None
    """CPU seconds of the machine's PostgreSQL processes meanwhile (None on SQLite)."""

    @property
    def cpu_per_result_us(self) -> float:
        """CPU microseconds per result, every party counted."""
        total = self.client_cpu + (self.server_cpu or 0.0) + (self.db_cpu or 0.0)
        return total / self.results * 1e6

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


def _cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _tree_cpu(pid: int | None) -> float | None:
    """CPU seconds used so far by ``pid`` and its children (the server's workers)."""
    if pid is None or _cpu_ticks(pid) is None:
        return None
    return sum(_cpu_ticks(p) or 0 for p in [pid, *_children(pid)]) / _TICK


def _postgres_cpu(store_url: str) -> dict[int, int] | None:
    """CPU ticks used so far by each of the machine's PostgreSQL processes (None for
    SQLite, or without /proc)."""
    if not store_url.startswith("postgres") or not Path("/proc/self/stat").exists():
        return None
    ticks = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                text = (entry / "stat").read_text()
                if text.split("(", 1)[1].rsplit(")", 1)[0] == "postgres":
                    fields = text.rsplit(")", 1)[1].split()
                    ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    return ticks


def _postgres_delta(before: dict[int, int] | None, after: dict[int, int] | None) -> float | None:
    """CPU seconds the PostgreSQL processes used between two readings: those alive at the
    second (a backend that ended meanwhile is not counted; other users' are)."""
    if before is None or after is None:
        return None
    return sum(t - before.get(pid, 0) for pid, t in after.items()) / _TICK


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def _cpu_now() -> float:
    times = os.times()
    return times.user + times.system


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


def wait_until_idle(pid: int, workers: int, timeout: float = 60) -> None:
    """Wait until the server's worker processes are started and use no CPU (done importing
    and opening the store), so that their start-up is not measured. Without /proc, wait 5 s."""
    if not Path(f"/proc/{pid}/stat").exists():
        time.sleep(5)
        return
    deadline = time.monotonic() + timeout
    before: dict[int, int | None] = {}
    while time.monotonic() < deadline:
        # With several workers, the server's children: workers and multiprocessing's helper.
        pids = [pid, *_children(pid)] if workers > 1 else [pid]
        now = {p: _cpu_ticks(p) for p in pids}
        # The server and, with several, at least its workers.
        if len(pids) >= (1 if workers == 1 else workers + 1) and now == before:
            return
        before = now
        time.sleep(0.5)
    raise RuntimeError("the server's workers did not settle")


@contextlib.contextmanager
def serve(store_url: str, folder: Path, workers: int = 1) -> Iterator[tuple[str, int]]:
    """``evalyard server --workers N`` in a child process; yields its URL and process id
    once its workers are up and idle."""
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
            "--workers",
            str(workers),
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
        wait_until_idle(process.pid, workers)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _records(client: int, results: int) -> list[dict[str, Any]]:
    """What client number ``client`` logs."""
    return [
        {
            "id": f"c{client}-{i:07d}",
            "outputs": f"answer {i}",
            "metrics": {f"m{k}": (i * (k + 1) % 97) / 97 for k in range(METRICS)},
        }
        for i in range(results)
    ]


def _client(
    url: str, run_id: str, client: int, results: int, folder: str, barrier: Any, out: Any
) -> None:
    os.chdir(folder)
    records = _records(client, results)
    run = evalyard.start_run(run_id=run_id, store=url)
    barrier.wait()
    cpu = _cpu_now()
    started = time.perf_counter()
    for start in range(0, results, CHUNK):
        run.log_many(records[start : start + CHUNK])
    run.flush()
    out.put((started, time.perf_counter(), _cpu_now() - cpu))
    close_stores()


def measure_reference(store_url: str, clients: int, results: int) -> Throughput:
    """Time the records of ``clients`` clients logged by ``log_many`` straight into the
    store, in this one process, in the clients' chunks: no server."""
    records = [r for c in range(clients) for r in _records(c, results)]
    store = open_store(store_url)
    try:
        run = evalyard.start_run(f"bench-ref-{clients}-{uuid.uuid4().hex[:6]}", store=store)
        db = _postgres_cpu(store_url)
        cpu = _cpu_now()
        started = time.perf_counter()
        for start in range(0, len(records), CHUNK):
            run.log_many(records[start : start + CHUNK])
        run.flush()
        seconds = time.perf_counter() - started
        cpu = _cpu_now() - cpu
        db_cpu = _postgres_delta(db, _postgres_cpu(store_url))
        info = run.finish()
    finally:
        store.close()
    if info.result_count != len(records):
        raise BenchmarkMismatchError(
            f"the reference run holds {info.result_count} results, not {len(records)}"
        )
    return Throughput(clients, len(records), seconds, workers=0, client_cpu=cpu, db_cpu=db_cpu)


def measure_logging(
    url: str,
    clients: int,
    results: int,
    folder: Path,
    server_workers: int = 1,
    server_pid: int | None = None,
    store_url: str = "",
) -> Throughput:
    """Time ``clients`` processes logging ``results`` each into one run through a server
    of ``server_workers`` worker processes (process ``server_pid``, serving ``store_url``),
    and the CPU time each party used meanwhile."""
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
    server_cpu, db = _tree_cpu(server_pid), _postgres_cpu(store_url)
    barrier.wait(timeout=120)
    spans = [out.get(timeout=600) for _ in workers]
    server_cpu = _delta(server_cpu, _tree_cpu(server_pid))
    db_cpu = _postgres_delta(db, _postgres_cpu(store_url))
    for worker in workers:
        worker.join(timeout=60)
        if worker.exitcode != 0:
            raise RuntimeError(f"a client exited with {worker.exitcode}")
    info = run.finish()
    if info.result_count != clients * results:
        raise BenchmarkMismatchError(
            f"the run holds {info.result_count} results, not {clients * results}"
        )
    seconds = max(end for _, end, _ in spans) - min(start for start, _, _ in spans)
    return Throughput(
        clients,
        clients * results,
        seconds,
        workers=server_workers,
        client_cpu=sum(cpu for _, _, cpu in spans),
        server_cpu=server_cpu,
        db_cpu=db_cpu,
    )


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


@dataclass(frozen=True)
class StoreResults:
    """What was measured on one store."""

    backend: str
    logging: list[Throughput]
    """Through the server (``workers`` >= 1) and the references (``workers`` 0)."""
    latencies: list[Latency]


def _verdict(name: str, target: int, measured: list[tuple[Throughput, str]]) -> str:
    """Whether the best of ``measured`` (throughputs with their store) meets ``target``."""
    t, backend = max(measured, key=lambda pair: pair[0].per_second)
    met = "meets" if t.per_second >= target else "misses"
    workers = "1 worker" if t.workers == 1 else f"{t.workers} workers"
    return (
        f"{name} >= {target:,} results/s in total: best {t.per_second:,.0f}/s "
        f"({backend}, {workers}, {t.clients} client{'s' if t.clients > 1 else ''}), {met} it."
    )


def render(
    *,
    stores: list[StoreResults],
    workers: list[int],
    results: int,
    datapoints: int,
    repeat: int,
    load_at_start: float,
    command: str,
) -> str:
    """The markdown block of the results."""
    head = "Measured " + dt.date.today().isoformat() + f" at {revision()} on: "
    lines = [
        head + machine_description() + ".",
        "",
        "`evalyard server --workers N` (uvicorn worker processes) on 127.0.0.1; client "
        "processes on the same machine, each logging "
        f"{results:,} results x {METRICS} metrics with `log_many` in chunks of {CHUNK:,} into "
        "one shared run. Results/s in total, from the clients' start to the last flush; the "
        "reference logs the same records with `log_many` straight into the same store, in "
        "one process, without a server.",
        "",
        "| store | client processes | results | reference: `log_many`, no server | "
        + " | ".join(f"{n} worker{'s' if n > 1 else ''}" for n in workers)
        + " |",
        "|---|---:|---:|---:|" + "---:|" * len(workers),
    ]
    for store in stores:
        references = {t.clients: t for t in store.logging if t.workers == 0}
        for clients, reference in references.items():
            cells = []
            for n in workers:
                found = [t for t in store.logging if t.workers == n and t.clients == clients]
                cells.append(f"{found[0].per_second:,.0f}" if found else "")
            lines.append(
                f"| {store.backend} | {clients} | {reference.results:,} | "
                f"{reference.per_second:,.0f} | " + " | ".join(cells) + " |"
            )
    served = [(t, s.backend) for s in stores for t in s.logging if t.workers > 0]
    one = [pair for pair in served if pair[0].workers == 1]
    many = [pair for pair in served if pair[0].workers > 1]
    verdicts = []
    if one:
        verdicts.append(_verdict("one worker process:", TARGET_RESULTS_PER_S, one))
    if many:
        verdicts.append(_verdict("`--workers N`:", TARGET_WORKERS_RESULTS_PER_S, many))
    lines += ["", "Targets: " + " ".join(verdicts)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines += [
        "",
        "CPU time per result while logging, by party (clients: the client processes, or the "
        "one process of the reference; server: all its processes; PostgreSQL: the "
        "machine's PostgreSQL processes, whoever they served), and the rate "
        f"{cores} cores would allow at that cost (cores / total), against the rate measured:",
        "",
        "| store | server | client processes | clients, µs | server, µs | PostgreSQL, µs "
        "| total, µs | CPU-bound rate | measured |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for store in stores:
        for t in sorted(store.logging, key=lambda t: (t.workers, t.clients)):
            server = (
                "none (reference)"
                if t.workers == 0
                else f"{t.workers} worker" + ("s" if t.workers > 1 else "")
            )
            lines.append(
                f"| {store.backend} | {server} | {t.clients} | "
                f"{_us(t.client_cpu, t.results)} | {_us(t.server_cpu, t.results)} | "
                f"{_us(t.db_cpu, t.results)} | {t.cpu_per_result_us:.0f} | "
                f"{_cpu_bound_rate(cores or 1, t.cpu_per_result_us)} | {t.per_second:,.0f}/s |"
            )
    lines += [
        "",
        f"Comparing two runs of {datapoints:,} datapoints x {METRICS} metrics (95% shared), "
        f"the server with {workers[0]} worker{'s' if workers[0] > 1 else ''}; "
        f"medians of {repeat}:",
        "",
        "| store | how | median | min |",
        "|---|---|---:|---:|",
    ]
    for store in stores:
        for latency in store.latencies:
            lines.append(
                f"| {store.backend} | {latency.name} | "
                f"{_ms(statistics.median(latency.times_ms))} | {_ms(min(latency.times_ms))} |"
            )
    lines += [
        "",
        f"Load average (1 min) {load_at_start:.2f} at the start, {_load():.2f} at the end. "
        f"Reproduce: `{command}`",
    ]
    return "\n".join(lines)


def _us(seconds: float | None, results: int) -> str:
    return "" if seconds is None else f"{seconds / results * 1e6:.0f}"


def _cpu_bound_rate(cores: int, cpu_per_result_us: float) -> str:
    """The results/s ``cores`` would allow at that CPU per result; a dash when no CPU was
    measured (a tiny run: the kernel counts CPU time in 10 ms ticks)."""
    if cpu_per_result_us <= 0:
        return "-"
    return f"{cores / cpu_per_result_us * 1e6:,.0f}/s"


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def measure_store(
    spec: str, folder: Path, *, clients: list[int], workers: list[int], args: Any
) -> StoreResults:
    """Everything measured on one store: ``sqlite`` (a fresh file in ``folder``) or a URL."""
    store_url = f"sqlite:///{folder / 'evalyard.db'}" if spec == "sqlite" else spec
    open_store(store_url).close()
    backend = "SQLite" if store_url.startswith("sqlite") else "PostgreSQL"
    logging = [measure_reference(store_url, n, args.results) for n in clients]
    latencies: list[Latency] = []
    for n in workers:
        with serve(store_url, folder, n) as (url, pid):
            logging += [
                measure_logging(url, c, args.results, folder, n, pid, store_url) for c in clients
            ]
            if n == workers[0]:
                new, old = log_pair(store_url, args.datapoints)
                latencies = measure_compare(store_url, url, new, old, args.repeat)
        close_stores()
    return StoreResults(backend, logging, latencies)


def write_readme(path: Path, block: str) -> None:
    """Replace this benchmark's block in ``path`` (append it if absent)."""
    write_block(path, "bench_server", block, script="bench_server.py")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,8", help="client process counts")
    parser.add_argument("--workers", default="1,2", help="worker process counts of the server")
    parser.add_argument("--results", type=int, default=20_000, help="results per client")
    parser.add_argument("--datapoints", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--store",
        action="append",
        help="sqlite (a fresh file) or a URL; repeat for several (default: sqlite)",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--readme", type=Path, default=DEFAULT_README)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    specs: list[str] = args.store or ["sqlite"]
    load_at_start = _load()
    stores = []
    for spec in specs:
        folder = Path(tempfile.mkdtemp(prefix="bench-server-", dir=args.workdir))
        try:
            stores.append(measure_store(spec, folder, clients=clients, workers=workers, args=args))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    command = shlex.join(
        [
            "python",
            "benchmarks/bench_server.py",
            "--clients",
            args.clients,
            "--workers",
            args.workers,
            "--results",
            str(args.results),
            "--datapoints",
            str(args.datapoints),
            "--repeat",
            str(args.repeat),
            *[part for spec in specs for part in ("--store", spec)],
        ]
    )
    block = render(
        stores=stores,
        workers=workers,
        results=args.results,
        datapoints=args.datapoints,
        repeat=args.repeat,
        load_at_start=load_at_start,
        command=command,
    )
    print(block)
    if not args.no_readme and args.readme.exists():
        write_readme(args.readme, block)
    served = [t for store in stores for t in store.logging]
    one = [t.per_second for t in served if t.workers == 1]
    many = [t.per_second for t in served if t.workers > 1]
    missed = (one and max(one) < TARGET_RESULTS_PER_S) or (
        many and max(many) < TARGET_WORKERS_RESULTS_PER_S
    )
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
