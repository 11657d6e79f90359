"""Batches over HTTP as the server reads them fast: numbers with long fractions and 64-bit
integers stored exactly, a record that is not an object named, whole floats made ints
only in ids and epochs (on SQLite and PostgreSQL); a run found once per process, another
project's run still not found."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson

from evalyard.store import open_store
from tests.api.conftest import ServerProcess, Tokens

_TINY = [0.0012345678901234567, 0.00010309278350515464, 1.2345678901234567e-5, 7.5e-300]


def _run(server: ServerProcess) -> str:
    run_id = f"bodies-{uuid.uuid4().hex[:8]}"
    with server.client() as client:
        created = client.post("/api/v1/runs", json={"run_id": run_id, "name": run_id})
    assert created.status_code == 201, created.text
    return run_id


def _post(client: httpx.Client, run_id: str, records: Any, **extra: Any) -> httpx.Response:
    body = {"idempotency_key": uuid.uuid4().hex, "records": records, **extra}
    return client.post(
        f"/api/v1/runs/{run_id}/batches",
        content=orjson.dumps(body),
        headers={"content-type": "application/json"},
    )


def _error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["status"] == 422
    return error


def test_long_fractions_and_64_bit_integers_are_stored_exactly(server: ServerProcess) -> None:
    run_id = _run(server)
    records = [
        {
            "id": f"d{i}",
            "inputs": {"seed": 2**63 - 1 - i, "low": -(2**63) + i, "x": 1.0},
            "outputs": "answer",
            "metrics": {f"m{k}": value / (i + 1) for k, value in enumerate(_TINY)},
        }
        for i in range(300)
    ]
    with server.client() as client:
        logged = _post(client, run_id, records)
        got = client.get(f"/api/v1/runs/{run_id}/results", params={"limit": 1000}).json()
    assert logged.status_code == 200, logged.text
    assert logged.json() == {"record_count": 300, "duplicate": False}
    by_id = {result["datapoint_id"]: result for result in got["results"]}
    assert len(by_id) == 300
    for record in records:
        stored = by_id[record["id"]]
        assert stored["metrics"] == record["metrics"]
        assert stored["inputs"] == record["inputs"]
        assert type(stored["inputs"]["x"]) is float  # a float in free JSON stays a float


def test_a_record_that_is_not_an_object_is_named_and_nothing_is_stored(
    server: ServerProcess,
) -> None:
    run_id = _run(server)
    with server.client() as client:
        not_object = _error(_post(client, run_id, [{"id": "a"}, {"id": "b"}, 5, {"id": "c"}]))
        not_list = _error(_post(client, run_id, {"id": "a"}))
        extra = _error(_post(client, run_id, [{"id": "a"}], note="x"))
        keys = client.get(f"/api/v1/runs/{run_id}/result-keys").json()["keys"]
    assert (not_object["type"], not_object["field"]) == ("RequestBodyError", "records[2]")
    assert not_object["message"] == (
        "the request body does not follow the schema at records[2]: 5 is not of type 'object'"
    )
    assert not_list["field"] == "records"
    assert "is not of type 'array'" in not_list["message"]
    assert extra["field"] == "note"
    assert keys == []


def test_whole_floats_become_ints_in_ids_and_epochs_only(server: ServerProcess) -> None:
    run_id = _run(server)
    records = [
        {"id": 3.0, "epoch": 1.0, "inputs": {"n": 2.0}, "metrics": {"m": 4.0}},
        {"datapoint_id": "b", "id": 5.0, "epoch": 0.0, "duration_ms": 12.0},
    ]
    with server.client() as client:
        logged = _post(client, run_id, records)
        keys = client.get(f"/api/v1/runs/{run_id}/result-keys").json()["keys"]
        (three,) = client.get(
            f"/api/v1/runs/{run_id}/results", params={"datapoint_id": "3"}
        ).json()["results"]
    assert logged.status_code == 200, logged.text
    assert sorted(keys) == [["3", 1], ["b", 0]]
    assert three["inputs"] == {"n": 2.0}
    assert type(three["inputs"]["n"]) is float
    assert three["metrics"] == {"m": 4.0}


def _make(server: ServerProcess, run_id: str, project: str) -> None:
    store = open_store(server.store_url)
    try:
        store.create_run(run_id=run_id, name=run_id, project=project, dataset=None, metadata={})
    finally:
        store.close()


def test_a_batch_finds_its_run_once_and_still_refuses_what_it_must(
    auth_server: tuple[ServerProcess, Tokens],
) -> None:
    server, tokens = auth_server
    suffix = uuid.uuid4().hex[:8]
    mine, theirs, later = f"mine-{suffix}", f"theirs-{suffix}", f"later-{suffix}"
    _make(server, mine, "a")
    _make(server, theirs, "b")
    statuses: dict[str, list[int]] = {mine: [], theirs: [], later: []}
    with server.client(tokens.write) as client:
        for round_ in range(3):
            for run_id in (mine, theirs, later):
                statuses[run_id].append(_post(client, run_id, [{"id": f"r{round_}"}]).status_code)
            if round_ == 0:  # a run made after a batch for it was refused takes the next
                _make(server, later, "a")
        bad = _error(_post(client, mine, [{"id": "x", "epoch": -1}]))
        unseen = client.post(
            f"/api/v1/runs/{theirs}/batches",
            content=orjson.dumps({"idempotency_key": uuid.uuid4().hex, "records": [5]}),
            headers={"content-type": "application/json"},
        )
        wrong_case = _post(client, mine.upper(), [{"id": "y"}])
        missing = _post(client, f"none-{suffix}", [{"id": "x", "epoch": -1}])
        mine_keys = client.get(f"/api/v1/runs/{mine}/result-keys").json()["keys"]
        later_keys = client.get(f"/api/v1/runs/{later}/result-keys").json()["keys"]
    # Another project's run is not found, however often it is asked for (then and later).
    assert statuses == {mine: [200, 200, 200], theirs: [404, 404, 404], later: [404, 200, 200]}
    assert (bad["field"], bad["index"]) == ("epoch", 0)
    assert unseen.status_code == 422  # the body is read before the run is looked up
    assert wrong_case.status_code == 404
    # A run that does not exist is said before a record is checked, as before.
    assert (missing.status_code, missing.json()["error"]["type"]) == (404, "RunNotFoundError")
    assert sorted(mine_keys) == [["r0", 0], ["r1", 0], ["r2", 0]]
    assert sorted(later_keys) == [["r1", 0], ["r2", 0]]
    store = open_store(server.store_url)
    try:
        assert store.result_keys(theirs) == []
    finally:
        store.close()
