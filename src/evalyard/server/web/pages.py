"""The HTML pages: thin handlers that parse the query, load the page's view model and
render it (the JSON twins in :mod:`evalyard.server.api.twins` serialise the same models).

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
from evalyard.server.web.loaders import (
    load_datapoint,
    load_datasets,
    load_experiments,
    load_many,
    load_run,
)
from evalyard.server.web.query import (
    BadParameterError,
    parse_experiments_query,
    parse_many_query,
    parse_run_query,
)
from evalyard.server.web.views import ComparisonView
from evalyard.version import __version__

__all__ = [
    "compare",
    "datapoint",
    "datapoint_id_of",
    "datasets",
    "experiments",
    "home",
    "reader_of",
    "run",
]


def _render(request: Request, template: str, *, section: str, **context: Any) -> Response:
    html = (
        context_of(request)
        .templates.get_template(template)
        .render(section=section, version=__version__, session=session_of(request), **context)
    )
    return HTMLResponse(html)


def datapoint_id_of(request: Request) -> str:
    """The datapoint of ``/datapoints/{id}``, or of ``/datapoint?id=`` (see ``datapoint_path``)."""
    found = request.path_params.get("datapoint_id") or request.query_params.get("id")
    if not found:
        raise BadParameterError("id", "", "give the datapoint's id")
    return str(found)


def reader_of(request: Request) -> Reader:
    """The app's reader, seeing only what the caller's token may see."""
    return context_of(request).reader.restricted(grant_of(request).project)


def home(request: Request) -> Response:
    """``/``: the Experiments page."""
    return RedirectResponse("/experiments", status_code=302)


def experiments(request: Request) -> Response:
    """``/experiments``: the runs, newest first."""
    view = load_experiments(reader_of(request), parse_experiments_query(request.query_params))
    return _render(request, "runs.html", section="experiments", view=view)


def datasets(request: Request) -> Response:
    """``/datasets``: datasets named by runs, with how many runs used each."""
    view = load_datasets(reader_of(request))
    return _render(request, "datasets.html", section="datasets", rows=view.rows)


def run(request: Request) -> Response:
    """``/runs/{run_id}``: a run, or its comparison with ``?compare=BASELINE``."""
    query = parse_run_query(request.query_params)
    view = load_run(reader_of(request), request.path_params["run_id"], query)
    template = "compare.html" if isinstance(view, ComparisonView) else "run.html"
    return _render(request, template, section="experiments", view=view)


def datapoint(request: Request) -> Response:
    """``/runs/{run_id}/datapoints/{datapoint_id}``: one datapoint, both runs side by side."""
    query = parse_run_query(request.query_params)
    view = load_datapoint(
        reader_of(request), request.path_params["run_id"], datapoint_id_of(request), query
    )
    return _render(request, "datapoint.html", section="experiments", view=view)


def compare(request: Request) -> Response:
    """``/compare``: several runs against one baseline (``?baseline=&runs=&runs=``)."""
    view = load_many(reader_of(request), parse_many_query(request.query_params))
    return _render(request, "many.html", section="compare", view=view)
