"""Deep, huge and odd-Unicode payloads through every write path: the local stores, the SDK
through a team server, and the server's API itself.

Each payload is either stored and read back exactly, or refused with an error naming the
field — before anything is written, keeping what was logged before it, and leaving every
read of the run working (no 500 on a later page or API call).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import evalyard
from evalyard.errors import InvalidInputError
from evalyard.store import open_store
from tests.api.conftest import ServerProcess, server

pytestmark = pytest.mark.faults

__all__ = ["server"]  # the fixture, used by the tests below


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"next": value}
    return value


#: Payloads stored and read back exactly, by every path.
KEPT: dict[str, Any] = {
    "nul": "before\x00after",
    "right-to-left": "שלום עולם مرحبا",
    "astral": "🦜 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U0010fffd",
    "combining": "e\u0301 stays as given in outputs",
    "depth-199": _nested(199),  # 200 levels once inside {"v": ...}
    "big-int": {"n": 2**63 - 1, "m": -(2**63)},
    "mixed-keys": {"": 1, "a.b": 2, "$where": 3, "'; DROP TABLE runs; --": 4},
}

#: Payloads refused, with what the error names.
REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "depth-201": ({"outputs": _nested(201)}, "more than 200 levels deep"),
    "depth-5000": ({"metadata": _nested(5_000)}, "more than 200 levels deep"),
    "lone-surrogate": ({"outputs": "caf\udce9"}, "not valid Unicode"),
    "surrogate-in-step": ({"steps": [{"name": "s", "inputs": "\ud800"}]}, "not valid Unicode"),
    "huge": ({"outputs": "x" * 2_000_000}, "the limit is 1,000,000"),
    "nan": ({"metrics": {"m": float("nan")}}, "is NaN"),
}

BAD_IDS = ["q\u200b1", "q\u202e1", " q1", "q1\n", "\ud800"]


def _log_odd_payloads(target: str, read_url: str) -> str:
    """Log every payload into a new run of ``target``; check what ``read_url`` holds."""
    with evalyard.start_run(project="payloads", store=target) as run:
        run.log("first", outputs="kept whatever follows")
        for name, value in KEPT.items():
            run.log(f"kept-{name}", outputs=value, inputs={"v": value}, metadata={"v": value})
        for name, (fields, message) in REFUSED.items():
            with pytest.raises(InvalidInputError, match=message) as caught:
                run.log(f"refused-{name}", **fields)
            assert caught.value.datapoint_id == f"refused-{name}"
        for bad in BAD_IDS:
            with pytest.raises(InvalidInputError, match="datapoint id"):
                run.log(bad, outputs="x")
        run.flush()
    read = open_store(read_url)
    results = {r.datapoint_id: r for r in read.get_results(run.run_id)}
    assert sorted(results) == sorted(["first", *(f"kept-{name}" for name in KEPT)])
    for name, value in KEPT.items():
        result = results[f"kept-{name}"]
        assert (result.outputs, result.inputs, result.metadata) == (
            value,
            {"v": value},
            {"v": value},
        )
    assert read.get_run(run.run_id).status is evalyard.RunStatus.COMPLETED
    read.close()
    return run.run_id


def test_odd_payloads_are_kept_exactly_or_refused_by_name(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALYARD_MAX_FIELD_BYTES", "1000000")
    _log_odd_payloads(store_url, store_url)


def test_odd_payloads_through_the_server_are_kept_or_refused_and_every_read_answers(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALYARD_MAX_FIELD_BYTES", "1000000")
    run_id = _log_odd_payloads(server.url, server.store_url)
    _every_read_answers(server, run_id)


def _every_read_answers(server: ServerProcess, run_id: str) -> None:
    with server.client() as client:
        for path in (
            f"/api/v1/runs/{run_id}",
            f"/api/v1/runs/{run_id}/datapoints",
            f"/api/v1/runs/{run_id}/datapoints/kept-nul",
            f"/runs/{run_id}",
            f"/runs/{run_id}/datapoints/kept-nul",
            f"/runs/{run_id}/datapoints/kept-right-to-left",
            f"/runs/{run_id}/datapoints/kept-depth-199",
        ):
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.text[:500])


def _raw(body: str) -> bytes:
    """JSON text as the wire carries it (lone surrogate escapes included)."""
    return body.encode("utf-8")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"datapoint_id": "q\\ud800"}', None),
        ('{"datapoint_id": "q1", "outputs": "\\udce9"}', None),
        ('{"datapoint_id": "q\\u200b1"}', "datapoint_id"),
        ('{"datapoint_id": "q1", "outputs": ' + json.dumps(_nested(201)) + "}", "outputs"),
        ('{"datapoint_id": "q1", "metrics": {"m": 1e400}}', None),
        ('{"datapoint_id": "q1", "epoch": 99999999999999999999999}', None),
        ('{"datapoint_id": "q1", "steps": [{"name": "s\\u202e"}]}', None),
    ],
)
def test_the_api_refuses_odd_batches_whole_and_goes_on(
    server: ServerProcess, body: str, field: str | None
) -> None:
    run = evalyard.start_run(project="raw-payloads", store=server.url)
    run.log("before", outputs="kept")
    run.flush()
    with server.client() as client:
        payload = _raw(
            '{"idempotency_key": "odd-batch-0001", "records": [{"datapoint_id": "also-refused"}, '
            + body
            + "]}"
        )
        answer = client.post(
            f"/api/v1/runs/{run.run_id}/batches",
            content=payload,
            headers={"content-type": "application/json"},
        )
        assert answer.status_code in (400, 422), answer.text
        error = answer.json()["error"]
        if field is not None:
            assert field in str(error.get("field", "")) + error["message"]
        ok = client.post(
            f"/api/v1/runs/{run.run_id}/batches",
            json={"idempotency_key": "fine-batch-0001", "records": [{"datapoint_id": "after"}]},
        )
        assert ok.status_code == 200, ok.text
    ids = [r.datapoint_id for r in evalyard.get_results(run.run_id, store=server.url)]
    assert ids == ["after", "before"]  # the odd batch wrote nothing, not even its good record
    _every_read_answers_for(server, run.run_id)


def _every_read_answers_for(server: ServerProcess, run_id: str) -> None:
    with server.client() as client:
        for path in (f"/api/v1/runs/{run_id}", f"/runs/{run_id}"):
            assert client.get(path).status_code == 200, path


@pytest.mark.parametrize(
    "metadata",
    ['{"m": "\\udce9"}', '{"m": ' + json.dumps(_nested(201)) + "}", '{"m": NaN}'],
)
def test_the_api_refuses_odd_run_metadata(server: ServerProcess, metadata: str) -> None:
    with server.client() as client:
        answer = client.post(
            "/api/v1/runs",
            content=_raw(
                '{"name": "odd-metadata", "project": "raw", "metadata": ' + metadata + "}"
            ),
            headers={"content-type": "application/json"},
        )
        assert answer.status_code in (400, 422), answer.text
        assert client.get("/api/v1/runs", params={"project": "raw"}).status_code == 200
    store = open_store(server.store_url)
    assert store.find_runs("odd-metadata") == []
    store.close()
