"""What a page reads, in order: shared by the HTML pages and their JSON twins.

Each loader resolves the page's runs, checks the query against what they hold (an unknown
step or metric falls back to the default with a notice; an unknown run is a 404), asks the
:class:`~.reader.Reader` for the comparison, plans the datapoint table, and reads the
results of that page's datapoints only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evalyard.core.columns import ScopeValues
from evalyard.core.model import Result, RunInfo
from evalyard.core.summary import MetricSummary, summarise_scope
from evalyard.server.errors import PageNotFoundError
from evalyard.server.reader import Candidate, Comparison, Reader
from evalyard.server.web.query import ExperimentsQuery, RunQuery
from evalyard.server.web.table import Frame
from evalyard.server.web.views import (
    DatasetRow,
    ExperimentsView,
    TablePlan,
    datasets_view,
    experiments_view,
    plan_table,
    resolve_metric,
)

__all__ = [
    "DatapointData",
    "RunData",
    "load_datapoint",
    "load_datasets",
    "load_experiments",
    "load_run",
]


def load_experiments(reader: Reader, query: ExperimentsQuery) -> ExperimentsView:
    """The Experiments page."""
    every = reader.list_runs()
    projects = sorted({info.project for info in every})
    runs = every if query.project is None else [r for r in every if r.project == query.project]
    return experiments_view(
        runs, query, projects=projects, summary_of=reader.summary, any_runs=bool(every)
    )


def load_datasets(reader: Reader) -> list[DatasetRow]:
    """The Datasets page."""
    return datasets_view(reader.list_runs())


@dataclass(frozen=True, slots=True)
class RunData:
    """Everything a run page (alone or compared) shows, before formatting."""

    info: RunInfo
    query: RunQuery
    """The query as applied (fallbacks resolved)."""
    steps: list[str]
    baseline: RunInfo | None
    comparison: Comparison | None
    values: ScopeValues
    frame: Frame
    plan: TablePlan
    candidates: list[Candidate]
    summaries: list[MetricSummary]
    results_new: dict[str, list[Result]]
    results_old: dict[str, list[Result]]
    notices: list[str] = field(default_factory=list)


def _steps(reader: Reader, info: RunInfo, baseline: RunInfo | None) -> list[str]:
    found = set(reader.list_steps(info))
    if baseline is not None:
        found |= set(reader.list_steps(baseline))
    return sorted(found)


def _resolve_step(query: RunQuery, steps: list[str], notices: list[str]) -> RunQuery:
    if query.step is None or query.step in steps:
        return query
    known = ", ".join(steps) if steps else "none"
    notices.append(f"no step is named {query.step!r} here (steps: {known}); showing the session")
    return query.with_changes(step=None)


def load_run(
    reader: Reader, run_id: str, query: RunQuery, *, with_candidates: bool = True
) -> RunData:
    """A run's page: the run alone, or compared with ``query.compare``."""
    info = reader.get_run(run_id)
    notices: list[str] = []
    baseline = reader.get_run(query.compare) if query.compare is not None else None
    steps = _steps(reader, info, baseline)
    query = _resolve_step(query, steps, notices)
    if baseline is None:
        candidates = reader.candidates(info) if with_candidates else []
        values, frame = reader.single(info, step=query.step)
        summaries = summarise_scope(
            values,
            definitions=reader.definitions(info),
            step=query.step,
            aggregate_function=query.aggregate,
        )
        kinds = {name: column.kind for name, column in values.columns.items()}
        metric, notice = resolve_metric(list(values.columns), kinds, query.metric)
        if notice:
            notices.append(notice)
        query = query.with_changes(metric=metric, show="all")
        plan = plan_table(frame, query, metric=metric, new=values, old=None, comparison=None)
        return RunData(
            info,
            query,
            steps,
            None,
            None,
            values,
            frame,
            plan,
            candidates,
            summaries,
            reader.results(info.run_id, plan.ids),
            {},
            notices,
        )
    comparison = reader.comparison(
        info, baseline, aggregate_function=query.aggregate, step=query.step, steps=steps
    )
    # After the comparison: its runs' values are then cached, and read only once.
    candidates = reader.candidates(info) if with_candidates else []
    result = comparison.result
    kinds = {name: d.kind for name, d in result.metric_deltas.items()}
    metric, notice = resolve_metric(list(result.metric_deltas), kinds, query.metric)
    if notice:
        notices.append(notice)
    query = query.with_changes(metric=metric)
    plan = plan_table(
        comparison.frame,
        query,
        metric=metric,
        new=comparison.new,
        old=comparison.old,
        comparison=result,
    )
    return RunData(
        info,
        query,
        steps,
        baseline,
        comparison,
        comparison.new,
        comparison.frame,
        plan,
        candidates,
        [],
        reader.results(info.run_id, plan.ids),
        reader.results(baseline.run_id, plan.ids),
        notices,
    )


@dataclass(frozen=True, slots=True)
class DatapointData:
    """Everything a datapoint page shows, before formatting."""

    info: RunInfo
    datapoint_id: str
    query: RunQuery
    baseline: RunInfo | None
    results_new: list[Result]
    results_old: list[Result]
    comparison: Comparison | None
    values: ScopeValues | None
    notices: list[str]


def load_datapoint(
    reader: Reader, run_id: str, datapoint_id: str, query: RunQuery
) -> DatapointData:
    """A datapoint of a run, and of the baseline when ``query.compare`` names one."""
    info = reader.get_run(run_id)
    baseline = reader.get_run(query.compare) if query.compare is not None else None
    results_new = reader.results(info.run_id, [datapoint_id]).get(datapoint_id, [])
    results_old = (
        reader.results(baseline.run_id, [datapoint_id]).get(datapoint_id, []) if baseline else []
    )
    if not results_new and not results_old:
        where = f"run {info.name!r}" + (f" or baseline {baseline.name!r}" if baseline else "")
        raise PageNotFoundError(f"datapoint {datapoint_id!r} is not in {where}")
    notices: list[str] = []
    steps = _steps(reader, info, baseline)
    query = _resolve_step(query, steps, notices)
    comparison = None
    values = None
    if baseline is not None:
        comparison = reader.comparison(
            info, baseline, aggregate_function=query.aggregate, step=query.step, steps=steps
        )
    else:
        values, _ = reader.single(info, step=query.step)
    return DatapointData(
        info, datapoint_id, query, baseline, results_new, results_old, comparison, values, notices
    )
