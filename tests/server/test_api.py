"""The JSON twin of each page: same data as the page, same checks on parameters."""

from __future__ import annotations

import evalyard
from tests.server.conftest import Served


def test_runs_lists_runs_with_averages_a_page_at_a_time(served: Served) -> None:
    with served.client() as client:
        body = client.get("/api/v1/runs").json()
        side = client.get("/api/v1/runs?project=side").json()
    assert body["total"] == 4
    assert body["page"] == 1
    assert body["page_count"] == 1
    by_name = {run["name"]: run for run in body["runs"]}
    expected = evalyard.compare_runs(
        served.runs.candidate, served.runs.baseline, store=served.store
    )
    assert (
        by_name["candidate"]["averages"]["score"] == expected.metric_deltas["score"].new_aggregate
    )
    assert by_name["candidate"]["datapoint_count"] == 61
    assert [run["name"] for run in side["runs"]] == ["elsewhere"]


def test_datasets_lists_each_with_its_run_count(served: Served) -> None:
    with served.client() as client:
        body = client.get("/api/v1/datasets").json()
    assert {d["name"]: d["run_count"] for d in body["datasets"]} == {"other": 1, "qa-v1": 3}


def test_run_gives_the_run_its_aggregates_and_a_page(served: Served) -> None:
    runs = served.runs
    with served.client() as client:
        response = client.get(f"/api/v1/runs/{runs.candidate}?step=retrieve&aggregate=max")
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["run"]["run_id"] == runs.candidate
    assert body["steps"] == ["answer", "format", "retrieve"]
    assert body["step"] == "retrieve"
    assert body["aggregate_function"] == "max"
    assert body["aggregates"]["hits"]["aggregate"] == 2.0
    assert body["datapoints"]["total"] == 60
    assert len(body["datapoints"]["rows"]) == 50


def test_comparison_is_to_dict_plus_the_page(served: Served) -> None:
    runs = served.runs
    expected = evalyard.compare_runs(runs.candidate, runs.baseline, store=served.store).to_dict()
    with served.client() as client:
        body = client.get(
            f"/api/v1/runs/{runs.candidate}/comparison?compare={runs.baseline}"
            "&metric=accuracy&show=regressed"
        ).json()
    page = body.pop("datapoints")
    body.pop("notices")
    assert body == expected
    regressed = expected["metric_deltas"]["accuracy"]["degraded"]
    assert [row["datapoint_id"] for row in page["rows"]] == regressed
    assert {row["status"] for row in page["rows"]} == {"regressed"}
    assert page["rows"][0]["value"] == 0.0
    assert page["rows"][0]["baseline_value"] == 1.0
    assert page["rows"][0]["outputs"].startswith("The answer is")


def test_comparison_needs_a_baseline(served: Served) -> None:
    with served.client() as client:
        response = client.get(f"/api/v1/runs/{served.runs.candidate}/comparison")
    # A required parameter of the documented schema: 422, naming it.
    assert response.status_code == 422
    assert response.json()["error"]["parameter"] == "compare"


def test_datapoints_pages_the_table_at_the_step(served: Served) -> None:
    runs = served.runs
    with served.client() as client:
        body = client.get(
            f"/api/v1/runs/{runs.candidate}/datapoints?compare={runs.baseline}"
            "&step=retrieve&metric=hits&sort=-delta&page=2"
        ).json()["datapoints"]
    assert body["page"] == 2
    assert body["total"] == 60
    assert len(body["rows"]) == 10
    first = body["rows"][0]
    i = int(first["datapoint_id"][1:])
    assert first["outputs"] == [f"doc-{i}", f"doc-{i + 1}"]  # the step's outputs
    assert first["baseline_outputs"] == [f"doc-{i}", f"doc-{i}"]
    deltas = [row["value"] - row["baseline_value"] for row in body["rows"]]
    assert deltas == sorted(deltas, reverse=True)


def test_datapoint_gives_both_runs_results(served: Served) -> None:
    runs = served.runs
    with served.client() as client:
        body = client.get(
            f"/api/v1/runs/{runs.candidate}/datapoints/q004?compare={runs.baseline}"
        ).json()
    assert body["datapoint_id"] == "q004"
    assert body["results"][0]["outputs"] == "The answer is 9 since we add them"
    assert body["baseline_results"][0]["outputs"] == "The answer is 8 because we add them"
    assert body["results"][0]["steps"][0]["name"] == "retrieve"


def test_api_errors_are_json(served: Served) -> None:
    with served.client() as client:
        unknown = client.get("/api/v1/runs/nope")
        bad = client.get(f"/api/v1/runs/{served.runs.candidate}?sort=nope")
        no_route = client.get("/api/v1/nothing-here")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["status"] == 404
    assert bad.status_code == 422  # outside the documented enum of sort
    assert bad.json()["error"]["parameter"] == "sort"
    assert no_route.status_code == 404
    assert no_route.json()["error"]["status"] == 404


def test_api_is_read_only(served: Served) -> None:
    with served.client() as client:
        response = client.post("/api/v1/runs", json={"name": "x"})
    assert response.status_code == 405
