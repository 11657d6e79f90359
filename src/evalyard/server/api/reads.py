"""The read side the SDK needs, as the store offers it (the pages' twins are in :mod:`.api`).

| ``GET`` under ``/api/v1`` | answers |
|---|---|
| ``/runs/{run_id}/info`` | the run |
| ``/runs/{run_id}/steps`` | its step names |
| ``/runs/{run_id}/metric-kinds`` | the kind of each (scope, metric) |
| ``/runs/{run_id}/result-keys`` | the (datapoint id, epoch) of each result |
| ``/runs/{run_id}/results?datapoint_id=…`` | results of some datapoints, or a page of all |
| ``/runs/{run_id}/values?scope=`` | metric values at a scope, binary (:mod:`evalyard.store.wire`) |
| ``/run-search?reference=&project=&limit=`` | runs by reference, or the newest runs |
| ``/metric-definitions?project=`` | a project's metric definitions |
| ``/openapi.json`` | the OpenAPI description |

Query parameters are checked against their documented schemas first
(:func:`.operations.check_query`: 422 naming the parameter), then as the pages check them;
a run of a project the token does not open is not found (404).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from evalyard.core.ids import MAX_DATAPOINT_ID_LENGTH, MAX_NAME_LENGTH, check_name
from evalyard.errors import InvalidInputError
from evalyard.server.access import check_project, grant_of, visible_run
from evalyard.server.api.responses import ORJSONResponse
from evalyard.server.context import context_of
from evalyard.server.web.query import BadParameterError
from evalyard.store.base import SESSION_SCOPE, Store
from evalyard.store.wire import VALUES_MEDIA_TYPE, pack_block

__all__ = [
    "metric_definitions",
    "metric_kinds",
    "openapi",
    "result_keys",
    "results",
    "run_info",
    "run_search",
    "steps",
    "values",
]

#: Results per page of ``/results`` unless ``limit`` says otherwise, and at most.
RESULTS_PAGE = 1000
MAX_RESULTS_PAGE = 10_000
MAX_IDS = 1000


def _store(request: Request) -> Store:
    return context_of(request).store


def _text(request: Request, name: str, *, limit: int) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if len(value) > limit:
        raise BadParameterError(name, value, f"at most {limit} characters")
    return value


def _count(request: Request, name: str, *, low: int, high: int) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise BadParameterError(name, value, f"a whole number from {low} to {high:,}")
    return int(value)


def _run(request: Request) -> str:
    return visible_run(_store(request), request.path_params["run_id"], grant_of(request)).run_id


def run_info(request: Request) -> Response:
    """The run as the store describes it."""
    info = visible_run(_store(request), request.path_params["run_id"], grant_of(request))
    return ORJSONResponse({"run": info.to_dict()})


def steps(request: Request) -> Response:
    """The names of the run's steps, sorted."""
    return ORJSONResponse({"steps": _store(request).list_steps(_run(request))})


def metric_kinds(request: Request) -> Response:
    """The kind of each (scope, metric) the run holds."""
    kinds = _store(request).metric_kinds(_run(request))
    return ORJSONResponse(
        {
            "kinds": [
                {"scope": scope, "metric": metric, "kind": kind.value}
                for (scope, metric), kind in sorted(kinds.items())
            ]
        }
    )


def result_keys(request: Request) -> Response:
    """The (datapoint id, epoch) of every result, sorted."""
    keys = _store(request).result_keys(_run(request))
    return ORJSONResponse({"keys": [[datapoint_id, epoch] for datapoint_id, epoch in keys]})


def results(request: Request) -> Response:
    """Results of the given datapoints, or a page of all of them after a key."""
    store = _store(request)
    run_id = _run(request)
    wanted = request.query_params.getlist("datapoint_id")
    if wanted:
        if len(wanted) > MAX_IDS:
            raise BadParameterError("datapoint_id", wanted[0], f"at most {MAX_IDS} of them")
        for value in wanted:
            if not value or len(value) > MAX_DATAPOINT_ID_LENGTH:
                raise BadParameterError("datapoint_id", value, "a datapoint id")
        found = store.get_results(run_id, wanted)
        return ORJSONResponse({"results": [r.to_dict() for r in found], "next": None})
    limit = _count(request, "limit", low=1, high=MAX_RESULTS_PAGE) or RESULTS_PAGE
    after_id = _text(request, "after_datapoint", limit=MAX_DATAPOINT_ID_LENGTH)
    after_epoch = _count(request, "after_epoch", low=0, high=1_000_000)
    after = None if after_id is None else (after_id, after_epoch or 0)
    page = _page_of(request, run_id, after, limit)
    following = None
    if len(page) == limit:
        last = page[-1]
        following = {"after_datapoint": last["datapoint_id"], "after_epoch": last["epoch"]}
    return ORJSONResponse({"results": page, "next": following})


def _page_of(
    request: Request, run_id: str, after: tuple[str, int] | None, limit: int
) -> list[dict[str, object]]:
    context = context_of(request)
    if context.pager is not None:
        return [r.to_dict() for r in context.pager.result_page(run_id, after=after, limit=limit)]
    every = context.store.get_results(run_id)  # a store without paging: slice what it gives
    if after is not None:
        every = [r for r in every if (r.datapoint_id, r.epoch) > after]
    return [r.to_dict() for r in every[:limit]]


def values(request: Request) -> Response:
    """The run's metric values at a scope, one row per (datapoint, epoch), binary."""
    blocks = context_of(request).blocks
    run_id = _run(request)
    scope = _text(request, "scope", limit=MAX_NAME_LENGTH) or SESSION_SCOPE
    if blocks is None:
        raise InvalidInputError("this server's store cannot send metric values")
    return Response(pack_block(blocks.load_block(run_id, scope)), media_type=VALUES_MEDIA_TYPE)


def run_search(request: Request) -> Response:
    """Runs by reference (id, else name, else id prefix), or the newest runs."""
    store = _store(request)
    grant = grant_of(request)
    reference = _text(request, "reference", limit=MAX_NAME_LENGTH)
    project = _text(request, "project", limit=MAX_NAME_LENGTH)
    limit = _count(request, "limit", low=1, high=100_000)
    if grant.project is not None:
        if project is not None and project != grant.project:
            return ORJSONResponse({"runs": []})
        project = grant.project
    if reference is not None:
        found = store.find_runs(reference, project=project)
        if limit is not None:
            found = found[:limit]
    else:
        found = store.list_runs(project=project, limit=limit)
    return ORJSONResponse({"runs": [info.to_dict() for info in found]})


def metric_definitions(request: Request) -> Response:
    """The project's metric definitions."""
    project = _text(request, "project", limit=MAX_NAME_LENGTH) or "default"
    try:
        check_name(project, what="project name")
    except InvalidInputError:
        raise BadParameterError("project", project, "a project name") from None
    check_project(grant_of(request), project)
    definitions = _store(request).metric_definitions(project)
    return ORJSONResponse(
        {
            "metrics": [
                {"name": d.name, "direction": d.direction.value, "tolerance": d.tolerance}
                for d in sorted(definitions.values(), key=lambda d: d.name)
            ]
        }
    )


def openapi(request: Request) -> Response:
    """The OpenAPI description of this API."""
    return ORJSONResponse(context_of(request).openapi)
