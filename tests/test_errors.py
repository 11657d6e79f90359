"""Errors carry their exit code and HTTP status, and travel over HTTP intact."""

from __future__ import annotations

import json

import pytest

from evalyard.errors import (
    AmbiguousRunError,
    EvalyardError,
    InvalidMetricError,
    InvalidRecordError,
    RunExistsError,
    RunNameTakenError,
    RunNotFoundError,
    StoreError,
    UnknownAggregateError,
    UnknownMetricError,
    error_class,
)
from evalyard.server.errors import error_body, status_of

SAMPLES: list[EvalyardError] = [
    InvalidMetricError("metric 'a' is NaN", metric="a", datapoint_id="q7", step="retrieve"),
    InvalidRecordError("outputs too large", field="outputs", datapoint_id="q1", index=3),
    UnknownAggregateError("mean", ["average", "median"]),
    UnknownMetricError("acc", ["accuracy"]),
    RunNotFoundError("ghost", project="qa"),
    RunNotFoundError("gpt4o", suggestions=[("gpt-4o", "3f2a9c1b7d"), ("gpt-4", "77aa")]),
    RunExistsError("r1"),
    RunNameTakenError(
        "nightly", project="qa", run_id="r1", status="completed", created_at=1_700_000_000.0
    ),
    AmbiguousRunError("twin", [("a1", "twin", "p"), ("b2", "twin", "q")]),
    StoreError("the store is gone"),
]


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_an_error_travels_over_http_with_its_details(error: EvalyardError) -> None:
    status = status_of(error)
    body = json.loads(json.dumps(error_body(status, str(error), error)))["error"]
    assert (body["status"], body["type"]) == (type(error).http_status, type(error).__name__)
    found = error_class(body["type"])
    assert found is type(error)
    again = found.rebuild(body["message"], body)
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert json.dumps(again.details()) == json.dumps(error.details())


def test_a_run_not_found_suggests_close_names() -> None:
    assert str(RunNotFoundError("ghost")) == (
        "no run matches 'ghost'; `evalyard runs` lists the runs and their ids"
    )
    assert str(RunNotFoundError("gpt4o", suggestions=[("gpt-4o", "3f2a9c1b7d")])) == (
        "no run matches 'gpt4o'; did you mean 'gpt-4o' (3f2a9c1b)? `evalyard runs` lists the "
        "runs and their ids"
    )
    three = [("a-1", "aaaaaaaaaa"), ("a-2", "bbbbbbbbbb"), ("a-3", "cccccccccc")]
    assert str(RunNotFoundError("a", project="p", suggestions=three)) == (
        "no run matches 'a' in project 'p'; did you mean 'a-1' (aaaaaaaa), 'a-2' (bbbbbbbb) or "
        "'a-3' (cccccccc)? `evalyard runs` lists the runs and their ids"
    )


def test_statuses_and_exit_codes_live_on_the_classes() -> None:
    assert [status_of(e) for e in SAMPLES] == [422, 422, 422, 404, 404, 404, 409, 409, 409, 503]
    assert {e.exit_code for e in SAMPLES} == {2}
    assert status_of(ValueError("not ours")) == 500
    assert error_class("NoSuchError") is None
