"""The JSON twin of each page, under ``/api/v1``: the page's view model, as exact data.

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
| ``/compare?baseline=…&runs=…&runs=…`` | several runs against a baseline: the comparison, |
| | the chosen metric's matrix, a page of its grid, its trend |

Each handler calls the page's loader (:mod:`evalyard.server.web.loaders`) and answers its
view model's ``to_json()``; the query parameters are those of the page, checked against
their documented schemas (:mod:`.operations`, 422) and then as the page checks them. The
SDK's own endpoints are in :mod:`.reads` and :mod:`.writes`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from evalyard.server.api.responses import ORJSONResponse
from evalyard.server.web.loaders import (
    load_datapoint,
    load_datasets,
    load_experiments,
    load_many,
    load_run,
)
from evalyard.server.web.pages import datapoint_id_of, reader_of
from evalyard.server.web.query import (
    BadParameterError,
    parse_experiments_query,
    parse_many_query,
    parse_run_query,
)

__all__ = ["compare", "comparison", "datapoint", "datapoints", "datasets", "run", "runs"]


def runs(request: Request) -> Response:
    """The runs (newest first) with their metric averages, a page at a time."""
    query = parse_experiments_query(request.query_params)
    return ORJSONResponse(load_experiments(reader_of(request), query).to_json())


def datasets(request: Request) -> Response:
    """Datasets named by runs, with how many runs used each."""
    return ORJSONResponse(load_datasets(reader_of(request)).to_json())


def run(request: Request) -> Response:
    """A run: its description, steps, aggregates at the scope, and a page of datapoints."""
    query = parse_run_query(request.query_params).with_changes(compare=None)
    view = load_run(reader_of(request), request.path_params["run_id"], query, with_candidates=False)
    return ORJSONResponse(view.to_json())


def comparison(request: Request) -> Response:
    """The comparison with ``?compare=BASELINE``: ``to_dict()`` and the table's page."""
    query = parse_run_query(request.query_params)
    if query.compare is None:
        raise BadParameterError("compare", "", "give the baseline run's id: ?compare=RUN_ID")
    view = load_run(reader_of(request), request.path_params["run_id"], query, with_candidates=False)
    return ORJSONResponse(view.to_json())


def datapoints(request: Request) -> Response:
    """A page of the datapoint table (of a run alone, or compared with ``?compare=``)."""
    query = parse_run_query(request.query_params)
    view = load_run(reader_of(request), request.path_params["run_id"], query, with_candidates=False)
    return ORJSONResponse({"datapoints": view.table.to_json(), "notices": view.notices})


def datapoint(request: Request) -> Response:
    """A datapoint's results (every epoch) in the run, and in the baseline with ``?compare=``."""
    query = parse_run_query(request.query_params)
    view = load_datapoint(
        reader_of(request), request.path_params["run_id"], datapoint_id_of(request), query
    )
    return ORJSONResponse(view.to_json())


def compare(request: Request) -> Response:
    """Several runs against a baseline: ``MultiComparison.to_dict()``, the chosen metric's
    matrix, a page of its grid and its trend."""
    query = parse_many_query(request.query_params)
    if query.baseline is None or not query.runs:
        raise BadParameterError(
            "runs" if query.baseline else "baseline",
            "",
            "give the baseline and the runs: ?baseline=RUN_ID&runs=RUN_ID&runs=RUN_ID",
        )
    return ORJSONResponse(load_many(reader_of(request), query).to_json())
