"""Inspect AI logs as runs: ``.eval`` and ``.json`` files read with ``inspect_ai``'s reader.

Each sample and epoch of the log is one record (Inspect counts epochs from 1; evalyard from
0). The datapoint id is the sample's id, which comes from the dataset, so two models' logs
of one task compare; a sample without one gets the hash of its input and target.

- ``inputs``: the sample's input (a string, or its chat messages as JSON);
  ``expected``: its target; ``outputs``: the completion of its output.
- metrics: each score by its scorer's name. Inspect's ``C``/``I`` are True/False and ``N``
  (no answer) is False, as Inspect's accuracy counts it; a scorer that gave ``P`` (partial)
  to any sample of the file is a number for all of them: 1, 0.5 and 0. A number stays a
  number, a dict of values becomes one metric per key (``scorer.key``), other text stays
  text. The sample's token usage, summed over its models, gives ``input_tokens``,
  ``output_tokens`` and ``total_tokens`` (direction lower).
- ``duration_ms``: the sample's ``total_time``; ``error``: its error's message. The record's
  metadata is the sample's metadata plus an ``inspect`` object: the scorers' answers and
  explanations, ``working_time`` (seconds), ``uuid``, and the limit the sample hit.
- steps: the sample's events. Spans (``solvers``, each ``solver``, ``scorers``, each
  ``scorer``...) are ``chain`` steps nested by their parent, so ``compare --step generate``
  compares a solver. A model call is a ``model`` step named ``model`` (or after its model
  role, such as ``grader``), so it lines up across two models' logs; its token usage is its
  metrics and its inputs are the model's name and the messages the call added to the
  conversation (a long agent log does not repeat the conversation at every call). A tool
  call is a ``tool`` step named after the function, with its arguments and result.

The run is named ``TASK-MODEL`` (``arith-mockllm/model``), with the task's dataset name.
Its metadata holds the task, its arguments, the model, its arguments and generate config,
Inspect's version, the eval and run ids, the log's status and Inspect's own results (each
score's metrics, ``accuracy``...). A log whose eval ended in ``error`` or was
``cancelled`` imports the samples it holds, with a warning, and says so in ``status`` (and
``error``) of the run's metadata.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evalyard.core.steps import MAX_STEP_DEPTH
from evalyard.errors import (
    ImportFileError,
    IncompleteLogWarning,
    InvalidInputError,
    MissingDependencyError,
)
from evalyard.importers.base import ImportedRecord, ImportedRun, register_importer

__all__ = ["INSPECT", "InspectImporter"]

#: Inspect's score values: correct, incorrect, partial, no answer.
_AS_BOOL = {"C": True, "I": False, "N": False}
_AS_NUMBER = {"C": 1.0, "P": 0.5, "I": 0.0, "N": 0.0}
_USAGE = ("input_tokens", "output_tokens", "total_tokens")
_SPAN_TYPES = ("span_begin", "span_end")


class InspectImporter:
    """Reads Inspect AI ``.eval`` and ``.json`` logs (needs ``inspect_ai``)."""

    @property
    def name(self) -> str:
        return "inspect"

    @property
    def description(self) -> str:
        return "Inspect AI logs (.eval, .json; needs inspect_ai)"

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        given = sorted(key for key, value in options.items() if value not in (None, [], ()))
        if given:
            raise InvalidInputError(
                f"the inspect format takes no options, not {', '.join(given)}; the log says "
                "which field is what"
            )
        return {}

    def read(self, path: Path, options: Mapping[str, Any]) -> ImportedRun:
        log = _read_log(path)
        spec = log.eval
        samples = list(log.samples or [])
        kinds = _score_kinds(samples)
        records = [_record(sample, kinds, str(path)) for sample in samples]
        status = str(log.status)
        metadata = _run_metadata(log)
        if status != "success":
            message = f"{path}: the eval's status is {status!r}"
            if log.error is not None:
                message += f" ({log.error.message})"
            warnings.warn(
                f"{message}; importing the {len(records)} samples it holds",
                IncompleteLogWarning,
                stacklevel=2,
            )
        used = {name for record in records for name in record.metrics}
        directions = {name: "lower" for name in _USAGE if name in used}
        return ImportedRun(
            name=f"{spec.task}-{spec.model}",
            records=records,
            dataset=spec.dataset.name if spec.dataset is not None else None,
            metadata=metadata,
            directions=directions,
        )


def _read_log(path: Path) -> Any:
    try:
        from inspect_ai.log import read_eval_log
    except ImportError:
        raise MissingDependencyError("inspect_ai", "importing Inspect logs") from None
    if path.suffix not in (".eval", ".json"):
        raise ImportFileError(
            "an Inspect log is a .eval or .json file", path=str(path), field="format"
        )
    try:
        return read_eval_log(str(path))
    except Exception as exc:  # a zip, JSON or validation error, by the file's kind
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportFileError(f"not an Inspect log ({reason})", path=str(path)) from None


def _run_metadata(log: Any) -> dict[str, Any]:
    spec = log.eval
    metadata: dict[str, Any] = {
        "task": spec.task,
        "task_version": spec.task_version,
        "task_args": _json(spec.task_args),
        "model": spec.model,
        "model_args": _json(spec.model_args),
        "model_generate_config": _json(spec.model_generate_config),
        "inspect_version": (spec.packages or {}).get("inspect_ai"),
        "eval_id": spec.eval_id,
        "run_id": spec.run_id,
        "created": spec.created,
        "status": str(log.status),
    }
    if getattr(spec, "model_roles", None):
        metadata["model_roles"] = _json(spec.model_roles)
    if spec.tags:
        metadata["tags"] = list(spec.tags)
    if spec.metadata:
        metadata["eval_metadata"] = _json(spec.metadata)
    if log.error is not None:
        metadata["error"] = log.error.message
    results = log.results
    if results is not None:
        metadata["results"] = {
            "total_samples": results.total_samples,
            "completed_samples": results.completed_samples,
            "scores": {
                score.name: {name: metric.value for name, metric in score.metrics.items()}
                for score in results.scores
            },
        }
    return {key: value for key, value in metadata.items() if value is not None}


def _score_values(value: Any, name: str) -> list[tuple[str, Any]]:
    """A score's value as ``(metric, value)`` pairs: a dict (or list) is one per key."""
    if isinstance(value, Mapping):
        return [(f"{name}.{key}", inner) for key, inner in value.items()]
    if isinstance(value, list):
        return [(f"{name}.{index}", inner) for index, inner in enumerate(value)]
    return [(name, value)]


def _score_kinds(samples: list[Any]) -> dict[str, bool]:
    """The metrics whose letter grades are numbers (a ``P`` anywhere in the file): True."""
    partial: dict[str, bool] = {}
    for sample in samples:
        for name, score in (sample.scores or {}).items():
            for metric, value in _score_values(score.value, name):
                if value == "P":
                    partial[metric] = True
    return partial


def _metric(value: Any, numeric: bool) -> Any:
    if isinstance(value, str):
        grade = value.strip().upper()
        if numeric and grade in _AS_NUMBER:
            return _AS_NUMBER[grade]
        if grade in _AS_BOOL:
            return _AS_BOOL[grade]
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _record(sample: Any, numeric: Mapping[str, bool], path: str) -> ImportedRecord:
    epoch = int(sample.epoch) - 1
    location = f"sample {sample.id!r} epoch {sample.epoch}"
    metrics: dict[str, Any] = {}
    explained: dict[str, Any] = {}
    for name, score in (sample.scores or {}).items():
        for metric, value in _score_values(score.value, name):
            metrics[metric] = _metric(value, numeric.get(metric, False))
        why = {
            key: _json(getattr(score, key))
            for key in ("answer", "explanation", "metadata")
            if getattr(score, key, None) not in (None, {}, "")
        }
        if why:
            explained[name] = why
    usage = _usage(getattr(sample, "model_usage", None) or {})
    metrics.update(usage)
    # Fields newer Inspect versions added are read with getattr.
    inspect_facts: dict[str, Any] = {}
    if getattr(sample, "uuid", None) is not None:
        inspect_facts["uuid"] = sample.uuid
    if getattr(sample, "working_time", None) is not None:
        inspect_facts["working_time"] = sample.working_time
    if explained:
        inspect_facts["scores"] = explained
    if getattr(sample, "limit", None) is not None:
        inspect_facts["limit"] = _json(sample.limit)
    metadata = {**_json(sample.metadata or {}), "inspect": inspect_facts}
    try:
        steps = _steps(sample.events or [])
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImportFileError(
            f"its events cannot be read as steps ({exc})", path=path, line=location, field="events"
        ) from None
    output = sample.output
    return ImportedRecord(
        location,
        datapoint_id=sample.id,
        inputs=_input(sample.input),
        outputs=output.completion if output is not None and output.choices else None,
        expected=_json(sample.target),
        metrics=metrics,
        metadata=metadata,
        steps=steps or None,
        epoch=epoch,
        error=sample.error.message if sample.error is not None else None,
        duration_ms=None
        if getattr(sample, "total_time", None) is None
        else sample.total_time * 1000,
    )


def _usage(by_model: Mapping[str, Any]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for usage in by_model.values():
        for key in _USAGE:
            value = getattr(usage, key, None)
            if value is not None:
                totals[key] = totals.get(key, 0) + int(value)
    return totals


def _json(value: Any) -> Any:
    """A value of the log (pydantic models included) as plain JSON values."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    if isinstance(value, Mapping):
        return {str(key): _json(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_json(inner) for inner in value]
    return value


def _message(message: Any) -> Any:
    """A chat message as JSON, without its id (random in each log)."""
    data = message.model_dump(mode="json", exclude_none=True)
    data.pop("id", None)
    return data


def _input(value: Any) -> Any:
    if isinstance(value, str):
        return value
    return [_message(message) for message in value]


def _steps(events: list[Any]) -> list[dict[str, Any]]:
    """The sample's events as a tree of step dicts (see the module's description)."""
    top: list[dict[str, Any]] = []
    spans: dict[str, dict[str, Any]] = {}
    started: dict[str, Any] = {}
    seen_messages: set[str] = set()
    unfilled: dict[tuple[str | None, str], list[dict[str, Any]]] = {}

    def children_of(span_id: str | None) -> list[dict[str, Any]]:
        if span_id is not None and span_id in spans:
            children: list[dict[str, Any]] = spans[span_id].setdefault("children", [])
            return children
        return top

    for event in events:
        kind = event.event
        if kind == "span_begin":
            step: dict[str, Any] = {"name": event.name, "type": "chain"}
            if event.type == "tool":
                # The span of a tool call: the tool event (in the span's parent) fills it in.
                step["type"] = "tool"
                unfilled.setdefault((event.parent_id, event.name), []).append(step)
            children_of(event.parent_id).append(step)
            spans[event.id] = step
            started[event.id] = event.timestamp
        elif kind == "span_end":
            begun = started.get(event.id)
            if begun is not None and event.id in spans:
                elapsed = (event.timestamp - begun).total_seconds() * 1000
                spans[event.id].setdefault("duration_ms", max(elapsed, 0.0))
        elif kind == "model":
            children_of(event.span_id).append(_model_step(event, seen_messages))
        elif kind == "tool":
            waiting = unfilled.get((event.span_id, event.function))
            if waiting:
                waiting.pop(0).update(_tool_step(event))
            else:
                children_of(event.span_id).append(_tool_step(event))
    return _within_depth(top, 0)


def _model_step(event: Any, seen_messages: set[str]) -> dict[str, Any]:
    new = [m for m in event.input if m.id is None or m.id not in seen_messages]
    seen_messages.update(m.id for m in event.input if m.id is not None)
    output = event.output
    step: dict[str, Any] = {
        "name": getattr(event, "role", None) or "model",
        "type": "model",
        "inputs": {"model": event.model, "messages": [_message(m) for m in new]},
    }
    if output is not None:
        step["outputs"] = output.completion
        for choice in output.choices:
            if choice.message.id is not None:
                seen_messages.add(choice.message.id)
        if output.usage is not None:
            step["metrics"] = {
                key: getattr(output.usage, key)
                for key in _USAGE
                if getattr(output.usage, key, None) is not None
            }
    if event.error:
        step["error"] = str(event.error)
    if getattr(event, "working_time", None) is not None:
        step["duration_ms"] = event.working_time * 1000
    return step


def _tool_step(event: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": event.function,
        "type": "tool",
        "inputs": _json(event.arguments),
        "outputs": _json(event.result),
    }
    if event.error is not None:
        step["error"] = event.error.message
    if getattr(event, "working_time", None) is not None:
        step["duration_ms"] = event.working_time * 1000
    return step


def _within_depth(steps: list[dict[str, Any]], depth: int) -> list[dict[str, Any]]:
    """The steps with nothing deeper than :data:`MAX_STEP_DEPTH`: the steps below the last
    level allowed become that level's children, in order."""
    for step in steps:
        children = step.get("children")
        if not children:
            step.pop("children", None)
        elif depth + 1 >= MAX_STEP_DEPTH:
            step["children"] = _flattened(children)
        else:
            _within_depth(children, depth + 1)
    return steps


def _flattened(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for step in steps:
        children = step.pop("children", None) or []
        flat.append(step)
        flat.extend(_flattened(children))
    return flat


INSPECT = register_importer(InspectImporter())
