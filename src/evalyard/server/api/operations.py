"""Every operation of ``/api/v1``, described once: the routes, the OpenAPI description and
the checks of query parameters are all made from this table.

An :class:`Operation` says its method, path, handler, access, parameters (with their JSON
schemas), request body, answer and the errors its handler can raise. :mod:`..routes`
serves each operation, :mod:`.openapi` describes each, and :func:`check_query` validates
a request's query parameters against the documented schemas before the handler runs (422
naming the parameter). The errors every operation can answer are added here too (a
``Host`` the server does not answer to, no token, a URL over the limit, the store
unavailable), so the description lists every status a client can get.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from jsonschema import Draft202012Validator
from starlette.requests import Request
from starlette.responses import Response

from evalyard.core.aggregate import AGGREGATE_FUNCTIONS
from evalyard.core.ids import MAX_DATAPOINT_ID_LENGTH, MAX_NAME_LENGTH
from evalyard.server.api import reads, traces, twins, writes
from evalyard.server.api.schemas import BATCH_ENVELOPE, OTLP_TRACES_JSON, TEXT_PATTERN, name
from evalyard.server.errors import QueryParameterError
from evalyard.server.web.query import MAX_PAGE, MAX_RUNS, SHOW_OPTIONS, SORT_KEYS

__all__ = [
    "COMMON_ERRORS",
    "ERROR_TEXT",
    "Operation",
    "Param",
    "check_query",
    "operations",
]

Access = Literal["public", "read", "write"]
Endpoint = Callable[[Request], Response]

#: What each error status means, as the description says it.
ERROR_TEXT: dict[int, str] = {
    400: "A Host name the server does not answer to, a query parameter outside its "
    "allow-list (a metric or step the run lacks...), or an OTLP body that cannot be read.",
    401: "No valid access token (when the server has auth on).",
    403: "The token does not allow this (read-only, or another project named), or the "
    "request came from another site.",
    404: "No such run (or a run of a project the token does not open), or datapoint.",
    409: "A run with this id, or of this name in the project, exists.",
    413: "The request body is over the server's limit.",
    414: "The URL is over the server's limit (256 KiB).",
    415: "The body is not application/json (nor application/x-protobuf, for /v1/traces).",
    422: "A query parameter or body outside its schema, malformed JSON, or a value evalyard "
    "refuses; ``parameter`` or ``field`` says where.",
    503: "The store is unavailable (its database unreachable, full or damaged); try again "
    "after Retry-After seconds.",
}

_WHOLE = re.compile("-?[0-9]{1,18}")

#: Errors any operation can answer: a Host not allowed, no token, a URL too long, no store.
COMMON_ERRORS = (400, 401, 414, 503)


@dataclass(frozen=True, slots=True)
class Param:
    """A path or query parameter."""

    name: str
    schema: dict[str, Any]
    description: str
    where: Literal["query", "path"] = "query"
    required: bool = False

    @property
    def many(self) -> bool:
        """Whether the parameter repeats (``?runs=a&runs=b``)."""
        return self.schema.get("type") == "array"

    def describe(self) -> dict[str, Any]:
        """The parameter as OpenAPI describes it."""
        found: dict[str, Any] = {
            "name": self.name,
            "in": self.where,
            "required": self.required or self.where == "path",
            "schema": self.schema,
            "description": self.description,
        }
        if self.many:
            found.update(style="form", explode=True)
        return found


@dataclass(frozen=True, slots=True)
class Operation:
    """One method on one path of the API."""

    method: str
    path: str
    """The route's path (``{name:path}`` for a parameter holding slashes)."""
    name: str
    endpoint: Endpoint
    access: Access
    summary: str
    answer: dict[str, Any]
    """The schema of the successful answer (or a whole response object for non-JSON)."""
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None
    """The request body's schema (or a ``$ref`` to one), when it takes one."""
    takes_body: bool = False
    """Whether a body is read (413 and 415 apply), even without a schema."""
    body_content: dict[str, Any] | None = None
    """The request body's content by media type, for an operation that takes other types
    than JSON (``/v1/traces``); its errors are then answered in each of those types."""
    status: int = 200
    errors: tuple[int, ...] = ()
    """The errors the handler itself raises, besides :data:`COMMON_ERRORS`."""
    validators: dict[str, Draft202012Validator] = field(default_factory=dict, compare=False)

    @property
    def media_types(self) -> tuple[str, ...]:
        """The content types of its body."""
        return tuple(self.body_content) if self.body_content else ("application/json",)

    @property
    def openapi_path(self) -> str:
        """The path as OpenAPI writes it."""
        return self.path.replace(":path}", "}")

    def error_statuses(self) -> list[int]:
        """Every error status the operation can answer."""
        found = set(COMMON_ERRORS) | set(self.errors)
        if any(p.where == "query" for p in self.params) or self.body is not None:
            found.add(422)
        if self.takes_body or self.body is not None or self.body_content is not None:
            found |= {413, 415}
        if self.access == "write" or self.method != "GET":
            found.add(403)
        if any(p.where == "path" for p in self.params):
            found.add(404)
        return sorted(found)


def check_query(operation: Operation, request: Request) -> None:
    """Check the request's query parameters against the operation's documented schemas.

    Raises:
        QueryParameterError: a parameter outside its schema, or a required one missing (422).
    """
    params = request.query_params
    for param in operation.params:
        if param.where != "query":
            continue
        given = params.getlist(param.name)
        if not given:
            if param.required:
                raise QueryParameterError(param.name, None, "it is required")
            continue
        value: Any = given if param.many else given[-1]
        if param.schema.get("type") == "integer":
            if not _WHOLE.fullmatch(value):
                raise QueryParameterError(param.name, value, "a whole number")
            value = int(value)
        check = operation.validators.get(param.name)
        if check is None:
            check = operation.validators[param.name] = Draft202012Validator(param.schema)
        error = next(iter(check.iter_errors(value)), None)
        if error is not None:
            said = error.message if len(error.message) <= 200 else error.message[:200] + "…"
            raise QueryParameterError(param.name, given[-1], said)


# -- the parameters ----------------------------------------------------------------------

_TEXT = {"type": "string", "maxLength": MAX_NAME_LENGTH, "pattern": TEXT_PATTERN}
_RUN_ID = Param(
    "run_id",
    {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH, "pattern": "^[^/]+$"},
    "The run's exact id.",
    where="path",
)
_RUN_REF = {"type": "string", "maxLength": MAX_DATAPOINT_ID_LENGTH, "pattern": TEXT_PATTERN}
_RUN_NEEDED = {**_RUN_REF, "minLength": 1}
_PAGE = Param("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "Page, from 1.")
_SORTS = [prefix + key for key in SORT_KEYS for prefix in ("", "-")]
_AGGREGATE = Param("aggregate", {"enum": list(AGGREGATE_FUNCTIONS)}, "Aggregate function.")
_STEP = Param("step", _TEXT, "Scope to the steps of this name (else the session).")
_PAGE_QUERY = (
    _AGGREGATE,
    _STEP,
    Param("metric", _TEXT, "The metric of the datapoint table."),
    Param("show", {"enum": list(SHOW_OPTIONS)}, "Which datapoints the table lists."),
    Param("sort", {"enum": _SORTS}, "The table's order; '-' first for descending."),
    _PAGE,
    Param("diff", {"enum": ["", "0", "1", "on"]}, "Show output differences."),
)
_COMPARE = Param("compare", _RUN_REF, "The baseline run's exact id.")
_OBJECT: dict[str, Any] = {"type": "object"}


def _ref(component: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{component}"}


def _run_answer() -> dict[str, Any]:
    return {"type": "object", "properties": {"run": _ref("Run")}}


def _reads() -> list[Operation]:
    get = "GET"
    return [
        Operation(
            get,
            "/api/v1/runs",
            "api_runs",
            twins.runs,
            "read",
            "Runs, newest first, with their metric averages (the Experiments page).",
            _OBJECT,
            params=(
                Param("project", _TEXT, "Only runs of this project."),
                Param("dataset", _TEXT, "Only runs on this dataset."),
                _PAGE,
            ),
            errors=(400,),
        ),
        Operation(
            get,
            "/api/v1/datasets",
            "api_datasets",
            twins.datasets,
            "read",
            "Datasets named by runs, with run counts.",
            _OBJECT,
        ),
        Operation(
            get,
            "/api/v1/compare",
            "api_compare",
            twins.compare,
            "read",
            "Several runs against a baseline (the Compare runs page): "
            "MultiComparison.to_dict(), the chosen metric's verdict matrix, a page of its "
            "datapoint grid and its trend over the project's runs.",
            _OBJECT,
            params=(
                Param("baseline", _RUN_NEEDED, "The baseline run's exact id.", required=True),
                Param(
                    "runs",
                    {"type": "array", "items": _RUN_NEEDED, "minItems": 1, "maxItems": MAX_RUNS},
                    "A run to compare with the baseline (repeat for each).",
                    required=True,
                ),
                _AGGREGATE,
                _STEP,
                Param("metric", _TEXT, "The metric of the matrix, the grid and the trend."),
                _PAGE,
            ),
            errors=(404,),
        ),
        Operation(
            get,
            "/api/v1/runs/{run_id}",
            "api_run",
            twins.run,
            "read",
            "A run, its aggregates at a scope, and a page of its datapoints.",
            _OBJECT,
            params=(_RUN_ID, *_PAGE_QUERY),
        ),
        Operation(
            get,
            "/api/v1/runs/{run_id}/comparison",
            "api_comparison",
            twins.comparison,
            "read",
            "The comparison with a baseline: RunComparisonResult.to_dict() and a page of "
            "the datapoint table.",
            _OBJECT,
            params=(
                _RUN_ID,
                Param("compare", _RUN_NEEDED, "The baseline run's exact id.", required=True),
                *_PAGE_QUERY,
            ),
        ),
        Operation(
            get,
            "/api/v1/runs/{run_id}/datapoints",
            "api_datapoints",
            twins.datapoints,
            "read",
            "A page of the datapoint table, with the UI's filters (show, metric, sort).",
            _OBJECT,
            params=(
                _RUN_ID,
                _COMPARE,
                *_PAGE_QUERY,
            ),
        ),
        Operation(
            get,
            "/api/v1/runs/{run_id}/datapoints/{datapoint_id:path}",
            "api_datapoint",
            twins.datapoint,
            "read",
            "A datapoint's results in the run (and in the baseline).",
            _OBJECT,
            params=(
                _RUN_ID,
                Param(
                    "datapoint_id",
                    {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_DATAPOINT_ID_LENGTH,
                        "pattern": "^[^/\\x00-\\x1f\\x7f]+$",
                    },
                    "The datapoint's id.",
                    where="path",
                ),
                _COMPARE,
                _AGGREGATE,
                _STEP,
            ),
            errors=(400,),
        ),
        Operation(
            get,
            "/api/v1/runs/{run_id}/datapoint",
            "api_dp_q",
            twins.datapoint,
            "read",
            "The same, with the datapoint id in the query (for ids such as '..').",
            _OBJECT,
            params=(
                _RUN_ID,
                Param(
                    "id",
                    {**_RUN_NEEDED, "maxLength": MAX_DATAPOINT_ID_LENGTH},
                    "The datapoint's id.",
                    required=True,
                ),
                _COMPARE,
            ),
            errors=(400,),
        ),
        Operation(
            get,
            "/api/v1/runs/{run_id}/info",
            "api_info",
            reads.run_info,
            "read",
            "The run as the store describes it.",
            _run_answer(),
            params=(_RUN_ID,),
        ),
        Operation(
            get,
            "/api/v1/runs/{run_id}/steps",
            "api_steps",
            reads.steps,
            "read",
            "The names of the run's steps, sorted.",
            {"type": "object", "properties": {"steps": {"type": "array"}}},
            params=(_RUN_ID,),
        ),
        Operation(
            get,
            "/api/v1/runs/{run_id}/metric-kinds",
            "api_metric_kinds",
            reads.metric_kinds,
            "read",
            "The kind of each (scope, metric) the run holds; scope '' is the session.",
            {"type": "object", "properties": {"kinds": {"type": "array"}}},
            params=(_RUN_ID,),
        ),
        Operation(
            get,
            "/api/v1/runs/{run_id}/result-keys",
            "api_result_keys",
            reads.result_keys,
            "read",
            "The [datapoint_id, epoch] of every result of the run, sorted.",
            {"type": "object", "properties": {"keys": {"type": "array"}}},
            params=(_RUN_ID,),
        ),
        Operation(
            get,
            "/api/v1/runs/{run_id}/results",
            "api_results",
            reads.results,
            "read",
            "Results of the run: of the given datapoint ids, else a page after a key.",
            {
                "type": "object",
                "properties": {
                    "results": {"type": "array", "items": _ref("Result")},
                    "next": {"type": ["object", "null"]},
                },
            },
            params=(
                _RUN_ID,
                Param(
                    "datapoint_id",
                    {
                        "type": "array",
                        "items": {"type": "string", "minLength": 1, "maxLength": 512},
                        "maxItems": reads.MAX_IDS,
                    },
                    "Only these datapoints (repeat the parameter).",
                ),
                Param(
                    "after_datapoint",
                    {"type": "string", "maxLength": MAX_DATAPOINT_ID_LENGTH},
                    "Page after this datapoint id.",
                ),
                Param(
                    "after_epoch",
                    {"type": "integer", "minimum": 0, "maximum": 1_000_000},
                    "...and epoch.",
                ),
                Param(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": reads.MAX_RESULTS_PAGE},
                    "Size.",
                ),
            ),
        ),
        Operation(
            get,
            "/api/v1/runs/{run_id}/values",
            "api_values",
            reads.values,
            "read",
            "The run's metric values at a scope, one row per (datapoint, epoch), in the "
            "binary form described in evalyard.store.wire.",
            {
                "description": "OK",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            },
            params=(
                _RUN_ID,
                Param("scope", {"type": "string", "maxLength": MAX_NAME_LENGTH}, "Step name."),
            ),
        ),
        Operation(
            get,
            "/api/v1/run-search",
            "api_run_search",
            reads.run_search,
            "read",
            "Runs by reference (exact id, else name, else id prefix of 6+ characters), or "
            "the newest runs.",
            {"type": "object", "properties": {"runs": {"type": "array", "items": _ref("Run")}}},
            params=(
                Param(
                    "reference", {"type": "string", "maxLength": MAX_NAME_LENGTH}, "A reference."
                ),
                Param("project", {"type": "string", "maxLength": MAX_NAME_LENGTH}, "A project."),
                Param("limit", {"type": "integer", "minimum": 1, "maximum": 100_000}, "At most."),
            ),
        ),
        Operation(
            get,
            "/api/v1/metric-definitions",
            "api_metric_definitions",
            reads.metric_definitions,
            "read",
            "The project's metric definitions.",
            {"type": "object", "properties": {"metrics": {"type": "array"}}},
            params=(
                Param(
                    "project",
                    {"anyOf": [name("The project."), {"const": ""}]},
                    "The project (default 'default').",
                ),
            ),
            errors=(403,),
        ),
        Operation(
            get,
            "/api/v1/openapi.json",
            "api_openapi",
            reads.openapi,
            "read",
            "This description.",
            _OBJECT,
        ),
    ]


def _writes() -> list[Operation]:
    post = "POST"
    batch = {
        **BATCH_ENVELOPE,
        "properties": {
            **BATCH_ENVELOPE["properties"],
            "records": {"type": "array", "items": _ref("Record")},
        },
    }
    return [
        Operation(
            post,
            "/api/v1/runs",
            "api_create_run",
            writes.create_run,
            "write",
            "Create a run in status running.",
            _run_answer(),
            body=_ref("RunCreate"),
            status=201,
            errors=(409,),
        ),
        Operation(
            post,
            "/api/v1/runs/{run_id}/reopen",
            "api_reopen_run",
            writes.reopen_run,
            "write",
            "Set a run back to running (to resume or extend it).",
            _run_answer(),
            params=(_RUN_ID,),
            takes_body=True,
        ),
        Operation(
            post,
            "/api/v1/runs/{run_id}/finish",
            "api_finish_run",
            writes.finish_run,
            "write",
            "Give a run (or one of its shards) its final status.",
            _run_answer(),
            params=(_RUN_ID,),
            body=_ref("RunFinish"),
        ),
        Operation(
            post,
            "/api/v1/runs/{run_id}/batches",
            "api_log_batch",
            writes.log_batch,
            "write",
            "Log a batch of results in one transaction, once per idempotency key. All or "
            "nothing: a refused record refuses the batch, naming it (index, field).",
            {
                "type": "object",
                "properties": {
                    "record_count": {"type": "integer"},
                    "duplicate": {"type": "boolean"},
                },
            },
            params=(_RUN_ID,),
            body=batch,
        ),
        Operation(
            post,
            "/api/v1/metric-definitions",
            "api_define_metric",
            writes.define_metric_definition,
            "write",
            "Create or replace a metric definition.",
            _OBJECT,
            body=_ref("MetricDefinition"),
        ),
    ]


def _otlp() -> Operation:
    binary = {"type": "string", "format": "binary"}
    answer = {
        "type": "object",
        "description": "An ExportTraceServiceResponse: partialSuccess when spans were refused.",
        "properties": {
            "partialSuccess": {
                "type": "object",
                "properties": {
                    "rejectedSpans": {"type": "string"},
                    "errorMessage": {"type": "string"},
                },
            }
        },
    }
    return Operation(
        "POST",
        "/v1/traces",
        "otlp_traces",
        traces.export_traces,
        "write",
        "OTLP/HTTP trace ingestion (OTLP's own path): the spans carrying evalyard.run_id "
        "and evalyard.datapoint_id become results and steps of their runs, in one "
        "transaction, once per request body (docs/server.md). Errors are google.rpc.Status "
        "in protobuf for a protobuf request.",
        {
            "description": "OK",
            "content": {
                "application/x-protobuf": {"schema": binary},
                "application/json": {"schema": answer},
            },
        },
        body_content={
            "application/x-protobuf": {"schema": binary},
            "application/json": {"schema": OTLP_TRACES_JSON},
        },
        errors=(400, 404, 422),
    )


def operations(*, writable: bool) -> list[Operation]:
    """Every operation of the API; the write operations only when ``writable``."""
    return _reads() + ([*_writes(), _otlp()] if writable else [])
