"""What each page shows, built from runs, a comparison and the query (pure).

The loaders (:mod:`.loaders`) read through the :class:`~evalyard.server.reader.Reader` and
hand the results here; nothing in these modules touches the store, the request or the
clock. Each view model renders as a page and serialises (``to_json``) as its JSON twin.
This module builds the Experiments, Datasets, run and comparison pages from their parts:
:mod:`.aggregates` (metrics table, summary, charts), :mod:`.datapoints` (the datapoint
table) and :mod:`.detail` (the datapoint page).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalyard.core.aggregate import AGGREGATE_FUNCTIONS
from evalyard.core.columns import ScopeValues
from evalyard.core.compare import RunComparisonResult
from evalyard.core.formats import format_aggregate, format_count, format_time, unit_of
from evalyard.core.model import MetricKind, Result, RunInfo
from evalyard.core.report import comparison_report, format_summary
from evalyard.core.summary import MetricSummary
from evalyard.core.words import direction_word
from evalyard.server.reader import Candidate, Comparison, RunDigest
from evalyard.server.web.aggregates import (
    Chart,
    MetricRow,
    Summary,
    charts,
    metric_rows,
    summary,
)
from evalyard.server.web.datapoints import TablePlan, TableView, table_view
from evalyard.server.web.parts import (
    MetadataRow,
    Number,
    Option,
    Pagination,
    RunHeader,
    make_number,
    make_pagination,
    metadata_rows,
    run_header,
)
from evalyard.server.web.query import SHOW_OPTIONS, ExperimentsQuery, RunQuery, run_path
from evalyard.server.web.table import Frame, page_slice

__all__ = [
    "KEY_METRICS",
    "RUNS_PAGE_SIZE",
    "ComparisonView",
    "DatasetRow",
    "DatasetsView",
    "ExperimentsView",
    "RunView",
    "comparison_view",
    "datasets_view",
    "experiments_view",
    "run_view",
]

#: Most metric columns ("key aggregates") on the Experiments page.
KEY_METRICS = 3
#: Runs per page of the Experiments list.
RUNS_PAGE_SIZE = 50


# -- Experiments and Datasets -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunRow:
    """A run in the Experiments list."""

    header: RunHeader
    """The run."""
    aggregates: list[Number]
    """The average of each key metric (``ExperimentsView.metrics``)."""
    data: dict[str, Any] = field(default_factory=dict, repr=False)
    """The run and every metric's average, as exact JSON data."""


@dataclass(frozen=True, slots=True)
class ExperimentsView:
    """The Experiments page."""

    query: ExperimentsQuery
    """The page's state."""
    projects: list[Option]
    """The Project select's options."""
    rows: list[RunRow]
    """The runs of this page."""
    metrics: list[str]
    """The key metrics shown as columns."""
    pagination: Pagination
    """Where this page is."""
    any_runs: bool
    """Whether the store holds any run at all (else the empty state)."""

    def to_json(self) -> dict[str, Any]:
        """The page's JSON twin: the runs of the page with their metric averages."""
        part = self.pagination
        return {
            "runs": [row.data for row in self.rows],
            "page": part.page,
            "page_count": part.page_count,
            "page_size": RUNS_PAGE_SIZE,
            "total": part.total,
        }


def _key_metrics(summaries: Sequence[RunDigest]) -> list[str]:
    seen: Counter[str] = Counter()
    for run_summary in summaries:
        seen.update(n for n, m in run_summary.metrics.items() if m.kind is not MetricKind.STRING)
    ranked = sorted(seen, key=lambda name: (-seen[name], name))
    return ranked[:KEY_METRICS]


def experiments_view(
    runs: Sequence[RunInfo],
    query: ExperimentsQuery,
    *,
    projects: Sequence[str],
    summary_of: Callable[[RunInfo], RunDigest],
    any_runs: bool,
) -> ExperimentsView:
    """The Experiments page: ``runs`` (already of the project), filtered by dataset, paged.

    ``summary_of`` is called for the runs of the page only.
    """
    chosen = [r for r in runs if query.dataset is None or r.dataset == query.dataset]
    part = page_slice(len(chosen), query.page, page_size=RUNS_PAGE_SIZE)
    shown = chosen[part.start : part.stop]
    summaries = [summary_of(info) for info in shown]
    metrics = _key_metrics(summaries)
    rows = []
    for info, run_summary in zip(shown, summaries, strict=True):
        cells = []
        for name in metrics:
            found = run_summary.metrics.get(name)
            value = None if found is None else found.aggregate
            kind = MetricKind.NUMBER if found is None else found.kind
            text = format_aggregate(
                value, kind=kind, aggregate_function="average", unit=unit_of(name)
            )
            cells.append(make_number(value, text))
        averages = {
            name: m.aggregate
            for name, m in run_summary.metrics.items()
            if m.kind is not MetricKind.STRING
        }
        rows.append(RunRow(run_header(info), cells, {**info.to_dict(), "averages": averages}))
    options = [Option("", "All projects", query.project is None)]
    options += [Option(p, p, p == query.project) for p in projects]
    pagination = make_pagination(
        part,
        lambda page: query.url(page=page),
        [("project", query.project), ("dataset", query.dataset)],
    )
    return ExperimentsView(query, options, rows, metrics, pagination, any_runs)


@dataclass(frozen=True, slots=True)
class DatasetRow:
    """A dataset in the Datasets list."""

    name: str
    """The dataset's name."""
    run_count: int
    """How many runs used it."""
    projects: str
    """The projects of those runs."""
    latest: str
    """When the latest of them started."""
    url: str
    """The Experiments page filtered to it."""


@dataclass(frozen=True, slots=True)
class DatasetsView:
    """The Datasets page."""

    rows: list[DatasetRow]
    """The datasets, by name."""

    def to_json(self) -> dict[str, Any]:
        """The page's JSON twin: each dataset with its run count and projects."""
        return {
            "datasets": [
                {"name": r.name, "run_count": r.run_count, "projects": r.projects.split(", ")}
                for r in self.rows
            ]
        }


def datasets_view(runs: Sequence[RunInfo]) -> DatasetsView:
    """Datasets by name, as the runs name them, with how many runs used each."""
    by_name: dict[str, list[RunInfo]] = {}
    for info in runs:
        if info.dataset is not None:
            by_name.setdefault(info.dataset, []).append(info)
    rows = []
    for name in sorted(by_name):
        infos = by_name[name]
        projects = sorted({info.project for info in infos})
        latest = max(info.created_at for info in infos)
        query = ExperimentsQuery(project=projects[0] if len(projects) == 1 else None, dataset=name)
        rows.append(
            DatasetRow(name, len(infos), ", ".join(projects), format_time(latest), query.url())
        )
    return DatasetsView(rows)


# -- run and comparison pages -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Controls:
    """The options of the page's selects."""

    compare: list[Option]
    """Compared with: no baseline, then the runs sharing datapoints."""
    aggregate: list[Option]
    """Aggregate: the aggregate functions."""
    step: list[Option]
    """Viewing event: Session, then each step name."""
    metric: list[Option]
    """Metric: the metrics at this level."""
    show: list[Option]
    """Show: All, Improved, Regressed, Unchanged, Only in this run, Only in baseline."""
    has_candidates: bool
    """Whether any run shares datapoints with this one."""


def _controls(
    query: RunQuery,
    *,
    candidates: Sequence[Candidate],
    baseline: RunInfo | None,
    steps: Sequence[str],
    metrics: Sequence[str],
    metric: str | None,
) -> Controls:
    compare = [Option("", "— none: this run alone —", query.compare is None)]
    listed = False
    for candidate in candidates:
        info = candidate.info
        selected = info.run_id == query.compare
        listed = listed or selected
        shared = format_count(candidate.shared)
        label = f"{info.name} · {shared} shared · {format_time(info.created_at)}"
        compare.append(Option(info.run_id, label, selected))
    if baseline is not None and not listed:
        compare.append(
            Option(baseline.run_id, f"{baseline.name} · {format_time(baseline.created_at)}", True)
        )
    return Controls(
        compare=compare,
        aggregate=[Option(f, f, f == query.aggregate) for f in AGGREGATE_FUNCTIONS],
        step=[Option("", "Session", query.step is None)]
        + [Option(s, s, s == query.step) for s in steps],
        metric=[Option(m, m, m == metric) for m in metrics],
        show=[Option(k, label, k == query.show) for k, label in SHOW_OPTIONS.items()],
        has_candidates=bool(candidates),
    )


@dataclass(frozen=True, slots=True)
class SingleMetricRow:
    """A row of a single run's aggregated metrics."""

    metric: str
    """The metric's name."""
    kind: str
    """number, bool or string."""
    direction: str
    """Which way is better, in words."""
    count: str
    """Datapoints having it, as text."""
    value: Number
    """Its aggregate with its interval (the most common value for a category)."""


@dataclass(frozen=True, slots=True)
class RunView:
    """A run's own page (no baseline chosen)."""

    run: RunHeader
    """The run."""
    query: RunQuery
    """The page's state."""
    controls: Controls
    """The selects' options."""
    metrics: list[SingleMetricRow]
    """The aggregated metrics."""
    table: TableView
    """The datapoint table."""
    notices: list[str]
    """What the page changed in the request, and why."""
    hidden: list[tuple[str, str]]
    """The state carried by the forms."""
    api_url: str
    """The JSON twin of the page."""
    data: dict[str, Any] = field(default_factory=dict, repr=False)
    """The run, its steps and its aggregates at the scope, as exact JSON data."""

    def to_json(self) -> dict[str, Any]:
        """The page's JSON twin: the run, its aggregates and the table's page."""
        return {**self.data, "datapoints": self.table.to_json(), "notices": self.notices}


def run_view(
    info: RunInfo,
    query: RunQuery,
    *,
    steps: Sequence[str],
    values: ScopeValues,
    summaries: Sequence[MetricSummary],
    plan: TablePlan,
    frame: Frame,
    candidates: Sequence[Candidate],
    results: Mapping[str, list[Result]],
    notices: Sequence[str],
) -> RunView:
    """A run's page: header, aggregated metrics at the scope, and its datapoint table."""
    path = run_path(info.run_id)
    metrics = [
        SingleMetricRow(
            m.metric,
            m.kind.value,
            direction_word(m.direction, m.kind),
            format_count(m.count),
            make_number(m.aggregate, format_summary(m)),
        )
        for m in summaries
    ]
    table = table_view(
        plan,
        query,
        path=path,
        frame=frame,
        run_id=info.run_id,
        comparison=None,
        results_new=results,
        results_old={},
    )
    controls = _controls(
        query,
        candidates=candidates,
        baseline=None,
        steps=steps,
        metrics=list(values.columns),
        metric=plan.metric,
    )
    return RunView(
        run=run_header(info),
        query=query,
        controls=controls,
        metrics=metrics,
        table=table,
        notices=list(notices),
        hidden=_hidden(query, plan.metric),
        api_url="/api/v1" + query.url(path, metric=None, show="all", sort="id", page=1, diff=False),
        data={
            "run": info.to_dict(),
            "steps": list(steps),
            "step": query.step,
            "aggregate_function": query.aggregate,
            "aggregates": {
                m.metric: {
                    "kind": m.kind.value,
                    "direction": m.direction.value,
                    "count": m.count,
                    "aggregate": m.aggregate,
                    "ci_low": m.ci_low,
                    "ci_high": m.ci_high,
                    "most_common": m.most_common,
                }
                for m in summaries
            },
        },
    )


def _hidden(query: RunQuery, metric: str | None) -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in query.pairs(metric=metric, page=1) if v is not None]


@dataclass(frozen=True, slots=True)
class ComparisonView:
    """A run's page compared with a baseline."""

    run: RunHeader
    """This run."""
    baseline: RunHeader
    """The baseline."""
    metadata: list[MetadataRow]
    """Both runs' metadata, differences first."""
    query: RunQuery
    """The page's state."""
    controls: Controls
    """The selects' options."""
    summary: Summary
    """The summary strip."""
    metrics: list[MetricRow]
    """The aggregated metrics."""
    warnings: list[str]
    """Why this comparison may say little (a run with itself, nothing shared)."""
    charts: list[Chart]
    """One distribution chart per numeric or bool metric."""
    table: TableView
    """The datapoint table."""
    notices: list[str]
    """What the page changed in the request, and why."""
    hidden: list[tuple[str, str]]
    """The state carried by the forms."""
    api_url: str
    """The JSON twin of the page."""
    result: RunComparisonResult | None = field(default=None, repr=False)
    """The comparison, with its exact values."""

    def to_json(self) -> dict[str, Any]:
        """The page's JSON twin: ``RunComparisonResult.to_dict()``, the table's page and
        the notices."""
        assert self.result is not None
        body = self.result.to_dict()
        body["datapoints"] = self.table.to_json()
        body["notices"] = self.notices
        return body


def comparison_view(
    info: RunInfo,
    baseline: RunInfo,
    query: RunQuery,
    *,
    comparison: Comparison,
    plan: TablePlan,
    candidates: Sequence[Candidate],
    results_new: Mapping[str, list[Result]],
    results_old: Mapping[str, list[Result]],
    notices: Sequence[str],
) -> ComparisonView:
    """The comparison page: both runs, summary, aggregated metrics, charts and the table."""
    path = run_path(info.run_id)
    result = comparison.result
    report = comparison_report(result)
    table = table_view(
        plan,
        query,
        path=path,
        frame=comparison.frame,
        run_id=info.run_id,
        comparison=result,
        results_new=results_new,
        results_old=results_old,
    )
    controls = _controls(
        query,
        candidates=candidates,
        baseline=baseline,
        steps=result.steps,
        metrics=list(result.metric_deltas),
        metric=plan.metric,
    )
    return ComparisonView(
        run=run_header(info),
        baseline=run_header(baseline),
        metadata=metadata_rows(info, baseline),
        query=query,
        controls=controls,
        summary=summary(report),
        metrics=metric_rows(report, query, path),
        warnings=report.warnings,
        charts=charts(comparison),
        table=table,
        notices=list(notices),
        hidden=_hidden(query, plan.metric),
        api_url="/api/v1"
        + query.url(path + "/comparison", metric=None, show="all", sort="id", page=1, diff=False),
        result=result,
    )
