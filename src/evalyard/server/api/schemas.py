"""The JSON schemas of the API: request bodies, answers, errors and query parameters.

The request body schemas are the ones the server validates bodies with (:mod:`.bodies`),
and the parameter schemas the ones it validates query strings with (:mod:`.operations`),
so the OpenAPI description (:mod:`.openapi`) cannot drift from what is enforced. The
patterns say what evalyard's own checks say (:func:`evalyard.core.ids.check_name`): no
control or invisible characters, no white space at either end.
"""

from __future__ import annotations

from typing import Any

from evalyard.core.ids import (
    MAX_DATAPOINT_ID_LENGTH,
    MAX_INTEGER_ID,
    MAX_NAME_LENGTH,
    MAX_RUN_ID_LENGTH,
)

__all__ = [
    "BATCH_ENVELOPE",
    "ERROR",
    "JSON_VALUE",
    "METRIC_DEFINITION_BODY",
    "NAME_PATTERN",
    "OTLP_TRACES_JSON",
    "RECORD",
    "RESULT",
    "RUN",
    "RUN_CREATE",
    "RUN_FINISH",
    "STEP",
    "TEXT_PATTERN",
    "components",
    "name",
    "standalone",
]

#: Text without control characters (a query parameter's value).
TEXT_PATTERN = "^[^\\x00-\\x1f\\x7f]*$"
_BAD = "\\x00-\\x1f\\x7f\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff"
# White space as Python's str.strip() sees it (wider than a regex's \s in some dialects).
_SPACE = " \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
#: A name or an id: no control or invisible character, no white space at either end.
NAME_PATTERN = f"^[^{_SPACE}{_BAD}]([^{_BAD}]*[^{_SPACE}{_BAD}])?$"


def name(description: str, *, max_length: int = MAX_NAME_LENGTH) -> dict[str, Any]:
    """The schema of a name (of a run, project, dataset, metric or step)."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": NAME_PATTERN,
        "description": description,
    }


_JSON = {"$ref": "#/components/schemas/Json"}

#: Any JSON value, as evalyard keeps it: integers within 64 bits (-2**63 to 2**64-1);
#: a larger one is refused, naming its path (store it as a string).
JSON_VALUE: dict[str, Any] = {
    "description": "Any JSON value; an integer is within -2**63 .. 2**64-1.",
    "anyOf": [
        {"type": ["string", "boolean", "null"]},
        {"type": "number", "not": {"type": "integer"}},
        {"type": "integer", "minimum": -(2**63), "maximum": 2**64 - 1},
        {"type": "array", "items": _JSON},
        {"type": "object", "additionalProperties": _JSON},
    ],
}

_METRICS: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "Metric name → a number, a bool (pass/fail), a string (category) or null.",
    "propertyNames": name("A metric's name."),
    "additionalProperties": {"type": ["number", "boolean", "string", "null"]},
}

#: One step of a trace; ``children`` refers to the schema itself.
STEP: dict[str, Any] = {
    "type": "object",
    "description": "One span of a trace; ``children`` holds nested steps (same shape).",
    "required": ["name"],
    "additionalProperties": _JSON,
    "properties": {
        "name": name("The step's name."),
        "type": {"enum": ["model", "tool", "chain", "other"]},
        "inputs": _JSON,
        "outputs": _JSON,
        "metrics": _METRICS,
        "error": _JSON,
        "duration_ms": _JSON,
        "children": {"type": ["array", "null"], "items": {"$ref": "#/components/schemas/Step"}},
    },
}

_ID = {
    "anyOf": [
        name("A datapoint id.", max_length=MAX_DATAPOINT_ID_LENGTH),
        {"type": "integer", "minimum": -MAX_INTEGER_ID, "maximum": MAX_INTEGER_ID},
        {"type": "null"},
    ],
}

#: A result record of a batch: the keys of ``Run.log_many``.
RECORD: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "A result, as given to Run.log_many. The server checks it with the same "
    "code as local logging.",
    "properties": {
        "datapoint_id": {
            **_ID,
            "description": "The datapoint's id; null derives one from inputs and ground truth.",
        },
        "id": {**_ID, "description": "Same as datapoint_id."},
        "epoch": {"type": "integer", "minimum": 0, "maximum": 99_999},
        "inputs": _JSON,
        "outputs": _JSON,
        "ground_truth": _JSON,
        "metadata": _JSON,
        "metrics": _METRICS,
        "steps": {"type": ["array", "null"], "items": {"$ref": "#/components/schemas/Step"}},
        "error": {"type": ["string", "null"]},
        "duration_ms": {"type": ["number", "null"], "minimum": 0},
    },
}

#: The body of ``POST /runs``.
RUN_CREATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "run_id": name(
            "The id to give the run (no '/'); generated when left out.",
            max_length=MAX_RUN_ID_LENGTH,
        ),
        "name": name(
            "A descriptive name, unique in the project; made up from the id when left out."
        ),
        "project": name("The run's project (default 'default')."),
        "dataset": {"anyOf": [name("The dataset the run is over."), {"type": "null"}]},
        "metadata": {
            "type": "object",
            "additionalProperties": _JSON,
            "description": "Facts about the run (JSON data).",
        },
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
            "description": "This process ran shard index of count (index below count); the "
            "run gets its final status when the last of the count shards ends.",
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
        "project": name("The project (default 'default')."),
        "name": name("The metric's name."),
        "direction": {"enum": ["higher", "lower", "none"]},
        "tolerance": {"type": "number", "minimum": 0},
    },
}

#: A run, as the API answers it.
RUN: dict[str, Any] = {
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

#: A result, as the API answers it.
RESULT: dict[str, Any] = {
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

#: Every error of the API.
ERROR: dict[str, Any] = {
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
                "parameter": {"type": "string", "description": "The query parameter."},
                "index": {"type": "integer", "description": "The refused record's index."},
                "datapoint_id": {"type": "string"},
                "metric": {"type": "string"},
                "step": {"type": "string"},
                "run_id": {"type": "string"},
            },
        }
    },
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


#: An OTLP/JSON ``ExportTraceServiceRequest`` as far as the schema says; the endpoint reads
#: the rest (ids in hex, 64-bit integers as strings, enums as integers). Null stands for an
#: empty field, as in protobuf's JSON.
OTLP_TRACES_JSON: dict[str, Any] = {
    "type": "object",
    "description": "An ExportTraceServiceRequest in OTLP/JSON.",
    "properties": {
        "resourceSpans": _nullable(
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "resource": _nullable({"type": "object"}),
                        "scopeSpans": _nullable(
                            {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "spans": _nullable(
                                            {"type": "array", "items": {"type": "object"}}
                                        )
                                    },
                                },
                            }
                        ),
                    },
                },
            }
        )
    },
}


def components() -> dict[str, dict[str, Any]]:
    """The schemas the description names (``#/components/schemas/NAME``)."""
    return {
        "Run": RUN,
        "Result": RESULT,
        "Error": ERROR,
        "Record": RECORD,
        "Step": STEP,
        "Json": JSON_VALUE,
        "RunCreate": RUN_CREATE,
        "RunFinish": RUN_FINISH,
        "MetricDefinition": METRIC_DEFINITION_BODY,
    }


def standalone(component: str) -> dict[str, Any]:
    """A component as a schema of its own, for a validator: its references resolve in the
    same document, as they do in the description. Free JSON values (``Json``) are left to
    the checks behind (those of local logging), which refuse exactly what ``Json`` does but
    name the very path (``metadata.config.seed``) and say why."""
    schemas = {**components(), "Json": {}}
    return {"components": {"schemas": schemas}, "$ref": f"#/components/schemas/{component}"}
