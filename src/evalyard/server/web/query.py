"""Page state in the URL: parsing query parameters against allow-lists, and building URLs.

Every page state (baseline, aggregate, step, metric, filter, sort, page, diff) lives in
the query string, so a page can be shared, bookmarked and reached with the back button.
Enumerated parameters (``aggregate``, ``show``, ``sort``, ``diff``) must come from their
allow-list, else :class:`BadParameterError` (400) says which values are allowed; free
ones (``compare``, ``step``, ``metric``) are length- and character-checked here and then
matched against what the runs actually hold, so no parameter reaches SQL unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from evalyard.core.aggregate import AGGREGATE_FUNCTIONS
from evalyard.core.ids import MAX_DATAPOINT_ID_LENGTH, MAX_NAME_LENGTH
from evalyard.errors import InvalidInputError

__all__ = [
    "MAX_PAGE",
    "MAX_RUNS",
    "SHOW_OPTIONS",
    "SORT_KEYS",
    "BadParameterError",
    "ExperimentsQuery",
    "ManyQuery",
    "RunQuery",
    "datapoint_path",
    "parse_experiments_query",
    "parse_many_query",
    "parse_run_query",
    "run_path",
]

#: The rows a datapoint table can show, with their labels (docs/comparison.md §7).
SHOW_OPTIONS: dict[str, str] = {
    "all": "All",
    "improved": "Improved",
    "regressed": "Regressed",
    "unchanged": "Unchanged",
    "new_only": "Only in this run",
    "old_only": "Only in baseline",
}

#: What a datapoint table can be sorted by; a leading ``-`` sorts descending.
SORT_KEYS: tuple[str, ...] = ("id", "value", "baseline", "delta")

#: The highest page number accepted.
MAX_PAGE = 10_000_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BadParameterError(InvalidInputError):
    """A query parameter whose value is not allowed (HTTP 400).

    Attributes:
        parameter: the parameter's name.
        value: the value given (possibly cut short for display).
    """

    http_status: ClassVar[int] = 400
    context: ClassVar[Mapping[str, str]] = {"parameter": "parameter"}

    def __init__(self, parameter: str, value: str, allowed: str) -> None:
        shown = value if len(value) <= 60 else value[:60] + "…"
        super().__init__(f"query parameter {parameter}={shown!r} is not allowed: {allowed}")
        self.parameter = parameter
        self.value = shown


def _text(params: Mapping[str, str], name: str, *, limit: int) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > limit:
        raise BadParameterError(name, value, f"at most {limit} characters")
    if _CONTROL.search(value):
        raise BadParameterError(name, value, "control characters are not allowed")
    return value


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value not in allowed:
        raise BadParameterError(name, value, "use one of " + ", ".join(allowed))
    return value


def _page(params: Mapping[str, str]) -> int:
    value = params.get("page")
    if value is None or value == "":
        return 1
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise BadParameterError("page", value, f"a whole number from 1 to {MAX_PAGE:,}")
    return int(value)


def _flag(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name)
    if value is None or value in ("", "0"):
        return False
    if value in ("1", "on"):
        return True
    raise BadParameterError(name, value, "use 1 (on) or 0 (off)")


def run_path(run_id: str) -> str:
    """The path of a run's page."""
    return "/runs/" + quote(run_id, safe="")


def datapoint_path(run_id: str, datapoint_id: str) -> str:
    """The path of a datapoint's page within a run.

    An id that is a dot segment (``.`` or ``..``) cannot be a path segment: browsers
    resolve it even percent-encoded. Such ids go in the query (``/datapoint?id=..``), so
    the caller must append further parameters with ``&``; :meth:`RunQuery.url` does.
    """
    if datapoint_id in (".", ".."):
        return f"{run_path(run_id)}/datapoint?id={quote(datapoint_id, safe='')}"
    return f"{run_path(run_id)}/datapoints/{quote(datapoint_id, safe='')}"


def _url(path: str, pairs: list[tuple[str, Any]], fragment: str | None = None) -> str:
    query = urlencode([(k, v) for k, v in pairs if v is not None])
    joiner = "&" if "?" in path else "?"
    return path + (joiner + query if query else "") + ("#" + fragment if fragment else "")


@dataclass(frozen=True, slots=True)
class RunQuery:
    """The state of a run page (and of its comparison with a baseline), from its URL."""

    compare: str | None = None
    """The baseline run's id, or None for the run alone."""
    aggregate: str = "average"
    """The aggregate function of the aggregated metrics."""
    step: str | None = None
    """The step the page is scoped to ("Viewing event"), or None for the session."""
    metric: str | None = None
    """The metric of the datapoint table, or None for the first one."""
    show: str = "all"
    """Which datapoints the table shows: a key of :data:`SHOW_OPTIONS`."""
    sort: str = "id"
    """The table's order: a key of :data:`SORT_KEYS`, ``-`` first for descending."""
    page: int = 1
    """The table's page, from 1."""
    diff: bool = False
    """Whether the table shows both outputs with their differences highlighted."""
    epoch: int | None = None
    """The epoch shown on a datapoint page (None: the first)."""

    @property
    def sort_key(self) -> str:
        """The sort key without its direction."""
        return self.sort.lstrip("-")

    @property
    def descending(self) -> bool:
        """Whether the table is sorted in descending order."""
        return self.sort.startswith("-")

    def with_changes(self, **changes: Any) -> RunQuery:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def pairs(self, **changes: Any) -> list[tuple[str, Any]]:
        """The query parameters that differ from the defaults, in a fixed order."""
        q = replace(self, **changes) if changes else self
        return [
            ("compare", q.compare),
            ("aggregate", None if q.aggregate == "average" else q.aggregate),
            ("step", q.step),
            ("metric", q.metric),
            ("show", None if q.show == "all" else q.show),
            ("sort", None if q.sort == "id" else q.sort),
            ("page", None if q.page == 1 else q.page),
            ("diff", "1" if q.diff else None),
            ("epoch", q.epoch),
        ]

    def url(self, path: str, *, fragment: str | None = None, **changes: Any) -> str:
        """The URL of ``path`` in this state, with ``changes`` applied."""
        return _url(path, self.pairs(**changes), fragment)


def parse_run_query(params: Mapping[str, str]) -> RunQuery:
    """The state of a run page from its query parameters.

    Raises:
        BadParameterError: for a value outside its allow-list or limits.
    """
    sorts = tuple(prefix + key for key in SORT_KEYS for prefix in ("", "-"))
    epoch_text = params.get("epoch")
    epoch: int | None = None
    if epoch_text not in (None, ""):
        assert epoch_text is not None
        if not epoch_text.isascii() or not epoch_text.isdigit() or int(epoch_text) > 1_000_000:
            raise BadParameterError("epoch", epoch_text, "a whole number from 0")
        epoch = int(epoch_text)
    return RunQuery(
        compare=_text(params, "compare", limit=MAX_DATAPOINT_ID_LENGTH),
        aggregate=_choice(params, "aggregate", AGGREGATE_FUNCTIONS, "average"),
        step=_text(params, "step", limit=MAX_NAME_LENGTH),
        metric=_text(params, "metric", limit=MAX_NAME_LENGTH),
        show=_choice(params, "show", tuple(SHOW_OPTIONS), "all"),
        sort=_choice(params, "sort", sorts, "id"),
        page=_page(params),
        diff=_flag(params, "diff"),
        epoch=epoch,
    )


@dataclass(frozen=True, slots=True)
class ExperimentsQuery:
    """The state of the Experiments page: which project and dataset, which page."""

    project: str | None = None
    """Only runs of this project (None: every project)."""
    dataset: str | None = None
    """Only runs on this dataset (None: any)."""
    page: int = 1
    """The page, from 1."""

    def url(self, path: str = "/experiments", **changes: Any) -> str:
        """The URL of the page in this state, with ``changes`` applied."""
        q = replace(self, **changes) if changes else self
        return _url(
            path,
            [
                ("project", q.project),
                ("dataset", q.dataset),
                ("page", None if q.page == 1 else q.page),
            ],
        )


def parse_experiments_query(params: Mapping[str, str]) -> ExperimentsQuery:
    """The state of the Experiments page from its query parameters.

    Raises:
        BadParameterError: for a value outside its limits.
    """
    return ExperimentsQuery(
        project=_text(params, "project", limit=MAX_NAME_LENGTH),
        dataset=_text(params, "dataset", limit=MAX_NAME_LENGTH),
        page=_page(params),
    )


#: The most runs one page compares with a baseline.
MAX_RUNS = 20


@dataclass(frozen=True, slots=True)
class ManyQuery:
    """The state of the page comparing several runs with a baseline, from its URL."""

    baseline: str | None = None
    """The baseline run's id, or None before one is picked."""
    runs: tuple[str, ...] = ()
    """The ids of the runs compared with it, in the order picked."""
    aggregate: str = "average"
    """The aggregate function of the leaderboards."""
    step: str | None = None
    """The step the page is scoped to ("Viewing event"), or None for the session."""
    metric: str | None = None
    """The metric of the leaderboard, the matrix, the trend and the grid."""
    page: int = 1
    """The grid's page, from 1."""

    def with_changes(self, **changes: Any) -> ManyQuery:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def pairs(self, **changes: Any) -> list[tuple[str, Any]]:
        """The query parameters that differ from the defaults, in a fixed order."""
        q = replace(self, **changes) if changes else self
        return [
            ("baseline", q.baseline),
            *(("runs", run_id) for run_id in q.runs),
            ("aggregate", None if q.aggregate == "average" else q.aggregate),
            ("step", q.step),
            ("metric", q.metric),
            ("page", None if q.page == 1 else q.page),
        ]

    def url(self, path: str = "/compare", *, fragment: str | None = None, **changes: Any) -> str:
        """The URL of the page in this state, with ``changes`` applied."""
        return _url(path, self.pairs(**changes), fragment)


def parse_many_query(params: Any) -> ManyQuery:
    """The state of the multi-run page from its query parameters (``runs`` repeats).

    Raises:
        BadParameterError: for a value outside its allow-list or limits.
    """
    runs: list[str] = []
    for value in params.getlist("runs"):
        if not value:
            continue
        if len(value) > MAX_DATAPOINT_ID_LENGTH or _CONTROL.search(value):
            raise BadParameterError("runs", value, "a run id")
        if value not in runs:
            runs.append(value)
    if len(runs) > MAX_RUNS:
        raise BadParameterError("runs", runs[MAX_RUNS], f"at most {MAX_RUNS} runs at once")
    return ManyQuery(
        baseline=_text(params, "baseline", limit=MAX_DATAPOINT_ID_LENGTH),
        runs=tuple(runs),
        aggregate=_choice(params, "aggregate", AGGREGATE_FUNCTIONS, "average"),
        step=_text(params, "step", limit=MAX_NAME_LENGTH),
        metric=_text(params, "metric", limit=MAX_NAME_LENGTH),
        page=_page(params),
    )
