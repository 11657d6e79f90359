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
| ``/api/v1/...`` | read / write | the operations of :mod:`.api.operations`: JSON twins, |
| | | the SDK's reads and writes, the OpenAPI description made from them |
| ``/v1/traces`` | write | OTLP/HTTP trace ingestion (:mod:`.api.traces`), in the same table |
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
from evalyard.server.api.operations import Operation, check_query, operations
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
    ]
    # The API: one route per operation of the table the OpenAPI description is made from.
    table += [
        RouteSpec(
            op.path,
            _query_checked(op),
            (op.method,),
            op.name,
            op.access,
            op.takes_body or op.body is not None or op.body_content is not None,
            media_types=op.media_types,
        )
        for op in operations(writable=writable)
    ]
    return table


def _query_checked(operation: Operation) -> Callable[[Request], Response]:
    """The operation's handler, after its query parameters are checked (422)."""
    endpoint = operation.endpoint

    def handle(request: Request) -> Response:
        check_query(operation, request)
        return endpoint(request)

    handle.__name__ = getattr(endpoint, "__name__", "endpoint")
    handle.__doc__ = endpoint.__doc__
    return handle


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
