"""The HTML pages: thin handlers that parse the query, load, build the view and render it.

Handlers are plain functions, so Starlette runs them in its thread pool: the store's
reads block.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from evalyard.server.access import grant_of, session_of
from evalyard.server.context import context_of
from evalyard.server.reader import Reader
from evalyard.server.web.loaders import load_datapoint, load_datasets, load_experiments, load_run
from evalyard.server.web.query import BadParameterError, parse_experiments_query, parse_run_query
from evalyard.server.web.views import comparison_view, datapoint_view, run_view
from evalyard.version import __version__

__all__ = ["datapoint", "datasets", "experiments", "home", "run"]


def _render(request: Request, template: str, *, section: str, **context: Any) -> Response:
    html = (
        context_of(request)
        .templates.get_template(template)
        .render(section=section, version=__version__, session=session_of(request), **context)
    )
    return HTMLResponse(html)


def _datapoint_id(request: Request) -> str:
    """The datapoint of ``/datapoints/{id}``, or of ``/datapoint?id=`` (see ``datapoint_path``)."""
    found = request.path_params.get("datapoint_id") or request.query_params.get("id")
    if not found:
        raise BadParameterError("id", "", "give the datapoint's id")
    return str(found)


def _reader(request: Request) -> Reader:
    reader = context_of(request).reader
    return reader.restricted(grant_of(request).project)


def home(request: Request) -> Response:
    """``/``: the Experiments page."""
    return RedirectResponse("/experiments", status_code=302)


def experiments(request: Request) -> Response:
    """``/experiments``: the runs, newest first."""
    query = parse_experiments_query(request.query_params)
    view = load_experiments(_reader(request), query)
    return _render(request, "runs.html", section="experiments", view=view)


def datasets(request: Request) -> Response:
    """``/datasets``: datasets named by runs, with how many runs used each."""
    rows = load_datasets(_reader(request))
    return _render(request, "datasets.html", section="datasets", rows=rows)


def run(request: Request) -> Response:
    """``/runs/{run_id}``: a run, or its comparison with ``?compare=BASELINE``."""
    query = parse_run_query(request.query_params)
    data = load_run(_reader(request), request.path_params["run_id"], query)
    if data.comparison is None or data.baseline is None:
        view = run_view(
            data.info,
            data.query,
            steps=data.steps,
            values=data.values,
            summaries=data.summaries,
            plan=data.plan,
            frame=data.frame,
            candidates=data.candidates,
            results=data.results_new,
            notices=data.notices,
        )
        return _render(request, "run.html", section="experiments", view=view)
    compared = comparison_view(
        data.info,
        data.baseline,
        data.query,
        comparison=data.comparison,
        plan=data.plan,
        candidates=data.candidates,
        results_new=data.results_new,
        results_old=data.results_old,
        notices=data.notices,
    )
    return _render(request, "compare.html", section="experiments", view=compared)


def datapoint(request: Request) -> Response:
    """``/runs/{run_id}/datapoints/{datapoint_id}``: one datapoint, both runs side by side."""
    query = parse_run_query(request.query_params)
    data = load_datapoint(
        _reader(request),
        request.path_params["run_id"],
        _datapoint_id(request),
        query,
    )
    view = datapoint_view(
        data.info,
        data.datapoint_id,
        data.query,
        results_new=data.results_new,
        baseline=data.baseline,
        results_old=data.results_old,
        comparison=data.comparison,
        values=data.values,
        notices=data.notices,
    )
    return _render(request, "datapoint.html", section="experiments", view=view)
