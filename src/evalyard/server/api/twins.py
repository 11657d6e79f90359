"""The JSON twin of each page, under ``/api/v1`` (the SDK's endpoints are in
:mod:`.api_store` and :mod:`.api_write`).

| path under ``/api/v1`` | answers |
|---|---|
| ``/runs?project=&dataset=&page=`` | runs with their metric averages (Experiments) |
| ``/datasets`` | datasets named by runs, with run counts |
| ``/runs/{run_id}?aggregate=&step=&metric=&sort=&page=`` | a run, its aggregates, a page |
| | of its datapoints |
| ``/runs/{run_id}/comparison?compare=…`` | ``RunComparisonResult.to_dict()`` plus the page |
| | of the datapoint table |
| ``/runs/{run_id}/datapoints?…`` | the page of the datapoint table alone |
| ``/runs/{run_id}/datapoints/{datapoint_id}?compare=…`` | a datapoint's results in both runs |

The query parameters are those of the page (see :mod:`.query`) and are checked the same way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from evalyard.core.model import MetricKind
from evalyard.server.access import grant_of
from evalyard.server.api.responses import ORJSONResponse
from evalyard.server.context import context_of
from evalyard.server.reader import Reader
from evalyard.server.web.loaders import RunData, load_datapoint, load_datasets, load_run
from evalyard.server.web.query import BadParameterError, parse_experiments_query, parse_run_query
from evalyard.server.web.table import PAGE_SIZE, page_slice
from evalyard.server.web.traces import step_outputs
from evalyard.server.web.views import RUNS_PAGE_SIZE

__all__ = ["comparison", "datapoint", "datapoints", "datasets", "run", "runs"]


def _datapoint_id(request: Request) -> str:
    """The datapoint of ``/datapoints/{id}``, or of ``/datapoint?id=`` (see ``datapoint_path``)."""
    found = request.path_params.get("datapoint_id") or request.query_params.get("id")
    if not found:
        raise BadParameterError("id", "", "give the datapoint's id")
    return str(found)


def _reader(request: Request) -> Reader:
    reader = context_of(request).reader
    return reader.restricted(grant_of(request).project)


def _plain(value: Any) -> Any:
    """A numpy scalar as plain JSON data (NaN as None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def runs(request: Request) -> Response:
    """The runs (newest first) with their metric averages, a page at a time."""
    query = parse_experiments_query(request.query_params)
    reader = _reader(request)
    chosen = [
        info
        for info in reader.list_runs(project=query.project)
        if query.dataset is None or info.dataset == query.dataset
    ]
    part = page_slice(len(chosen), query.page, page_size=RUNS_PAGE_SIZE)
    out = []
    for info in chosen[part.start : part.stop]:
        summary = reader.summary(info)
        averages = {
            name: m.aggregate
            for name, m in summary.metrics.items()
            if m.kind is not MetricKind.STRING
        }
        out.append({**info.to_dict(), "averages": averages})
    return ORJSONResponse(
        {
            "runs": out,
            "page": part.page,
            "page_count": part.page_count,
            "page_size": RUNS_PAGE_SIZE,
            "total": part.total,
        }
    )


def datasets(request: Request) -> Response:
    """Datasets named by runs, with how many runs used each."""
    rows = load_datasets(_reader(request))
    return ORJSONResponse(
        {
            "datasets": [
                {"name": r.name, "run_count": r.run_count, "projects": r.projects.split(", ")}
                for r in rows
            ]
        }
    )


def _scope_output(results: list[Any] | None, step: str | None) -> Any:
    if not results:
        return None
    first = results[0]
    if step is None:
        return first.outputs
    return step_outputs(first.steps, step)[1]


def _inputs(results: list[Any] | None) -> Any:
    return results[0].inputs if results else None


def _page(data: RunData) -> dict[str, Any]:
    """The page of the datapoint table as data."""
    plan, frame, query = data.plan, data.frame, data.query
    comparing = data.comparison is not None
    delta = (
        data.comparison.result.get_metric_delta(plan.metric)
        if data.comparison is not None and plan.metric
        else None
    )
    status_sets: dict[str, set[str]] = {}
    if delta is not None:
        page_ids = set(plan.ids)
        for name, ids in (
            ("improved", delta.improved),
            ("regressed", delta.degraded),
            ("unchanged", delta.same),
            ("changed", delta.changed),
        ):
            status_sets[name] = page_ids.intersection(ids)
    rows = []
    for row, datapoint_id in zip(plan.rows.tolist(), plan.ids, strict=True):
        new_results = data.results_new.get(datapoint_id)
        entry: dict[str, Any] = {
            "datapoint_id": datapoint_id,
            "inputs": _inputs(new_results or data.results_old.get(datapoint_id)),
            "value": _plain(plan.new_values[row]),
            "outputs": _scope_output(new_results, query.step),
        }
        if comparing:
            in_new, in_old = frame.new_rows[row] >= 0, frame.old_rows[row] >= 0
            status: str | None = "new_only" if not in_old else "old_only" if not in_new else None
            if status is None:
                status = next((s for s, ids in status_sets.items() if datapoint_id in ids), None)
            entry["baseline_value"] = _plain(plan.old_values[row])
            entry["baseline_outputs"] = _scope_output(
                data.results_old.get(datapoint_id), query.step
            )
            entry["status"] = status
        rows.append(entry)
    part = plan.part
    return {
        "metric": plan.metric,
        "show": query.show,
        "sort": query.sort,
        "page": part.page,
        "page_count": part.page_count,
        "page_size": PAGE_SIZE,
        "total": part.total,
        "rows": rows,
    }


def run(request: Request) -> Response:
    """A run: its description, steps, aggregates at the scope, and a page of datapoints."""
    query = parse_run_query(request.query_params).with_changes(compare=None)
    data = load_run(_reader(request), request.path_params["run_id"], query, with_candidates=False)
    aggregates = {
        m.metric: {
            "kind": m.kind.value,
            "direction": m.direction.value,
            "count": m.count,
            "aggregate": m.aggregate,
            "ci_low": m.ci_low,
            "ci_high": m.ci_high,
            "most_common": m.most_common,
        }
        for m in data.summaries
    }
    return ORJSONResponse(
        {
            "run": data.info.to_dict(),
            "steps": data.steps,
            "step": data.query.step,
            "aggregate_function": data.query.aggregate,
            "aggregates": aggregates,
            "datapoints": _page(data),
            "notices": data.notices,
        }
    )


def _compared(request: Request) -> RunData:
    query = parse_run_query(request.query_params)
    if query.compare is None:
        raise BadParameterError("compare", "", "give the baseline run's id: ?compare=RUN_ID")
    return load_run(_reader(request), request.path_params["run_id"], query, with_candidates=False)


def comparison(request: Request) -> Response:
    """The comparison with ``?compare=BASELINE``: ``to_dict()`` and the table's page."""
    data = _compared(request)
    assert data.comparison is not None
    body = data.comparison.result.to_dict()
    body["datapoints"] = _page(data)
    body["notices"] = data.notices
    return ORJSONResponse(body)


def datapoints(request: Request) -> Response:
    """A page of the datapoint table (of a run alone, or compared with ``?compare=``)."""
    query = parse_run_query(request.query_params)
    data = load_run(_reader(request), request.path_params["run_id"], query, with_candidates=False)
    return ORJSONResponse({"datapoints": _page(data), "notices": data.notices})


def datapoint(request: Request) -> Response:
    """A datapoint's results (every epoch) in the run, and in the baseline with ``?compare=``."""
    query = parse_run_query(request.query_params)
    data = load_datapoint(
        _reader(request), request.path_params["run_id"], _datapoint_id(request), query
    )
    return ORJSONResponse(
        {
            "datapoint_id": data.datapoint_id,
            "run": data.info.to_dict(),
            "results": [r.to_dict() for r in data.results_new],
            "baseline": None if data.baseline is None else data.baseline.to_dict(),
            "baseline_results": [r.to_dict() for r in data.results_old],
        }
    )
