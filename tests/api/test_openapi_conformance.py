"""The server against its own OpenAPI description: schemathesis with every check, run in
this process against a real ``evalyard server --auth`` on loopback.

Every check is on (server errors, status codes, content types, headers, response schemas,
schema-violating requests refused, schema-valid ones accepted, undeclared methods, auth).
One relation is beyond a JSON schema: a shard's index must be below its count; a finish
saying otherwise is refused with 422, so that one operation may also answer 422 to a
request its schema allows. OTLP's ``/v1/traces`` takes protobuf, and spans whose ids and
times a JSON schema does not pin down: a body its schema allows may still not be an OTLP
request (400), name a run that does not exist (404) or a datapoint without a run (422).
(Another: a schema counts a float such as 1e80 in a free JSON
field as an integer beyond 64 bits, which the server keeps as the float it is; the fixed
seed does not send one.)
"""

from __future__ import annotations

import http.client
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

import evalyard
from evalyard.errors import InvalidRecordError
from evalyard.server.api.openapi import openapi_document
from evalyard.server.app import MAX_URL_BYTES
from evalyard.server.tokens import create_token
from evalyard.store import SQLStore, open_store
from tests.api.conftest import ServerProcess, Tokens, running_server

#: Examples per operation and phase: the whole run stays well under 90 s.
EXAMPLES = 30
SEED = 20261204

_CONFIG = """
[[operations]]
include-name = "POST /api/v1/runs/{run_id}/finish"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

[[operations]]
include-name = "POST /v1/traces"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "422"]
"""


@pytest.mark.slow
def test_the_server_answers_as_its_openapi_description_says(tmp_path: Path) -> None:
    schemathesis_cli = pytest.importorskip("schemathesis.cli")
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    store = open_store(url)
    assert isinstance(store, SQLStore)
    token = create_token(store, scope="write")[0]
    with evalyard.start_run("fuzz", run_id="fuzz-run", store=store) as run:
        run.log_many(
            [
                {"id": f"q{i}", "outputs": f"o{i}", "metrics": {"m": i / 3, "ok": i % 2 == 0}}
                for i in range(20)
            ]
        )
    store.close()
    config = tmp_path / "schemathesis.toml"
    config.write_text(_CONFIG)
    with running_server(url, tmp_path, "--auth") as server:
        started = time.monotonic()
        result = CliRunner().invoke(
            schemathesis_cli.schemathesis,
            [
                "--config-file",
                str(config),
                "run",
                f"{server.url}/api/v1/openapi.json",
                "--checks",
                "all",
                "--header",
                f"Authorization: Bearer {token}",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                str(SEED),
                "--workers",
                "1",
                "--generation-database",
                "none",
                "--no-color",
            ],
            catch_exceptions=False,
        )
        took = time.monotonic() - started
    failures = result.output[max(result.output.find("FAILURES"), 0) :]
    assert result.exit_code == 0, failures[:20_000]
    assert "Tested: 22" in result.output
    assert took < 90, f"schemathesis took {took:.0f} s"


# -- focused regressions: each was a mismatch schemathesis found ---------------------------


def _run(server: ServerProcess) -> str:
    run_id = f"oa-{uuid.uuid4().hex[:8]}"
    with server.client() as client:
        created = client.post("/api/v1/runs", json={"run_id": run_id})
    assert created.status_code == 201, created.text
    return run_id


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["status"] == status
    return error


def test_a_405_lists_every_method_of_the_url_in_allow(server: ServerProcess) -> None:
    with server.client() as client:
        runs = client.request("TRACE", "/api/v1/runs")
        info = client.delete("/api/v1/runs/some-run/info")
        definitions = client.put("/api/v1/metric-definitions")
    assert _error(runs, 405)["type"] == "MethodNotAllowed"
    assert set(runs.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    assert set(_error(info, 405) and info.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert set(definitions.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_an_unknown_host_gets_the_api_json_error(server: ServerProcess) -> None:
    with server.client() as client:
        api = client.get("/api/v1/runs", headers={"host": "attacker.example"})
        page = client.get("/experiments", headers={"host": "attacker.example"})
    error = _error(api, 400)
    assert error["type"] == "HostNotAllowedError"
    assert "--allow-host" in error["message"]
    assert page.status_code == 400  # a page keeps its plain answer
    assert "--allow-host" in page.text


def _raw(
    server: ServerProcess, method: str, target: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A request with any URL (httpx refuses URLs over 64 KiB before sending them)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request(method, target, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def test_a_url_over_the_limit_gets_a_json_414(server: ServerProcess) -> None:
    over = _raw(server, "GET", "/api/v1/runs?project=" + "p" * (MAX_URL_BYTES + 1))
    path = _raw(server, "GET", "/api/v1/runs/" + "r" * (MAX_URL_BYTES + 1) + "/info")
    under = _raw(server, "GET", "/api/v1/runs?project=" + "p" * (MAX_URL_BYTES - 100))
    for status, headers, body in (over, path):
        assert status == 414
        assert headers["content-type"].startswith("application/json")
        assert orjson.loads(body)["error"]["type"] == "URLTooLongError"
    # Under the limit, the request is answered by its operation (a project name too long).
    assert under[0] == 422
    assert orjson.loads(under[2])["error"]["parameter"] == "project"


def test_query_parameters_are_checked_against_their_documented_schema(
    server: ServerProcess,
) -> None:
    run_id = _run(server)
    refused = {
        "/api/v1/runs?dataset=%13x": "dataset",
        "/api/v1/runs?page=0": "page",
        "/api/v1/runs?page=two": "page",
        "/api/v1/runs?page=--5": "page",
        f"/api/v1/runs/{run_id}/results?limit=10001": "limit",
        f"/api/v1/runs/{run_id}/results?datapoint_id=": "datapoint_id",
        f"/api/v1/runs/{run_id}/comparison?compare=": "compare",
        f"/api/v1/runs/{run_id}/datapoints?metric=a%0Ab": "metric",
        f"/api/v1/runs/{run_id}?sort=id%3B%20DROP%20TABLE%20runs": "sort",
        "/api/v1/compare?baseline=a&runs=": "runs",
        "/api/v1/compare?baseline=a": "runs",
        "/api/v1/metric-definitions?project=%20padded": "project",
    }
    with server.client() as client:
        for url, parameter in refused.items():
            error = _error(client.get(url), 422)
            assert (error["type"], error["parameter"]) == ("QueryParameterError", parameter), url
        accepted = client.get(f"/api/v1/runs/{run_id}/results?limit=5&after_epoch=0")
        listed = client.get("/api/v1/runs?page=1&project=default")
    assert accepted.status_code == 200
    assert listed.status_code == 200


def test_every_error_an_operation_answers_is_documented(
    auth_server: tuple[ServerProcess, Tokens],
) -> None:
    server, tokens = auth_server
    with server.client() as client:
        document = client.get("/api/v1/openapi.json", headers=_bearer(tokens.read)).json()
    assert document == openapi_document(writable=True)
    long = "?q=" + "x" * (MAX_URL_BYTES + 1)
    answered = 0
    for path, described in document["paths"].items():
        for method, operation in described.items():
            url = path.replace("{run_id}", "no-such-run").replace("{datapoint_id}", "d")
            token = tokens.write if method == "post" else tokens.read
            with server.client() as client:
                calls = [
                    client.request(method, url),  # no token: 401
                    client.request(method, url, headers={"host": "evil.example"}),
                    client.request(method, url, headers=_bearer(token)),  # 404, 422...
                ]
                if method == "post":
                    calls += [
                        client.post(url, content=b"x", headers=_bearer(tokens.read)),  # 403
                        client.post(
                            url,
                            content=b"x",
                            headers={"content-type": "text/plain", **_bearer(token)},
                        ),
                        client.post(url, content=b"{", headers=_json_to(token)),
                    ]
                queries = [p for p in operation["parameters"] if p["in"] == "query"]
                if queries:
                    calls.append(
                        client.request(
                            method, f"{url}?{queries[0]['name']}=%00", headers=_bearer(token)
                        )
                    )
            statuses = [(r.status_code, r.text) for r in calls]
            statuses.append(_raw(server, method.upper(), url + long, _bearer(token))[0:3:2])
            for status, text in statuses:
                assert str(status) in operation["responses"], (method, path, status, text)
                answered += 1
    assert answered > 100


def test_whole_numbers_sent_as_floats_are_whole_numbers(server: ServerProcess) -> None:
    run_id = _run(server)
    records = [{"id": 7.0, "epoch": 2.0, "metrics": {"m": 1}}, {"id": "a", "epoch": 0.0}]
    with server.client() as client:
        logged = client.post(
            f"/api/v1/runs/{run_id}/batches",
            json={"idempotency_key": uuid.uuid4().hex, "records": records},
        )
        keys = client.get(f"/api/v1/runs/{run_id}/result-keys").json()["keys"]
        finished = client.post(
            f"/api/v1/runs/{run_id}/finish",
            json={"status": "completed", "shard": {"index": 0.0, "count": 1.0}},
        )
        half = client.post(
            f"/api/v1/runs/{_run(server)}/batches",
            json={"idempotency_key": uuid.uuid4().hex, "records": [{"id": "b", "epoch": 1.5}]},
        )
    assert logged.status_code == 200, logged.text
    assert sorted(keys) == [["7", 2], ["a", 0]]
    assert finished.status_code == 200, finished.text
    assert finished.json()["run"]["status"] == "completed"
    assert _error(half, 422)["field"] == "epoch"  # not a whole number


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"id": 2**53}, "datapoint_id"),
        ({"id": -(2**60)}, "datapoint_id"),
        ({"datapoint_id": "a", "id": 2**53}, "datapoint_id"),
        ({"id": "a", "steps": [{"name": "s", "children": "t"}]}, "children"),
        ({"id": "a", "steps": [{"name": "s", "children": {}}]}, "children"),
        ({"id": "a", "steps": [{"name": "s", "children": 0}]}, "children"),
        ({"id": "a", "error": 5}, "error"),
    ],
)
def test_records_the_schema_refuses_are_refused(
    server: ServerProcess, tmp_path: Path, record: dict[str, Any], field: str
) -> None:
    run_id = _run(server)
    with server.client() as client:
        response = client.post(
            f"/api/v1/runs/{run_id}/batches",
            json={"idempotency_key": uuid.uuid4().hex, "records": [{"id": "ok"}, record]},
        )
        keys = client.get(f"/api/v1/runs/{run_id}/result-keys").json()["keys"]
    error = _error(response, 422)
    assert (error["type"], error["field"], error["index"]) == ("InvalidRecordError", field, 1)
    assert keys == []
    if field == "error":
        return  # locally, an error that is not text is logged as its text
    # Local logging refuses it the same way.
    local = f"sqlite:///{tmp_path / 'l.db'}"
    with (
        evalyard.start_run("local", store=local) as run,
        pytest.raises(InvalidRecordError) as refused,
    ):
        run.log_many([{"id": "ok"}, record])
    assert (refused.value.field, refused.value.index) == (field, 1)


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _json_to(token: str) -> dict[str, str]:
    return {"content-type": "application/json", **_bearer(token)}
