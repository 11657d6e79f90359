"""The benchmark of ``compare_many``: many runs against one baseline, from an SQLite store.

A baseline and R runs of N datapoints x 10 metrics are logged into a fresh SQLite store
(each run shares 95% of the baseline's datapoint ids and has 5% of its own; values random
but seeded). Then ``compare_many(runs, baseline=...)`` is timed in this process, against
the reference a user would write without it, in the same process on the same store: a
``compare_runs`` of each run with the baseline, a ``summarise_run`` of every run (for the
leaderboard), and Holm's adjustment over all the p-values. The two must agree — every
aggregate, count, mean difference and raw p-value exactly, the family-adjusted p-values to
1e-12, the verdicts, and each leaderboard's aggregates and intervals — or the benchmark
stops with an error. The pairwise matrix and the grid of one metric are timed once each.

Usage:
    python benchmarks/bench_many.py                           # 10 runs x 100k, 3 repeats
    python benchmarks/bench_many.py --sizes 10000,100000 --runs 10 --repeat 5

The table is printed and written into this benchmark's block of ``benchmarks/README.md``
(``--readme PATH`` or ``--no-readme`` to change that).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import os
import pstats
import shlex
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import evalyard
from evalyard import MultiComparison, compare_many, compare_runs, start_run, summarise_run
from evalyard.core.model import Direction
from evalyard.core.stats import Verdict
from evalyard.store import Store, open_store
from readme_blocks import machine_description as machine_description_of
from readme_blocks import revision, write_block

SCRIPT = Path(__file__).resolve()
DEFAULT_README = SCRIPT.parent / "README.md"
DEFAULT_SIZES = (100_000,)
DEFAULT_RUNS = 10
METRIC_NAMES = tuple(f"metric_{i}" for i in range(10))
#: Metrics 0-4 are continuous in [0, 1); 5-7 judge-like scores on a 0.25 grid; 8-9 bools.
CONTINUOUS, JUDGED = 5, 3
SHARED_FRACTION = 0.95
KEEP_PROBABILITY = 0.5
#: Run r moves metric_0 by this much times (r - R/2): some runs better, some worse.
SHIFT = 0.004
P_TOLERANCE = 1e-12
ALPHA = 0.05
TARGET = (100_000, 10, 2.0)  # N datapoints, runs, seconds for compare_many


class BenchmarkMismatchError(AssertionError):
    """compare_many and the reference computed different numbers."""


# -- the workload ----------------------------------------------------------------------


def make_runs(size: int, runs: int, *, seed: int) -> list[list[dict[str, Any]]]:
    """The baseline's records, then each run's: N datapoints each, 95% of the baseline's
    ids shared (a different 5% left out by each run, replaced by ids of its own)."""
    rng = np.random.default_rng(seed)
    own = size - round(size * SHARED_FRACTION)
    total = size + runs * own
    while True:
        raw = rng.integers(0, 2**63, size=total, dtype=np.int64)
        if len(np.unique(raw)) == total:
            break
    ids = np.array([f"dp-{value:016x}" for value in raw.tolist()], dtype=object)

    def draw(rows: int) -> np.ndarray:
        values = np.empty((rows, len(METRIC_NAMES)))
        values[:, :CONTINUOUS] = rng.random((rows, CONTINUOUS))
        values[:, CONTINUOUS : CONTINUOUS + JUDGED] = rng.integers(0, 5, (rows, JUDGED)) / 4
        values[:, CONTINUOUS + JUDGED :] = rng.random((rows, 2)) < 0.6
        return values

    base = draw(size)
    records = [_records(ids[:size], base)]
    for r in range(runs):
        kept = np.sort(rng.choice(size, size - own, replace=False))
        values = draw(size)  # the run's own datapoints (the last ``own`` rows) are fresh
        keep = rng.random((size - own, len(METRIC_NAMES))) < KEEP_PROBABILITY
        values[: size - own] = np.where(keep, base[kept], values[: size - own])
        values[:, 0] = np.clip(values[:, 0] + SHIFT * (r - runs / 2), 0.0, 1.0)
        run_ids = np.concatenate([ids[kept], ids[size + r * own : size + (r + 1) * own]])
        records.append(_records(run_ids, values))
    return records


def _records(ids: np.ndarray, values: np.ndarray) -> list[dict[str, Any]]:
    names = METRIC_NAMES
    bools = set(names[CONTINUOUS + JUDGED :])
    rows = []
    for datapoint_id, row in zip(ids.tolist(), values.tolist(), strict=True):
        metrics = {n: (v == 1.0 if n in bools else v) for n, v in zip(names, row, strict=True)}
        rows.append({"datapoint_id": datapoint_id, "metrics": metrics})
    return rows


def log_runs(store: Store, records: Sequence[list[dict[str, Any]]]) -> tuple[list[str], float]:
    """Log the baseline and the runs; their ids (baseline first) and results per second."""
    run_ids = []
    start = time.perf_counter()
    for i, rows in enumerate(records):
        with start_run("baseline" if i == 0 else f"run-{i}", store=store) as run:
            run.log_many(rows)
        run_ids.append(run.run_id)
    return run_ids, sum(len(rows) for rows in records) / (time.perf_counter() - start)


# -- the reference ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reference:
    """What a user computes without compare_many."""

    comparisons: dict[str, evalyard.RunComparisonResult]
    """compare_runs of each run with the baseline."""
    summaries: dict[str, evalyard.RunSummary]
    """summarise_run of every run, the baseline's included."""
    p_adjusted: dict[tuple[str, str], float]
    """Holm over every (run, metric) tested."""


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment with numpy, from its definition."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    steps = np.minimum(1.0, (len(p) - np.arange(len(p))) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(steps)
    return adjusted.tolist()


def reference(store: Store, run_ids: Sequence[str]) -> Reference:
    """A loop of compare_runs and summarise_run, and Holm by hand over all p-values."""
    baseline, *runs = run_ids
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comparisons = {r: compare_runs(r, baseline, store=store) for r in runs}
    summaries = {r: summarise_run(r, steps=False, store=store) for r in run_ids}
    tested = [
        (r, name, d.p_value)
        for r, c in comparisons.items()
        for name, d in c.metric_deltas.items()
        if d.p_value is not None
    ]
    adjusted = holm([p for _, _, p in tested])
    return Reference(
        comparisons,
        summaries,
        {(r, name): p for (r, name, _), p in zip(tested, adjusted, strict=True)},
    )


def _verdict(p_adjusted: float, mean_diff: float, direction: Direction) -> Verdict:
    if not p_adjusted < ALPHA:
        return Verdict.INCONCLUSIVE
    better = (mean_diff > 0) == (direction is Direction.HIGHER)
    return Verdict.IMPROVED if better else Verdict.REGRESSED


_SAME_FIELDS = (
    "old_aggregate", "new_aggregate", "delta", "old_count", "new_count", "found_count",
    "improved_count", "degraded_count", "same_count", "mean_diff", "ci_low", "ci_high",
    "p_value", "test",
)  # fmt: skip


def check_agreement(many: MultiComparison, expected: Reference) -> None:
    """Raise BenchmarkMismatchError unless compare_many and the reference agree."""
    problems: list[str] = []
    if set(many.comparisons) != set(expected.comparisons):
        problems.append(f"runs: {sorted(many.comparisons)} vs {sorted(expected.comparisons)}")
    for run_id, alone in expected.comparisons.items():
        ours = many.comparisons.get(run_id)
        if ours is None:
            continue
        if ours.common_datapoints != alone.common_datapoints:
            problems.append(f"{run_id[:8]} common datapoints differ")
        for name, want in alone.metric_deltas.items():
            got = ours.metric_deltas.get(name)
            if got is None:
                problems.append(f"{run_id[:8]} {name}: missing")
                continue
            for field in _SAME_FIELDS:
                if getattr(got, field) != getattr(want, field):
                    problems.append(
                        f"{run_id[:8]} {name} {field}: compare_many {getattr(got, field)!r}, "
                        f"compare_runs {getattr(want, field)!r}"
                    )
            p_adjusted = expected.p_adjusted.get((run_id, name))
            if p_adjusted is None:
                continue
            if got.p_adjusted is None or abs(got.p_adjusted - p_adjusted) > P_TOLERANCE:
                problems.append(
                    f"{run_id[:8]} {name} p_adjusted: compare_many {got.p_adjusted!r}, "
                    f"reference {p_adjusted!r}"
                )
            verdict = _verdict(p_adjusted, want.mean_diff or 0.0, want.direction)
            if got.verdict is not verdict:
                problems.append(f"{run_id[:8]} {name} verdict: {got.verdict} vs {verdict}")
    for name, board in many.leaderboards.items():
        for standing in board.standings:
            own = expected.summaries[standing.run_id].metric(name)
            if standing.summary != own:
                problems.append(f"leaderboard {name}, {standing.run_id[:8]}: summary differs")
        places = [s.aggregate for s in board.standings]
        if places != sorted(places, reverse=board.direction is Direction.HIGHER):
            problems.append(f"leaderboard {name}: not in rank order")
    if problems:
        raise BenchmarkMismatchError(
            "compare_many and the reference disagree:\n  " + "\n  ".join(problems[:20])
        )


# -- one size --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SizeResult:
    """The medians measured for one N."""

    size: int
    runs: int
    log_rate: float
    compare_many: float
    reference: float
    matrix: float
    grid: float
    grid_natural: float
    family_size: int
    profile: str
    """cProfile output when compare_many missed its target at this size."""

    @property
    def speedup(self) -> float:
        return self.reference / self.compare_many


def _timed(function: Callable[[], Any]) -> tuple[Any, float]:
    gc.collect()
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def run_size(size: int, runs: int, *, workdir: Path, repeat: int, seed: int) -> SizeResult:
    """Log the runs once into a fresh store; time compare_many and the reference
    ``repeat`` times each, interleaved; return the medians."""
    records = make_runs(size, runs, seed=seed)
    folder = Path(tempfile.mkdtemp(prefix="bench-many-", dir=workdir))
    try:
        store = open_store(f"sqlite:///{folder / 'evalyard.db'}")
        try:
            run_ids, log_rate = log_runs(store, records)
            del records
            baseline, *others = run_ids

            def many() -> MultiComparison:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return compare_many(others, baseline=baseline, store=store)

            many_times, reference_times = [], []
            for attempt in range(repeat):
                result, seconds = _timed(many)
                many_times.append(seconds)
                expected, seconds = _timed(lambda: reference(store, run_ids))
                reference_times.append(seconds)
                check_agreement(result, expected)
                print(
                    f"  N={_count(size)} x {runs} runs, repeat {attempt + 1}/{repeat}: "
                    f"compare_many {_seconds(many_times[-1])}, reference "
                    f"{_seconds(reference_times[-1])}, agreed",
                    flush=True,
                )
                del expected
            _, matrix = _timed(lambda: result.matrix("metric_0"))
            _, grid = _timed(lambda: result.grid("metric_0"))
            _, natural = _timed(lambda: result.grid("metric_0", natural=True))
            median = statistics.median(many_times)
            profile = ""
            if size == TARGET[0] and runs >= TARGET[1] and median >= TARGET[2]:
                profile = profile_text(many)
            return SizeResult(
                size=size,
                runs=runs,
                log_rate=log_rate,
                compare_many=median,
                reference=statistics.median(reference_times),
                matrix=matrix,
                grid=grid,
                grid_natural=natural,
                family_size=result.family_size,
                profile=profile,
            )
        finally:
            store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def profile_text(function: Callable[[], object], *, top: int = 15) -> str:
    """cProfile's top entries for one call, by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    function()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    text = out.getvalue()
    for prefix in sorted({str(Path(p).resolve()) + os.sep for p in sys.path if p}, key=len)[::-1]:
        text = text.replace(prefix, "")
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


# -- the report ------------------------------------------------------------------------


def _count(n: int) -> str:
    for factor, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{suffix}"
    return f"{n:,}"


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def machine_description() -> str:
    """CPU, cores, RAM and the versions that matter, in one line."""
    return machine_description_of(
        f"SQLite {sqlite3.sqlite_version}",
        f"numpy {np.__version__}",
        f"evalyard {evalyard.__version__} at {revision()}",
    )


def markdown_table(results: Sequence[SizeResult]) -> str:
    lines = [
        "| runs x datapoints x metrics | tests in the family | logged, results/s | "
        "compare_many | reference: compare_runs + summarise_run per run, Holm | speed-up | "
        "matrix (one metric, every pair) | grid (one metric) | grid, natural order |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| 1 + {r.runs} x {_count(r.size)} x {len(METRIC_NAMES)} | {r.family_size} | "
            f"{r.log_rate:,.0f} | {_seconds(r.compare_many)} | {_seconds(r.reference)} | "
            f"{r.speedup:.1f}x | {_seconds(r.matrix)} | {_seconds(r.grid)} | "
            f"{_seconds(r.grid_natural)} |"
        )
    return "\n".join(lines)


def report_block(
    results: Sequence[SizeResult], *, command: str, repeat: int, load: tuple[float, float]
) -> str:
    """This benchmark's README block."""
    size, runs, limit = TARGET
    lines = [
        f"Measured {dt.date.today().isoformat()} on: {machine_description()}.",
        "",
        f"SQLite file in a temporary folder. Medians of {repeat} run"
        f"{'s' if repeat != 1 else ''} on one store; load average (1 min) {load[0]:.2f} at the "
        f"start, {load[1]:.2f} at the end.",
        "",
        "```sh",
        command,
        "```",
        "",
        markdown_table(results),
    ]
    measured = [r for r in results if r.size == size and r.runs == runs]
    if measured:
        took = measured[0].compare_many
        verdict = "met" if took < limit else "**MISSED**"
        lines += [
            "",
            f"Target: `compare_many` of {runs} runs x {_count(size)} datapoints x "
            f"{len(METRIC_NAMES)} metrics < {limit:g} s: {_seconds(took)}, {verdict}.",
        ]
    for r in results:
        if r.profile:
            lines += ["", f"Where the time goes at {_count(r.size)} (cProfile):", "", "```text"]
            lines += [r.profile, "```"]
    return "\n".join(lines)


def write_readme(path: Path, block: str) -> None:
    """Replace this benchmark's block in ``path`` (append it if absent)."""
    write_block(path, "bench_many", block, script="bench_many.py")


# -- command line ----------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        factor = 1_000 if part.endswith("k") else 1_000_000 if part.endswith("m") else 1
        value = int(part.rstrip("km")) * factor
        if value < 20:
            raise argparse.ArgumentTypeError(f"a size must be at least 20, not {value}")
        sizes.append(value)
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark compare_many against a reference.")
    parser.add_argument(
        "--sizes", type=_sizes, default=list(DEFAULT_SIZES), help="datapoints per run (100k)"
    )
    parser.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help="runs compared with the baseline (10)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timings per size; medians")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random workload")
    parser.add_argument("--workdir", type=Path, default=None, help="where the stores go")
    parser.add_argument("--readme", type=Path, default=DEFAULT_README, help="README to update")
    parser.add_argument("--no-readme", action="store_true", help="only print the table")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.runs < 1:
        parser.error("--repeat and --runs must be at least 1")
    return args


def reproduce_command(args: argparse.Namespace) -> str:
    parts = ["python", "benchmarks/bench_many.py", "--sizes", ",".join(map(str, args.sizes))]
    parts += ["--runs", str(args.runs), "--repeat", str(args.repeat)]
    if args.seed:
        parts += ["--seed", str(args.seed)]
    return shlex.join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and write it into the README."""
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.gettempdir())
    workdir.mkdir(parents=True, exist_ok=True)
    load_at_start = os.getloadavg()[0]
    print(f"machine: {machine_description()}", flush=True)
    # One tiny comparison first, so that lazy imports do not land on the first timing.
    run_size(200, 2, workdir=workdir, repeat=1, seed=args.seed)
    results = []
    for size in args.sizes:
        results.append(
            run_size(size, args.runs, workdir=workdir, repeat=args.repeat, seed=args.seed)
        )
    block = report_block(
        results,
        command=reproduce_command(args),
        repeat=args.repeat,
        load=(load_at_start, os.getloadavg()[0]),
    )
    print()
    print(block)
    if not args.no_readme:
        write_readme(args.readme, block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
