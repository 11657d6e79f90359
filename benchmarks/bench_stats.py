"""The statistics benchmark: what the paired statistics (docs/statistics.md) add to a comparison.

Two runs of N datapoints x 10 metrics of every kind are built in memory, as the store loads
them (:class:`~evalyard.core.columns.ScopeValues`, epochs already averaged), with 95% of the
datapoint ids shared. Timed in this process, on the same data:

- ``compare_scopes`` without statistics (the statistics steps replaced by stubs),
- ``compare_scopes`` as shipped, with statistics: the difference is what they add,
- the statistics alone: each metric's test, Holm and the verdicts, on the paired values.

The numbers are checked against scipy (``ttest_rel``, ``binomtest``) and the bootstrap is
checked to be reproducible; a difference stops the benchmark with an error.

Usage:
    python benchmarks/bench_stats.py                        # N = 10k, 100k, 1M; one epoch
    python benchmarks/bench_stats.py --sizes 100k --epochs 1,3 --repeat 5

The table is printed and written into this benchmark's block of ``benchmarks/README.md``
(``--readme PATH`` or ``--no-readme`` to change that).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import shlex
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import scipy.stats

import evalyard
from evalyard.core import compare
from evalyard.core.columns import Block, MetricColumn, ScopeValues, collapse_epochs
from evalyard.core.model import Direction, MetricDefinition, MetricKind
from evalyard.core.stats import (
    PairedEstimate,
    TestName,
    decide_verdict,
    holm,
    non_inferior,
)
from readme_blocks import write_block

SCRIPT = Path(__file__).resolve()
DEFAULT_README = SCRIPT.parent / "README.md"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
SHARED_FRACTION = 0.95
TARGET_SECONDS = 1.0  # the statistics add < 1 s at 100k datapoints x 10 metrics
TARGET_SIZE = 100_000

#: The ten metrics: which kind, and which test each ends up with at one epoch.
METRICS: dict[str, MetricKind] = {
    "quality_0": MetricKind.NUMBER,  # normal scores: paired t
    "quality_1": MetricKind.NUMBER,
    "quality_2": MetricKind.NUMBER,
    "quality_3": MetricKind.NUMBER,
    "latency_ms": MetricKind.NUMBER,  # lognormal, lower is better
    "judge": MetricKind.NUMBER,  # 1-10 judge scores
    "judge_strict": MetricKind.NUMBER,
    "passed": MetricKind.BOOL,  # exact McNemar (pass fractions with epochs)
    "exact_match": MetricKind.BOOL,
    "rare_fix": MetricKind.NUMBER,  # changes on a dozen datapoints: the counts bootstrap
}
DEFINITIONS = {"latency_ms": MetricDefinition("latency_ms", Direction.LOWER, tolerance=1.0)}


class BenchmarkMismatchError(AssertionError):
    """The statistics disagree with scipy, or are not reproducible."""


# -- the workload ----------------------------------------------------------------------


def _run_rows(
    rng: np.random.Generator, traits: dict[str, np.ndarray], epochs: int, *, new: bool
) -> dict[str, np.ndarray]:
    """One run's metric values, one row per (datapoint, epoch), datapoint-major."""
    n = traits["quality"].size
    shape = (n, epochs)
    quality = traits["quality"][:, None] + (0.02 if new else 0.0)
    level = traits["level"][:, None]
    judge = traits["judge"][:, None]
    passing = traits["pass"][:, None] + (0.01 if new else 0.0)
    fixed = np.zeros(shape)
    if new:
        fixed[traits["fixed"]] = 1.0
    values = {
        "quality_0": quality + rng.normal(0.0, 1.0, shape),
        "quality_1": quality + rng.normal(0.0, 1.0, shape),
        "quality_2": traits["quality"][:, None] + rng.normal(0.0, 1.0, shape),
        "quality_3": rng.normal(0.0, 1.0, shape),
        "latency_ms": np.exp(5.0 + level + rng.normal(0.0, 0.3, shape)),
        "judge": np.clip(np.rint(judge + rng.normal(0.0, 1.5, shape)), 1, 10),
        "judge_strict": np.clip(np.rint(judge - 1.0 + rng.normal(0.0, 1.5, shape)), 1, 10),
        "passed": (rng.random(shape) < passing).astype(np.float64),
        "exact_match": (rng.random(shape) < passing - 0.2).astype(np.float64),
        "rare_fix": fixed,
    }
    return {name: v.reshape(-1) for name, v in values.items()}


def make_scopes(size: int, *, epochs: int, seed: int) -> tuple[ScopeValues, ScopeValues]:
    """Two runs' values at the session scope: (new, old), as the store would load them."""
    rng = np.random.default_rng(seed)
    universe = round(size * (2 - SHARED_FRACTION))
    ids = np.array([f"dp-{v:016x}" for v in rng.integers(0, 2**63, universe)], dtype=object)
    traits = {
        "quality": rng.normal(0.0, 1.0, universe),
        "level": rng.normal(0.0, 0.5, universe),
        "judge": rng.uniform(2.0, 9.0, universe),
        "pass": rng.beta(2.0, 2.0, universe),
        "fixed": rng.choice(universe, size=12, replace=False),
    }
    new_part = np.arange(universe - size, universe)
    old_part = np.arange(size)
    runs = []
    for part, is_new in ((new_part, True), (old_part, False)):
        part_traits = {k: v[part] if k != "fixed" else v for k, v in traits.items()}
        part_traits["fixed"] = np.flatnonzero(np.isin(part, traits["fixed"]))
        rows = _run_rows(rng, part_traits, epochs, new=is_new)
        block = Block(
            np.repeat(ids[part], epochs).tolist(),
            np.tile(np.arange(epochs, dtype=np.int64), part.size),
            {name: MetricColumn(METRICS[name], values) for name, values in rows.items()},
        )
        runs.append(collapse_epochs(block))
    return runs[0], runs[1]


# -- what is timed ---------------------------------------------------------------------


@contextmanager
def statistics_stubbed() -> Iterator[None]:
    """compare_scopes with its statistics steps replaced by no-ops (what it cost before)."""

    def no_estimate(*args: Any, **kwargs: Any) -> tuple[PairedEstimate, None]:
        return PairedEstimate(n=0, mean_diff=None), None

    saved = (compare._estimate, compare._judge, compare._flaky, compare.id_union)
    compare._estimate = no_estimate  # type: ignore[assignment]
    compare.id_union = lambda *args, **kwargs: None  # type: ignore[assignment]
    compare._judge = lambda deltas, estimates, *, alpha: deltas  # type: ignore[assignment]
    compare._flaky = lambda new, old, union: []  # type: ignore[assignment]
    try:
        yield
    finally:
        compare._estimate, compare._judge, compare._flaky, compare.id_union = saved  # type: ignore[assignment]


@dataclass(frozen=True)
class Paired:
    """One metric's inputs to the statistics, as compare_scopes prepares them."""

    name: str
    kind: MetricKind
    new: MetricColumn
    old: MetricColumn
    a: np.ndarray
    b: np.ndarray
    d: np.ndarray
    direction: Direction


@dataclass(frozen=True)
class Join:
    """The two runs joined by datapoint id: compare's own work, done before timing."""

    new_ids: np.ndarray
    old_ids: np.ndarray
    new_rows: np.ndarray
    old_rows: np.ndarray
    epochs: int


def paired_inputs(new: ScopeValues, old: ScopeValues) -> tuple[list[Paired], Join]:
    """Each metric's paired values (present in both runs), rounding zeroed as compare does."""
    index = {datapoint_id: i for i, datapoint_id in enumerate(old.ids)}
    match = np.fromiter((index.get(i, -1) for i in new.ids), dtype=np.int64, count=len(new.ids))
    new_rows = np.flatnonzero(match >= 0)
    old_rows = match[new_rows]
    join = Join(
        np.array(new.ids, dtype=object),
        np.array(old.ids, dtype=object),
        new_rows,
        old_rows,
        max(new.epochs, old.epochs),
    )
    found = []
    for name in sorted(METRICS):
        a = new.columns[name].values[new_rows].astype(np.float64)
        b = old.columns[name].values[old_rows].astype(np.float64)
        present = ~np.isnan(a) & ~np.isnan(b)
        a, b = a[present], b[present]
        d = a - b
        d[np.abs(d) <= 1e-12 * np.maximum(np.abs(a), np.abs(b))] = 0.0
        definition = DEFINITIONS.get(name)
        direction = Direction.HIGHER if definition is None else definition.direction
        found.append(
            Paired(name, METRICS[name], new.columns[name], old.columns[name], a, b, d, direction)
        )
    return found, join


def statistics_alone(inputs: Sequence[Paired], join: Join) -> dict[str, PairedEstimate]:
    """The statistics steps of compare_scopes on prepared inputs: the id union (with
    epochs), each metric's test and flaky datapoints (the private functions compare_scopes
    calls, so that exactly the shipped code is timed), then Holm, the verdicts and
    non-inferiority. The join of the two runs by id is compare's own work, so it is
    included here only as far as the flaky lists need it (the id union)."""
    union = None
    if join.epochs > 1:
        union = compare.id_union(
            join.new_ids, join.old_ids, new_rows=join.new_rows, old_rows=join.old_rows
        )
    estimates: dict[str, PairedEstimate] = {}
    for item in inputs:
        estimate, _ = compare._estimate(
            item.kind,
            item.new,
            item.old,
            item.a,
            item.b,
            item.d,
            direction=item.direction,
            alpha=0.05,
        )
        if union is not None:
            compare._flaky(item.new, item.old, union)
        estimates[item.name] = estimate
    tested = [name for name, e in estimates.items() if e.p_value is not None]
    adjusted = holm([estimates[name].p_value or 0.0 for name in tested])
    for item in inputs:
        p_adjusted = adjusted[tested.index(item.name)] if item.name in tested else None
        estimate = estimates[item.name]
        decide_verdict(estimate, p_adjusted=p_adjusted, direction=item.direction)
        definition = DEFINITIONS.get(item.name)
        tolerance = 0.0 if definition is None else definition.tolerance
        non_inferior(estimate, direction=item.direction, tolerance=tolerance)
    return estimates


def _time_interleaved(
    functions: Sequence[Callable[[], object]], repeat: int
) -> tuple[list[float], list[object]]:
    """Median seconds of each function, run in turn within each repeat (so that the load
    of a shared machine weighs on all of them alike), and each one's last result."""
    times: list[list[float]] = [[] for _ in functions]
    results: list[object] = [None] * len(functions)
    for _ in range(repeat):
        for i, function in enumerate(functions):
            gc.collect()
            started = time.perf_counter()
            results[i] = function()
            times[i].append(time.perf_counter() - started)
    return [statistics.median(t) for t in times], results


# -- agreement -------------------------------------------------------------------------


def check_agreement(
    found: compare.ScopeComparison, alone: dict[str, PairedEstimate], inputs: Sequence[Paired]
) -> None:
    """The statistics against scipy, against the timed steps, and against themselves."""
    for item in inputs:
        delta = found.metric_deltas[item.name]
        estimate = alone[item.name]
        if (delta.p_value, delta.ci_low, delta.ci_high) != (
            estimate.p_value,
            estimate.ci_low,
            estimate.ci_high,
        ):
            raise BenchmarkMismatchError(f"{item.name}: the timed statistics differ")
        if delta.test is TestName.PAIRED_T:
            expected = float(scipy.stats.ttest_rel(item.a, item.b).pvalue)
        elif delta.test is TestName.MCNEMAR_EXACT:
            assert delta.flips is not None
            gained, lost = delta.flips["fail->pass"], delta.flips["pass->fail"]
            expected = float(scipy.stats.binomtest(gained, gained + lost).pvalue)
        else:
            assert delta.p_value is not None
            assert delta.ci_low is not None
            assert delta.ci_high is not None
            if (delta.p_value < 0.05) != (delta.ci_low > 0 or delta.ci_high < 0):
                raise BenchmarkMismatchError(f"{item.name}: bootstrap p and interval disagree")
            continue
        if delta.p_value is None or abs(delta.p_value - expected) > 1e-9:
            raise BenchmarkMismatchError(
                f"{item.name}: p-value {delta.p_value} but scipy says {expected}"
            )


# -- one configuration -----------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """Medians for one size and epoch count."""

    size: int
    epochs: int
    without_seconds: float
    with_seconds: float
    alone_seconds: float
    tests: dict[str, str]

    @property
    def added_seconds(self) -> float:
        return self.with_seconds - self.without_seconds


def run_configuration(size: int, *, epochs: int, repeat: int, seed: int) -> Result:
    new, old = make_scopes(size, epochs=epochs, seed=seed)

    def shipped() -> compare.ScopeComparison:
        return compare.compare_scopes(new, old, definitions=DEFINITIONS)

    def stubbed() -> compare.ScopeComparison:
        with statistics_stubbed():
            return compare.compare_scopes(new, old, definitions=DEFINITIONS)

    inputs, join = paired_inputs(new, old)
    shipped()  # warm up: imports, first allocations
    seconds, (_, found, alone) = _time_interleaved(
        [stubbed, shipped, lambda: statistics_alone(inputs, join)], repeat
    )
    without_seconds, with_seconds, alone_seconds = seconds
    assert isinstance(found, compare.ScopeComparison)
    assert isinstance(alone, dict)
    check_agreement(found, alone, inputs)
    if shipped().metric_deltas != found.metric_deltas:
        raise BenchmarkMismatchError("a second comparison gave different numbers")
    tests = {
        name: ("-" if d.test is None else d.test.value) for name, d in found.metric_deltas.items()
    }
    return Result(size, epochs, without_seconds, with_seconds, alone_seconds, tests)


# -- the report ------------------------------------------------------------------------


def _count(n: int) -> str:
    for factor, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{suffix}"
    return f"{n:,}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def markdown_table(results: Sequence[Result]) -> str:
    lines = [
        "| N datapoints x 10 metrics | epochs | compare without statistics | compare with "
        "statistics | added by statistics | statistics alone | per 1k datapoints (alone) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {_count(r.size)} | {r.epochs} | {_ms(r.without_seconds)} | "
            f"{_ms(r.with_seconds)} | {_ms(r.added_seconds)} | {_ms(r.alone_seconds)} | "
            f"{r.alone_seconds / r.size * 1e6:.2f} ms |"
        )
    return "\n".join(lines)


def target_lines(results: Sequence[Result]) -> list[str]:
    lines = []
    for r in results:
        if r.size == TARGET_SIZE:
            met = "met" if r.added_seconds < TARGET_SECONDS else "MISSED"
            lines.append(
                f"- statistics add < 1 s to a comparison of 100k datapoints x 10 metrics "
                f"({r.epochs} epoch{'s' if r.epochs != 1 else ''}): {_ms(r.added_seconds)}, "
                f"{met}."
            )
    return lines or ["- (100k datapoints not measured in this run)"]


def machine_description() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return "; ".join(
        [
            f"{platform.machine()}, {cores} cores",
            f"{platform.system()} {platform.release()}",
            f"Python {platform.python_version()}",
            f"numpy {np.__version__}",
            f"scipy {scipy.__version__}",
            f"evalyard {evalyard.__version__}",
        ]
    )


def report_block(results: Sequence[Result], *, command: str, repeat: int) -> str:
    tests: dict[str, set[str]] = {}
    for r in results:
        for name, test in r.tests.items():
            tests.setdefault(name, set()).add(test)
    used = ", ".join(f"{name} {'/'.join(sorted(t))}" for name, t in sorted(tests.items()))
    return "\n".join(
        [
            f"Measured {dt.date.today().isoformat()} on: {machine_description()}. "
            f"Medians of {repeat} run{'s' if repeat != 1 else ''}; load average (1 min) "
            f"{os.getloadavg()[0]:.2f} at the end.",
            "",
            "```sh",
            command,
            "```",
            "",
            markdown_table(results),
            "",
            f"Tests used: {used}.",
            "",
            "Target:",
            "",
            *target_lines(results),
        ]
    )


def write_readme(path: Path, block: str) -> None:
    """Replace this benchmark's block in ``path`` (append it if absent)."""
    write_block(path, "bench_stats", block, script="bench_stats.py")


# -- command line ----------------------------------------------------------------------


def _numbers(text: str) -> list[int]:
    values = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        factor = 1
        if part.endswith("k"):
            factor, part = 1_000, part[:-1]
        elif part.endswith("m"):
            factor, part = 1_000_000, part[:-1]
        values.append(int(part) * factor)
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark what the paired statistics add to a comparison."
    )
    parser.add_argument(
        "--sizes",
        type=_numbers,
        default=list(DEFAULT_SIZES),
        help="datapoints per run, comma-separated (default 10k,100k,1M)",
    )
    parser.add_argument(
        "--epochs", type=_numbers, default=[1], help="epochs per datapoint (default 1)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per size; medians reported")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random workload")
    parser.add_argument("--readme", type=Path, default=DEFAULT_README, help="README to update")
    parser.add_argument("--no-readme", action="store_true", help="only print the table")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if min(args.sizes) < 100 or min(args.epochs) < 1:
        parser.error("sizes are at least 100 and epochs at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and write it into the README."""
    args = parse_args(argv)
    results = []
    for epochs in args.epochs:
        for size in args.sizes:
            result = run_configuration(size, epochs=epochs, repeat=args.repeat, seed=args.seed)
            results.append(result)
            print(
                f"{_count(size)} x {epochs} epoch(s): added {_ms(result.added_seconds)}",
                flush=True,
            )
    parts = ["python", "benchmarks/bench_stats.py", "--sizes", ",".join(map(str, args.sizes))]
    parts += ["--epochs", ",".join(map(str, args.epochs)), "--repeat", str(args.repeat)]
    if args.seed:
        parts += ["--seed", str(args.seed)]
    block = report_block(results, command=shlex.join(parts), repeat=args.repeat)
    print(block)
    if not args.no_readme:
        write_readme(args.readme, block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
