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
from evalyard.core.many import MultiComparison
from evalyard.core.many_report import many_report
from evalyard.core.model import Direction, MetricKind, RunInfo
from evalyard.core.summary import direction_of, summarise_scope
from evalyard.server.errors import PageNotFoundError
from evalyard.server.reader import Reader
from evalyard.server.web.datapoints import plan_table, resolve_metric
from evalyard.server.web.detail import DatapointView, datapoint_view
from evalyard.server.web.many import ManyView, many_view, run_choices
from evalyard.server.web.query import ExperimentsQuery, ManyQuery, RunQuery, run_path
from evalyard.server.web.trend import TrendPoint, trend_chart
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
    "load_many",
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
        definitions = reader.definitions(info)
        directions = {
            name: direction_of(name, column.kind, definitions)[0]
            for name, column in values.columns.items()
        }
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


#: How many recent runs the Runs and Baseline selects offer, and the trend shows.
RECENT_RUNS = 100
TREND_RUNS = 50


def load_many(reader: Reader, query: ManyQuery) -> ManyView:
    """The page comparing several runs with a baseline (:mod:`.many`).

    Before a baseline and at least one other run are picked it only offers the selects; an
    unknown run is a 404, as everywhere.
    """
    recent = reader.list_runs(limit=RECENT_RUNS)
    baseline = reader.get_run(query.baseline) if query.baseline is not None else None
    picked = [reader.get_run(run_id) for run_id in query.runs]
    shown = {info.run_id: info for info in recent}
    for info in [*picked, *([baseline] if baseline else [])]:
        shown.setdefault(info.run_id, info)
    choices = sorted(shown.values(), key=lambda info: -info.created_at)
    runs_options = run_choices(choices, query.runs)
    baseline_options = run_choices(choices, [query.baseline] if query.baseline else [])
    notices: list[str] = []
    others = [info for info in picked if baseline is None or info.run_id != baseline.run_id]
    if baseline is None or not others:
        return many_view(
            query,
            runs_options=runs_options,
            baseline_options=baseline_options,
            steps=[],
            many=None,
            report=None,
            metric=None,
            trend_points=[],
            trend=None,
            trend_note="",
            notices=notices,
        )
    steps = sorted({name for info in [baseline, *others] for name in reader.list_steps(info)})
    scope_query = query
    if query.step is not None and query.step not in steps:
        known = ", ".join(steps) if steps else "none"
        notices.append(
            f"no step is named {query.step!r} here (steps: {known}); showing the session"
        )
        scope_query = query.with_changes(step=None)
    many = reader.many(
        baseline,
        picked,
        aggregate_function=scope_query.aggregate,
        step=scope_query.step,
        steps=steps,
    )
    report = many_report(many)
    names = [board.metric for board in report.boards]
    kinds = {board.metric: board.board.kind for board in report.boards}
    metric, notice = resolve_metric(names, kinds, scope_query.metric)
    if notice:
        notices.append(notice)
    scope_query = scope_query.with_changes(metric=metric)
    points: list[TrendPoint] = []
    chart = None
    note = ""
    if metric is not None:
        points, note = _trend_points(reader, baseline, many, metric)
        board = many.get_leaderboard(metric)
        if board.kind is not MetricKind.STRING:
            chart = trend_chart(metric, points, kind=board.kind.value)
    return many_view(
        scope_query,
        runs_options=runs_options,
        baseline_options=baseline_options,
        steps=steps,
        many=many,
        report=report,
        metric=metric,
        trend_points=points,
        trend=chart,
        trend_note=note,
        notices=notices,
    )


def _trend_points(
    reader: Reader, baseline: RunInfo, many: MultiComparison, metric: str
) -> tuple[list[TrendPoint], str]:
    """The project's recent runs (of the baseline's dataset), oldest first, with their
    session-level average of ``metric``."""
    series = [
        info
        for info in reader.list_runs(project=baseline.project, limit=TREND_RUNS)
        if baseline.dataset is None or info.dataset == baseline.dataset
    ]
    compared = {info.run_id for info in many.runs}
    points = []
    for info in sorted(series, key=lambda run: run.created_at):
        found = reader.summary(info).metrics.get(metric)
        points.append(
            TrendPoint(
                run_id=info.run_id,
                name=info.name,
                created_at=info.created_at,
                value=None if found is None else found.aggregate,
                ci_low=None if found is None else found.ci_low,
                ci_high=None if found is None else found.ci_high,
                selected=info.run_id in compared,
                url=run_path(info.run_id),
            )
        )
    dataset = f", dataset {baseline.dataset}" if baseline.dataset else ""
    note = (
        f"The average of {metric} per run (session level), for the {len(points)} most recent "
        f"runs of project {baseline.project}{dataset}, oldest first; the runs compared here "
        "are filled in. Each point links to its run."
    )
    return points, note
