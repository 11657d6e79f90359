"""Tables that fit the terminal: long names wrap first, then the least needed columns go.

Both the comparison table and the leaderboards of ``evalyard compare`` are built here from
:class:`Column` descriptions; :func:`fit_tables` tries every width and set of columns and
returns the tables that fit, with the headers it left out (the renderer says so in a note).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["NAME_WIDTH", "Column", "fit_tables", "new_table"]

Row = TypeVar("Row")

#: The narrowest a wrapping column gets before columns are left out.
NAME_WIDTH = 16
#: Columns with at most this priority are never left out.
_ALWAYS = 2


@dataclass(frozen=True, slots=True)
class Column(Generic[Row]):
    """A column of a table, and how much keeping it matters."""

    header: str
    """Its heading."""
    cell: Callable[[Row], Text]
    """Its cell for a row."""
    priority: int
    """Lower is kept longer when the table must fit a narrow terminal (0–2: always)."""
    right: bool = True
    """Whether it is right-aligned (numbers)."""
    wraps: bool = False
    """Whether its text may wrap (the name column) instead of the table dropping columns."""


def new_table(*, title: str | None = None) -> Table:
    """An empty table in evalyard's terminal style: a rule under the heading, no edges."""
    return Table(
        title=None if title is None else Text(title, style="bold"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )


def _table(
    title: str | None, rows: Sequence[Row], columns: Sequence[Column[Row]], wrap: int | None
) -> Table:
    table = new_table(title=title)
    for column in columns:
        table.add_column(
            column.header,
            justify="right" if column.right else "left",
            no_wrap=not column.wraps,
            overflow="fold",
            max_width=wrap if column.wraps else None,
        )
    for row in rows:
        table.add_row(*(column.cell(row) for column in columns))
    return table


def fit_tables(
    sections: Sequence[tuple[str | None, Sequence[Row]]],
    columns: Sequence[Column[Row]],
    width: int,
) -> tuple[list[Table], list[str]]:
    """One table per ``(title, rows)`` section, all with the same columns, fitting ``width``.

    Returns:
        the tables, and the headers left out to fit (in column order).
    """
    kept = list(columns)
    # Measured on an unbounded console: the natural width, before rich squashes columns.
    measurer = Console(width=100_000, color_system=None, file=io.StringIO())
    while True:
        for wrap in (None, NAME_WIDTH):
            tables = [_table(title, rows, kept, wrap) for title, rows in sections]
            if all(measurer.measure(table).maximum <= width for table in tables):
                return tables, [c.header for c in columns if c not in kept]
        droppable = [c for c in kept if c.priority > _ALWAYS]
        if not droppable:
            return tables, [c.header for c in columns if c not in kept]
        last = max(droppable, key=lambda c: c.priority)
        kept = [c for c in kept if c is not last]
