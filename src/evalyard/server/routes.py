"""The URL table of the UI and of the API, in one screen, with what each route needs.

Every page state is in the query string (see :mod:`.query`); each page has a JSON twin
under ``/api/v1``. The team server (``evalyard server``) adds the SDK's endpoints; the
write endpoints exist only on a writable app. ``access`` is checked by
:func:`~evalyard.server.access.guarded` on every route (tests call each route of this
table without a token, with a read token and with another project's token).

| path | access | page or endpoint |
|---|---|---|
| ``/`` | read | redirects to ``/experiments`` |
| ``/experiments`` | read | the runs (project, dataset, page) |
| ``/datasets`` | read | datasets named by runs, with run counts |
| ``/compare`` | read | several runs against a baseline (baseline, runs, aggregate, step, |
| | | metric, page) |
| ``/runs/{run_id}`` | read | a run; with ``compare``, its comparison (compare, aggregate, |
| | | step, metric, show, sort, page, diff) |
| ``/runs/{run_id}/datapoints/{datapoint_id}`` | read | a datapoint (compare, aggregate, |
| | | step, epoch) |
| ``/runs/{run_id}/datapoint?id=`` | read | the same, for the ids ``.`` and ``..`` |
| ``/login`` | public | the login form (GET), logging in (POST) |
| ``/logout`` | public | logging out (POST, with the session's CSRF token) |
| ``/api/v1/...`` | read / write | JSON twins (:mod:`.api`), the SDK's reads |
| | | (:mod:`.api_store`) and writes (:mod:`.api_write`) |
| ``/v1/traces`` | write | OTLP/HTTP trace ingestion (:mod:`.api.traces`) |
| ``/static/...`` | public | app.css, app.js, favicon.svg |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from evalyard.server import access
from evalyard.server.access import Access, guarded
from evalyard.server.api import reads as api_store
from evalyard.server.api import traces as api_traces
from evalyard.server.api import twins as api
from evalyard.server.api import writes as api_write
from evalyard.server.web import pages

__all__ = ["RouteSpec", "build_routes", "route_table"]


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One route of the table."""

    path: str
    """The path, with ``{name}`` parameters."""
    endpoint: Callable[[Request], Response] | Callable[[Request], Awaitable[Response]]
    """The handler: a plain function, run behind the access check (or, for the login
    routes, the async handler itself)."""
    methods: tuple[str, ...]
    """The HTTP methods it answers."""
    name: str
    """The route's name."""
    access: Access
    """What a caller needs: ``public``, ``read`` or ``write``."""
    body: bool = False
    """Whether it takes a body (415/413/422 apply)."""
    media_types: tuple[str, ...] = ("application/json",)
    """The content types of its body."""
    guard: bool = True
    """False for the login routes, which check their own forms."""


def route_table(*, writable: bool) -> list[RouteSpec]:
    """Every route but the static files; the write endpoints only when ``writable``."""
    read: Access = "read"
    table = [
        RouteSpec("/", pages.home, ("GET",), "home", read),
        RouteSpec("/experiments", pages.experiments, ("GET",), "experiments", read),
        RouteSpec("/datasets", pages.datasets, ("GET",), "datasets", read),
        RouteSpec("/runs/{run_id}", pages.run, ("GET",), "run", read),
        RouteSpec("/compare", pages.compare, ("GET",), "compare", read),
        RouteSpec(
            "/runs/{run_id}/datapoints/{datapoint_id:path}",
            pages.datapoint,
            ("GET",),
            "datapoint",
            read,
        ),
        # A datapoint whose id is "." or ".." (not a usable path segment), by ?id=.
        RouteSpec("/runs/{run_id}/datapoint", pages.datapoint, ("GET",), "datapoint_q", read),
        RouteSpec("/login", access.login_form, ("GET",), "login", "public"),
        RouteSpec("/login", access.login_submit, ("POST",), "login_submit", "public", guard=False),
        RouteSpec("/logout", access.logout_submit, ("POST",), "logout", "public", guard=False),
        RouteSpec("/api/v1/runs", api.runs, ("GET",), "api_runs", read),
        RouteSpec("/api/v1/datasets", api.datasets, ("GET",), "api_datasets", read),
        RouteSpec("/api/v1/compare", api.compare, ("GET",), "api_compare", read),
        RouteSpec("/api/v1/runs/{run_id}", api.run, ("GET",), "api_run", read),
        RouteSpec(
            "/api/v1/runs/{run_id}/comparison", api.comparison, ("GET",), "api_comparison", read
        ),
        RouteSpec(
            "/api/v1/runs/{run_id}/datapoints", api.datapoints, ("GET",), "api_datapoints", read
        ),
        RouteSpec(
            "/api/v1/runs/{run_id}/datapoints/{datapoint_id:path}",
            api.datapoint,
            ("GET",),
            "api_datapoint",
            read,
        ),
        RouteSpec("/api/v1/runs/{run_id}/datapoint", api.datapoint, ("GET",), "api_dp_q", read),
        RouteSpec("/api/v1/runs/{run_id}/info", api_store.run_info, ("GET",), "api_info", read),
        RouteSpec("/api/v1/runs/{run_id}/steps", api_store.steps, ("GET",), "api_steps", read),
        RouteSpec(
            "/api/v1/runs/{run_id}/metric-kinds",
            api_store.metric_kinds,
            ("GET",),
            "api_metric_kinds",
            read,
        ),
        RouteSpec(
            "/api/v1/runs/{run_id}/result-keys",
            api_store.result_keys,
            ("GET",),
            "api_result_keys",
            read,
        ),
        RouteSpec(
            "/api/v1/runs/{run_id}/results", api_store.results, ("GET",), "api_results", read
        ),
        RouteSpec("/api/v1/runs/{run_id}/values", api_store.values, ("GET",), "api_values", read),
        RouteSpec("/api/v1/run-search", api_store.run_search, ("GET",), "api_run_search", read),
        RouteSpec(
            "/api/v1/metric-definitions",
            api_store.metric_definitions,
            ("GET",),
            "api_metric_definitions",
            read,
        ),
        RouteSpec("/api/v1/openapi.json", api_store.openapi, ("GET",), "api_openapi", read),
    ]
    if writable:
        write: Access = "write"
        table += [
            RouteSpec(
                "/api/v1/runs", api_write.create_run, ("POST",), "api_create_run", write, True
            ),
            RouteSpec(
                "/api/v1/runs/{run_id}/reopen",
                api_write.reopen_run,
                ("POST",),
                "api_reopen_run",
                write,
                True,
            ),
            RouteSpec(
                "/api/v1/runs/{run_id}/finish",
                api_write.finish_run,
                ("POST",),
                "api_finish_run",
                write,
                True,
            ),
            RouteSpec(
                "/api/v1/runs/{run_id}/batches",
                api_write.log_batch,
                ("POST",),
                "api_log_batch",
                write,
                True,
            ),
            RouteSpec(
                "/api/v1/metric-definitions",
                api_write.define_metric_definition,
                ("POST",),
                "api_define_metric",
                write,
                True,
            ),
            # OTLP/HTTP's own path, so that an exporter pointed at the server finds it.
            RouteSpec(
                "/v1/traces",
                api_traces.export_traces,
                ("POST",),
                "otlp_traces",
                write,
                True,
                media_types=api_traces.TRACES_MEDIA_TYPES,
            ),
        ]
    return table


def build_routes(static_dir: Path, *, writable: bool = False) -> list[BaseRoute]:
    """The routes of the app; ``static_dir`` holds app.css and app.js."""
    routes: list[BaseRoute] = []
    for spec in route_table(writable=writable):
        endpoint = spec.endpoint
        if spec.guard:
            endpoint = guarded(
                spec.endpoint,  # type: ignore[arg-type]
                spec.access,
                body=spec.body,
                media_types=spec.media_types,
            )
        routes.append(Route(spec.path, endpoint, methods=list(spec.methods), name=spec.name))
    routes.append(Mount("/static", StaticFiles(directory=static_dir), name="static"))
    return routes
