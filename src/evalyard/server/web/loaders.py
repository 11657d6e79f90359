"""One loader per page: what the page reads, in order, and the view model it makes.

The HTML page renders the view model; the page's JSON twin under ``/api/v1`` is the same
view model's ``to_json()``. Each loader resolves the page's runs, checks the query against
what they hold (an unknown step or metric falls back to the default with a notice; an
unknown run is a 404), asks the :class:`~evalyard.server.reader.Reader` for the values and
the comparison (cached), plans the datapoint table, and reads the results of that page's
datapoints only.
"""

from __future__ import annotations

from evalyard.core.compare import RunComparisonResult
from evalyard.core.model import Direction, MetricKind, RunInfo
from evalyard.core.summary import summarise_scope
from evalyard.server.errors import PageNotFoundError
from evalyard.server.reader import Reader
from evalyard.server.web.datapoints import plan_table, resolve_metric
from evalyard.server.web.detail import DatapointView, datapoint_view
from evalyard.server.web.query import ExperimentsQuery, RunQuery
from evalyard.server.web.views import (
    ComparisonView,
    DatasetsView,
    ExperimentsView,
    RunView,
    comparison_view,
    datasets_view,
    experiments_view,
    run_view,
)

__all__ = [
    "load_datapoint",
    "load_datasets",
    "load_experiments",
    "load_run",
]


def load_experiments(reader: Reader, query: ExperimentsQuery) -> ExperimentsView:
    """The Experiments page: the runs, newest first, a page at a time."""
    every = reader.list_runs()
    projects = sorted({info.project for info in every})
    runs = every if query.project is None else [r for r in every if r.project == query.project]
    return experiments_view(
        runs, query, projects=projects, summary_of=reader.summary, any_runs=bool(every)
    )


def load_datasets(reader: Reader) -> DatasetsView:
    """The Datasets page: datasets named by runs, with their run counts."""
    return datasets_view(reader.list_runs())


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


def changed_first(result: RunComparisonResult) -> list[str]:
    """The metrics of a comparison, the one that changed most first: the table's default.

    A metric whose verdict is regressed or improved comes first, then the one with the
    most datapoints that moved; a category (text) metric comes after every number.
    """

    def rank(name: str) -> tuple[int, int, int]:
        delta = result.metric_deltas[name]
        moved = delta.improved_count + delta.degraded_count + delta.changed_count
        judged = delta.verdict is not None and delta.verdict.value in ("regressed", "improved")
        return (delta.kind is MetricKind.STRING, not judged, -moved)

    return sorted(result.metric_deltas, key=rank)


def load_run(
    reader: Reader, run_id: str, query: RunQuery, *, with_candidates: bool = True
) -> RunView | ComparisonView:
    """A run's page: the run alone, or compared with ``query.compare``.

    Args:
        reader: the store's reads.
        run_id: the run's exact id.
        query: the page's state.
        with_candidates: also find the runs offered in "Compared with" (the HTML page
            needs them, the JSON twin does not).
    """
    info = reader.get_run(run_id)
    notices: list[str] = []
    baseline = reader.get_run(query.compare) if query.compare is not None else None
    steps = _steps(reader, info, baseline)
    query = _resolve_step(query, steps, notices)
    if baseline is None:
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
        direction = next((m.direction for m in summaries if m.metric == metric), Direction.HIGHER)
        plan = plan_table(
            frame, query, metric=metric, new=values, old=None, comparison=None, direction=direction
        )
        return run_view(
            info,
            query,
            steps=steps,
            values=values,
            summaries=summaries,
            plan=plan,
            frame=frame,
            candidates=reader.candidates(info) if with_candidates else [],
            results=reader.results(info.run_id, plan.ids),
            notices=notices,
        )
    comparison = reader.comparison(
        info, baseline, aggregate_function=query.aggregate, step=query.step, steps=steps
    )
    # After the comparison: its runs' values are cached by then, and read only once.
    candidates = reader.candidates(info) if with_candidates else []
    result = comparison.result
    kinds = {name: d.kind for name, d in result.metric_deltas.items()}
    metric, notice = resolve_metric(changed_first(result), kinds, query.metric)
    if notice:
        notices.append(notice)
    query = query.with_changes(metric=metric)
    delta = result.metric_deltas.get(metric) if metric else None
    plan = plan_table(
        comparison.frame,
        query,
        metric=metric,
        new=comparison.new,
        old=comparison.old,
        comparison=result,
        direction=Direction.HIGHER if delta is None else delta.direction,
    )
    return comparison_view(
        info,
        baseline,
        query,
        comparison=comparison,
        plan=plan,
        candidates=candidates,
        results_new=reader.results(info.run_id, plan.ids),
        results_old=reader.results(baseline.run_id, plan.ids),
        notices=notices,
    )


def load_datapoint(
    reader: Reader, run_id: str, datapoint_id: str, query: RunQuery
) -> DatapointView:
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
    directions: dict[str, Direction] = {}
    if baseline is not None:
        comparison = reader.comparison(
            info, baseline, aggregate_function=query.aggregate, step=query.step, steps=steps
        )
    else:
        values, _ = reader.single(info, step=query.step)
        summaries = summarise_scope(values, definitions=reader.definitions(info))
        directions = {m.metric: m.direction for m in summaries}
    return datapoint_view(
        info,
        datapoint_id,
        query,
        results_new=results_new,
        baseline=baseline,
        results_old=results_old,
        comparison=comparison,
        values=values,
        directions=directions,
        notices=notices,
    )
