"""The benchmark of importing a JSONL file of results as a run, against parse + ``log_many``.

A JSONL file of N rows shaped like lm-evaluation-harness samples (``doc_id``, ``doc``,
``target``, ``resps``, ``filtered_resps`` and two 0/1 metrics; seeded) is imported with
``evalyard.importers.import_file`` into a fresh SQLite store, and timed against the
reference a user would write without the importer, in the same process on the same file: each
line parsed with orjson, turned into a ``log_many`` record by hand, and logged with
``start_run`` + ``log_many`` into another fresh store. Both runs must hold the same results
(every record's id, inputs, outputs, ground truth, metadata and metrics), or the benchmark
stops with an error. Importing the same file again (found by its run id, nothing written)
is timed too.

Usage:
    python benchmarks/bench_import.py                     # 100k rows, 3 repeats
    python benchmarks/bench_import.py --sizes 10000,100000 --repeat 3

The table is printed and written into this benchmark's block of ``benchmarks/README.md``
(``--readme PATH`` or ``--no-readme`` to change that).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

import evalyard
from evalyard.importers import import_file
from evalyard.store import open_store

SCRIPT = Path(__file__).resolve()
DEFAULT_README = SCRIPT.parent / "README.md"
DEFAULT_SIZES = (100_000,)
TARGET = (100_000, 10.0)  # rows, seconds for import_file
MAPPING = {
    "id_column": "doc_id",
    "input_column": "doc",
    "output_column": "filtered_resps",
    "expected_column": "target",
    "metric_columns": ["acc", "acc_norm"],
}


class BenchmarkMismatchError(AssertionError):
    """The import and the reference stored different results."""


def write_samples(path: Path, size: int, *, seed: int) -> None:
    """N lm-eval-like sample rows, one JSON object per line."""
    rng = np.random.default_rng(seed)
    answers = rng.integers(0, 4, size).tolist()
    picked = rng.integers(0, 4, size).tolist()
    normed = rng.integers(0, 4, size).tolist()
    with path.open("wb") as handle:
        for i in range(size):
            choices = [f"choice {i}-{c}" for c in range(4)]
            row = {
                "doc_id": i,
                "doc": {"question": f"question number {i}?", "choices": choices},
                "target": answers[i],
                "arguments": [[f"question number {i}?", f" {c}"] for c in choices],
                "resps": [[[-1.5 - c, c == picked[i]]] for c in range(4)],
                "filtered_resps": [[-1.5 - c, c == picked[i]] for c in range(4)],
                "acc": float(picked[i] == answers[i]),
                "acc_norm": float(normed[i] == answers[i]),
            }
            handle.write(orjson.dumps(row) + b"\n")


def reference(path: Path, url: str) -> str:
    """What a user would write: parse each line, build the record, ``log_many`` them."""
    records = []
    with path.open("rb") as handle:
        for line in handle:
            row = orjson.loads(line)
            records.append(
                {
                    "id": row["doc_id"],
                    "inputs": row["doc"],
                    "outputs": row["filtered_resps"],
                    "ground_truth": row["target"],
                    "metrics": {"acc": row["acc"], "acc_norm": row["acc_norm"]},
                    "metadata": {"arguments": row["arguments"], "resps": row["resps"]},
                }
            )
    with evalyard.start_run(path.stem, store=url) as run:
        run.log_many(records)
        return run.run_id


def check_agreement(url_a: str, run_a: str, url_b: str, run_b: str) -> None:
    """Both runs hold the same results, or :class:`BenchmarkMismatchError`."""
    a = evalyard.get_results(run_a, store=url_a)
    b = evalyard.get_results(run_b, store=url_b)
    if len(a) != len(b):
        raise BenchmarkMismatchError(f"{len(a)} results imported, {len(b)} logged")
    for left, right in zip(a, b, strict=True):
        if left.to_dict() != right.to_dict():
            raise BenchmarkMismatchError(f"datapoint {left.datapoint_id!r} differs")


@dataclass(frozen=True)
class SizeResult:
    size: int
    file_mb: float
    imported: float
    reference: float
    again: float

    @property
    def ratio(self) -> float:
        return self.imported / self.reference


def run_size(size: int, *, workdir: Path, repeat: int, seed: int) -> SizeResult:
    folder = Path(tempfile.mkdtemp(prefix="bench-import-", dir=workdir))
    try:
        path = folder / f"samples-{size}.jsonl"
        write_samples(path, size, seed=seed)
        imported, referenced, again = [], [], []
        for attempt in range(repeat):
            # Interleaved, each into a fresh store.
            url_i = f"sqlite:///{folder / f'import-{attempt}.db'}"
            url_r = f"sqlite:///{folder / f'reference-{attempt}.db'}"
            open_store(url_i)
            open_store(url_r)
            start = time.perf_counter()
            outcome = import_file("jsonl", path, store=url_i, **MAPPING)
            imported.append(time.perf_counter() - start)
            start = time.perf_counter()
            reference_id = reference(path, url_r)
            referenced.append(time.perf_counter() - start)
            start = time.perf_counter()
            repeated = import_file("jsonl", path, store=url_i, **MAPPING)
            again.append(time.perf_counter() - start)
            if repeated.created or outcome.run.result_count != size:
                raise BenchmarkMismatchError("the second import wrote, or the first lost rows")
            check_agreement(url_i, outcome.run.run_id, url_r, reference_id)
        return SizeResult(
            size,
            path.stat().st_size / 1e6,
            statistics.median(imported),
            statistics.median(referenced),
            statistics.median(again),
        )
    finally:
        evalyard.store.close_stores()
        shutil.rmtree(folder, ignore_errors=True)


# -- the report ------------------------------------------------------------------------


def _revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=SCRIPT.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _proc_field(path: str, prefix: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_description() -> str:
    """CPU, cores, RAM and the versions that matter, in one line."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.machine()
    memory = _proc_field("/proc/meminfo", "MemTotal:")
    ram = f", {int(memory.split()[0]) / 1024 / 1024:.1f} GiB RAM" if memory else ""
    return "; ".join(
        [
            f"{cpu}, {cores} cores{ram}",
            f"{platform.system()} {platform.release()}",
            f"Python {platform.python_version()}",
            f"SQLite {sqlite3.sqlite_version}",
            f"orjson {orjson.__version__}",
            f"evalyard {evalyard.__version__} at {_revision()}",
        ]
    )


def _count(size: int) -> str:
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    if size >= 1_000 and size % 1_000 == 0:
        return f"{size // 1_000}k"
    return str(size)


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def markdown_table(results: Sequence[SizeResult]) -> str:
    lines = [
        "| rows | file | import_file | rows/s | reference: orjson parse + log_many | "
        "import / reference | import again (nothing written) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {_count(r.size)} | {r.file_mb:.0f} MB | {_seconds(r.imported)} | "
            f"{r.size / r.imported:,.0f} | {_seconds(r.reference)} | {r.ratio:.2f}x | "
            f"{_seconds(r.again)} |"
        )
    return "\n".join(lines)


def report_block(
    results: Sequence[SizeResult], *, command: str, repeat: int, load: tuple[float, float]
) -> str:
    """This benchmark's README block."""
    size, limit = TARGET
    lines = [
        f"Measured {dt.date.today().isoformat()} on: {machine_description()}.",
        "",
        f"SQLite files in a temporary folder, a fresh store for each timing. Medians of "
        f"{repeat} run{'s' if repeat != 1 else ''}; load average (1 min) {load[0]:.2f} at the "
        f"start, {load[1]:.2f} at the end.",
        "",
        "```sh",
        command,
        "```",
        "",
        markdown_table(results),
    ]
    measured = [r for r in results if r.size == size]
    if measured:
        took = measured[0].imported
        verdict = "met" if took < limit else "**MISSED**"
        lines += [
            "",
            f"Target: importing {_count(size)} samples < {limit:g} s: {_seconds(took)}, {verdict}.",
        ]
    return "\n".join(lines)


def write_readme(path: Path, block: str) -> None:
    """Replace this benchmark's block in ``path`` (append it if absent)."""
    begin = "<!-- bench_import:begin (written by bench_import.py) -->"
    end = "<!-- bench_import:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    new_block = f"{begin}\n{block}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + new_block + tail
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + new_block + "\n"
    path.write_text(text, encoding="utf-8")


# -- command line ----------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        factor = 1_000 if part.endswith("k") else 1_000_000 if part.endswith("m") else 1
        value = int(part.rstrip("km")) * factor
        if value < 1:
            raise argparse.ArgumentTypeError(f"a size must be at least 1, not {value}")
        sizes.append(value)
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark import_file against log_many.")
    parser.add_argument("--sizes", type=_sizes, default=list(DEFAULT_SIZES), help="rows (100k)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per size; medians")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random workload")
    parser.add_argument("--workdir", type=Path, default=None, help="where files and stores go")
    parser.add_argument("--readme", type=Path, default=DEFAULT_README, help="README to update")
    parser.add_argument("--no-readme", action="store_true", help="only print the table")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def reproduce_command(args: argparse.Namespace) -> str:
    parts = ["python", "benchmarks/bench_import.py", "--sizes", ",".join(map(str, args.sizes))]
    parts += ["--repeat", str(args.repeat)]
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
    # One tiny import first, so that lazy imports do not land on the first timing.
    run_size(50, workdir=workdir, repeat=1, seed=args.seed)
    results = [
        run_size(size, workdir=workdir, repeat=args.repeat, seed=args.seed) for size in args.sizes
    ]
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
