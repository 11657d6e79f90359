"""The API's contract over HTTP: one error shape, 413/415/422/404/409, idempotent batches
(also across two server processes on one store), and an OpenAPI description that matches
the route table."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest

from evalyard.server.api.openapi import openapi_document
from evalyard.server.routes import route_table
from evalyard.store import open_store
from tests.api.conftest import ServerProcess, running_server


def _error(response: object) -> dict[str, object]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    error: dict[str, object] = body["error"]
    assert {"status", "type", "message"} <= set(error)
    assert error["status"] == response.status_code  # type: ignore[attr-defined]
    return error


def _run(server: ServerProcess) -> str:
    run_id = f"contract-{uuid.uuid4().hex[:8]}"
    with server.client() as client:
        created = client.post("/api/v1/runs", json={"run_id": run_id, "name": run_id})
    assert created.status_code == 201, created.text
    assert created.json()["run"]["status"] == "running"
    return run_id


def test_a_body_that_is_not_json_gets_415(server: ServerProcess) -> None:
    with server.client() as client:
        response = client.post(
            "/api/v1/runs", content=b'{"name": "x"}', headers={"content-type": "text/plain"}
        )
    assert response.status_code == 415
    assert _error(response)["type"] == "UnsupportedMediaTypeError"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", None),
        (b'{"name": 3}', "name"),
        (b'{"name": "x", "colour": "red"}', "colour"),
        (b'{"name": "x", "metadata": []}', "metadata"),
    ],
)
def test_malformed_json_and_schema_violations_get_422_naming_the_field(
    server: ServerProcess, body: bytes, field: str | None
) -> None:
    with server.client() as client:
        response = client.post(
            "/api/v1/runs", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    error = _error(response)
    assert error.get("field") == field
    assert error["type"] == "RequestBodyError"


def test_a_refused_record_gets_422_with_its_index_and_nothing_is_written(
    server: ServerProcess,
) -> None:
    run_id = _run(server)
    records = [
        {"id": "ok", "metrics": {"m": 1}},
        {"id": "bad", "metrics": {"m": 1}, "epoch": -1},
    ]
    with server.client() as client:
        response = client.post(
            f"/api/v1/runs/{run_id}/batches",
            json={"idempotency_key": uuid.uuid4().hex, "records": records},
        )
        assert response.status_code == 422
        error = _error(response)
        assert (error["type"], error["field"], error["index"]) == ("InvalidRecordError", "epoch", 1)
        assert error["datapoint_id"] == "bad"
        keys = client.get(f"/api/v1/runs/{run_id}/result-keys").json()["keys"]
    assert keys == []


def test_unknown_runs_get_404_and_taken_ids_409(server: ServerProcess) -> None:
    run_id = _run(server)
    with server.client() as client:
        missing = client.post(
            "/api/v1/runs/no-such-run/batches",
            json={"idempotency_key": uuid.uuid4().hex, "records": []},
        )
        taken = client.post("/api/v1/runs", json={"run_id": run_id})
        name_taken = client.post("/api/v1/runs", json={"name": run_id})
        info = client.get("/api/v1/runs/no-such-run/info")
    assert (missing.status_code, _error(missing)["type"]) == (404, "RunNotFoundError")
    assert _error(info)["run_id"] == "no-such-run"
    assert (taken.status_code, _error(taken)["type"]) == (409, "RunExistsError")
    error = _error(name_taken)
    assert (name_taken.status_code, error["type"]) == (409, "RunNameTakenError")
    assert (error["name"], error["project"], error["run_id"], error["run_status"]) == (
        run_id,
        "default",
        run_id,
        "running",
    )


def test_a_body_over_the_limit_gets_413(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'small.db'}"
    with running_server(url, tmp_path, "--max-body-bytes", "2000") as small:
        run_id = _run(small)
        records = [{"id": f"d{i}", "outputs": "x" * 100} for i in range(40)]
        with small.client() as client:
            response = client.post(
                f"/api/v1/runs/{run_id}/batches",
                json={"idempotency_key": uuid.uuid4().hex, "records": records},
            )
    assert response.status_code == 413
    error = _error(response)
    assert error["type"] == "BodyTooLargeError"
    assert "2,000 bytes" in str(error["message"])


def test_a_batch_sent_twice_is_written_once_by_either_server(
    server: ServerProcess, tmp_path: Path
) -> None:
    run_id = _run(server)
    key = uuid.uuid4().hex
    batch = {"idempotency_key": key, "records": [{"id": "a", "metrics": {"m": 1}}]}
    changed = {"idempotency_key": key, "records": [{"id": "a", "metrics": {"m": 2}}]}
    with running_server(server.store_url, tmp_path) as second:
        with server.client() as client:
            first = client.post(f"/api/v1/runs/{run_id}/batches", json=batch).json()
        with second.client() as client:
            again = client.post(f"/api/v1/runs/{run_id}/batches", json=changed).json()
    assert first == {"record_count": 1, "duplicate": False}
    assert again == {"record_count": 1, "duplicate": True}
    store = open_store(server.store_url)
    try:
        assert store.get_results(run_id)[0].metrics == {"m": 1.0}
    finally:
        store.close()


def test_the_pages_are_served_too(server: ServerProcess) -> None:
    run_id = _run(server)
    with server.client() as client:
        assert client.get("/experiments").status_code == 200
        page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    assert "contract" in page.text


def test_the_openapi_description_matches_the_route_table(server: ServerProcess) -> None:
    with server.client() as client:
        served = client.get("/api/v1/openapi.json").json()
    assert served == openapi_document(writable=True)
    described = {
        (path, method.upper())
        for path, operations in served["paths"].items()
        for method in operations
    }
    routed = {
        (spec.path.replace(":path}", "}"), method)
        for spec in route_table(writable=True)
        if spec.path.startswith(("/api/", "/v1/"))
        for method in spec.methods
    }
    assert described == routed
    for path, operations in served["paths"].items():
        for operation in operations.values():
            names = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert names == {part[1:-1] for part in path.split("/") if part.startswith("{")}


def _nested(depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [201, 990])
def test_json_nested_too_deep_is_refused_with_422_and_nothing_is_written(
    server: ServerProcess, depth: int
) -> None:
    run_id = _run(server)
    # Written as text: JSON libraries refuse to write nesting this deep themselves.
    deep = "[" * depth + '"bottom"' + "]" * depth
    body = (
        f'{{"idempotency_key": "{uuid.uuid4().hex}", "records": '
        f'[{{"id": "ok", "outputs": "fine"}}, {{"id": "deep", "outputs": {deep}}}]}}'
    )
    with server.client() as client:
        response = client.post(
            f"/api/v1/runs/{run_id}/batches",
            content=body.encode(),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422
        error = _error(response)
        assert (error["type"], error["field"], error["index"]) == (
            "InvalidRecordError",
            "outputs",
            1,
        )
        assert "more than 200 levels deep" in str(error["message"])
        keys = client.get(f"/api/v1/runs/{run_id}/result-keys").json()["keys"]
    assert keys == []


def test_json_nested_to_the_limit_is_stored_and_read_back(server: ServerProcess) -> None:
    run_id = _run(server)
    deep = _nested(200)
    with server.client() as client:
        logged = client.post(
            f"/api/v1/runs/{run_id}/batches",
            content=orjson.dumps(
                {"idempotency_key": uuid.uuid4().hex, "records": [{"id": "q", "outputs": deep}]}
            ),
            headers={"content-type": "application/json"},
        )
        assert logged.status_code == 200, logged.text
        read = client.get(f"/api/v1/runs/{run_id}/results", params={"datapoint_id": "q"})
        page = client.get(f"/runs/{run_id}/datapoints/q")
    assert read.status_code == 200
    assert read.json()["results"][0]["outputs"] == deep
    assert page.status_code == 200


def test_larger_integers_are_refused_with_422_naming_the_field(server: ServerProcess) -> None:
    edges = [-(2**63), -(2**53) - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1]
    run_id = f"ints-{uuid.uuid4().hex[:8]}"
    with server.client() as client:
        made = client.post(
            "/api/v1/runs", json={"run_id": run_id, "name": run_id, "metadata": {"ids": edges}}
        )
        assert made.status_code == 201, made.text
        kept = client.post(
            f"/api/v1/runs/{run_id}/batches",
            json={
                "idempotency_key": uuid.uuid4().hex,
                "records": [{"id": "q", "inputs": {"ids": edges}, "metadata": {"n": edges[-1]}}],
            },
        )
        assert kept.status_code == 200, kept.text
        # Written as text: orjson would read these as floats, and cannot write them.
        for big, path in [
            ("18446744073709551616", "inputs.ids[1]"),
            ("-9223372036854775809", "inputs.ids[1]"),
            ("9" * 5000, "inputs.ids[1]"),
        ]:
            body = (
                f'{{"idempotency_key": "{uuid.uuid4().hex}", "records": [{{"id": "ok"}}, '
                f'{{"id": "big", "inputs": {{"ids": [1, {big}], "note": "{"1" * 30}"}}}}]}}'
            )
            response = client.post(
                f"/api/v1/runs/{run_id}/batches",
                content=body.encode(),
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 422, response.text
            error = _error(response)
            assert (error["type"], error["field"], error["index"]) == (
                "InvalidRecordError",
                path,
                1,
            )
            assert "integer outside -2**63..2**64-1" in str(error["message"])
        refused_run = client.post(
            "/api/v1/runs",
            content=b'{"name": "too-big", "metadata": {"config": {"seed": 18446744073709551616}}}',
            headers={"content-type": "application/json"},
        )
        assert refused_run.status_code == 422, refused_run.text
        assert "metadata.config.seed is an integer" in str(_error(refused_run)["message"])
        info = client.get(f"/api/v1/runs/{run_id}/info").json()
        (result,) = client.get(
            f"/api/v1/runs/{run_id}/results", params={"datapoint_id": "q"}
        ).json()["results"]
        keys = client.get(f"/api/v1/runs/{run_id}/result-keys").json()["keys"]
        names = [run["name"] for run in client.get("/api/v1/runs").json()["runs"]]
    assert info["run"]["metadata"] == {"ids": edges}
    assert result["inputs"] == {"ids": edges}
    assert result["metadata"] == {"n": edges[-1]}
    assert len(keys) == 1
    assert "too-big" not in names
