"""The write side of the API: runs, batches of results, metric definitions.

| method and path under ``/api/v1`` | does |
|---|---|
| ``POST /runs`` | create a run (409 when the id, or the name in the project, is taken) |

A token limited to one project may create a run only with no id or a UUID4 id (403
otherwise): run ids are unique across projects, so a chosen id would let it learn whether
another project has a run of that id.
| ``POST /runs/{run_id}/reopen`` | set a run back to running |
| ``POST /runs/{run_id}/finish`` | give a run, or one shard of it, its final status |
| ``POST /runs/{run_id}/batches`` | log results, once per idempotency key |
| ``POST /metric-definitions`` | create or replace a metric definition |

A batch is checked record by record with the same code as local logging
(:func:`~evalyard.runner.records.prepare_mapping`, then
:func:`~evalyard.runner.records.checked_batch`) and written in one transaction together
with its idempotency key, all or nothing: a refused record refuses the batch with 422
naming its index and field. Handlers are plain functions run in a worker thread by
:func:`~evalyard.server.access.guarded`, which has already read the body.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from evalyard.config import max_field_bytes
from evalyard.core.ids import check_name, check_run_id
from evalyard.core.model import RunStatus
from evalyard.core.values import check_run_metadata
from evalyard.errors import InvalidInputError, InvalidRecordError, StoreError
from evalyard.runner.logging import define_metric
from evalyard.runner.records import PreparedRecord, checked_batch, prepare_mapping
from evalyard.server.access import check_project, grant_of, visible_run, visible_run_id
from evalyard.server.api.bodies import parse_json, validator, whole_numbers
from evalyard.server.api.responses import ORJSONResponse
from evalyard.server.api.schemas import (
    BATCH_ENVELOPE,
    METRIC_DEFINITION_BODY,
    RECORD,
    RUN_CREATE,
    RUN_FINISH,
    standalone,
)
from evalyard.server.context import context_of
from evalyard.server.errors import PermissionDeniedError
from evalyard.store.base import KeyedBatchStore, Store

__all__ = ["create_run", "define_metric_definition", "finish_run", "log_batch", "reopen_run"]

_RUN_CREATE = validator(standalone("RunCreate"))
_RUN_FINISH = validator(standalone("RunFinish"))
_BATCH = validator(BATCH_ENVELOPE)
_METRIC = validator(standalone("MetricDefinition"))
# A batch's records, for whole_numbers: converted in one call per batch.
_RECORDS: dict[str, Any] = {"type": "array", "items": RECORD}


def _store(request: Request) -> Store:
    return context_of(request).store


def _writer(request: Request) -> KeyedBatchStore:
    writer = context_of(request).writer
    if writer is None:
        raise StoreError("this server does not take writes")
    return writer


def _body(
    request: Request, check: Any, schema: dict[str, Any], *, objects: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = whole_numbers(
        schema, parse_json(request.state.body, check, objects=objects)
    )
    return data


def _record(record: Any, index: int, limit: int) -> PreparedRecord:
    """A record of a batch (its whole numbers made ints already), checked as locally; what
    local logging turns into text (an ``error`` that is not a string) the documented schema
    refuses."""
    prepared = prepare_mapping(record, index, limit=limit)
    error = record.get("error")
    if error is not None and not isinstance(error, str):
        raise InvalidRecordError(
            f"error of record {index} must be a string or null, not {type(error).__name__}",
            field="error",
            index=index,
            datapoint_id=prepared.row.datapoint_id,
        )
    return prepared


def _check_run_id(run_id: str) -> str:
    run_id = check_run_id(run_id)
    if "/" in run_id or run_id in (".", ".."):
        raise InvalidInputError(
            f"run id {run_id!r} cannot be used in a URL; give the team server a run id "
            "without '/' (and not '.' or '..')"
        )
    return run_id


def _check_random_run_id(run_id: str, project: str) -> None:
    """Refuse (403) a run id a project-scoped token may not choose: anything but a UUID4.

    Run ids are unique across projects. Were a token of one project free to pick any id,
    the answer to creating a run (409 when taken, else 201) would tell it whether another
    project has a run of that id. A random UUID4 is never taken by chance, so its answer
    says nothing about other projects.
    """
    try:
        parsed = uuid.UUID(run_id)
    except ValueError:
        parsed = None
    if parsed is None or parsed.version != 4 or run_id not in (parsed.hex, str(parsed)):
        raise PermissionDeniedError(
            f"a token of project {project!r} may create a run only with no run_id (the "
            "server picks one) or a random UUID4 run_id (uuid.uuid4().hex), not "
            f"{run_id[:80]!r}; ask for a token without --project to choose other run ids"
        )


def create_run(request: Request) -> Response:
    """Create a run in status running."""
    body = _body(request, _RUN_CREATE, RUN_CREATE)
    project = check_name(body.get("project", "default"), what="project name")
    check_project(grant_of(request), project)
    name = body.get("name")
    if name is not None:
        name = check_name(name, what="run name")
    dataset = body.get("dataset")
    if dataset is not None:
        dataset = check_name(dataset, what="dataset name")
    grant = grant_of(request)
    wanted = body.get("run_id")
    if wanted and grant.project is not None:
        _check_random_run_id(wanted, grant.project)
    run_id = _check_run_id(wanted or uuid.uuid4().hex)
    info = _store(request).create_run(
        run_id=run_id,
        name=name or f"run-{run_id[:8]}",
        project=project,
        dataset=dataset,
        metadata=check_run_metadata(body.get("metadata")),
    )
    return ORJSONResponse({"run": info.to_dict()}, status_code=201)


def reopen_run(request: Request) -> Response:
    """Set a run back to running."""
    store = _store(request)
    info = visible_run(store, request.path_params["run_id"], grant_of(request))
    return ORJSONResponse({"run": store.reopen_run(info.run_id).to_dict()})


def finish_run(request: Request) -> Response:
    """Give a run (or one shard of it) its final status."""
    body = _body(request, _RUN_FINISH, RUN_FINISH)
    store = _store(request)
    info = visible_run(store, request.path_params["run_id"], grant_of(request))
    status = RunStatus(body["status"])
    shard = body.get("shard")
    if shard is None:
        done = store.finish_run(info.run_id, status)
    else:
        if shard["index"] >= shard["count"]:
            raise InvalidInputError(
                f"shard index {shard['index']} is not below the shard count {shard['count']}"
            )
        done = store.finish_shard(
            info.run_id, shard_index=shard["index"], shard_count=shard["count"], status=status
        )
    return ORJSONResponse({"run": done.to_dict()})


def log_batch(request: Request) -> Response:
    """Log a batch of results once per idempotency key, all or nothing."""
    body = _body(request, _BATCH, BATCH_ENVELOPE, objects="records")
    store = _store(request)
    run_id = visible_run_id(request, request.path_params["run_id"])
    limit = max_field_bytes()
    records = whole_numbers(_RECORDS, body["records"])
    prepared = [_record(record, index, limit) for index, record in enumerate(records)]
    batch, conflict = checked_batch(prepared, store.metric_kinds(run_id), run_id)
    if conflict is not None:
        position, error = conflict
        error.index = position
        raise error
    assert batch is not None
    receipt = _writer(request).write_keyed_batch(run_id, batch, body["idempotency_key"])
    return ORJSONResponse({"record_count": receipt.record_count, "duplicate": receipt.duplicate})


def define_metric_definition(request: Request) -> Response:
    """Create or replace a metric definition (checked as ``evalyard.define_metric`` does)."""
    body = _body(request, _METRIC, METRIC_DEFINITION_BODY)
    project = check_name(body.get("project", "default"), what="project name")
    check_project(grant_of(request), project)
    definition = define_metric(
        body["name"],
        direction=body.get("direction", "higher"),
        tolerance=body.get("tolerance", 0.0),
        project=project,
        store=_store(request),
    )
    return ORJSONResponse(
        {
            "project": project,
            "name": definition.name,
            "direction": definition.direction.value,
            "tolerance": definition.tolerance,
        }
    )
