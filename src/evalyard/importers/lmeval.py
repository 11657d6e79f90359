"""The ``lm-eval`` importer: lm-evaluation-harness (0.4.x) ``--log_samples`` output as a run.

``lm_eval ... --log_samples --output_path OUT`` writes, in ``OUT`` or a model's folder under
it, one ``results_<time>.json`` per run and one ``samples_<task>_<time>.jsonl`` per task of
that run. The path imported is one of:

- the output folder (or the model's folder in it): the run whose ``results_*.json`` it
  holds (a folder holding several runs' results is refused: give one results file);
- a ``results_<time>.json``: that run, with the samples of every task it lists;
- a ``samples_<task>_<time>.jsonl``: that task alone (the ``results_<time>.json`` beside it,
  if there is one, gives the run's metadata).

Each task's samples become records: one per document, with the datapoint id
``<task>/<doc_id>`` (the document's index in the task's split, the same for two models
run on one task version), ``inputs`` = the prompt (the first argument of the first
request), ``outputs`` = ``filtered_resps`` (by filter name when the task has several
filters), ``expected`` = ``target``. Each per-sample metric field is a metric named as in
``results_*.json`` without the default filter: ``acc`` for filter ``none``,
``exact_match,strict-match`` for filter ``strict-match``. Values stay numbers, so a
metric's mean over the run is lm-eval's aggregate. Per-sample values of corpus-level
metrics (``bleu``, perplexities: lists lm-eval aggregates over the corpus) are not
metrics: they go into the datapoint's metadata under ``corpus_metric_items``.

Options: ``task`` (import one task of the run) and ``rest`` (``metadata``: the document,
arguments, raw responses and hashes go into each datapoint's metadata; ``ignore``: they
are dropped). The files are plain JSON and JSON Lines, read with orjson: lm-eval itself
is not needed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from evalyard.errors import ImportFileError, InvalidInputError
from evalyard.importers.base import ImportedRecord, ImportedRun, register_importer

__all__ = ["LMEVAL", "LmEvalImporter"]

_RESULTS = re.compile(r"results_(?P<stamp>.+)\.json")
# The time lm-eval writes is an ISO time with '-' for ':', so it holds no '_'.
_SAMPLES = re.compile(r"samples_(?P<task>.+)_(?P<stamp>\d{4}-\d\d-\d\dT[^_/]+)\.jsonl")
#: The fields of a sample line that are not metrics.
_FIELDS = frozenset(
    {
        "doc_id",
        "doc",
        "target",
        "arguments",
        "resps",
        "filtered_resps",
        "filter",
        "metrics",
        "doc_hash",
        "prompt_hash",
        "target_hash",
    }
)
#: The fields kept in each datapoint's metadata (``rest="metadata"``).
_KEPT = ("doc", "arguments", "resps", "doc_hash", "prompt_hash", "target_hash")
#: What of ``results_*.json`` is run metadata (per-task tables are cut to the tasks read).
_PER_TASK = ("results", "versions", "n-shot", "n-samples", "higher_is_better", "task_hashes")
_PLAIN = ("model_name", "lm_eval_version", "date", "total_evaluation_time_seconds")


@dataclass(frozen=True, slots=True)
class _Layout:
    """The files of one lm-eval run: its results file (when known) and samples by task."""

    results: Path | None
    samples: dict[str, Path]
    picked: bool
    """Whether one task was chosen out of several (``task`` option or a samples file)."""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ImportFileError(f"not valid JSON ({exc})", path=str(path)) from None
    if not isinstance(value, dict):
        raise ImportFileError(
            f"a results file holds a JSON object, not {type(value).__name__}", path=str(path)
        )
    return value


def _tasks_of(results: Mapping[str, Any], path: Path) -> list[str]:
    for key in ("n-samples", "configs"):
        table = results.get(key)
        if isinstance(table, dict) and table:
            return sorted(table)
    raise ImportFileError(
        "the results file names no tasks (no 'n-samples' or 'configs'); is it lm-eval's?",
        path=str(path),
    )


def _layout(path: Path, task: str | None) -> _Layout:
    """The files ``path`` stands for, or an error saying what to give instead."""
    if path.is_dir():
        found = sorted(path.glob("results_*.json")) + sorted(path.glob("*/results_*.json"))
        found = [p for p in found if _RESULTS.fullmatch(p.name)]
        if not found:
            raise ImportFileError(
                "the folder holds no results_*.json (nor a model folder holding one); give "
                "lm_eval's --output_path folder of a run made with --log_samples",
                path=str(path),
            )
        if len(found) > 1:
            names = ", ".join(str(p.relative_to(path)) for p in found)
            raise ImportFileError(
                f"the folder holds the results of {len(found)} runs ({names}); give one "
                "results_*.json",
                path=str(path),
            )
        return _layout_of_results(found[0], task)
    if _RESULTS.fullmatch(path.name):
        return _layout_of_results(path, task)
    sample = _SAMPLES.fullmatch(path.name)
    if sample is None:
        raise ImportFileError(
            "not lm-eval output: give the --output_path folder, a results_<time>.json or a "
            "samples_<task>_<time>.jsonl",
            path=str(path),
        )
    name = sample["task"]
    if task is not None and task != name:
        raise ImportFileError(
            f"the file holds the samples of task {name!r}, not {task!r}", path=str(path)
        )
    results = path.with_name(f"results_{sample['stamp']}.json")
    return _Layout(results if results.is_file() else None, {name: path}, picked=True)


def _layout_of_results(path: Path, task: str | None) -> _Layout:
    stamp = _RESULTS.fullmatch(path.name)
    assert stamp is not None
    every = _tasks_of(_read_json(path), path)
    tasks = every
    if task is not None:
        if task not in tasks:
            raise ImportFileError(
                f"the run has no task {task!r}; its tasks: {', '.join(tasks)}", path=str(path)
            )
        tasks = [task]
    samples: dict[str, Path] = {}
    for name in tasks:
        file = path.with_name(f"samples_{name}_{stamp['stamp']}.jsonl")
        if not file.is_file():
            raise ImportFileError(
                f"there is no {file.name} beside it: the samples of task {name!r} are "
                "written by lm_eval --log_samples",
                path=str(path),
            )
        samples[name] = file
    return _Layout(path, samples, picked=len(tasks) < len(every))


def _prompt(arguments: Any, doc: Any) -> Any:
    """The prompt: the first argument of the first request (0.4.x writes the requests as
    ``{"gen_args_0": {"arg_0": ...}}``, older ones as ``[[arg_0, ...], ...]``)."""
    first: Any = None
    if isinstance(arguments, dict) and arguments:
        first = next(iter(arguments.values()))
        if isinstance(first, dict):
            return first.get("arg_0", doc)
    elif isinstance(arguments, list) and arguments:
        first = arguments[0]
        if isinstance(first, list) and first:
            return first[0]
    return doc if first is None else first


class _Task:
    """The records of one task's samples file, one per document."""

    def __init__(self, task: str, path: Path, keep_rest: bool, *, named: bool) -> None:
        self.task = task
        self.path = path
        # Records of several files name theirs, for the errors import_file raises.
        self.prefix = f"{path.name}, " if named else ""
        self.keep_rest = keep_rest
        self.records: dict[Any, ImportedRecord] = {}
        self.filters: dict[Any, dict[str, str]] = {}

    def fail(self, message: str, location: str, field: str | None = None) -> ImportFileError:
        return ImportFileError(message, path=str(self.path), line=location, field=field)

    def read(self) -> list[ImportedRecord]:
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                location = f"line {number}"
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise self.fail(f"not valid JSON ({exc})", location) from None
                if not isinstance(row, dict):
                    raise self.fail(
                        f"a sample line is a JSON object, not {type(row).__name__}", location
                    )
                self.add(row, location)
        return list(self.records.values())

    def add(self, row: dict[str, Any], location: str) -> None:
        doc_id = row.get("doc_id")
        if isinstance(doc_id, bool) or not isinstance(doc_id, int | str):
            raise self.fail(
                f"doc_id must be a number or a string, not {doc_id!r}", location, "doc_id"
            )
        filter_name = row.get("filter", "none")
        if not isinstance(filter_name, str) or not filter_name:
            raise self.fail(f"filter must be a name, not {filter_name!r}", location, "filter")
        names = row.get("metrics")
        if names is None:
            names = [key for key in row if key not in _FIELDS]
        elif not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise self.fail("metrics must be a list of metric names", location, "metrics")
        suffix = "" if filter_name == "none" else "," + filter_name
        metrics: dict[str, Any] = {}
        items: dict[str, Any] = {}
        for metric in names:
            if metric not in row:
                raise self.fail(
                    f"the line lists metric {metric!r} but has no {metric!r} field",
                    location,
                    metric,
                )
            value = row[metric]
            if value is None or isinstance(value, int | float | str):
                metrics[metric + suffix] = value
            else:
                # A corpus-level metric's per-sample item (bleu's [reference, prediction]).
                items[metric + suffix] = value
        outputs = row.get("filtered_resps")
        seen = self.filters.get(doc_id)
        if seen is None:
            metadata: dict[str, Any] | None = None
            if self.keep_rest:
                metadata = {key: row[key] for key in _KEPT if key in row}
                if items:
                    metadata["corpus_metric_items"] = items
            self.filters[doc_id] = {filter_name: location}
            self.records[doc_id] = ImportedRecord(
                self.prefix + location,
                datapoint_id=f"{self.task}/{doc_id}",
                inputs=_prompt(row.get("arguments"), row.get("doc")),
                outputs=outputs,
                expected=row.get("target"),
                metrics=metrics,
                metadata=metadata,
            )
            return
        if filter_name in seen:
            raise self.fail(
                f"doc_id {doc_id!r} with filter {filter_name!r} is there already at "
                f"{seen[filter_name]}",
                location,
                "doc_id",
            )
        record = self.records[doc_id]
        if len(seen) == 1:
            record.outputs = {next(iter(seen)): record.outputs}
        record.outputs[filter_name] = outputs
        seen[filter_name] = location
        record.metrics.update(metrics)
        if items and isinstance(record.metadata, dict):
            record.metadata.setdefault("corpus_metric_items", {}).update(items)


def _run_metadata(results: Mapping[str, Any], tasks: list[str], picked: bool) -> dict[str, Any]:
    config = results.get("config")
    config = config if isinstance(config, dict) else {}
    metadata: dict[str, Any] = {
        "model": config.get("model"),
        "model_args": config.get("model_args"),
        "tasks": tasks,
    }
    for key in _PLAIN:
        if key in results:
            metadata[key] = results[key]
    for key in _PER_TASK:
        table = results.get(key)
        if isinstance(table, dict):
            metadata[key] = {t: v for t, v in table.items() if t in tasks} if picked else table
    metadata["config"] = config
    return metadata


def _directions(
    results: Mapping[str, Any], tasks: list[str], records: list[ImportedRecord]
) -> dict[str, str]:
    """Each metric's direction, from the tasks' ``higher_is_better`` (``acc,strict-match``
    goes the way ``acc`` goes)."""
    table = results.get("higher_is_better")
    if not isinstance(table, dict):
        return {}
    better: dict[str, bool] = {}
    for task in tasks:
        for metric, higher in (table.get(task) or {}).items():
            if isinstance(higher, bool):
                better.setdefault(metric, higher)
    names: set[str] = set()
    for record in records:
        names.update(record.metrics)
    directions: dict[str, str] = {}
    for name in sorted(names):
        higher = better.get(name.partition(",")[0])
        if higher is not None:
            directions[name] = "higher" if higher else "lower"
    return directions


class LmEvalImporter:
    """Reads lm-evaluation-harness ``--log_samples`` output (see the module's description)."""

    @property
    def name(self) -> str:
        return "lm-eval"

    @property
    def description(self) -> str:
        return "lm-evaluation-harness --log_samples output: a folder, results or samples file"

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - {"task", "rest"})
        if unknown:
            raise InvalidInputError(
                f"unknown lm-eval options {unknown}; lm-eval takes task and rest"
            )
        task = options.get("task")
        if task is not None and (not isinstance(task, str) or not task):
            raise InvalidInputError(f"task must be a task name, not {task!r}")
        rest = options.get("rest") or "metadata"
        if rest not in ("metadata", "ignore"):
            raise InvalidInputError(f"rest must be metadata or ignore, not {rest!r}")
        return {"task": task, "rest": rest}

    def sources(self, path: Path, options: Mapping[str, Any]) -> list[Path]:
        layout = _layout(path, options.get("task"))
        head = [layout.results] if layout.results is not None else []
        return [*head, *layout.samples.values()]

    def read(self, path: Path, options: Mapping[str, Any]) -> ImportedRun:
        layout = _layout(path, options.get("task"))
        keep_rest = (options.get("rest") or "metadata") == "metadata"
        records: list[ImportedRecord] = []
        for task, file in layout.samples.items():
            records += _Task(task, file, keep_rest, named=file != path).read()
        tasks = list(layout.samples)
        if layout.results is None:
            return ImportedRun(
                name=path.stem, records=records, dataset=tasks[0], metadata={"tasks": tasks}
            )
        results = _read_json(layout.results)
        stamp = _RESULTS.fullmatch(layout.results.name)
        assert stamp is not None
        model = results.get("model_name_sanitized") or results.get("model_name")
        if not isinstance(model, str) or not model:
            config = results.get("config")
            model = config.get("model") if isinstance(config, dict) else None
        parts = [model if isinstance(model, str) and model else "lm-eval"]
        if layout.picked:
            parts.append(tasks[0])
        parts.append(stamp["stamp"])
        return ImportedRun(
            name="-".join(parts),
            records=records,
            dataset=",".join(tasks),
            metadata=_run_metadata(results, tasks, layout.picked),
            directions=_directions(results, tasks, records),
        )


LMEVAL = register_importer(LmEvalImporter())
