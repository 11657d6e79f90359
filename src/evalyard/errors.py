"""Every error evalyard raises, in one tree, with its exit code and its HTTP status.

```
                                                                          exit  HTTP
EvalyardError                                                                1   500
├── InvalidInputError (also ValueError)       bad input from a caller       2   422
│   ├── InvalidMetricError                    a metric that cannot be stored
│   ├── InvalidRecordError                    a record that cannot be stored
│   ├── InvalidReferenceError                 an empty or malformed run reference
│   ├── ImportFileError                       a file that cannot be imported
│   └── UnknownAggregateError                 an aggregate function that does not exist
├── UnknownMetricError (also KeyError)        a metric a comparison lacks   2   404
├── MissingDependencyError (also ImportError) an optional library missing   2   500
├── RunNotFoundError (also LookupError)       no run matches a reference    2   404
├── RunExistsError                            a run with that id exists     2   409
├── RunNameTakenError                         a run of that name exists     2   409
├── AmbiguousRunError (also LookupError)      several runs match            2   409
└── StoreError                                the store is unusable         2   503
```

The web server adds its own (401, 403, 413, 415...: see ``evalyard.server.errors``). The
CLI exits with an error's ``exit_code`` and the server answers with its ``http_status``,
each mapped in one place. Over HTTP an error travels as ``{"error": {"status", "type",
"message", ...details}}``; the client finds the class by its ``type`` name
(:func:`error_class`) and :meth:`EvalyardError.rebuild` restores it with its details, so a
refused record raises the same ``InvalidRecordError`` through a team server as locally.

Warnings (``EvalyardWarning``, a UserWarning) say that something worked but says little,
such as ``ComparisonWarning`` for a run compared with itself, or ``IncompleteLogWarning``
for an imported log of an eval that did not finish.

Each error carries its context as attributes (the metric, the datapoint, the run) and a
message that says what went wrong, where, and how to fix it. The CLI maps an error to its
exit code through the class attribute ``exit_code``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

__all__ = [
    "AmbiguousRunError",
    "ComparisonWarning",
    "EvalyardError",
    "EvalyardWarning",
    "ImportFileError",
    "IncompleteLogWarning",
    "InvalidInputError",
    "InvalidMetricError",
    "InvalidRecordError",
    "InvalidReferenceError",
    "MissingDependencyError",
    "RunExistsError",
    "RunNameTakenError",
    "RunNotFoundError",
    "StoreError",
    "UnknownAggregateError",
    "UnknownMetricError",
    "error_class",
]

_E = TypeVar("_E", bound="EvalyardError")


class EvalyardError(Exception):
    """The base of every error evalyard raises."""

    exit_code: ClassVar[int] = 1
    """The CLI's exit code for it (1 is kept for ``--fail-on``: see evalyard.cli)."""
    http_status: ClassVar[int] = 500
    """The HTTP status the server answers it with."""
    context: ClassVar[Mapping[str, str]] = {}
    """The details it carries over HTTP: body key → attribute name."""

    def details(self) -> dict[str, Any]:
        """The error's context as JSON data: each detail that is set."""
        found = {}
        for key, attribute in self.context.items():
            value = getattr(self, attribute, None)
            if value is not None:
                found[key] = list(value) if isinstance(value, tuple) else value
        return found

    @classmethod
    def rebuild(cls: type[_E], message: str, details: Mapping[str, Any]) -> _E:
        """The error again from its message and :meth:`details` (as a client receives it)."""
        error = cls.__new__(cls)
        Exception.__init__(error, message)
        for key, attribute in cls.context.items():
            setattr(error, attribute, details.get(key))
        return error


def error_class(name: str) -> type[EvalyardError] | None:
    """The evalyard error class called ``name`` (of those imported), or None."""
    pending: list[type[EvalyardError]] = [EvalyardError]
    while pending:
        found = pending.pop()
        if found.__name__ == name:
            return found
        pending.extend(found.__subclasses__())
    return None


class InvalidInputError(EvalyardError, ValueError):
    """Input that evalyard refuses to store or use; nothing already logged is lost.

    Attributes:
        index: the refused record's position in a ``log_many`` call, when there is one.
        logged_count: how many records of that call were logged before it.
    """

    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 422
    context: ClassVar[Mapping[str, str]] = {"index": "index"}
    index: int | None = None
    logged_count: int = 0


class InvalidMetricError(InvalidInputError):
    """A metric name or value that cannot be stored.

    Attributes:
        metric: the metric's name (as given, possibly truncated for display).
        datapoint_id: the datapoint the value was logged for, when known.
        step: the step the metric belongs to, or None at the result level.
    """

    context: ClassVar[Mapping[str, str]] = {
        "field": "field",
        "metric": "metric",
        "datapoint_id": "datapoint_id",
        "step": "step",
        "index": "index",
    }
    field: str = "metrics"

    def __init__(
        self,
        message: str,
        *,
        metric: str,
        datapoint_id: str | None = None,
        step: str | None = None,
    ) -> None:
        super().__init__(message)
        self.metric = metric
        self.datapoint_id = datapoint_id
        self.step = step


class InvalidRecordError(InvalidInputError):
    """A result record that cannot be stored.

    Attributes:
        field: the field at fault (``"outputs"``, ``"datapoint_id"``, ...).
        datapoint_id: the record's datapoint id, when it has a usable one.
    """

    context: ClassVar[Mapping[str, str]] = {
        "field": "field",
        "datapoint_id": "datapoint_id",
        "index": "index",
    }

    def __init__(
        self,
        message: str,
        *,
        field: str,
        datapoint_id: str | None = None,
        index: int | None = None,
        logged_count: int = 0,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.datapoint_id = datapoint_id
        self.index = index
        self.logged_count = logged_count


class ImportFileError(InvalidInputError):
    """A file that cannot be imported as a run: unreadable, malformed, or holding a record
    that cannot be stored. Nothing of the file is imported.

    Attributes:
        path: the file.
        line: where in the file (``line 7`` of a JSONL or CSV file, ``row 7`` of a Parquet
            file), when the fault is at one place.
        field: the column or field at fault, when there is one.
    """

    context: ClassVar[Mapping[str, str]] = {
        "path": "path",
        "line": "line",
        "field": "field",
        "index": "index",
    }

    def __init__(
        self, message: str, *, path: str, line: str | None = None, field: str | None = None
    ) -> None:
        where = ", ".join(part for part in (path, line) if part)
        column = f", field {field!r}" if field else ""
        super().__init__(f"cannot import {where}{column}: {message}")
        self.path = path
        self.line = line
        self.field = field


class InvalidReferenceError(InvalidInputError):
    """An empty or malformed run reference."""


class UnknownAggregateError(InvalidInputError):
    """An aggregate function that evalyard does not know.

    Attributes:
        name: the name that was asked for.
        known: the names evalyard knows.
    """

    context: ClassVar[Mapping[str, str]] = {"aggregate_function": "name", "known": "known"}

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown aggregate function {name!r}; use one of: {', '.join(known)}")
        self.name = name
        self.known = tuple(known)


class UnknownMetricError(EvalyardError, KeyError):
    """A metric asked of a comparison (or a run) that does not hold it.

    Attributes:
        metric: the name asked for.
        known: the metrics there are.
    """

    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 404
    context: ClassVar[Mapping[str, str]] = {"metric": "metric", "known": "known"}

    def __init__(
        self, metric: str, known: Sequence[str], *, where: str = "this comparison"
    ) -> None:
        listing = ", ".join(repr(name) for name in known) if known else "none"
        super().__init__(f"no metric {metric!r} in {where}; its metrics: {listing}")
        self.metric = metric
        self.known = tuple(known)

    def __str__(self) -> str:
        # KeyError would otherwise show the message wrapped in quotes.
        return str(self.args[0])


class MissingDependencyError(EvalyardError, ImportError):
    """An optional library a feature needs is not installed.

    Attributes:
        package: the package to install.
    """

    exit_code: ClassVar[int] = 2
    context: ClassVar[Mapping[str, str]] = {"package": "package"}

    def __init__(self, package: str, feature: str) -> None:
        super().__init__(f"{feature} needs {package}: pip install {package}")
        self.package = package


class EvalyardWarning(UserWarning):
    """The base of the warnings evalyard issues."""


class ComparisonWarning(EvalyardWarning):
    """A comparison that says little: a run compared with itself, or runs without a shared
    datapoint; for ``compare_many``, also a run listed twice or the baseline listed among
    the runs."""


class IncompleteLogWarning(EvalyardWarning):
    """An imported log of an eval that did not succeed (it ended in an error, was cancelled,
    or is still running): the results it holds are imported, and the run's metadata says
    its status."""


class RunNotFoundError(EvalyardError, LookupError):
    """No run matches a reference (an id, a unique id prefix or a name); the message
    suggests close names when there are some.

    Attributes:
        reference: the reference that was looked up.
        project: the project it was looked up in, if one was given.
        suggestions: ``(name, run_id)`` of runs with a close name, best first.
    """

    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 404
    context: ClassVar[Mapping[str, str]] = {
        "run_id": "reference",
        "project": "project",
        "suggestions": "suggestions",
    }

    def __init__(
        self,
        reference: str,
        *,
        project: str | None = None,
        suggestions: Sequence[tuple[str, str]] = (),
    ) -> None:
        where = f" in project {project!r}" if project else ""
        guess = ";"
        if suggestions:
            named = [f"{name!r} ({run_id[:8]})" for name, run_id in suggestions]
            listing = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"
            guess = f"; did you mean {listing}?"
        super().__init__(
            f"no run matches {reference!r}{where}{guess} `evalyard runs` lists the runs and "
            "their ids"
        )
        self.reference = reference
        self.project = project
        self.suggestions = tuple(suggestions) or None

    def __str__(self) -> str:
        # LookupError would otherwise show the message wrapped in quotes.
        return str(self.args[0])


class RunExistsError(EvalyardError):
    """A run with the id a caller wanted to create exists already (``start_run`` then goes
    on with it; a team server answers 409).

    Attributes:
        run_id: the id that is taken.
    """

    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 409
    context: ClassVar[Mapping[str, str]] = {"run_id": "run_id"}

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"a run with id {run_id!r} exists already; pass run_id to start_run to go on with it"
        )
        self.run_id = run_id


class RunNameTakenError(EvalyardError):
    """A run of that name exists in the project already: run names are unique within a
    project. The message names the existing run and says how to go on with it: ``fix``,
    for the API that refused the name, else how ``start_run`` goes on.

    Attributes:
        name: the name asked for.
        project: the project it is taken in.
        run_id: the id of the existing run (the newest of that name).
        status: that run's status.
        created_at: when that run started, in seconds since the Unix epoch.
    """

    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 409
    context: ClassVar[Mapping[str, str]] = {
        "name": "name",
        "project": "project",
        "run_id": "run_id",
        # "status" is the HTTP status in an error body.
        "run_status": "status",
        "created_at": "created_at",
    }

    def __init__(
        self,
        name: str,
        *,
        project: str,
        run_id: str,
        status: str,
        created_at: float,
        fix: str | None = None,
    ) -> None:
        created = dt.datetime.fromtimestamp(created_at, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        how = fix or (
            "pass resume=True to start_run to go on logging into it, or give the new run "
            "another name"
        )
        super().__init__(
            f"project {project!r} has a run named {name!r} already: {run_id} ({status}, "
            f"created {created}); {how}"
        )
        self.name = name
        self.project = project
        self.run_id = run_id
        self.status = status
        self.created_at = created_at


class AmbiguousRunError(EvalyardError, LookupError):
    """Several runs match a reference; the message lists them with their ids and projects,
    and says how to pick one (its id, or the newest with ``--latest``).

    Attributes:
        reference: the reference that was looked up.
        candidates: ``(run_id, name, project)`` of each matching run.
    """

    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 409
    context: ClassVar[Mapping[str, str]] = {"reference": "reference", "candidates": "candidates"}

    def __init__(self, reference: str, candidates: Sequence[tuple[str, str, str]]) -> None:
        listing = "; ".join(
            f"{run_id} (name {name!r}, project {project!r})" for run_id, name, project in candidates
        )
        super().__init__(
            f"{len(candidates)} runs match {reference!r}: {listing}; refer to one by its id, "
            "or pass --latest (latest=True in Python) for the newest"
        )
        self.reference = reference
        self.candidates = tuple(candidates)

    def __str__(self) -> str:
        return str(self.args[0])


class StoreError(EvalyardError):
    """The store cannot be opened, or its schema is newer than this evalyard."""

    # Exit code 1 means "the --fail-on condition held"; a broken store must not read so.
    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 503
