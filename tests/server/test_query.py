"""Page state in the URL: allow-lists, limits, and URLs that round-trip."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from evalyard.server.web.query import (
    BadParameterError,
    RunQuery,
    datapoint_path,
    parse_experiments_query,
    parse_run_query,
    run_path,
)


def test_defaults() -> None:
    q = parse_run_query({})
    assert q == RunQuery()
    assert q.url("/runs/x") == "/runs/x"


def test_a_url_round_trips_every_field() -> None:
    q = RunQuery(
        compare="b1",
        aggregate="p95",
        step="retrieve",
        metric="m",
        show="regressed",
        sort="-delta",
        page=3,
        diff=True,
        epoch=1,
    )
    url = q.url("/runs/a", fragment="datapoints")
    parts = urlsplit(url)
    assert parts.fragment == "datapoints"
    assert parse_run_query(dict(parse_qsl(parts.query))) == q


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"aggregate": "avg"}, "aggregate"),
        ({"show": "worse"}, "show"),
        ({"sort": "name"}, "sort"),
        ({"sort": "--delta"}, "sort"),
        ({"page": "-1"}, "page"),
        ({"page": "٣"}, "page"),
        ({"page": "99999999999"}, "page"),
        ({"diff": "true"}, "diff"),
        ({"metric": "x" * 201}, "metric"),
        ({"step": "a\x00b"}, "step"),
        ({"epoch": "x"}, "epoch"),
    ],
)
def test_values_outside_the_allow_lists_are_refused(params: dict[str, str], name: str) -> None:
    with pytest.raises(BadParameterError) as caught:
        parse_run_query(params)
    assert caught.value.parameter == name
    assert caught.value.http_status == 400
    assert isinstance(caught.value, ValueError)


def test_empty_values_mean_the_default() -> None:
    assert parse_run_query({"compare": "", "step": "", "page": "", "diff": ""}) == RunQuery()


def test_paths_quote_ids() -> None:
    assert run_path("a/b c") == "/runs/a%2Fb%20c"
    assert datapoint_path("r", "q?1#") == "/runs/r/datapoints/q%3F1%23"


def test_dot_segment_ids_go_in_the_query() -> None:
    path = datapoint_path("r", "..")
    assert path == "/runs/r/datapoint?id=.."
    assert RunQuery(compare="b").url(path) == "/runs/r/datapoint?id=..&compare=b"


def test_experiments_query() -> None:
    q = parse_experiments_query({"project": "p", "page": "2"})
    assert q.url() == "/experiments?project=p&page=2"
    with pytest.raises(BadParameterError):
        parse_experiments_query({"page": "zero"})
