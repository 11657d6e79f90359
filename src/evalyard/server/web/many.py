"""The page comparing several runs with one baseline: its view model (pure).

Top to bottom: the **Runs** and **Baseline** selects; the runs and the scope; a leaderboard
of the chosen metric (each run's aggregate with its 95% interval, its change from the
baseline, the family verdict); every metric at a glance; the matrix of pairwise verdicts;
the metric's trend over the project's runs; and a grid of every datapoint's value in each
run with the best and worst marked. Every number and word comes from
:mod:`evalyard.core.many_report` and the shared formats — the lines ``evalyard compare A B
--with BASE`` prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from markupsafe import Markup

from evalyard.core.aggregate import AGGREGATE_FUNCTIONS
from evalyard.core.formats import (
    MISSING,
    format_interval,
    format_p,
    format_time,
    format_value,
    unit_of,
)
from evalyard.core.grid import NO_RUN, DatapointGrid
from evalyard.core.many import MultiComparison
from evalyard.core.many_report import BoardLines, ManyReport
from evalyard.core.matrix import VerdictMatrix
from evalyard.core.model import MetricKind, RunInfo
from evalyard.core.words import Tone, Word, verdict_word
from evalyard.server.web.aggregates import word_number
from evalyard.server.web.parts import (
    Number,
    Option,
    Pagination,
    RunHeader,
    make_pagination,
    run_header,
)
from evalyard.server.web.query import ManyQuery, datapoint_path
from evalyard.server.web.table import PAGE_SIZE, page_slice
from evalyard.server.web.trend import TrendPoint

__all__ = [
    "GridCell",
    "GridRow",
    "LeaderRow",
    "ManyView",
    "MatrixRow",
    "OverviewRow",
    "many_view",
    "run_choices",
]


@dataclass(frozen=True, slots=True)
class LeaderRow:
    """A run on the chosen metric's leaderboard."""

    rank: str
    """Its rank (ties share one), or ``—``."""
    run: RunHeader
    """The run."""
    is_baseline: bool
    """Whether it is the baseline."""
    aggregate: str
    """Its aggregate with its interval."""
    count: str
    """How many of its datapoints have the metric."""
    delta: str
    """The change of the aggregate from the baseline's."""
    interval: str
    """The paired mean difference from the baseline with its interval."""
    p: str
    """The Holm-adjusted p-value, across the whole family of tests."""
    verdict: Number
    """The verdict against the baseline (or ``baseline``)."""


@dataclass(frozen=True, slots=True)
class OverviewCell:
    """One run's aggregate of one metric, in the all-metrics table."""

    text: str
    """The aggregate with its interval."""
    verdict: Number | None
    """Its verdict against the baseline (None for the baseline itself)."""
    leading: bool
    """Whether the run ranks first on this metric."""


@dataclass(frozen=True, slots=True)
class OverviewRow:
    """One metric across every run."""

    metric: str
    """The metric."""
    direction: str
    """Which way is better, in words."""
    url: str
    """The page with this metric chosen."""
    cells: list[OverviewCell]
    """One per run, the baseline first."""


@dataclass(frozen=True, slots=True)
class MatrixRow:
    """One run against every other run on the chosen metric."""

    run: RunHeader
    """The run of the row."""
    cells: list[Number | None]
    """Its verdict against the run of each column (None on the diagonal)."""


@dataclass(frozen=True, slots=True)
class GridCell:
    """One run's value of the chosen metric on one datapoint."""

    text: str
    """The value."""
    mark: str
    """``best``, ``worst`` or empty."""


@dataclass(frozen=True, slots=True)
class GridRow:
    """One datapoint across the runs."""

    datapoint_id: str
    """The datapoint."""
    url: str
    """Its page, in the first run compared with the baseline."""
    cells: list[GridCell]
    """One per run, the baseline first."""


@dataclass(frozen=True, slots=True)
class ManyView:
    """The page comparing several runs with a baseline."""

    query: ManyQuery
    """The page's state."""
    runs_options: list[Option]
    """The **Runs** select: recent runs, those picked selected."""
    baseline_options: list[Option]
    """The **Baseline** select."""
    metric_options: list[Option]
    """The **Metric** select."""
    aggregate_options: list[Option]
    """The **Aggregate** select."""
    step_options: list[Option]
    """The **Viewing event** select."""
    headers: list[RunHeader]
    """The runs compared, the baseline first (empty before a comparison)."""
    scope: str
    """What is compared: the scope and the aggregate."""
    verdicts: str
    """How many runs and metrics improved or regressed, as one sentence."""
    warnings: list[str]
    """Why the comparison may say little."""
    notices: list[str]
    """What the page changed in the request, and why."""
    metric: str | None
    """The chosen metric."""
    leaders: list[LeaderRow]
    """The chosen metric's leaderboard."""
    overview: list[OverviewRow]
    """Every metric across the runs."""
    matrix: list[MatrixRow]
    """Every run against every other on the chosen metric."""
    matrix_family: int
    """How many pairs the matrix's p-values were adjusted over."""
    trend: Markup | None
    """The chosen metric over the project's runs."""
    trend_note: str
    """Which runs the trend shows."""
    grid: list[GridRow]
    """A page of the datapoints, each run's value side by side."""
    pagination: Pagination | None
    """Where the grid's page is."""
    api_url: str
    """The JSON twin of the page."""
    data: dict[str, Any] = field(default_factory=dict, repr=False)
    """The comparison, the grid's page and the trend as exact JSON data."""

    @property
    def compared(self) -> bool:
        """Whether the page compares runs (else it only offers the selects)."""
        return bool(self.headers)

    def to_json(self) -> dict[str, Any]:
        """The page's JSON twin."""
        return {**self.data, "notices": self.notices}


def run_choices(runs: Sequence[RunInfo], chosen: Sequence[str]) -> list[Option]:
    """The options of a select of runs: name, project and start time, picked ones selected."""
    picked = set(chosen)
    options = [
        Option(
            info.run_id,
            f"{info.name} · {info.project} · {format_time(info.created_at)}",
            info.run_id in picked,
        )
        for info in runs
    ]
    return options


def _leaders(board: BoardLines, infos: dict[str, RunInfo]) -> list[LeaderRow]:
    return [
        LeaderRow(
            rank=line.rank,
            run=run_header(infos[line.standing.run_id]),
            is_baseline=line.standing.baseline,
            aggregate=line.aggregate,
            count=line.count,
            delta=line.delta,
            interval=line.interval,
            p=line.p_adjusted,
            verdict=word_number(line.verdict),
        )
        for line in board.lines
    ]


def _overview(report: ManyReport, query: ManyQuery, order: Sequence[str]) -> list[OverviewRow]:
    rows = []
    for board in report.boards:
        by_run = {line.standing.run_id: line for line in board.lines}
        cells = []
        for run_id in order:
            line = by_run.get(run_id)
            if line is None:
                cells.append(OverviewCell(MISSING, None, False))
                continue
            verdict = None if line.standing.baseline else word_number(line.verdict)
            cells.append(OverviewCell(line.aggregate, verdict, line.standing.rank == 1))
        rows.append(
            OverviewRow(
                board.metric, board.direction, query.url(metric=board.metric, page=1), cells
            )
        )
    return rows


def _matrix(matrix: VerdictMatrix, infos: Sequence[RunInfo]) -> list[MatrixRow]:
    kind = matrix.kind
    rows = []
    for i, info in enumerate(infos):
        cells: list[Number | None] = []
        for j in range(len(infos)):
            if i == j:
                cells.append(None)
                continue
            verdict = matrix.verdicts[i][j]
            word = verdict_word(verdict, found_count=int(matrix.pairs[i][j]))
            mean = float(matrix.mean_diff[i][j])
            low, high = float(matrix.ci_low[i][j]), float(matrix.ci_high[i][j])
            interval = format_interval(
                None if np.isnan(mean) else mean,
                None if np.isnan(low) else low,
                None if np.isnan(high) else high,
                kind=kind,
                unit=unit_of(matrix.metric),
            )
            p = float(matrix.p_adjusted[i][j])
            title = f"{interval}; p (Holm) {format_p(None if np.isnan(p) else p)}"
            cells.append(Number(word.text, None, _css(word), title))
        rows.append(MatrixRow(run_header(info), cells))
    return rows


def _css(word: Word) -> str:
    return "" if word.tone is Tone.PLAIN else word.tone.value


def _grid(
    grid: DatapointGrid, query: ManyQuery, infos: Sequence[RunInfo]
) -> tuple[list[GridRow], Pagination, dict[str, Any]]:
    part = page_slice(len(grid), query.page, page_size=PAGE_SIZE)
    target = infos[1] if len(infos) > 1 else infos[0]
    baseline = infos[0]
    rows = []
    for row in range(part.start, part.stop):
        datapoint_id = grid.datapoint_ids[row]
        cells = []
        for column in range(len(infos)):
            value = grid.values[row, column]
            missing = value is None or (grid.kind is not MetricKind.STRING and value != value)
            text = (
                MISSING
                if missing
                else format_value(
                    value, kind=grid.kind, direction=grid.direction, unit=unit_of(grid.metric)
                )
            )
            mark = ""
            if int(grid.best[row]) == column and int(grid.best[row]) != NO_RUN:
                mark = "best"
            elif int(grid.worst[row]) == column and int(grid.worst[row]) != NO_RUN:
                mark = "worst"
            cells.append(GridCell(text, mark))
        url = datapoint_path(target.run_id, datapoint_id)
        joiner = "&" if "?" in url else "?"
        if target.run_id != baseline.run_id:
            url += f"{joiner}compare={baseline.run_id}"
        rows.append(GridRow(datapoint_id, url, cells))
    pagination = make_pagination(
        part, lambda page: query.url(fragment="grid", page=page), query.pairs()
    )
    return rows, pagination, grid.to_dict(offset=part.start, limit=part.stop - part.start)


def many_view(
    query: ManyQuery,
    *,
    runs_options: list[Option],
    baseline_options: list[Option],
    steps: Sequence[str],
    many: MultiComparison | None,
    report: ManyReport | None,
    metric: str | None,
    trend_points: Sequence[TrendPoint],
    trend: Markup | None,
    trend_note: str,
    notices: Sequence[str],
) -> ManyView:
    """The multi-run page: the selects, and once a baseline and runs are picked, the
    comparison of the chosen metric."""
    aggregate_options = [Option(f, f, f == query.aggregate) for f in AGGREGATE_FUNCTIONS]
    step_options = [Option("", "Session", query.step is None)]
    step_options += [Option(s, s, s == query.step) for s in steps]
    api_url = "/api/v1" + query.url(page=1)
    if many is None or report is None or metric is None:
        return ManyView(
            query=query,
            runs_options=runs_options,
            baseline_options=baseline_options,
            metric_options=[],
            aggregate_options=aggregate_options,
            step_options=step_options,
            headers=[],
            scope="",
            verdicts="",
            warnings=[] if many is None else many.warnings,
            notices=list(notices),
            metric=None,
            leaders=[],
            overview=[],
            matrix=[],
            matrix_family=0,
            trend=None,
            trend_note="",
            grid=[],
            pagination=None,
            api_url=api_url,
            data={} if many is None else many.to_dict(),
        )
    infos = list(many.runs)
    order = [info.run_id for info in infos]
    board = next(b for b in report.boards if b.metric == metric)
    matrix = many.matrix(metric)
    grid = many.grid(metric, natural=True)
    grid_rows, pagination, grid_data = _grid(grid, query, infos)
    data = many.to_dict()
    data["metric"] = metric
    data["matrix"] = matrix.to_dict()
    data["grid"] = {
        **grid_data,
        "page": pagination.page,
        "page_count": pagination.page_count,
        "page_size": PAGE_SIZE,
        "total": pagination.total,
    }
    data["trend"] = [
        {
            "run_id": p.run_id,
            "name": p.name,
            "created_at": p.created_at,
            "value": p.value,
            "ci_low": p.ci_low,
            "ci_high": p.ci_high,
            "selected": p.selected,
        }
        for p in trend_points
    ]
    return ManyView(
        query=query,
        runs_options=runs_options,
        baseline_options=baseline_options,
        metric_options=[Option(b.metric, b.metric, b.metric == metric) for b in report.boards],
        aggregate_options=aggregate_options,
        step_options=step_options,
        headers=[run_header(info) for info in infos],
        scope=report.scope.replace(" (--step NAME)", " (Viewing event)"),
        verdicts=report.verdicts,
        warnings=report.warnings,
        notices=list(notices),
        metric=metric,
        leaders=_leaders(board, {info.run_id: info for info in infos}),
        overview=_overview(report, query, order),
        matrix=_matrix(matrix, infos),
        matrix_family=matrix.family_size,
        trend=trend,
        trend_note=trend_note,
        grid=grid_rows,
        pagination=pagination,
        api_url=api_url,
        data=data,
    )
