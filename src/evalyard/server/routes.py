"""The URL table of the UI and of its JSON twin, in one screen.

Every page state is in the query string (see :mod:`.query`); each page has a JSON twin
under ``/api/v1`` (read-only for now) that answers with the same data.

| path | page (query parameters) |
|---|---|
| ``/`` | redirects to ``/experiments`` |
| ``/experiments`` | the runs (project, dataset, page) |
| ``/datasets`` | datasets named by runs, with run counts |
| ``/runs/{run_id}`` | a run; with ``compare``, its comparison (compare, aggregate, step, |
| | metric, show, sort, page, diff) |
| ``/runs/{run_id}/datapoints/{datapoint_id}`` | a datapoint (compare, aggregate, step, epoch) |
| ``/runs/{run_id}/datapoint?id=`` | the same, for the ids ``.`` and ``..`` |
| ``/api/v1/...`` | the JSON twin of each page (see :mod:`.api`) |
| ``/static/...`` | app.css, app.js, favicon.svg |
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from evalyard.server import api, pages

__all__ = ["build_routes"]


def build_routes(static_dir: Path) -> list[BaseRoute]:
    """The routes of the app; ``static_dir`` holds app.css and app.js."""
    return [
        Route("/", pages.home, methods=["GET"], name="home"),
        Route("/experiments", pages.experiments, methods=["GET"], name="experiments"),
        Route("/datasets", pages.datasets, methods=["GET"], name="datasets"),
        Route("/runs/{run_id}", pages.run, methods=["GET"], name="run"),
        Route(
            "/runs/{run_id}/datapoints/{datapoint_id:path}",
            pages.datapoint,
            methods=["GET"],
            name="datapoint",
        ),
        # A datapoint whose id is "." or ".." (not a usable path segment), by ?id=.
        Route("/runs/{run_id}/datapoint", pages.datapoint, methods=["GET"], name="datapoint_q"),
        Route("/api/v1/runs", api.runs, methods=["GET"], name="api_runs"),
        Route("/api/v1/datasets", api.datasets, methods=["GET"], name="api_datasets"),
        Route("/api/v1/runs/{run_id}", api.run, methods=["GET"], name="api_run"),
        Route(
            "/api/v1/runs/{run_id}/comparison",
            api.comparison,
            methods=["GET"],
            name="api_comparison",
        ),
        Route(
            "/api/v1/runs/{run_id}/datapoints",
            api.datapoints,
            methods=["GET"],
            name="api_datapoints",
        ),
        Route(
            "/api/v1/runs/{run_id}/datapoints/{datapoint_id:path}",
            api.datapoint,
            methods=["GET"],
            name="api_datapoint",
        ),
        Route("/api/v1/runs/{run_id}/datapoint", api.datapoint, methods=["GET"], name="api_dp_q"),
        Mount("/static", StaticFiles(directory=static_dir), name="static"),
    ]
