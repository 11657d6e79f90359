"""The OpenAPI description of ``/api/v1`` (and of ``/v1/traces``, OTLP), written by hand,
and the request body schemas.

The request body schemas here are the ones the server validates bodies with
(:mod:`.bodies`), so the description cannot drift from what is enforced; a test checks
that every API route of :mod:`.routes` is described with the same methods, and no more.
Served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from evalyard.core.aggregate import AGGREGATE_FUNCTIONS
from evalyard.core.ids import MAX_DATAPOINT_ID_LENGTH, MAX_NAME_LENGTH, MAX_RUN_ID_LENGTH
from evalyard.server.web.query import MAX_PAGE, MAX_RUNS, SHOW_OPTIONS, SORT_KEYS
from evalyard.version import __version__

__all__ = [
    "BATCH_ENVELOPE",
    "METRIC_DEFINITION_BODY",
    "OTLP_TRACES_JSON",
    "RECORD",
    "RUN_CREATE",
    "RUN_FINISH",
    "openapi_document",
]

_NO_CONTROL = "^[^\\x00-\\x1f\\x7f]*$"


def _name(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_NAME_LENGTH,
        "pattern": _NO_CONTROL,
        "description": description,
    }


_METRICS = {
    "type": ["object", "null"],
    "description": "Metric name → a number, a bool (pass/fail), a string (category) or null.",
    "additionalProperties": {"type": ["number", "boolean", "string", "null"]},
}

_STEP: dict[str, Any] = {
    "type": "object",
    "description": "One span of a trace; ``children`` holds nested steps (same shape).",
    "required": ["name"],
    "properties": {
        "name": _name("The step's name."),
        "type": {"enum": ["model", "tool", "chain", "other"]},
        "inputs": {},
        "outputs": {},
        "metrics": _METRICS,
        "error": {},
        "children": {"type": "array", "items": {"type": "object"}},
    },
}

#: A result record of a batch: the keys of ``Run.log_many``.
RECORD: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "A result, as given to Run.log_many. The server checks it with the same "
    "code as local logging.",
    "properties": {
        "datapoint_id": {
            "type": ["string", "integer", "null"],
            "description": "The datapoint's id; null derives one from inputs and ground truth.",
        },
        "id": {"type": ["string", "integer", "null"], "description": "Same as datapoint_id."},
        "epoch": {"type": "integer", "minimum": 0, "maximum": 99_999},
        "inputs": {},
        "outputs": {},
        "ground_truth": {},
        "metadata": {},
        "metrics": _METRICS,
        "steps": {"type": ["array", "null"], "items": _STEP},
        "error": {"type": ["string", "null"]},
        "duration_ms": {"type": ["number", "null"], "minimum": 0},
    },
}

#: The body of ``POST /runs``.
RUN_CREATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "run_id": {
            **_name("The id to give the run (no '/'); generated when left out."),
            "maxLength": MAX_RUN_ID_LENGTH,
        },
        "name": _name(
            "A descriptive name, unique in the project; made up from the id when left out."
        ),
        "project": _name("The run's project (default 'default')."),
        "dataset": {
            "anyOf": [_name("The dataset the run is over."), {"type": "null"}],
        },
        "metadata": {"type": "object", "description": "Facts about the run (JSON data)."},
    },
}

#: The body of ``POST /runs/{run_id}/finish``.
RUN_FINISH: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["status"],
    "properties": {
        "status": {"enum": ["completed", "failed", "cancelled"]},
        "shard": {
            "type": "object",
            "additionalProperties": False,
            "required": ["index", "count"],
            "description": "This process ran shard index of count; the run gets its final "
            "status when the last of the count shards ends.",
            "properties": {
                "index": {"type": "integer", "minimum": 0, "maximum": 99_999},
                "count": {"type": "integer", "minimum": 1, "maximum": 100_000},
            },
        },
    },
}

#: The body of ``POST /runs/{run_id}/batches`` as validated before each record is checked
#: (the records themselves are checked one by one, naming the first refused).
BATCH_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["idempotency_key", "records"],
    "properties": {
        "idempotency_key": {
            "type": "string",
            "minLength": 8,
            "maxLength": 128,
            "pattern": "^[A-Za-z0-9._:-]+$",
            "description": "Chosen by the client, unique per batch: a batch sent again with "
            "the same key is acknowledged without being written twice.",
        },
        "records": {"type": "array", "items": {"type": "object"}},
    },
}

#: The body of ``POST /metric-definitions``.
METRIC_DEFINITION_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "project": _name("The project (default 'default')."),
        "name": _name("The metric's name."),
        "direction": {"enum": ["higher", "lower", "none"]},
        "tolerance": {"type": "number", "minimum": 0},
    },
}

_RUN = {
    "type": "object",
    "required": ["run_id", "name", "project", "status", "created_at"],
    "properties": {
        "run_id": {"type": "string"},
        "name": {"type": "string"},
        "project": {"type": "string"},
        "status": {"enum": ["running", "completed", "failed", "cancelled"]},
        "dataset": {"type": ["string", "null"]},
        "metadata": {"type": "object"},
        "created_at": {"type": "number"},
        "finished_at": {"type": ["number", "null"]},
        "result_count": {"type": "integer"},
        "datapoint_count": {"type": "integer"},
    },
}

_RESULT = {
    "type": "object",
    "properties": {
        "datapoint_id": {"type": "string"},
        "epoch": {"type": "integer"},
        "inputs": {},
        "outputs": {},
        "ground_truth": {},
        "metadata": {},
        "metrics": {"type": "object"},
        "steps": {"type": "array"},
        "error": {"type": ["string", "null"]},
        "duration_ms": {"type": ["number", "null"]},
    },
}

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "type", "message"],
            "properties": {
                "status": {"type": "integer"},
                "type": {"type": "string", "description": "The error class's name."},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "Where in the body or record."},
                "index": {"type": "integer", "description": "The refused record's index."},
                "datapoint_id": {"type": "string"},
                "metric": {"type": "string"},
                "step": {"type": "string"},
                "run_id": {"type": "string"},
            },
        }
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "A query parameter outside its allow-list.",
        401: "No valid access token (when the server has auth on).",
        403: "The token does not allow this (read-only, or another project named).",
        404: "No such run (or a run of a project the token does not open).",
        409: "A run with this id, or of this name in the project, exists.",
        413: "The request body is over the server's limit.",
        415: "The body is not application/json.",
        422: "Malformed JSON, a schema violation, or a value evalyard refuses; "
        "``field`` says where.",
    }
    return {str(s): _json(_ref("Error"), text[s]) for s in (*statuses, 401)}


def _query(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description, **extra}


_RUN_ID = {
    "name": "run_id",
    "in": "path",
    "required": True,
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_NAME_LENGTH,
        "pattern": "^[^/]+$",
    },
    "description": "The run's exact id.",
}
_TEXT = {"type": "string", "maxLength": MAX_NAME_LENGTH}
_PAGE = _query("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "Page, from 1.")
_SORTS = [prefix + key for key in SORT_KEYS for prefix in ("", "-")]
_PAGE_QUERY = [
    _query("aggregate", {"enum": list(AGGREGATE_FUNCTIONS)}, "Aggregate function."),
    _query("step", _TEXT, "Scope to the steps of this name (else the session)."),
    _query("metric", _TEXT, "The metric of the datapoint table."),
    _query("show", {"enum": list(SHOW_OPTIONS)}, "Which datapoints the table lists."),
    _query("sort", {"enum": _SORTS}, "The table's order; '-' first for descending."),
    _PAGE,
]
_COMPARE = _query(
    "compare",
    {"type": "string", "maxLength": MAX_DATAPOINT_ID_LENGTH},
    "The baseline run's exact id.",
)


def _get(
    summary: str, response: dict[str, Any], *, params: list[Any], errors: tuple[int, ...]
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {"200": response, **_errors(*errors)},
        }
    }


def _post(
    summary: str,
    body: dict[str, Any] | None,
    response: dict[str, Any],
    *,
    params: list[Any],
    errors: tuple[int, ...],
    status: str = "200",
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": params,
        "responses": {status: response, **_errors(*errors)},
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return {"post": operation}


#: An OTLP/JSON ``ExportTraceServiceRequest``, as far as the schema says (the endpoint
#: reads the rest: ids in hex, 64-bit integers as strings, enums as integers).
OTLP_TRACES_JSON: dict[str, Any] = {
    "type": "object",
    "description": "An ExportTraceServiceRequest in OTLP/JSON.",
    "properties": {
        "resourceSpans": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "resource": {"type": "object"},
                    "scopeSpans": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"spans": {"type": "array", "items": {"type": "object"}}},
                        },
                    },
                },
            },
        }
    },
}


def _otlp_traces() -> dict[str, Any]:
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
    text = {
        400: "The body is not an ExportTraceServiceRequest (protobuf or OTLP/JSON).",
        403: "A read token.",
        404: "A run named by a span does not exist (or is of a project the token does not open).",
        413: "The request body is over the server's limit.",
        415: "The body is neither application/x-protobuf nor application/json.",
        422: "A span with evalyard.run_id but no evalyard.datapoint_id (or the reverse), a "
        "bad value, or a result evalyard refuses; the message names the span.",
        401: "No valid access token (when the server has auth on).",
    }
    return {
        "post": {
            "summary": "OTLP/HTTP trace ingestion: the spans carrying evalyard.run_id and "
            "evalyard.datapoint_id become results and steps of their runs, in one "
            "transaction, once per request body (docs/server.md).",
            "parameters": [],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-protobuf": {"schema": binary},
                    "application/json": {"schema": OTLP_TRACES_JSON},
                },
            },
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        "application/x-protobuf": {"schema": binary},
                        "application/json": {"schema": answer},
                    },
                },
                **{str(status): _json(_ref("Error"), message) for status, message in text.items()},
            },
        }
    }


def openapi_document(*, writable: bool) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API as this app serves it."""
    obj = {"type": "object"}
    paths: dict[str, dict[str, Any]] = {
        "/api/v1/runs": _get(
            "Runs, newest first, with their metric averages (the Experiments page).",
            _json(obj),
            params=[
                _query("project", _TEXT, "Only runs of this project."),
                _query("dataset", _TEXT, "Only runs on this dataset."),
                _PAGE,
            ],
            errors=(400,),
        ),
        "/api/v1/datasets": _get(
            "Datasets named by runs, with run counts.", _json(obj), params=[], errors=()
        ),
        "/api/v1/compare": _get(
            "Several runs against a baseline (the Compare runs page): "
            "MultiComparison.to_dict(), the chosen metric's verdict matrix, a page of its "
            "datapoint grid and its trend over the project's runs.",
            _json(obj),
            params=[
                {**_COMPARE, "name": "baseline", "required": True},
                _query(
                    "runs",
                    {
                        "type": "array",
                        "items": {"type": "string", "maxLength": MAX_DATAPOINT_ID_LENGTH},
                        "maxItems": MAX_RUNS,
                    },
                    "A run to compare with the baseline (repeat for each).",
                    required=True,
                    style="form",
                    explode=True,
                ),
                _query("aggregate", {"enum": list(AGGREGATE_FUNCTIONS)}, "Aggregate function."),
                _query("step", _TEXT, "Scope to the steps of this name (else the session)."),
                _query("metric", _TEXT, "The metric of the matrix, the grid and the trend."),
                _PAGE,
            ],
            errors=(400, 404),
        ),
        "/api/v1/runs/{run_id}": _get(
            "A run, its aggregates at a scope, and a page of its datapoints.",
            _json(obj),
            params=[_RUN_ID, *_PAGE_QUERY],
            errors=(400, 404),
        ),
        "/api/v1/runs/{run_id}/comparison": _get(
            "The comparison with a baseline: RunComparisonResult.to_dict() and a page of "
            "the datapoint table.",
            _json(obj),
            params=[_RUN_ID, {**_COMPARE, "required": True}, *_PAGE_QUERY],
            errors=(400, 404),
        ),
        "/api/v1/runs/{run_id}/datapoints": _get(
            "A page of the datapoint table, with the UI's filters (show, metric, sort).",
            _json(obj),
            params=[
                _RUN_ID,
                _COMPARE,
                *_PAGE_QUERY,
                _query("diff", {"enum": ["0", "1", "on"]}, "Show output differences."),
            ],
            errors=(400, 404),
        ),
        "/api/v1/runs/{run_id}/datapoints/{datapoint_id}": _get(
            "A datapoint's results in the run (and in the baseline).",
            _json(obj),
            params=[
                _RUN_ID,
                {
                    "name": "datapoint_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
                },
                _COMPARE,
                _query("aggregate", {"enum": list(AGGREGATE_FUNCTIONS)}, "Aggregate."),
                _query("step", _TEXT, "Scope to a step."),
            ],
            errors=(400, 404),
        ),
        "/api/v1/runs/{run_id}/datapoint": _get(
            "The same, with the datapoint id in the query (for ids such as '..').",
            _json(obj),
            params=[
                _RUN_ID,
                _query(
                    "id",
                    {"type": "string", "minLength": 1, "maxLength": MAX_DATAPOINT_ID_LENGTH},
                    "The datapoint id.",
                    required=True,
                ),
                _COMPARE,
            ],
            errors=(400, 404),
        ),
        "/api/v1/runs/{run_id}/info": _get(
            "The run as the store describes it.",
            _json({"type": "object", "properties": {"run": _ref("Run")}}),
            params=[_RUN_ID],
            errors=(404,),
        ),
        "/api/v1/runs/{run_id}/steps": _get(
            "The names of the run's steps, sorted.",
            _json({"type": "object", "properties": {"steps": {"type": "array"}}}),
            params=[_RUN_ID],
            errors=(404,),
        ),
        "/api/v1/runs/{run_id}/metric-kinds": _get(
            "The kind of each (scope, metric) the run holds; scope '' is the session.",
            _json({"type": "object", "properties": {"kinds": {"type": "array"}}}),
            params=[_RUN_ID],
            errors=(404,),
        ),
        "/api/v1/runs/{run_id}/result-keys": _get(
            "The [datapoint_id, epoch] of every result of the run, sorted.",
            _json({"type": "object", "properties": {"keys": {"type": "array"}}}),
            params=[_RUN_ID],
            errors=(404,),
        ),
        "/api/v1/runs/{run_id}/results": _get(
            "Results of the run: of the given datapoint ids, else a page after a key.",
            _json(
                {
                    "type": "object",
                    "properties": {
                        "results": {"type": "array", "items": _ref("Result")},
                        "next": {"type": ["object", "null"]},
                    },
                }
            ),
            params=[
                _RUN_ID,
                _query(
                    "datapoint_id",
                    {"type": "array", "items": {"type": "string"}, "maxItems": 1000},
                    "Only these datapoints (repeat the parameter).",
                    style="form",
                    explode=True,
                ),
                _query("after_datapoint", {"type": "string"}, "Page after this datapoint id."),
                _query("after_epoch", {"type": "integer", "minimum": 0}, "...and epoch."),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 10_000}, "Size."),
            ],
            errors=(400, 404),
        ),
        "/api/v1/runs/{run_id}/values": _get(
            "The run's metric values at a scope, one row per (datapoint, epoch), in the "
            "binary form described in evalyard.store.wire.",
            {
                "description": "OK",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            },
            params=[
                _RUN_ID,
                _query("scope", {"type": "string", "maxLength": MAX_NAME_LENGTH}, "Step name."),
            ],
            errors=(400, 404),
        ),
        "/api/v1/run-search": _get(
            "Runs by reference (exact id, else name, else id prefix of 6+ characters), or "
            "the newest runs.",
            _json(
                {
                    "type": "object",
                    "properties": {"runs": {"type": "array", "items": _ref("Run")}},
                }
            ),
            params=[
                _query("reference", {"type": "string", "maxLength": MAX_NAME_LENGTH}, "Ref."),
                _query("project", _TEXT, "Only this project."),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 100_000}, "At most."),
            ],
            errors=(400,),
        ),
        "/api/v1/metric-definitions": _get(
            "The project's metric definitions.",
            _json({"type": "object", "properties": {"metrics": {"type": "array"}}}),
            params=[_query("project", _TEXT, "The project (default 'default').")],
            errors=(400, 403),
        ),
        "/api/v1/openapi.json": _get("This description.", _json(obj), params=[], errors=()),
    }
    if writable:
        paths["/api/v1/runs"].update(
            _post(
                "Create a run in status running.",
                _ref("RunCreate"),
                _json({"type": "object", "properties": {"run": _ref("Run")}}, "Created"),
                params=[],
                errors=(403, 409, 413, 415, 422),
                status="201",
            )
        )
        run_answer = _json({"type": "object", "properties": {"run": _ref("Run")}})
        paths["/api/v1/runs/{run_id}/reopen"] = _post(
            "Set a run back to running (to resume or extend it).",
            None,
            run_answer,
            params=[_RUN_ID],
            errors=(403, 404),
        )
        paths["/api/v1/runs/{run_id}/finish"] = _post(
            "Give a run (or one of its shards) its final status.",
            _ref("RunFinish"),
            run_answer,
            params=[_RUN_ID],
            errors=(403, 404, 413, 415, 422),
        )
        batch = dict(BATCH_ENVELOPE)
        batch["properties"] = {
            **BATCH_ENVELOPE["properties"],
            "records": {"type": "array", "items": _ref("Record")},
        }
        paths["/api/v1/runs/{run_id}/batches"] = _post(
            "Log a batch of results in one transaction, once per idempotency key. All or "
            "nothing: a refused record refuses the batch, naming it (index, field).",
            batch,
            _json(
                {
                    "type": "object",
                    "properties": {
                        "record_count": {"type": "integer"},
                        "duplicate": {"type": "boolean"},
                    },
                }
            ),
            params=[_RUN_ID],
            errors=(403, 404, 413, 415, 422),
        )
        paths["/api/v1/metric-definitions"].update(
            _post(
                "Create or replace a metric definition.",
                _ref("MetricDefinition"),
                _json(obj),
                params=[],
                errors=(403, 413, 415, 422),
            )
        )
        paths["/v1/traces"] = _otlp_traces()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "evalyard team server",
            "version": __version__,
            "description": "Runs, results and comparisons. With auth on, send "
            "'Authorization: Bearer TOKEN' (tokens from 'evalyard token create'). Errors "
            "are JSON: {'error': {'status', 'type', 'message', 'field'?...}}.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Run": _RUN,
                "Result": _RESULT,
                "Error": _ERROR,
                "Record": RECORD,
                "RunCreate": RUN_CREATE,
                "RunFinish": RUN_FINISH,
                "MetricDefinition": METRIC_DEFINITION_BODY,
            },
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
