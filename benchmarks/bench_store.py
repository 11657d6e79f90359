"""The store benchmark: ``log_many`` throughput, ``compare_runs`` time and peak memory, and
the pandas code a user would write instead, for the targets in benchmarks/README.md.

Two runs of N datapoints x 10 float metrics are logged into a fresh store (95% of the
datapoint ids shared, values random but seeded); then ``compare_runs(new, old)`` and a
pandas reference (``read_sql`` of the ``results`` rows, JSON metrics into columns, epochs
averaged with ``groupby``, ``merge`` on the datapoint id) are timed in this process on
that store, and each is run once more in a fresh child process to measure its peak RSS.
The two must agree (aggregates to 1e-9, counts and id lists exactly), or the benchmark
stops with an error.

Usage:
    python benchmarks/bench_store.py                          # N = 10k, 100k, 1M; SQLite
    python benchmarks/bench_store.py --sizes 10000,100000 --repeat 3
    python benchmarks/bench_store.py --store postgresql://postgres@127.0.0.1:5432/test

The table is printed and written into this benchmark's block of ``benchmarks/README.md``
(one block per backend; ``--readme PATH`` or ``--no-readme`` to change that).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import json
import math
import os
import pstats
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import polars as pl
import psycopg
import sqlalchemy

import evalyard
import readme_blocks
from evalyard import compare_runs, start_run
from evalyard.core.compare import RunComparisonResult
from evalyard.store import Store, open_store
from readme_blocks import write_block

SCRIPT = Path(__file__).resolve()
DEFAULT_README = SCRIPT.parent / "README.md"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
METRIC_NAMES = tuple(f"metric_{i}" for i in range(10))
#: Metrics 0-4 are continuous in [0, 1); metrics 5-9 are judge-like scores on a 0.25 grid,
#: so that "same" (ties) is common and the comparison's three outcomes are all exercised.
CONTINUOUS_METRICS = 5
SHARED_FRACTION = 0.95
#: Of a shared datapoint's values, the new run keeps the old value with this probability.
KEEP_PROBABILITY = 0.5
AGGREGATE_TOLERANCE = 1e-9
MB = 1024 * 1024

# The targets, on a 2-core machine (benchmarks/README.md).
LOG_MANY_TARGETS = {"sqlite": 100_000, "postgresql": 60_000}  # results/s
COMPARE_TARGETS = {100_000: 0.5, 1_000_000: 3.0}  # seconds
RSS_TARGET = 1024 * MB  # peak RSS of compare_runs at 1M
SPEEDUP_TARGET = (1_000_000, 3.0)  # at least 3x faster than the pandas reference at 1M
POLARS_TARGET = (1_000_000, 1.0)  # compare_runs time / polars' in-memory time at 1M, at most
#: Above this N the pandas reference is not run by default (minutes, and tens of GB).
REFERENCE_MAX = 1_000_000
#: Above this N the records are made while log_many consumes them, not all beforehand.
PREBUILT_MAX = 1_000_000
#: Rows per transaction of the by-hand insert, as log_many commits.
RAW_CHUNK = 100_000


class BenchmarkMismatchError(AssertionError):
    """compare_runs and the pandas reference computed different numbers."""


# -- the workload ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    """Two runs' datapoint ids and metric values, as arrays (records are built on demand)."""

    ids: list[str]
    """Every datapoint id; the old run has the first N, the new run the last N."""
    old_values: np.ndarray
    """The old run's values, one row per id of ``ids[:N]``."""
    new_values: np.ndarray
    """The new run's values, one row per id of ``ids[-N:]``."""
    size: int
    """N, the datapoints of each run."""

    @property
    def old_ids(self) -> list[str]:
        return self.ids[: self.size]

    @property
    def new_ids(self) -> list[str]:
        return self.ids[len(self.ids) - self.size :]

    def old_records(self) -> Iterable[dict[str, Any]]:
        """The old run's records for ``log_many`` (a list up to PREBUILT_MAX)."""
        return _records(self.old_ids, self.old_values)

    def new_records(self) -> Iterable[dict[str, Any]]:
        """The new run's records for ``log_many`` (a list up to PREBUILT_MAX)."""
        return _records(self.new_ids, self.new_values)

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The new and old runs as polars DataFrames: an id column and one per metric."""
        return _frame(self.new_ids, self.new_values), _frame(self.old_ids, self.old_values)


def _records(ids: Sequence[str], values: np.ndarray) -> Iterable[dict[str, Any]]:
    if len(ids) > PREBUILT_MAX:
        return _record_stream(ids, values)
    names = METRIC_NAMES
    return [
        {"datapoint_id": datapoint_id, "metrics": dict(zip(names, row, strict=True))}
        for datapoint_id, row in zip(ids, values.tolist(), strict=True)
    ]


def _record_stream(ids: Sequence[str], values: np.ndarray) -> Iterator[dict[str, Any]]:
    # Ten million records built beforehand would take about 10 GB per run.
    names = METRIC_NAMES
    for start in range(0, len(ids), 100_000):
        rows = values[start : start + 100_000].tolist()
        for datapoint_id, row in zip(ids[start : start + 100_000], rows, strict=True):
            yield {"datapoint_id": datapoint_id, "metrics": dict(zip(names, row, strict=True))}


def _frame(ids: list[str], values: np.ndarray) -> pl.DataFrame:
    columns: dict[str, Any] = {"datapoint_id": ids}
    for j, name in enumerate(METRIC_NAMES):
        columns[name] = values[:, j]
    return pl.DataFrame(columns)


def make_workload(size: int, *, seed: int) -> Workload:
    """Two runs of ``size`` datapoints sharing 95% of their ids, seeded."""
    rng = np.random.default_rng(seed)
    shared = round(size * SHARED_FRACTION)
    total = 2 * size - shared
    while True:
        raw = rng.integers(0, 2**63, size=total, dtype=np.int64)
        if len(np.unique(raw)) == total:
            break
    ids = [f"dp-{value:016x}" for value in raw.tolist()]

    def draw(rows: int) -> np.ndarray:
        values = np.empty((rows, len(METRIC_NAMES)))
        values[:, :CONTINUOUS_METRICS] = rng.random((rows, CONTINUOUS_METRICS))
        discrete = len(METRIC_NAMES) - CONTINUOUS_METRICS
        values[:, CONTINUOUS_METRICS:] = rng.integers(0, 5, (rows, discrete)) / 4
        return values

    base = draw(total)
    fresh = draw(total)
    keep = rng.random(base.shape) < KEEP_PROBABILITY
    changed = np.where(keep, base, fresh)
    return Workload(ids, base[:size], changed[total - size :], size)


# -- stores ----------------------------------------------------------------------------


@contextmanager
def fresh_store(spec: str, workdir: Path) -> Iterator[str]:
    """The URL of an empty store: an SQLite file under ``workdir``, or a new PostgreSQL
    schema of the database ``spec`` names (dropped on leaving)."""
    if spec == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="bench-store-", dir=workdir))
        try:
            yield f"sqlite:///{folder / 'evalyard.db'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    schema_name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = _pg_engine(spec)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema_name}"')
        separator = "&" if "?" in spec else "?"
        try:
            yield f"{spec}{separator}options=-csearch_path%3D{schema_name}"
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema_name}" CASCADE')
    finally:
        admin.dispose()


def _pg_engine(url: str) -> sqlalchemy.Engine:
    parsed = sqlalchemy.make_url(url)
    return sqlalchemy.create_engine(parsed.set(drivername="postgresql+psycopg"))


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


# -- what is timed ---------------------------------------------------------------------


def log_run(store: Store, name: str, records: Iterable[dict[str, Any]]) -> tuple[str, float]:
    """Log one run with ``log_many`` (and finish it); return its id and the seconds taken."""
    gc.collect()
    start = time.perf_counter()
    with start_run(name, store=store) as run:
        run.log_many(records)
    return run.run_id, time.perf_counter() - start


@dataclass(frozen=True, slots=True)
class ReferenceMetric:
    """One metric as a reference computes it (the ids as a list, or a polars Series)."""

    new_mean: float
    old_mean: float
    delta: float
    improved: Sequence[str] | pl.Series
    degraded: Sequence[str] | pl.Series
    same: Sequence[str] | pl.Series


@dataclass(frozen=True, slots=True)
class ReferenceResult:
    """What the pandas reference computes."""

    common_count: int
    metrics: dict[str, ReferenceMetric]


class ReferenceConnection:
    """The connection a user would open for ``pd.read_sql``: ``sqlite3`` for a file, an
    SQLAlchemy engine for PostgreSQL (opened before timing, as a user would have it)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sqlite: sqlite3.Connection | None = None
        self._engine: sqlalchemy.Engine | None = None
        if url.startswith("sqlite"):
            self._sqlite = sqlite3.connect(_sqlite_path(url))
        else:
            self._engine = _pg_engine(url)

    def read_results(self, run_id: str) -> pd.DataFrame:
        """The run's rows of the ``results`` table: datapoint id, epoch, metrics JSON."""
        if self._sqlite is not None:
            return pd.read_sql(
                "SELECT datapoint_id, epoch, metrics FROM results WHERE run_id = ?",
                self._sqlite,
                params=(run_id,),
            )
        return pd.read_sql(
            sqlalchemy.text(
                "SELECT datapoint_id, epoch, metrics FROM results WHERE run_id = :run_id"
            ),
            self._engine,
            params={"run_id": run_id},
        )

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._engine is not None:
            self._engine.dispose()


def reference_compare(
    connection: ReferenceConnection, new_run_id: str, old_run_id: str
) -> ReferenceResult:
    """The comparison as a user would write it with pandas, from the ``results`` rows.

    orjson parses the metrics (it is installed with evalyard; the stdlib ``json`` makes this
    reference slower), and a DataFrame is built from the parsed dicts, which measured faster
    than ``pd.json_normalize``.
    """

    def per_datapoint(run_id: str) -> pd.DataFrame:
        rows = connection.read_results(run_id)
        metrics = pd.DataFrame([orjson.loads(text) for text in rows["metrics"]])
        metrics["datapoint_id"] = rows["datapoint_id"]
        return metrics.groupby("datapoint_id").mean()  # epochs averaged per datapoint

    new = per_datapoint(new_run_id)
    old = per_datapoint(old_run_id)
    merged = new.merge(old, on="datapoint_id", suffixes=("_new", "_old"))
    common_ids = merged.index
    metrics: dict[str, ReferenceMetric] = {}
    for name in sorted(set(new.columns) | set(old.columns)):
        a = merged[f"{name}_new"]
        b = merged[f"{name}_old"]
        both = a.notna() & b.notna()
        d = (a - b)[both]
        found = common_ids[both.to_numpy()]
        new_mean = float(new[name].mean())
        old_mean = float(old[name].mean())
        metrics[name] = ReferenceMetric(
            new_mean=new_mean,
            old_mean=old_mean,
            delta=new_mean - old_mean,
            improved=found[(d > 0).to_numpy()].tolist(),
            degraded=found[(d < 0).to_numpy()].tolist(),
            same=found[(d == 0).to_numpy()].tolist(),
        )
    return ReferenceResult(len(merged), metrics)


def polars_reference(new: pl.DataFrame, old: pl.DataFrame) -> ReferenceResult:
    """The same comparison with polars, on both runs already in memory (one row per
    datapoint, as ``compare_runs`` holds them once read): an inner join on the id, sorted
    by id as ``compare_runs``'s lists are, then per metric each run's mean over all its
    datapoints, the delta, and the improved / degraded / same ids of the shared datapoints.

    The ids come back as polars Series: ``compare_runs`` makes its id lists into Python
    lists when they are first read, so neither side pays for lists in the timing (the
    agreement check turns both into lists after it)."""
    joined = new.join(old, on="datapoint_id", how="inner", suffix="_old").sort("datapoint_id")
    ids = joined.get_column("datapoint_id")
    new_means = new.select(pl.col(METRIC_NAMES).mean()).row(0, named=True)
    old_means = old.select(pl.col(METRIC_NAMES).mean()).row(0, named=True)
    metrics: dict[str, ReferenceMetric] = {}
    for name in METRIC_NAMES:
        d = joined.get_column(name) - joined.get_column(f"{name}_old")
        found = d.is_not_null()
        metrics[name] = ReferenceMetric(
            new_mean=float(new_means[name]),
            old_mean=float(old_means[name]),
            delta=float(new_means[name]) - float(old_means[name]),
            improved=ids.filter(found & (d > 0)),
            degraded=ids.filter(found & (d < 0)),
            same=ids.filter(found & (d == 0)),
        )
    return ReferenceResult(joined.height, metrics)


RAW_TABLE = (
    "CREATE TABLE raw_results (run_id VARCHAR(64) NOT NULL, datapoint_id VARCHAR(512) NOT NULL, "
    "epoch INTEGER NOT NULL, batch_id INTEGER NOT NULL, metrics TEXT, "
    "PRIMARY KEY (run_id, datapoint_id, epoch))"
)


def raw_insert(url: str, records: Iterable[dict[str, Any]]) -> float:
    """Store the records by hand, as a user could without evalyard, and return the
    seconds taken: each metrics dict as JSON (orjson), one INSERT per record through the
    driver's ``executemany`` into a table keyed like evalyard's results, committed every
    100,000 rows. No checks, no columns for comparing: the floor a store write stands on."""
    run_id = uuid.uuid4().hex
    if url.startswith("sqlite"):
        sqlite_connection = sqlite3.connect(_sqlite_path(url), isolation_level=None)
        try:
            sqlite_connection.execute("PRAGMA journal_mode=WAL")
            sqlite_connection.execute("PRAGMA synchronous=NORMAL")
            sqlite_connection.execute("PRAGMA cache_size=-65536")
            sqlite_connection.execute(RAW_TABLE)
            gc.collect()
            start = time.perf_counter()
            for chunk in _raw_rows(run_id, records):
                sqlite_connection.execute("BEGIN IMMEDIATE")
                sqlite_connection.executemany(
                    "INSERT INTO raw_results VALUES (?, ?, ?, ?, ?)", chunk
                )
                sqlite_connection.execute("COMMIT")
            return time.perf_counter() - start
        finally:
            sqlite_connection.close()
    with psycopg.connect(url) as pg_connection:
        pg_connection.execute(RAW_TABLE)
        pg_connection.commit()
        gc.collect()
        start = time.perf_counter()
        for chunk in _raw_rows(run_id, records):
            with pg_connection.cursor() as cursor:
                cursor.executemany("INSERT INTO raw_results VALUES (%s, %s, %s, %s, %s)", chunk)
            pg_connection.commit()
        return time.perf_counter() - start


def _raw_rows(run_id: str, records: Iterable[dict[str, Any]]) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for record in records:
        chunk.append(
            (run_id, record["datapoint_id"], 0, 1, orjson.dumps(record["metrics"]).decode())
        )
        if len(chunk) == RAW_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def check_agreement(comparison: RunComparisonResult, reference: ReferenceResult) -> None:
    """Raise BenchmarkMismatchError unless both computed the same numbers."""
    problems: list[str] = []
    if len(comparison.common_datapoints) != reference.common_count:
        problems.append(
            f"common datapoints: compare_runs {len(comparison.common_datapoints)}, "
            f"reference {reference.common_count}"
        )
    if set(comparison.metric_deltas) != set(reference.metrics):
        problems.append(
            f"metrics: compare_runs {sorted(comparison.metric_deltas)}, "
            f"reference {sorted(reference.metrics)}"
        )
    for name, expected in reference.metrics.items():
        got = comparison.metric_deltas.get(name)
        if got is None:
            continue
        for label, ours, theirs in (
            ("new aggregate", got.new_aggregate, expected.new_mean),
            ("old aggregate", got.old_aggregate, expected.old_mean),
            ("delta", got.delta, expected.delta),
        ):
            if ours is None or not abs(ours - theirs) <= AGGREGATE_TOLERANCE:
                problems.append(f"{name} {label}: compare_runs {ours!r}, reference {theirs!r}")
        for label, ours_count, ours_ids, theirs_ids in (
            ("improved", got.improved_count, got.improved, expected.improved),
            ("degraded", got.degraded_count, got.degraded, expected.degraded),
            ("same", got.same_count, got.same, expected.same),
        ):
            listed = theirs_ids.to_list() if isinstance(theirs_ids, pl.Series) else list(theirs_ids)
            if ours_count != len(listed):
                problems.append(
                    f"{name} {label} count: compare_runs {ours_count}, reference {len(listed)}"
                )
            elif list(ours_ids) != listed:
                problems.append(f"{name} {label} ids differ (same count {ours_count})")
    if problems:
        raise BenchmarkMismatchError(
            "compare_runs and the reference disagree:\n  " + "\n  ".join(problems)
        )


# -- peak memory, in a child process ---------------------------------------------------


def _proc_status_bytes(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> bool:
    # Writing 5 to clear_refs sets VmHWM back to the current RSS (Linux >= 4.0).
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def child_measure(what: str, url: str, new_run_id: str, old_run_id: str) -> dict[str, Any]:
    """Run one step in this (fresh) process; return its time and peak RSS.

    The peak is VmHWM (the mm's RSS high-water mark, which starts afresh at exec, unlike
    ``getrusage``'s ``ru_maxrss`` that a spawned child may inherit from its parent),
    reset just before the step where the kernel allows.
    """
    step: Callable[[], object]
    closer: Callable[[], None]
    if what == "compare_runs":
        store = open_store(url)

        def step() -> object:
            return compare_runs(new_run_id, old_run_id, store=store)

        closer = store.close
    else:
        connection = ReferenceConnection(url)

        def step() -> object:
            return reference_compare(connection, new_run_id, old_run_id)

        closer = connection.close
    gc.collect()
    reset = _reset_peak_rss()
    before = _proc_status_bytes("VmRSS")
    start = time.perf_counter()
    result = step()
    seconds = time.perf_counter() - start
    peak = _proc_status_bytes("VmHWM")
    del result
    closer()
    return {"seconds": seconds, "rss_before": before, "rss_peak": peak, "reset": reset}


def measure_peak_rss(what: str, url: str, new_run_id: str, old_run_id: str) -> dict[str, Any]:
    """Run ``child_measure`` in a new Python process and return what it reports."""
    command = [
        sys.executable,
        str(SCRIPT),
        "--child",
        what,
        "--child-run-ids",
        new_run_id,
        old_run_id,
        "--store",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {what} child process failed:\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


# -- profiles --------------------------------------------------------------------------


def profile_text(function: Callable[[], object], *, top: int = 15) -> str:
    """cProfile's top entries for one call, by cumulative and by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    function()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    # Shorten file paths to their package-relative part, longest sys.path entry first.
    prefixes = {str(Path(entry).resolve()) + os.sep for entry in sys.path if entry}
    for prefix in sorted(prefixes, key=len, reverse=True):
        text = text.replace(prefix, "")
    lines = [line.rstrip() for line in text.splitlines()]
    kept = [
        line
        for line in lines
        if line
        and not line.lstrip().startswith(("Ordered by", "List reduced"))
        and "function calls" not in line
    ]
    return "\n".join(kept)


# -- one size --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SizeResult:
    """The medians measured for one N."""

    size: int
    log_rate: float
    """Results per second through ``log_many`` (both runs, including finish)."""
    raw_rate: float
    """Results per second of the same records stored by hand (:func:`raw_insert`)."""
    compare_seconds: float
    compare_fresh_seconds: float
    """``compare_runs`` in a fresh process: its first call there, lazy imports included."""
    compare_rss_peak: float
    compare_rss_delta: float
    polars_seconds: float
    """The polars reference on both runs already in memory."""
    reference_seconds: float
    """The pandas reference from the store (NaN when not run at this size)."""
    reference_rss_peak: float
    reference_rss_delta: float
    profiles: dict[str, str]
    """cProfile output for the targets missed at this size, by what was profiled."""

    @property
    def speedup(self) -> float:
        return self.reference_seconds / self.compare_seconds

    @property
    def polars_ratio(self) -> float:
        """``compare_runs`` time over the polars reference's (at most 1.0 is the target)."""
        return self.compare_seconds / self.polars_seconds


def warm_up(store_spec: str, workdir: Path) -> None:
    """Run every measured step once at a tiny size, so that the timings in this process
    do not include one-time costs (lazy imports) that only the first size would pay.
    The fresh-process column shows what a first call costs."""
    workload = make_workload(100, seed=0)
    with fresh_store(store_spec, workdir) as url:
        store = open_store(url)
        try:
            old_id, _ = log_run(store, "warm-up baseline", workload.old_records())
            new_id, _ = log_run(store, "warm-up candidate", workload.new_records())
            comparison = compare_runs(new_id, old_id, store=store)
            connection = ReferenceConnection(url)
            try:
                check_agreement(comparison, reference_compare(connection, new_id, old_id))
            finally:
                connection.close()
        finally:
            store.close()


def run_size(
    size: int,
    *,
    store_spec: str,
    workdir: Path,
    repeat: int,
    seed: int,
    memory: bool,
    reference_max: int,
) -> SizeResult:
    """Measure one N: ``repeat`` times, each on a fresh store; return the medians."""
    workload = make_workload(size, seed=seed)
    new_frame, old_frame = workload.frames()
    with_pandas = size <= reference_max
    log_rates: list[float] = []
    raw_rates: list[float] = []
    compare_times: list[float] = []
    polars_times: list[float] = []
    reference_times: list[float] = []
    peaks: dict[str, list[dict[str, Any]]] = {"compare_runs": [], "reference": []}
    profiles: dict[str, str] = {}
    if size > PREBUILT_MAX:
        repeat = 1  # ten million datapoints take a quarter of an hour a run
    for attempt in range(repeat):
        with fresh_store(store_spec, workdir) as url:
            store = open_store(url)
            try:
                records = workload.old_records()
                old_id, old_seconds = log_run(store, "baseline", records)
                records = workload.new_records()
                new_id, new_seconds = log_run(store, "candidate", records)
                log_rates.append(2 * size / (old_seconds + new_seconds))
                raw_rates.append(size / raw_insert(url, workload.new_records()))
                del records

                gc.collect()
                start = time.perf_counter()
                comparison = compare_runs(new_id, old_id, store=store)
                compare_times.append(time.perf_counter() - start)

                gc.collect()
                start = time.perf_counter()
                in_memory = polars_reference(new_frame, old_frame)
                polars_times.append(time.perf_counter() - start)
                check_agreement(comparison, in_memory)
                del in_memory

                if with_pandas:
                    connection = ReferenceConnection(url)
                    try:
                        gc.collect()
                        start = time.perf_counter()
                        reference = reference_compare(connection, new_id, old_id)
                        reference_times.append(time.perf_counter() - start)
                    finally:
                        connection.close()
                    check_agreement(comparison, reference)
                    del reference
                del comparison
                pandas_note = f", pandas {_seconds(reference_times[-1])}" if with_pandas else ""
                print(
                    f"  N={_count(size)} run {attempt + 1}/{repeat}: log_many "
                    f"{log_rates[-1]:,.0f} results/s (by hand {raw_rates[-1]:,.0f}), "
                    f"compare_runs {_seconds(compare_times[-1])}, polars in memory "
                    f"{_seconds(polars_times[-1])}{pandas_note}; agreed",
                    flush=True,
                )

                if memory:
                    peaks["compare_runs"].append(
                        measure_peak_rss("compare_runs", url, new_id, old_id)
                    )
                    if with_pandas:
                        peaks["reference"].append(
                            measure_peak_rss("reference", url, new_id, old_id)
                        )
                if attempt == repeat - 1:
                    profiles = _profile_misses(
                        size,
                        store,
                        store_spec=store_spec,
                        workload=workload,
                        log_rate=statistics.median(log_rates),
                        compare_seconds=statistics.median(compare_times),
                        compare_rss_peak=_median_of(peaks["compare_runs"], "rss_peak"),
                        polars_ratio=statistics.median(compare_times)
                        / statistics.median(polars_times),
                        run_ids=(new_id, old_id),
                    )
            finally:
                store.close()
    return SizeResult(
        size=size,
        log_rate=statistics.median(log_rates),
        raw_rate=statistics.median(raw_rates),
        compare_seconds=statistics.median(compare_times),
        compare_fresh_seconds=_median_of(peaks["compare_runs"], "seconds"),
        compare_rss_peak=_median_of(peaks["compare_runs"], "rss_peak"),
        compare_rss_delta=_median_delta(peaks["compare_runs"]),
        polars_seconds=statistics.median(polars_times),
        reference_seconds=statistics.median(reference_times) if reference_times else math.nan,
        reference_rss_peak=_median_of(peaks["reference"], "rss_peak"),
        reference_rss_delta=_median_delta(peaks["reference"]),
        profiles=profiles,
    )


def _median_of(reports: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in reports)) if reports else math.nan


def _median_delta(reports: list[dict[str, Any]]) -> float:
    if not reports:
        return math.nan
    return float(statistics.median(r["rss_peak"] - r["rss_before"] for r in reports))


def _profile_misses(
    size: int,
    store: Store,
    *,
    store_spec: str,
    workload: Workload,
    log_rate: float,
    compare_seconds: float,
    compare_rss_peak: float,
    polars_ratio: float,
    run_ids: tuple[str, str],
) -> dict[str, str]:
    """Profile, at 1M and below, what missed its target at this size (benchmarks/README.md)."""
    profiles: dict[str, str] = {}
    if size > PREBUILT_MAX:
        return profiles
    if log_rate < LOG_MANY_TARGETS[_backend(store_spec)]:
        records = workload.new_records()
        profiles["log_many"] = profile_text(lambda: log_run(store, "profiled", records))
        del records
    compare_missed = (
        compare_seconds >= COMPARE_TARGETS.get(size, math.inf)
        or (size == POLARS_TARGET[0] and polars_ratio > POLARS_TARGET[1])
        or (size == max(COMPARE_TARGETS) and compare_rss_peak >= RSS_TARGET)
    )
    if compare_missed:
        new_id, old_id = run_ids
        profiles["compare_runs"] = profile_text(lambda: compare_runs(new_id, old_id, store=store))
    return profiles


def _backend(store_spec: str) -> str:
    return "sqlite" if store_spec == "sqlite" else "postgresql"


# -- the report ------------------------------------------------------------------------


def machine_description(store_spec: str) -> str:
    """CPU, cores, RAM and the versions that matter, in one line."""
    versions = [
        f"SQLite {sqlite3.sqlite_version}",
        f"numpy {np.__version__}",
        f"pandas {pd.__version__}",
        f"polars {pl.__version__}",
        f"SQLAlchemy {sqlalchemy.__version__}",
        f"evalyard {getattr(evalyard, '__version__', 'dev')}{_revision()}",
    ]
    if store_spec != "sqlite":
        engine = _pg_engine(store_spec)
        try:
            with engine.connect() as connection:
                version = connection.exec_driver_sql("SHOW server_version").scalar_one()
            versions.append(f"PostgreSQL {version}")
        finally:
            engine.dispose()
    return readme_blocks.machine_description(*versions)


def _revision() -> str:
    """`` at <commit>`` of the checkout measured, noting uncommitted changes under src/."""
    root = SCRIPT.parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f" at {commit}" + (" with uncommitted changes in src/" if dirty else "")


def _count(n: int) -> str:
    for factor, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{suffix}"
    return f"{n:,}"


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def _memory(peak: float, delta: float) -> str:
    if math.isnan(peak):
        return "not measured"
    return f"{peak / MB:,.0f} MB (+{delta / MB:,.0f})"


def markdown_table(results: Sequence[SizeResult], *, store_spec: str) -> str:
    """The results as a markdown table: each figure beside its reference."""
    lines = [
        "| N datapoints x 10 metrics | log_many, results/s | the same rows by hand, results/s "
        "| compare_runs | per datapoint | compare_runs in a fresh process | compare_runs peak "
        "RSS (+ over the process before) | polars, in memory | compare_runs / polars | pandas "
        "reference | reference peak RSS (+) | speed-up over pandas |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        fresh = (
            "not measured"
            if math.isnan(r.compare_fresh_seconds)
            else (_seconds(r.compare_fresh_seconds))
        )
        ran_pandas = not math.isnan(r.reference_seconds)
        lines.append(
            f"| {_count(r.size)} | {r.log_rate:,.0f} | {r.raw_rate:,.0f} | "
            f"{_seconds(r.compare_seconds)} | {r.compare_seconds / r.size * 1e6:.2f} µs | "
            f"{fresh} | {_memory(r.compare_rss_peak, r.compare_rss_delta)} | "
            f"{_seconds(r.polars_seconds)} | {r.polars_ratio:.2f} | "
            + (
                f"{_seconds(r.reference_seconds)} | "
                f"{_memory(r.reference_rss_peak, r.reference_rss_delta)} | {r.speedup:.1f}x |"
                if ran_pandas
                else "not run | not run | — |"
            )
        )
    return "\n".join(lines)


def target_lines(results: Sequence[SizeResult], *, store_spec: str) -> list[str]:
    """One line per target that these sizes measure: met or MISSED."""
    lines: list[str] = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "**MISSED**"

    by_size = {r.size: r for r in results}
    backend = _backend(store_spec)
    log_target = LOG_MANY_TARGETS[backend]
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    for r in results:
        lines.append(
            f"`log_many` into {label} >= {log_target:,} results/s at {_count(r.size)}: "
            f"{r.log_rate:,.0f}/s ({r.log_rate / r.raw_rate:.0%} of the by-hand insert), "
            f"{verdict(r.log_rate >= log_target)}"
        )
    for size, limit in COMPARE_TARGETS.items():
        if size in by_size:
            took = by_size[size].compare_seconds
            lines.append(
                f"`compare_runs` at {_count(size)} < {limit:g} s: {_seconds(took)}, "
                f"{verdict(took < limit)}"
            )
    size, most = POLARS_TARGET
    if size in by_size:
        ratio = by_size[size].polars_ratio
        lines.append(
            f"`compare_runs` from the store at {_count(size)} no slower than polars in memory "
            f"(ratio <= {most:g}): {ratio:.2f}, {verdict(ratio <= most)}"
        )
    big = max(COMPARE_TARGETS)
    if big in by_size and not math.isnan(by_size[big].compare_rss_peak):
        peak = by_size[big].compare_rss_peak
        lines.append(
            f"`compare_runs` peak RSS at {_count(big)} < {RSS_TARGET / MB / 1024:g} GB: "
            f"{peak / MB:,.0f} MB, {verdict(peak < RSS_TARGET)}"
        )
    size, ratio = SPEEDUP_TARGET
    if size in by_size and not math.isnan(by_size[size].reference_seconds):
        got = by_size[size].speedup
        lines.append(
            f"`compare_runs` >= {ratio:g}x faster than the pandas reference at "
            f"{_count(size)}: {got:.1f}x, {verdict(got >= ratio)}"
        )
    if len(results) > 1:
        first, last = min(results, key=lambda r: r.size), max(results, key=lambda r: r.size)
        growth = (last.compare_seconds / last.size) / (first.compare_seconds / first.size)
        lines.append(
            f"cost per datapoint of `compare_runs` from {_count(first.size)} to "
            f"{_count(last.size)}: x{growth:.2f} (1.00 is linear)"
        )
    return [f"- {line}" for line in lines]


def report_block(
    results: Sequence[SizeResult],
    *,
    store_spec: str,
    command: str,
    repeat: int,
    machine: str,
    load: tuple[float, float],
) -> str:
    """This benchmark's README block for one backend."""
    backend = (
        "SQLite file in a temporary folder"
        if store_spec == "sqlite"
        else f"PostgreSQL, a fresh schema in {_display_url(store_spec)}"
    )
    lines = [
        f"Measured {dt.date.today().isoformat()} on: {machine}.",
        "",
        f"Store: {backend}. Medians of {repeat} run{'s' if repeat != 1 else ''} (one above "
        f"{_count(PREBUILT_MAX)}), each on a "
        f"fresh store. Load average (1 min) {load[0]:.2f} at the start, {load[1]:.2f} at the "
        "end.",
        "",
        "```sh",
        command,
        "```",
        "",
        markdown_table(results, store_spec=store_spec),
        "",
        "Targets:",
        "",
        *target_lines(results, store_spec=store_spec),
    ]
    for r in results:
        for what, text in r.profiles.items():
            lines += [
                "",
                f"Where the time goes: `{what}` at {_count(r.size)}, cProfile top entries by "
                "cumulative and by own time (the profiler slows Python-heavy code down):",
                "",
                "```text",
                text,
                "```",
            ]
    return "\n".join(lines)


def _display_url(url: str) -> str:
    return sqlalchemy.make_url(url).render_as_string(hide_password=True)


def write_readme(path: Path, block: str, *, store_spec: str, largest: int = 0) -> None:
    """Replace this benchmark's block for the backend in ``path`` (append it if absent).

    A run going past 1M datapoints (the long curve, a quarter of an hour a size) has a
    block of its own, so it does not replace the repeated measurements up to 1M."""
    key = f"bench_store:{_backend(store_spec)}"
    if largest > PREBUILT_MAX:
        key += ":large"
    write_block(path, key, block, script="bench_store.py")


def reproduce_command(args: argparse.Namespace) -> str:
    """The command that reproduces these numbers (output locations left out)."""
    parts = ["python", "benchmarks/bench_store.py", "--sizes", ",".join(map(str, args.sizes))]
    parts += ["--repeat", str(args.repeat)]
    if args.store != "sqlite":
        parts += ["--store", _display_url(args.store)]
    if args.seed != 0:
        parts += ["--seed", str(args.seed)]
    if args.no_memory:
        parts.append("--no-memory")
    if args.reference_max != REFERENCE_MAX:
        parts += ["--reference-max", str(args.reference_max)]
    return shlex.join(parts)


# -- command line ----------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        factor = 1
        if part.endswith("k"):
            factor, part = 1_000, part[:-1]
        elif part.endswith("m"):
            factor, part = 1_000_000, part[:-1]
        value = int(part) * factor
        if value < 20:
            raise argparse.ArgumentTypeError(f"a size must be at least 20, not {value}")
        sizes.append(value)
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark log_many and compare_runs against a pandas reference."
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=list(DEFAULT_SIZES),
        help="datapoints per run, comma-separated (default 10000,100000,1000000; 10k, 1M work)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per size up to 1M, medians reported (larger sizes run once)",
    )
    parser.add_argument(
        "--store",
        default="sqlite",
        help="sqlite (a file under --workdir, the default) or a postgresql:// database URL",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where SQLite stores go")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random workload")
    parser.add_argument("--readme", type=Path, default=DEFAULT_README, help="README to update")
    parser.add_argument("--no-readme", action="store_true", help="only print the table")
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the peak RSS child processes"
    )
    parser.add_argument(
        "--reference-max",
        type=int,
        default=REFERENCE_MAX,
        help="largest N the pandas reference runs at (default 1,000,000: above it, it takes "
        "minutes and tens of GB); the polars reference runs at every N",
    )
    parser.add_argument("--child", choices=["compare_runs", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--child-run-ids", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.store.startswith("postgres://"):
        args.store = "postgresql://" + args.store.removeprefix("postgres://")
    if args.child is None and args.store != "sqlite" and not args.store.startswith("postgresql"):
        parser.error("--store is sqlite or a postgresql:// URL")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and write it into the README."""
    args = parse_args(argv)
    if args.child is not None:
        new_run_id, old_run_id = args.child_run_ids
        print(json.dumps(child_measure(args.child, args.store, new_run_id, old_run_id)))
        return 0
    workdir = args.workdir or Path(tempfile.gettempdir())
    workdir.mkdir(parents=True, exist_ok=True)
    machine = machine_description(args.store)
    load_at_start = os.getloadavg()[0]
    print(f"machine: {machine}", flush=True)
    warm_up(args.store, workdir)
    results = []
    for size in args.sizes:
        started = time.perf_counter()
        result = run_size(
            size,
            store_spec=args.store,
            workdir=workdir,
            repeat=args.repeat,
            seed=args.seed,
            memory=not args.no_memory,
            reference_max=args.reference_max,
        )
        results.append(result)
        print(
            f"N={_count(size)}: log_many {result.log_rate:,.0f} results/s, compare_runs "
            f"{_seconds(result.compare_seconds)}, {result.polars_ratio:.2f}x polars in memory;"
            f" agreed; {time.perf_counter() - started:.0f} s in all",
            flush=True,
        )
    block = report_block(
        results,
        store_spec=args.store,
        command=reproduce_command(args),
        repeat=args.repeat,
        machine=machine,
        load=(load_at_start, os.getloadavg()[0]),
    )
    print()
    print(block)
    if not args.no_readme:
        write_readme(args.readme, block, store_spec=args.store, largest=max(args.sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
