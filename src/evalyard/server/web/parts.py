"""Small pieces shared by the page views: options, numbers, pagination, run headers (pure)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evalyard.core.formats import MISSING, format_count, format_time
from evalyard.core.model import RunInfo
from evalyard.server.web.query import run_path
from evalyard.server.web.table import PageSlice

__all__ = [
    "MetadataRow",
    "Number",
    "Option",
    "Pagination",
    "RunHeader",
    "make_number",
    "make_pagination",
    "metadata_rows",
    "run_header",
]


@dataclass(frozen=True, slots=True)
class Option:
    """An option of a select."""

    value: str
    """What the form sends."""
    label: str
    """What a person reads."""
    selected: bool = False
    """Whether it is the current choice."""


@dataclass(frozen=True, slots=True)
class Number:
    """A number as shown, with its exact value for ``data-value`` and a CSS class."""

    text: str
    """The number as a person reads it."""
    value: str | None = None
    """The exact value (``repr``), or None when missing."""
    css: str = ""
    """``better``, ``worse``, ``same``, ``changed`` or empty."""
    title: str = ""
    """A tooltip (the exact value, or an explanation)."""


def make_number(value: float | None, text: str, *, css: str = "", title: str = "") -> Number:
    """A number shown as ``text``, its exact value kept for ``data-value``."""
    exact = None if value is None else repr(float(value))
    return Number(text, exact, css, title or (exact or ""))


@dataclass(frozen=True, slots=True)
class Pagination:
    """Where a table's page is, and the links to its neighbours."""

    page: int
    """The page shown, from 1."""
    page_count: int
    """How many pages there are."""
    total: int
    """How many rows there are."""
    first_row: int
    """The number of the first row shown, from 1 (0 when there are none)."""
    last_row: int
    """The number of the last row shown."""
    first_url: str | None
    """The first page, or None on it."""
    prev_url: str | None
    """The previous page, or None on the first."""
    next_url: str | None
    """The next page, or None on the last."""
    last_url: str | None
    """The last page, or None on it."""
    hidden: list[tuple[str, str]] = field(default_factory=list)
    """The other query parameters, for the "go to page" form."""


def make_pagination(
    part: PageSlice, url_for: Callable[[int], str], hidden: list[tuple[str, Any]]
) -> Pagination:
    """The pagination of a table from its page slice."""
    page, last = part.page, part.page_count
    return Pagination(
        page=page,
        page_count=last,
        total=part.total,
        first_row=part.start + 1 if part.total else 0,
        last_row=part.stop,
        first_url=url_for(1) if page > 1 else None,
        prev_url=url_for(page - 1) if page > 1 else None,
        next_url=url_for(page + 1) if page < last else None,
        last_url=url_for(last) if page < last else None,
        hidden=[(k, str(v)) for k, v in hidden if v is not None and k != "page"],
    )


@dataclass(frozen=True, slots=True)
class RunHeader:
    """A run as its page header shows it."""

    run_id: str
    """The run's id."""
    name: str
    """The run's name."""
    url: str
    """The run's page."""
    project: str
    """Its project."""
    dataset: str | None
    """Its dataset, if any."""
    status: str
    """running, completed, failed or cancelled."""
    created: str
    """When it started, as text."""
    finished: str
    """When it finished, as text."""
    result_count: str
    """How many results, as text."""
    datapoint_count: str
    """How many datapoints, as text."""
    metadata: list[tuple[str, str]]
    """``(key, value as text)``, by key."""


def meta_text(value: Any) -> str:
    """A metadata value as text: a string as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def run_header(info: RunInfo) -> RunHeader:
    """The header of a run."""
    return RunHeader(
        run_id=info.run_id,
        name=info.name,
        url=run_path(info.run_id),
        project=info.project,
        dataset=info.dataset,
        status=info.status.value,
        created=format_time(info.created_at),
        finished=format_time(info.finished_at),
        result_count=format_count(info.result_count),
        datapoint_count=format_count(info.datapoint_count),
        metadata=[(str(k), meta_text(v)) for k, v in sorted(info.metadata.items())],
    )


@dataclass(frozen=True, slots=True)
class MetadataRow:
    """One metadata key of two runs."""

    key: str
    """The metadata key."""
    old: str
    """The baseline's value, as text."""
    new: str
    """This run's value, as text."""
    differs: bool
    """Whether the two differ."""


def metadata_rows(new: RunInfo, old: RunInfo) -> list[MetadataRow]:
    """Both runs' metadata, key by key, differences first."""
    keys = sorted(set(new.metadata) | set(old.metadata), key=str)
    rows = []
    for key in keys:
        a = meta_text(old.metadata[key]) if key in old.metadata else MISSING
        b = meta_text(new.metadata[key]) if key in new.metadata else MISSING
        rows.append(MetadataRow(str(key), a, b, a != b))
    rows.sort(key=lambda row: not row.differs)
    return rows
