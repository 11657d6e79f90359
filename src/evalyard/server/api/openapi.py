"""The OpenAPI description of ``/api/v1`` (and of OTLP's ``/v1/traces``), generated from
the operations of :mod:`.operations` (the same table the routes are made from) and the
schemas of :mod:`.schemas` (the same ones requests are validated with): it cannot drift
from what is served and enforced. Served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from evalyard.server.api.operations import ERROR_TEXT, Operation, operations
from evalyard.server.api.schemas import components
from evalyard.version import __version__

__all__ = ["openapi_document"]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _describe(operation: Operation) -> dict[str, Any]:
    answer = operation.answer
    if "content" not in answer:
        answer = _json(answer, "Created" if operation.status == 201 else "OK")
    responses: dict[str, Any] = {str(operation.status): answer}
    error = {"$ref": "#/components/schemas/Error"}
    for status in operation.error_statuses():
        responses[str(status)] = _json(error, ERROR_TEXT[status])
        if operation.body_content is not None and "application/x-protobuf" in (
            operation.body_content
        ):
            # OTLP: a google.rpc.Status in protobuf answers a protobuf request.
            responses[str(status)]["content"]["application/x-protobuf"] = {
                "schema": {"type": "string", "format": "binary"}
            }
    described: dict[str, Any] = {
        "operationId": operation.name,
        "summary": operation.summary,
        "parameters": [param.describe() for param in operation.params],
        "responses": responses,
    }
    if operation.body is not None:
        described["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": operation.body}},
        }
    if operation.body_content is not None:
        described["requestBody"] = {"required": True, "content": operation.body_content}
    return described


def openapi_document(*, writable: bool) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API as this app serves it."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations(writable=writable):
        paths.setdefault(operation.openapi_path, {})[operation.method.lower()] = _describe(
            operation
        )
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
            "schemas": components(),
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
