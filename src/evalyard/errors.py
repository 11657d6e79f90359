"""Every error evalyard raises, in one tree.

```
EvalyardError
├── InvalidInputError (also ValueError)       bad input from a caller: exit code 2
│   ├── InvalidMetricError                    a metric name or value that cannot be stored
│   ├── InvalidRecordError                    a result record that cannot be stored
│   ├── InvalidReferenceError                 an empty or malformed run reference
│   └── UnknownAggregateError                 an aggregate function that does not exist
├── UnknownMetricError (also KeyError)        a metric a comparison does not hold: exit code 2
├── MissingDependencyError (also ImportError) an optional library is not installed
├── RunNotFoundError (also LookupError)       no run matches a reference: exit code 2
├── RunExistsError                            a run with the id to create exists: exit code 2
├── AmbiguousRunError (also LookupError)      several runs match a reference: exit code 2
└── StoreError                                the store cannot be opened or is unusable: exit code 2
```

Warnings (``EvalyardWarning``, a UserWarning) say that something worked but says little,
such as ``ComparisonWarning`` for a run compared with itself.

Each error carries its context as attributes (the metric, the datapoint, the run) and a
message that says what went wrong, where, and how to fix it. The CLI maps an error to its
exit code through the class attribute ``exit_code``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

__all__ = [
    "AmbiguousRunError",
    "ComparisonWarning",
    "EvalyardError",
    "EvalyardWarning",
    "InvalidInputError",
    "InvalidMetricError",
    "InvalidRecordError",
    "InvalidReferenceError",
    "MissingDependencyError",
    "RunExistsError",
    "RunNotFoundError",
    "StoreError",
    "UnknownAggregateError",
    "UnknownMetricError",
]


class EvalyardError(Exception):
    """The base of every error evalyard raises."""

    exit_code: ClassVar[int] = 1


class InvalidInputError(EvalyardError, ValueError):
    """Input that evalyard refuses to store or use; nothing already logged is lost.

    Attributes:
        index: the refused record's position in a ``log_many`` call, when there is one.
        logged_count: how many records of that call were logged before it.
    """

    exit_code: ClassVar[int] = 2
    index: int | None = None
    logged_count: int = 0


class InvalidMetricError(InvalidInputError):
    """A metric name or value that cannot be stored.

    Attributes:
        metric: the metric's name (as given, possibly truncated for display).
        datapoint_id: the datapoint the value was logged for, when known.
        step: the step the metric belongs to, or None at the result level.
    """

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


class InvalidReferenceError(InvalidInputError):
    """An empty or malformed run reference."""


class UnknownAggregateError(InvalidInputError):
    """An aggregate function that evalyard does not know.

    Attributes:
        name: the name that was asked for.
        known: the names evalyard knows.
    """

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

    def __init__(self, package: str, feature: str) -> None:
        super().__init__(f"{feature} needs {package}: pip install {package}")
        self.package = package


class EvalyardWarning(UserWarning):
    """The base of the warnings evalyard issues."""


class ComparisonWarning(EvalyardWarning):
    """A comparison that says little: a run compared with itself, or runs without a shared
    datapoint; for ``compare_many``, also a run listed twice or the baseline listed among
    the runs."""


class RunNotFoundError(EvalyardError, LookupError):
    """No run matches a reference (an id, a unique id prefix or a name).

    Attributes:
        reference: the reference that was looked up.
    """

    exit_code: ClassVar[int] = 2

    def __init__(self, reference: str, *, project: str | None = None) -> None:
        where = f" in project {project!r}" if project else ""
        super().__init__(
            f"no run matches {reference!r}{where}; `evalyard runs` lists the runs and their ids"
        )
        self.reference = reference
        self.project = project

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

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"a run with id {run_id!r} exists already; pass run_id to start_run to go on with it"
        )
        self.run_id = run_id


class AmbiguousRunError(EvalyardError, LookupError):
    """Several runs match a reference; the message lists them with their ids and projects.

    Attributes:
        reference: the reference that was looked up.
        candidates: ``(run_id, name, project)`` of each matching run.
    """

    exit_code: ClassVar[int] = 2

    def __init__(self, reference: str, candidates: Sequence[tuple[str, str, str]]) -> None:
        listing = "; ".join(
            f"{run_id} (name {name!r}, project {project!r})" for run_id, name, project in candidates
        )
        super().__init__(
            f"{len(candidates)} runs match {reference!r}: {listing}; refer to one by its id"
        )
        self.reference = reference
        self.candidates = tuple(candidates)

    def __str__(self) -> str:
        return str(self.args[0])


class StoreError(EvalyardError):
    """The store cannot be opened, or its schema is newer than this evalyard."""

    # Exit code 1 means "the --fail-on condition held"; a broken store must not read so.
    exit_code: ClassVar[int] = 2
