"""The benchmark of importing results as a run, against parse + ``log_many``.

Two workloads of N rows, each imported with ``evalyard.importers.import_file`` into a fresh
SQLite store and timed against the reference a user would write without the importer, in the
same process on the same file: each line parsed with orjson, turned into a ``log_many``
record by hand, and logged with ``start_run`` + ``log_many`` into another fresh store.

- ``jsonl``: a JSONL table shaped like lm-evaluation-harness samples (``doc_id``, ``doc``,
  ``target``, ``resps``, ``filtered_resps`` and two 0/1 metrics; seeded), imported with the
  ``jsonl`` format and a column mapping.
- ``lm-eval``: a ``samples_<task>_<time>.jsonl`` file made from a line lm-eval 0.4.13 wrote
  (:data:`LM_EVAL_TEMPLATE`: every line has its fields, in its order, with seeded values),
  imported with the ``lm-eval`` format.

Both runs must hold the same results (every record's id, inputs, outputs, ground truth,
metadata and metrics), or the benchmark stops with an error. Importing the same file again
(found by its run id, nothing written) is timed too.

Usage:
    python benchmarks/bench_import.py                     # 100k rows, 3 repeats
    python benchmarks/bench_import.py --sizes 10000,100000 --repeat 3 --formats lm-eval

The table is printed and written into this benchmark's block of ``benchmarks/README.md``
(``--readme PATH`` or ``--no-readme`` to change that).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import shlex
import shutil
import sqlite3
import statistics
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
from readme_blocks import machine_description as machine_description_of
from readme_blocks import revision, write_block

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
FORMATS = ("jsonl", "lm-eval")
#: A line of ``samples_tiny_mc_*.jsonl`` written by lm-eval 0.4.13 (``--model dummy
#: --log_samples`` on a three-choice task): the shape of every line of the lm-eval workload.
LM_EVAL_TEMPLATE = (
    b'{"doc_id": 0, "doc": {"id": "mc-0", "question": "Pick the number 0.", "choices": '
    b'["0", "1", "2"], "answer": 0}, "target": "0", "arguments": {"gen_args_0": {"arg_0": '
    b'"Pick the number 0.", "arg_1": " 0"}, "gen_args_1": {"arg_0": "Pick the number 0.", '
    b'"arg_1": " 1"}, "gen_args_2": {"arg_0": "Pick the number 0.", "arg_1": " 2"}}, '
    b'"resps": [[["-0.034525830151341586", "False"]], [["-0.24273997354306764", "False"]], '
    b'[["-0.7974042475543028", "False"]]], "filtered_resps": [["-0.034525830151341586", '
    b'"False"], ["-0.24273997354306764", "False"], ["-0.7974042475543028", "False"]], '
    b'"filter": "none", "metrics": ["acc"], "doc_hash": '
    b'"0d5c499452d6b7e59ae9624db9407a67a99f989490b395b8014dda2f892434f4", "prompt_hash": '
    b'"90aa5c9b888636cc3066f7524b8d0bc0b914af24b356219dcca29377d65c0544", "target_hash": '
    b'"5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9", "acc": 1.0}'
)
LM_EVAL_TASK = "bench_mc"
LM_EVAL_FILE = f"samples_{LM_EVAL_TASK}_2026-12-04T14-00-00.000000.jsonl"
_KEPT = ("doc", "arguments", "resps", "doc_hash", "prompt_hash", "target_hash")


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


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_lm_eval_samples(path: Path, size: int, *, seed: int) -> None:
    """N lines shaped like :data:`LM_EVAL_TEMPLATE`: four choices, seeded log-likelihoods."""
    template = orjson.loads(LM_EVAL_TEMPLATE)
    rng = np.random.default_rng(seed)
    answers = rng.integers(0, 4, size).tolist()
    loglikelihoods = (-rng.random((size, 4))).tolist()
    with path.open("wb") as handle:
        for i in range(size):
            question = f"Question number {i}: which of these is right?"
            choices = [f"choice {i}-{c}" for c in range(4)]
            scores = [repr(value) for value in loglikelihoods[i]]
            best = max(range(4), key=lambda c: loglikelihoods[i][c])
            target = str(answers[i])
            row = {
                "doc_id": i,
                "doc": {
                    "id": f"q-{i}",
                    "question": question,
                    "choices": choices,
                    "answer": answers[i],
                },
                "target": target,
                "arguments": {
                    f"gen_args_{c}": {"arg_0": question, "arg_1": f" {choice}"}
                    for c, choice in enumerate(choices)
                },
                "resps": [[[score, "False"]] for score in scores],
                "filtered_resps": [[score, "False"] for score in scores],
                "filter": "none",
                "metrics": ["acc"],
                "doc_hash": _sha256(question),
                "prompt_hash": _sha256(question + "\n"),
                "target_hash": _sha256(target),
                "acc": float(best == answers[i]),
            }
            assert list(row) == list(template)
            handle.write(orjson.dumps(row) + b"\n")


def reference_lm_eval(path: Path, url: str) -> str:
    """What a user would write for lm-eval samples: the same records, by hand."""
    records = []
    with path.open("rb") as handle:
        for line in handle:
            row = orjson.loads(line)
            records.append(
                {
                    "id": f"{LM_EVAL_TASK}/{row['doc_id']}",
                    "inputs": row["arguments"]["gen_args_0"]["arg_0"],
                    "outputs": row["filtered_resps"],
                    "ground_truth": row["target"],
                    "metrics": {name: row[name] for name in row["metrics"]},
                    "metadata": {key: row[key] for key in _KEPT},
                }
            )
    with evalyard.start_run(path.stem, store=url) as run:
        run.log_many(records)
        return run.run_id


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
    fmt: str
    size: int
    file_mb: float
    imported: float
    reference: float
    again: float

    @property
    def ratio(self) -> float:
        return self.imported / self.reference


def run_size(size: int, *, workdir: Path, repeat: int, seed: int, fmt: str = "jsonl") -> SizeResult:
    folder = Path(tempfile.mkdtemp(prefix="bench-import-", dir=workdir))
    try:
        if fmt == "lm-eval":
            path = folder / LM_EVAL_FILE
            write_lm_eval_samples(path, size, seed=seed)
            options: dict[str, object] = {}
            by_hand = reference_lm_eval
        else:
            path = folder / f"samples-{size}.jsonl"
            write_samples(path, size, seed=seed)
            options = dict(MAPPING)
            by_hand = reference
        imported, referenced, again = [], [], []
        for attempt in range(repeat):
            # Interleaved, each into a fresh store.
            url_i = f"sqlite:///{folder / f'import-{attempt}.db'}"
            url_r = f"sqlite:///{folder / f'reference-{attempt}.db'}"
            open_store(url_i)
            open_store(url_r)
            start = time.perf_counter()
            outcome = import_file(fmt, path, store=url_i, **options)
            imported.append(time.perf_counter() - start)
            start = time.perf_counter()
            reference_id = by_hand(path, url_r)
            referenced.append(time.perf_counter() - start)
            start = time.perf_counter()
            repeated = import_file(fmt, path, store=url_i, **options)
            again.append(time.perf_counter() - start)
            if repeated.created or outcome.run.result_count != size:
                raise BenchmarkMismatchError("the second import wrote, or the first lost rows")
            check_agreement(url_i, outcome.run.run_id, url_r, reference_id)
        return SizeResult(
            fmt,
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


def machine_description() -> str:
    """CPU, cores, RAM and the versions that matter, in one line."""
    return machine_description_of(
        f"SQLite {sqlite3.sqlite_version}",
        f"orjson {orjson.__version__}",
        f"evalyard {evalyard.__version__} at {revision()}",
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
        "| format | rows | file | import_file | rows/s | reference: orjson parse + log_many | "
        "import / reference | import again (nothing written) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.fmt} | {_count(r.size)} | {r.file_mb:.0f} MB | {_seconds(r.imported)} | "
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
    for r in results:
        if r.size == size and r.fmt == "lm-eval":
            verdict = "met" if r.imported < limit else "**MISSED**"
            lines += [
                "",
                f"Target: importing {_count(size)} lm-eval samples < {limit:g} s: "
                f"{_seconds(r.imported)}, {verdict}.",
            ]
    return "\n".join(lines)


def write_readme(path: Path, block: str) -> None:
    """Replace this benchmark's block in ``path`` (append it if absent)."""
    write_block(path, "bench_import", block, script="bench_import.py")


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


def _formats(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(FORMATS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"formats are {', '.join(FORMATS)}, not {text!r}")
    return chosen


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark import_file against log_many.")
    parser.add_argument("--sizes", type=_sizes, default=list(DEFAULT_SIZES), help="rows (100k)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per size; medians")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random workload")
    parser.add_argument(
        "--formats", type=_formats, default=list(FORMATS), help="jsonl,lm-eval (both)"
    )
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
    if args.formats != list(FORMATS):
        parts += ["--formats", ",".join(args.formats)]
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
    for fmt in args.formats:
        run_size(50, workdir=workdir, repeat=1, seed=args.seed, fmt=fmt)
    results = [
        run_size(size, workdir=workdir, repeat=args.repeat, seed=args.seed, fmt=fmt)
        for size in args.sizes
        for fmt in args.formats
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
