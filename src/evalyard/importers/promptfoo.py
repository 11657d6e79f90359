"""promptfoo results as runs: the JSON that ``promptfoo eval -o results.json`` writes (0.121.x).

promptfoo runs every test case with every prompt on every provider; its results file lists
one entry per test × prompt × provider, and ``results.prompts`` lists the columns of its
table (one per prompt × provider, which ``promptIdx`` numbers). Each column becomes a run,
named ``<file stem>/<provider label>/<prompt label>``, so that two prompts, two providers or
two files of the same test suite compare with ``evalyard compare``. The options ``provider``
(a provider's label or id) and ``prompt`` (a prompt's label, text or id) select columns.

In a run, each test case is a datapoint whose id is a hash of its ``vars`` (and its
``description``, when it has one): the same test has the same id in every column and every
file, whatever its position. Tests with the same vars and description are repeats of one
datapoint (``promptfoo eval --repeat``): epochs 0, 1, ...

What each result becomes:

- inputs: ``{"vars": vars, "prompt": prompt.raw}`` (the rendered prompt); outputs:
  ``response.output``; duration: ``latencyMs``;
- error: ``error`` when the provider failed (``failureReason`` 2); a failed assertion is
  not an error (its reason is in the metadata);
- metrics: ``pass`` (``success``, a bool), ``score``, ``score.NAME`` for each of
  ``namedScores``, ``assert.NAME`` (a bool) for each of ``gradingResult.componentResults``,
  named by its assertion's ``metric``, else its ``type`` (``assert.NAME.2`` for the second
  of a name in one test), ``latency_ms``, ``cost``, ``tokens_prompt``,
  ``tokens_completion`` and ``tokens_total`` (``tokenUsage``; these five get better
  downwards, which the project is told unless it defines them already);
- metadata: the test's index and description, its assertions with their results,
  ``cached``, and the test's own metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from evalyard.core.ids import check_name, derive_datapoint_id
from evalyard.errors import ImportFileError, InvalidInputError
from evalyard.importers.base import ImportedRecord, ImportedRun, register_importer

__all__ = ["OPTIONS", "PROMPTFOO", "PromptfooImporter"]

#: The options of the format: which columns (provider × prompt) to import.
OPTIONS = ("provider", "prompt")
#: The metrics that get better downwards.
LOWER_IS_BETTER = ("latency_ms", "cost", "tokens_prompt", "tokens_completion", "tokens_total")
# promptfoo's ResultFailureReason: 1 is a failed assertion, 2 an error of the provider.
_FAILED_BY_ERROR = 2
# A prompt label longer than this is shortened in run names.
_LONGEST_LABEL = 60

_KINDS: dict[str, tuple[type, ...]] = {
    "an object": (dict,),
    "a list": (list,),
    "a string": (str,),
    "a number": (int, float),
    "a whole number": (int,),
    "true or false": (bool,),
}


class _Place:
    """Reads the fields of one part of the file, naming the part and field of a fault."""

    def __init__(self, path: Path, location: str | None) -> None:
        self.path = path
        self.location = location

    def fail(self, message: str, field_name: str | None = None) -> ImportFileError:
        return ImportFileError(message, path=str(self.path), line=self.location, field=field_name)

    def get(
        self, holder: Mapping[str, Any], key: str, kind: str, where: str, *, required: bool = False
    ) -> Any:
        """``holder[key]`` if it is of ``kind`` (None when absent or null, unless
        ``required``); ``where`` is the field's path, for the message."""
        value = holder.get(key)
        if value is None:
            if required:
                raise self.fail(f"the result has no {where}", where)
            return None
        types = _KINDS[kind]
        wrong = isinstance(value, bool) and bool not in types
        if wrong or not isinstance(value, types):
            raise self.fail(f"{where} must be {kind}, not {_kind_of(value)}", where)
        return value


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    for name, types in _KINDS.items():
        if isinstance(value, types) and not (isinstance(value, bool) and bool not in types):
            return name
    return type(value).__name__


@dataclass(slots=True)
class _Column:
    """One prompt × provider of the file: a run."""

    index: int
    provider_id: str
    provider_label: str | None
    prompt_id: str | None
    prompt_label: str
    prompt_raw: str | None
    summary: dict[str, Any] | None = None
    entries: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    @property
    def provider(self) -> str:
        return self.provider_label or self.provider_id

    def selected(self, provider: str | None, prompt: str | None) -> bool:
        if provider is not None and provider not in (self.provider_id, self.provider_label):
            return False
        if prompt is None:
            return True
        if prompt in (self.prompt_label, self.prompt_raw, self.prompt_id):
            return True
        return len(prompt) >= 6 and bool(self.prompt_id and self.prompt_id.startswith(prompt))


class PromptfooImporter:
    """Reads ``promptfoo eval -o FILE.json`` results: one run per provider × prompt."""

    @property
    def name(self) -> str:
        return "promptfoo"

    @property
    def description(self) -> str:
        return "promptfoo eval -o FILE.json results: a run per provider × prompt"

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise InvalidInputError(
                f"unknown promptfoo options {unknown}; promptfoo takes provider and prompt "
                "(--provider, --prompt)"
            )
        checked: dict[str, Any] = {}
        for key in OPTIONS:
            value = options.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidInputError(f"{key} must be a {key}'s label or id, not {value!r}")
            checked[key] = value
        return checked

    def read(self, path: Path, options: Mapping[str, Any]) -> ImportedRun:
        found = self.read_runs(path, options)
        if len(found) != 1:
            parts = ", ".join(repr(run.part) for _, run in found)
            raise InvalidInputError(
                f"{path} holds {len(found)} runs ({parts}); select one with provider and prompt"
            )
        return found[0][1]

    def read_runs(
        self, path: Path, options: Mapping[str, Any]
    ) -> list[tuple[dict[str, Any], ImportedRun]]:
        data = _load(path)
        columns = _columns(path, data)
        if not columns:
            raise ImportFileError("the file holds no results", path=str(path))
        provider, prompt = options.get("provider"), options.get("prompt")
        chosen = [column for column in columns if column.selected(provider, prompt)]
        if not chosen:
            asked = " and ".join(
                f"{key} {value!r}"
                for key, value in (("provider", provider), ("prompt", prompt))
                if value is not None
            )
            held = "; ".join(
                f"provider {c.provider!r} with prompt {c.prompt_label!r}" for c in columns
            )
            raise InvalidInputError(f"no run of {path} has {asked}; it holds: {held}")
        parts = _parts(columns)
        context = _run_context(data)
        runs: list[tuple[dict[str, Any], ImportedRun]] = []
        for column in chosen:
            selection = {
                "provider": column.provider,
                "prompt": column.prompt_id or column.prompt_label,
                "column": column.index,
            }
            part = parts[column.index]
            imported = ImportedRun(
                name=f"{path.stem}/{part}",
                records=_records(path, column),
                dataset=_dataset(data),
                metadata={
                    **context,
                    "provider": {"id": column.provider_id, "label": column.provider_label},
                    "prompt": {
                        "id": column.prompt_id,
                        "label": column.prompt_label,
                        "raw": column.prompt_raw,
                    },
                    **({"promptfoo_summary": column.summary} if column.summary else {}),
                },
                part=part,
                directions=dict.fromkeys(LOWER_IS_BETTER, "lower"),
            )
            runs.append((selection, imported))
        return runs


def _load(path: Path) -> dict[str, Any]:
    place = _Place(path, None)
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise place.fail(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise place.fail(
            "not a promptfoo results file: it has no results object (promptfoo eval -o "
            "FILE.json writes one)",
            "results",
        )
    place.get(data["results"], "results", "a list", "results.results", required=True)
    return data


def _columns(path: Path, data: dict[str, Any]) -> list[_Column]:
    """The file's columns (prompt × provider), each with its entries, by ``promptIdx``."""
    results = data["results"]
    listed = results.get("prompts")
    prompts = listed if isinstance(listed, list) else []
    columns: dict[int, _Column] = {}
    for position, entry in enumerate(results["results"]):
        place = _Place(path, f"results.results[{position}]")
        if not isinstance(entry, dict):
            raise place.fail(f"a result must be an object, not {_kind_of(entry)}")
        index = place.get(entry, "promptIdx", "a whole number", "promptIdx", required=True)
        provider_id, provider_label = _provider(place, entry)
        prompt = place.get(entry, "prompt", "an object", "prompt") or {}
        column = columns.get(index)
        if column is None:
            described = prompts[index] if 0 <= index < len(prompts) else None
            described = described if isinstance(described, dict) else {}
            label = place.get(described, "label", "a string", f"results.prompts[{index}].label")
            label = label or place.get(prompt, "label", "a string", "prompt.label")
            raw = place.get(described, "raw", "a string", f"results.prompts[{index}].raw")
            prompt_id = place.get(entry, "promptId", "a string", "promptId")
            metrics = described.get("metrics")
            column = _Column(
                index=index,
                provider_id=provider_id,
                provider_label=provider_label,
                prompt_id=prompt_id or described.get("id"),
                prompt_label=label or raw or f"prompt {index}",
                prompt_raw=raw,
                summary=_summary(metrics) if isinstance(metrics, dict) else None,
            )
            columns[index] = column
        elif (provider_id, provider_label) != (column.provider_id, column.provider_label):
            raise place.fail(
                f"the result has provider {provider_label or provider_id!r}, but earlier "
                f"results of promptIdx {index} have {column.provider!r}",
                "provider",
            )
        column.entries.append((position, entry))
    return [columns[index] for index in sorted(columns)]


def _provider(place: _Place, entry: dict[str, Any]) -> tuple[str, str | None]:
    provider = entry.get("provider")
    if isinstance(provider, str) and provider:
        return provider, None
    if not isinstance(provider, dict):
        raise place.fail(f"provider must be an object, not {_kind_of(provider)}", "provider")
    provider_id = place.get(provider, "id", "a string", "provider.id", required=True)
    label = place.get(provider, "label", "a string", "provider.label")
    return provider_id, label or None


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """promptfoo's own counts of a column (``results.prompts[i].metrics``)."""
    keys = (
        "score",
        "testPassCount",
        "testFailCount",
        "testErrorCount",
        "assertPassCount",
        "assertFailCount",
        "totalLatencyMs",
        "cost",
    )
    return {key: metrics[key] for key in keys if key in metrics}


def _short(text: str) -> str:
    """A label as part of a run name: one line, not too long."""
    line = " ".join(text.split())
    if len(line) > _LONGEST_LABEL:
        line = line[: _LONGEST_LABEL - 1].rstrip() + "…"
    return line or "-"


def _parts(columns: list[_Column]) -> dict[int, str]:
    """Each column's part of the run names (``provider/prompt``), unique in the file: two
    columns of one label are told apart by their prompt's id, else their position."""
    parts = {c.index: f"{_short(c.provider)}/{_short(c.prompt_label)}" for c in columns}
    for by_id in (True, False):
        seen: dict[str, int] = {}
        for part in parts.values():
            seen[part] = seen.get(part, 0) + 1
        for column in columns:
            label = (column.prompt_id or "")[:8] if by_id else str(column.index)
            if seen[parts[column.index]] > 1 and label:
                parts[column.index] = f"{parts[column.index]} #{label}"
    return parts


def _run_context(data: dict[str, Any]) -> dict[str, Any]:
    """Run metadata every run of the file shares: which promptfoo evaluation it was."""
    about = data.get("metadata")
    about = about if isinstance(about, dict) else {}
    config = data.get("config")
    config = config if isinstance(config, dict) else {}
    found = {
        "eval_id": data.get("evalId"),
        "version": about.get("promptfooVersion"),
        "results_version": data["results"].get("version"),
        "timestamp": data["results"].get("timestamp"),
        "description": config.get("description"),
    }
    return {"promptfoo": {key: value for key, value in found.items() if value is not None}}


def _dataset(data: dict[str, Any]) -> str | None:
    """The config's description, when it can be a dataset name."""
    config = data.get("config")
    description = config.get("description") if isinstance(config, dict) else None
    try:
        return check_name(description, what="dataset name") if description else None
    except InvalidInputError:
        return None


def _records(path: Path, column: _Column) -> list[ImportedRecord]:
    records: list[ImportedRecord] = []
    epochs: dict[str, int] = {}
    ordered = sorted(column.entries, key=lambda item: (_test_index(item[1]), item[0]))
    for position, entry in ordered:
        place = _Place(path, f"results.results[{position}]")
        record = _record(place, entry)
        assert isinstance(record.datapoint_id, str)
        record.epoch = epochs.get(record.datapoint_id, 0)
        epochs[record.datapoint_id] = record.epoch + 1
        records.append(record)
    return records


def _test_index(entry: dict[str, Any]) -> int:
    index = entry.get("testIdx")
    return index if isinstance(index, int) and not isinstance(index, bool) else -1


def _record(place: _Place, entry: dict[str, Any]) -> ImportedRecord:
    test_index = place.get(entry, "testIdx", "a whole number", "testIdx", required=True)
    test = place.get(entry, "testCase", "an object", "testCase") or {}
    variables = place.get(entry, "vars", "an object", "vars")
    if variables is None:
        variables = place.get(test, "vars", "an object", "testCase.vars") or {}
    description = place.get(test, "description", "a string", "testCase.description")
    prompt = place.get(entry, "prompt", "an object", "prompt") or {}
    rendered = place.get(prompt, "raw", "a string", "prompt.raw")
    response = place.get(entry, "response", "an object", "response") or {}
    grading = place.get(entry, "gradingResult", "an object", "gradingResult") or {}
    success = place.get(entry, "success", "true or false", "success", required=True)

    metrics: dict[str, Any] = {"pass": success}
    score = place.get(entry, "score", "a number", "score")
    if score is not None:
        metrics["score"] = score
    named = place.get(entry, "namedScores", "an object", "namedScores") or {}
    for name in named:
        value = place.get(named, name, "a number", f"namedScores.{name}")
        if value is not None:
            metrics[f"score.{name}"] = value
    assertions = _assertions(place, grading, metrics)
    latency = place.get(entry, "latencyMs", "a number", "latencyMs")
    if latency is not None:
        metrics["latency_ms"] = latency
    cost = place.get(entry, "cost", "a number", "cost")
    if cost is not None:
        metrics["cost"] = cost
    usage = place.get(entry, "tokenUsage", "an object", "tokenUsage")
    where = "tokenUsage"
    if usage is None:
        usage = place.get(response, "tokenUsage", "an object", "response.tokenUsage")
        where = "response.tokenUsage"
    for key in ("prompt", "completion", "total"):
        value = place.get(usage or {}, key, "a number", f"{where}.{key}")
        if value is not None:
            metrics[f"tokens_{key}"] = value

    message = place.get(entry, "error", "a string", "error")
    reason = place.get(entry, "failureReason", "a whole number", "failureReason")
    failed = reason == _FAILED_BY_ERROR or (reason is None and message is not None and not grading)
    metadata: dict[str, Any] = {"test": test_index}
    if description is not None:
        metadata["description"] = description
    if grading.get("reason") is not None and not success:
        metadata["reason"] = grading["reason"]
    if assertions:
        metadata["assertions"] = assertions
    cached = response.get("cached")
    if isinstance(cached, bool):
        metadata["cached"] = cached
    extra = test.get("metadata")
    if isinstance(extra, dict) and extra:
        metadata["test_metadata"] = extra
    identity: Any = (
        variables if description is None else {"description": description, "vars": variables}
    )
    return ImportedRecord(
        place.location or "",
        datapoint_id=derive_datapoint_id(identity),
        inputs={"vars": variables, "prompt": rendered},
        outputs=response.get("output"),
        metrics=metrics,
        metadata=metadata,
        error=(message or "the provider failed") if failed else None,
        duration_ms=latency,
    )


def _assertions(
    place: _Place, grading: dict[str, Any], metrics: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each graded assertion as a bool metric; their details for the metadata."""
    components = (
        place.get(grading, "componentResults", "a list", "gradingResult.componentResults") or []
    )
    details: list[dict[str, Any]] = []
    for number, component in enumerate(components):
        where = f"gradingResult.componentResults[{number}]"
        if not isinstance(component, dict):
            raise place.fail(f"{where} must be an object, not {_kind_of(component)}", where)
        passed = place.get(component, "pass", "true or false", f"{where}.pass", required=True)
        assertion = place.get(component, "assertion", "an object", f"{where}.assertion") or {}
        label = place.get(assertion, "metric", "a string", f"{where}.assertion.metric")
        kind = place.get(assertion, "type", "a string", f"{where}.assertion.type")
        name = f"assert.{label or kind or 'unnamed'}"
        if name in metrics:
            repeat = 2
            while f"{name}.{repeat}" in metrics:
                repeat += 1
            name = f"{name}.{repeat}"
        metrics[name] = passed
        detail: dict[str, Any] = {"metric": name, "type": kind, "pass": passed}
        for key in ("value", "score", "reason"):
            if component.get(key) is not None or assertion.get(key) is not None:
                detail[key] = assertion.get(key) if key == "value" else component.get(key)
        details.append({k: v for k, v in detail.items() if v is not None})
    return details


PROMPTFOO = register_importer(PromptfooImporter())
