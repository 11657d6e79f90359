"""The evaluate benchmark: evaluate's own overhead per datapoint, and an async run's wall time,
for the overhead target in benchmarks/README.md.

- **Overhead.** ``evaluate`` over N datapoints of an application that returns at once (sync,
  on the thread pool; and async), with no evaluators: wall time of the whole call (run
  created, every result written, run finished and summarised) divided by N. Target: < 1 ms
  per datapoint. For scale, the same results logged by hand, one ``run.log`` per datapoint
  (a transaction each), are timed too.
- **Async fan-out.** 1,000 datapoints of an async application that sleeps 100 ms, with
  ``max_workers=100``: ideally 10 waves of 100 ms = 1 s. Target: < 2 s wall.

Every evaluate call is checked against what it should have stored: N results, each with
``error`` False and the application's outputs; a difference stops the benchmark.

Usage:
    python benchmarks/bench_evaluate.py                       # N = 1k, 10k; SQLite
    python benchmarks/bench_evaluate.py --sizes 2000 --repeat 5
    python benchmarks/bench_evaluate.py --store postgresql://postgres@127.0.0.1:5432/test

The table is printed and written into this benchmark's block of ``benchmarks/README.md``
(one block per backend; ``--readme PATH`` or ``--no-readme`` to change that).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import platform
import shlex
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy

import evalyard
from evalyard.store import SQLStore, open_store
from readme_blocks import write_block

SCRIPT = Path(__file__).resolve()
DEFAULT_README = SCRIPT.parent / "README.md"
DEFAULT_SIZES = (1_000, 10_000)
OVERHEAD_TARGET_MS = 1.0
FANOUT_TARGET_S = 2.0


class BenchmarkMismatchError(RuntimeError):
    """evaluate stored something other than what it was given."""


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    what: str
    size: int
    workers: int
    seconds: float
    target: str
    met: bool | None

    @property
    def per_datapoint_ms(self) -> float:
        return self.seconds / self.size * 1000


def _instant(inputs: dict[str, int]) -> int:
    return inputs["n"]


async def _instant_async(inputs: dict[str, int]) -> int:
    return inputs["n"]


async def _sleepy(inputs: dict[str, int]) -> int:
    await asyncio.sleep(0.1)
    return inputs["n"]


def _dataset(size: int) -> list[dict[str, Any]]:
    return [{"id": f"dp-{n:07d}", "inputs": {"n": n}} for n in range(size)]


@contextmanager
def _fresh_store(spec: str, workdir: Path) -> Iterator[SQLStore]:
    """An empty store: an SQLite file in ``workdir``, or a new PostgreSQL schema."""
    if spec == "sqlite":
        folder = Path(tempfile.mkdtemp(dir=workdir))
        store = open_store(f"sqlite:///{folder / 'evalyard.db'}")
        try:
            yield store
        finally:
            store.close()
            shutil.rmtree(folder, ignore_errors=True)
        return
    schema = f"bench_evaluate_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(spec.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in spec else "?"
    store = open_store(f"{spec}{separator}options=-csearch_path%3D{schema}")
    try:
        yield store
    finally:
        store.close()
        with admin.begin() as connection:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _timed_evaluate(
    function: Callable[..., Any], size: int, workers: int, spec: str, workdir: Path
) -> float:
    dataset = _dataset(size)
    with _fresh_store(spec, workdir) as store:
        started = time.perf_counter()
        result = evalyard.evaluate(
            function, dataset=dataset, max_workers=workers, store=store, print_results=False
        )
        seconds = time.perf_counter() - started
        _check(store, result.run_id, size)
    return seconds


def _check(store: SQLStore, run_id: str, size: int) -> None:
    results = store.get_results(run_id)
    if len(results) != size:
        raise BenchmarkMismatchError(f"{len(results)} results stored, {size} expected")
    for result in results:
        n = int(result.datapoint_id[3:])
        if result.outputs != n or result.metrics.get("error") is not False:
            raise BenchmarkMismatchError(f"datapoint {result.datapoint_id} stored as {result}")


def _timed_log_loop(size: int, spec: str, workdir: Path) -> float:
    """The same results logged one ``run.log`` (one transaction) at a time, by hand."""
    dataset = _dataset(size)
    with _fresh_store(spec, workdir) as store:
        started = time.perf_counter()
        with evalyard.start_run("by-hand", store=store) as run:
            for record in dataset:
                began = time.perf_counter()
                outputs = _instant(record["inputs"])
                elapsed = (time.perf_counter() - began) * 1000
                run.log(
                    record["id"],
                    inputs=record["inputs"],
                    outputs=outputs,
                    metrics={"error": False, "latency_ms": elapsed},
                    duration_ms=elapsed,
                )
        return time.perf_counter() - started


def measure(args: argparse.Namespace) -> list[Row]:
    """Run every benchmark ``args.repeat`` times; the rows hold the medians."""
    rows: list[Row] = []
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    def median(run: Callable[[], float]) -> float:
        return statistics.median(run() for _ in range(args.repeat))

    for size in args.sizes:
        for label, function in (("sync", _instant), ("async", _instant_async)):
            seconds = median(
                lambda f=function, n=size: _timed_evaluate(f, n, 8, args.store, workdir)
            )
            met = seconds / size * 1000 < OVERHEAD_TARGET_MS
            rows.append(Row(f"overhead, {label} app", size, 8, seconds, "< 1 ms/datapoint", met))
        if size <= 2_000 or args.by_hand:
            seconds = median(lambda n=size: _timed_log_loop(n, args.store, workdir))
            rows.append(Row("(by hand: one run.log each)", size, 1, seconds, "-", None))
    fanout = args.fanout
    seconds = median(lambda: _timed_evaluate(_sleepy, fanout, 100, args.store, workdir))
    rows.append(
        Row("async, sleeps 100 ms", fanout, 100, seconds, "< 2 s wall", seconds < FANOUT_TARGET_S)
    )
    return rows


def render(rows: list[Row], args: argparse.Namespace) -> str:
    """The markdown block: the command, the machine, the table."""
    sqlite_version = sqlite3.sqlite_version
    lines = [
        f"Measured {dt.date.today().isoformat()} with `{reproduce_command(args)}` "
        f"(median of {args.repeat}); Python {platform.python_version()}, "
        f"SQLite {sqlite_version}, evalyard {evalyard.__version__}.",
        "",
        "| benchmark | datapoints | max_workers | wall (s) | per datapoint (ms) | target | met |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        met = "-" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {row.what} | {row.size:,} | {row.workers} | {row.seconds:.3f} | "
            f"{row.per_datapoint_ms:.3f} | {row.target} | {met} |"
        )
    return "\n".join(lines)


def write_readme(path: Path, block: str, *, store_spec: str) -> None:
    """Replace this benchmark's block for the backend in ``path`` (append it if absent)."""
    backend = "sqlite" if store_spec == "sqlite" else "postgresql"
    write_block(path, f"bench_evaluate:{backend}", block, script="bench_evaluate.py")


def reproduce_command(args: argparse.Namespace) -> str:
    """The command that reproduces these numbers (output locations left out)."""
    parts = ["python", "benchmarks/bench_evaluate.py", "--sizes", ",".join(map(str, args.sizes))]
    parts += ["--repeat", str(args.repeat), "--fanout", str(args.fanout)]
    if args.store != "sqlite":
        parts += ["--store", sqlalchemy.make_url(args.store).render_as_string(hide_password=True)]
    return shlex.join(parts)


def _sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        factor = 1_000 if part.endswith("k") else 1
        value = int(part.rstrip("k")) * factor
        if value < 1:
            raise argparse.ArgumentTypeError(f"a size must be at least 1, not {value}")
        sizes.append(value)
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure evaluate's overhead per datapoint and an async run's wall time."
    )
    parser.add_argument("--sizes", type=_sizes, default=list(DEFAULT_SIZES), help="N, as 1k,10k")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--fanout", type=int, default=1_000, help="datapoints of the async run")
    parser.add_argument("--store", default="sqlite", help="sqlite, or a postgresql:// URL")
    parser.add_argument("--workdir", default=tempfile.gettempdir(), help="for SQLite files")
    parser.add_argument("--by-hand", action="store_true", help="time run.log at every size")
    parser.add_argument("--readme", type=Path, default=DEFAULT_README, help="README to update")
    parser.add_argument("--no-readme", action="store_true", help="only print the table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the table, and write it into the README; 0 when the targets are met."""
    args = parse_args(argv)
    rows = measure(args)
    block = render(rows, args)
    print(block)
    if not args.no_readme:
        write_readme(args.readme, block, store_spec=args.store)
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
