"""OTLP/HTTP trace ingestion on a real team server: the OpenTelemetry SDK's own exporter
(protobuf) and OTLP/JSON posted by hand become results and steps of the runs the spans
name; a resent request writes nothing twice; tokens are checked as for other writes; bad
payloads are refused with nothing written."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

pytest.importorskip("opentelemetry.sdk.trace")

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import (
    ReadableSpan,
    TracerProvider,
)
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from evalyard.store import SQLStore, open_store, schema
from tests.api.conftest import ServerProcess, Tokens, running_server

JSON = {"content-type": "application/json"}
PROTOBUF = {"content-type": "application/x-protobuf"}
#: Tokens the fake model "returned" per question: (input, output).
USAGE = {"q1": (120, 30), "q2": (80, 12)}


def _run(client: httpx.Client, project: str | None = None) -> str:
    run_id = uuid.uuid4().hex
    body: dict[str, Any] = {"run_id": run_id, "name": f"otlp-{run_id}"}
    if project:
        body["project"] = project
    response = client.post("/api/v1/runs", json=body)
    assert response.status_code == 201, response.text
    return run_id


def _results(client: httpx.Client, run_id: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/v1/runs/{run_id}/results")
    assert response.status_code == 200, response.text
    return {result["datapoint_id"]: result for result in response.json()["results"]}


def _batch_keys(store_url: str, run_id: str) -> int:
    store = open_store(store_url)
    assert isinstance(store, SQLStore)
    try:
        k = schema.batch_keys
        with store.engine.connect() as connection:
            found = connection.execute(
                select(func.count()).where(k.c.run_id == run_id)
            ).scalar_one()
        return int(found)
    finally:
        store.close()


def _provider(run_id: str, exporter: SpanExporter) -> TracerProvider:
    # The run on the resource (one provider per run), the datapoint on each trace's root.
    provider = TracerProvider(resource=Resource.create({"evalyard.run_id": run_id}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    return provider


def _app(provider: TracerProvider, model: str) -> None:
    """A small instrumented app: per question a root span, a retrieval tool, a model call."""
    tracer = provider.get_tracer("otlp-test-app")
    with tracer.start_as_current_span("not-a-datapoint"):
        pass  # setup work outside any datapoint: refused as partial success
    for question, (tokens_in, tokens_out) in USAGE.items():
        with tracer.start_as_current_span(
            "answer",
            attributes={
                "evalyard.datapoint_id": question,
                "evalyard.inputs": f'{{"question": "{question}?"}}',
                "evalyard.outputs": f"answer to {question}",
            },
        ) as root:
            with tracer.start_as_current_span(
                "retrieve", attributes={"openinference.span.kind": "RETRIEVER"}
            ):
                pass
            with tracer.start_as_current_span(
                f"chat {model}",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": tokens_in,
                    "gen_ai.usage.output_tokens": tokens_out,
                },
            ):
                pass
            if question == "q2":
                root.set_status(Status(StatusCode.ERROR, "the model refused"))
    assert provider.force_flush(30_000)


def _check_results(results: dict[str, dict[str, Any]]) -> None:
    assert set(results) == set(USAGE)
    for question, (tokens_in, tokens_out) in USAGE.items():
        result = results[question]
        assert result["epoch"] == 0
        assert result["inputs"] == {"question": f"{question}?"}
        assert result["outputs"] == f"answer to {question}"
        assert [step["name"] for step in result["steps"]] == ["retrieve", "chat"]
        assert [step["type"] for step in result["steps"]] == ["tool", "model"]
        assert result["metrics"]["input_tokens"] == tokens_in
        assert result["metrics"]["output_tokens"] == tokens_out
        assert result["metrics"]["total_tokens"] == tokens_in + tokens_out
        assert result["metrics"]["cost_usd"] > 0
        assert result["duration_ms"] >= 0
    assert results["q1"]["error"] is None
    assert results["q2"]["error"] == "the model refused"


def test_the_sdk_exporter_pointed_at_the_server_logs_results_and_steps(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    with server.client() as client:
        run_id = _run(client)
    # As a user would: the base endpoint in the environment, the exporter adds /v1/traces.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.url)
    provider = _provider(run_id, OTLPSpanExporter())
    try:
        _app(provider, "gpt-4o-mini")
    finally:
        provider.shutdown()
    with server.client() as client:
        _check_results(_results(client, run_id))
        steps = client.get(f"/api/v1/runs/{run_id}/steps")
        assert steps.status_code == 200
        defined = client.get("/api/v1/metric-definitions", params={"project": "default"})
        directions = {m["name"]: m["direction"] for m in defined.json()["metrics"]}
        for name in ("input_tokens", "output_tokens", "total_tokens", "cost_usd"):
            assert directions[name] == "lower", directions
    assert _batch_keys(server.store_url, run_id) == 1


class _Capture(SpanExporter):
    """Keeps the protobuf bodies the SDK's OTLP exporter would send (its own encoder)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.bodies.append(encode_spans(spans).SerializePartialToString())
        return SpanExportResult.SUCCESS


def _captured(run_id: str) -> bytes:
    exporter = _Capture()
    provider = _provider(run_id, exporter)
    try:
        _app(provider, "gpt-4o")
    finally:
        provider.shutdown()
    [body] = exporter.bodies
    return body


def _as_json(body: bytes) -> bytes:
    """The protobuf request in OTLP/JSON: hex ids, enums as integers, int64 as strings."""
    request = ExportTraceServiceRequest.FromString(body)

    def value(v: Any) -> dict[str, Any]:
        which = v.WhichOneof("value")
        if which == "string_value":
            return {"stringValue": v.string_value}
        if which == "int_value":
            return {"intValue": str(v.int_value)}
        if which == "bool_value":
            return {"boolValue": v.bool_value}
        if which == "double_value":
            return {"doubleValue": v.double_value}
        if which == "array_value":
            return {"arrayValue": {"values": [value(x) for x in v.array_value.values]}}
        raise AssertionError(which)

    def attributes(pairs: Any) -> list[dict[str, Any]]:
        return [{"key": pair.key, "value": value(pair.value)} for pair in pairs]

    out = {
        "resourceSpans": [
            {
                "resource": {"attributes": attributes(rs.resource.attributes)},
                "scopeSpans": [
                    {
                        "scope": {"name": ss.scope.name},
                        "spans": [
                            {
                                "traceId": span.trace_id.hex(),
                                "spanId": span.span_id.hex(),
                                "parentSpanId": span.parent_span_id.hex(),
                                "name": span.name,
                                "kind": span.kind,
                                "startTimeUnixNano": str(span.start_time_unix_nano),
                                "endTimeUnixNano": str(span.end_time_unix_nano),
                                "attributes": attributes(span.attributes),
                                "status": {
                                    "code": span.status.code,
                                    "message": span.status.message,
                                },
                            }
                            for span in ss.spans
                        ],
                    }
                    for ss in rs.scope_spans
                ],
            }
            for rs in request.resource_spans
        ]
    }
    return orjson.dumps(out)


def test_otlp_json_and_protobuf_make_the_same_results_and_a_resend_writes_nothing_twice(
    server: ServerProcess,
) -> None:
    with server.client() as client:
        by_json, by_protobuf = _run(client), _run(client)
        body = _captured(by_json)
        answer = client.post("/v1/traces", content=_as_json(body), headers=JSON)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        partial = answer.json()["partialSuccess"]
        assert partial["rejectedSpans"] == "1"
        assert "evalyard.datapoint_id" in partial["errorMessage"]
        # Sent again (an exporter's retry): acknowledged, nothing written twice.
        again = client.post("/v1/traces", content=_as_json(body), headers=JSON)
        assert again.status_code == 200, again.text
        _check_results(_results(client, by_json))
        assert _batch_keys(server.store_url, by_json) == 1

        raw = _captured(by_protobuf)
        for _ in range(2):
            sent = client.post("/v1/traces", content=raw, headers=PROTOBUF)
            assert sent.status_code == 200, sent.text
            assert sent.headers["content-type"] == "application/x-protobuf"
            response = ExportTraceServiceResponse.FromString(sent.content)
            assert response.partial_success.rejected_spans == 1
        # Compressed, as collectors send it: the same body, so the same key.
        zipped = client.post(
            "/v1/traces",
            content=gzip.compress(raw),
            headers={**PROTOBUF, "content-encoding": "gzip"},
        )
        assert zipped.status_code == 200, zipped.text
        assert _batch_keys(server.store_url, by_protobuf) == 1
        first, second = _results(client, by_json), _results(client, by_protobuf)
    for question in USAGE:
        one, two = first[question], second[question]
        assert _timeless(one["steps"]) == _timeless(two["steps"])
        assert _timeless(one["metrics"]) == _timeless(two["metrics"])


def _timeless(value: Any) -> Any:
    """A result's steps or metrics without the times (two captures, two timings)."""
    if isinstance(value, dict):
        return {
            k: _timeless(v) for k, v in value.items() if "latency" not in k and k != "duration_ms"
        }
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def _span(
    trace: str, span_id: str, name: str, attributes: dict[str, Any], parent: str = ""
) -> dict[str, Any]:
    return {
        "traceId": trace,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000250000000",
        "attributes": [
            {
                "key": key,
                "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v},
            }
            for key, v in attributes.items()
        ],
    }


def _request(*spans: dict[str, Any], resource: dict[str, str] | None = None) -> bytes:
    attributes = [{"key": k, "value": {"stringValue": v}} for k, v in (resource or {}).items()]
    return orjson.dumps(
        {
            "resourceSpans": [
                {"resource": {"attributes": attributes}, "scopeSpans": [{"spans": spans}]}
            ]
        }
    )


def test_spans_of_several_runs_and_epochs_inherit_from_their_ancestors(
    server: ServerProcess,
) -> None:
    trace_a, trace_b, trace_c = (uuid.uuid4().hex for _ in range(3))
    with server.client() as client:
        first, second = _run(client), _run(client)
        body = _request(
            _span(
                trace_a,
                "a" * 16,
                "answer",
                {"evalyard.run_id": first, "evalyard.datapoint_id": "x"},
            ),
            _span(trace_a, "b" * 16, "tool call", {}, parent="a" * 16),
            _span(trace_a, "c" * 16, "inner", {}, parent="b" * 16),
            _span(
                trace_b,
                "d" * 16,
                "answer",
                {"evalyard.run_id": first, "evalyard.datapoint_id": "x", "evalyard.epoch": 1},
            ),
            _span(
                trace_c, "e" * 16, "answer", {"evalyard.run_id": second, "evalyard.datapoint_id": 7}
            ),
        )
        response = client.post("/v1/traces", content=body, headers=JSON)
        assert response.status_code == 200, response.text
        assert response.json() == {}
        keys = client.get(f"/api/v1/runs/{first}/result-keys").json()["keys"]
        assert keys == [["x", 0], ["x", 1]]
        [result] = [
            r
            for r in client.get(f"/api/v1/runs/{first}/results").json()["results"]
            if r["epoch"] == 0
        ]
        [step] = result["steps"]
        assert step["name"] == "tool call"
        assert [child["name"] for child in step["children"]] == ["inner"]
        assert result["duration_ms"] == 250.0
        assert set(_results(client, second)) == {"7"}


def test_a_request_naming_a_missing_run_writes_nothing_at_all(server: ServerProcess) -> None:
    with server.client() as client:
        run_id = _run(client)
        body = _request(
            _span(
                uuid.uuid4().hex,
                "a" * 16,
                "ok",
                {"evalyard.run_id": run_id, "evalyard.datapoint_id": "q"},
            ),
            _span(
                uuid.uuid4().hex,
                "b" * 16,
                "lost",
                {"evalyard.run_id": "no-such-run", "evalyard.datapoint_id": "q"},
            ),
        )
        response = client.post("/v1/traces", content=body, headers=JSON)
        assert response.status_code == 404, response.text
        assert _results(client, run_id) == {}
    assert _batch_keys(server.store_url, run_id) == 0


def _bad_payloads(run_id: str) -> Iterator[tuple[int, bytes, dict[str, str], str]]:
    good = {"evalyard.run_id": run_id, "evalyard.datapoint_id": "q"}
    trace = uuid.uuid4().hex
    yield 400, b"\x0a\xff\xff\xff", PROTOBUF, "protobuf"
    yield 400, b'{"resourceSpans": [', JSON, "not JSON"
    yield 400, b'{"resourceSpans": {"a": 1}}', JSON, "not an array"
    # A field may be null (empty, as in protobuf's JSON); an item of an array may not.
    yield 400, b'{"resourceSpans": [{"scopeSpans": [null]}]}', JSON, "not an object"
    yield 400, _request({**_span(trace, "a" * 16, "s", good), "traceId": "xyz"}), JSON, "hex"
    yield 400, _request({**_span(trace, "a" * 16, "s", good), "spanId": "0" * 16}), JSON, "zeros"
    yield 400, b"not gzip", {**JSON, "content-encoding": "gzip"}, "gzip"
    yield 415, _request(_span(trace, "a" * 16, "s", good)), {"content-type": "text/plain"}, "text"
    yield 415, _request(_span(trace, "a" * 16, "s", good)), {**JSON, "content-encoding": "br"}, "br"
    # A datapoint without a run: the whole request is refused, naming the span.
    yield (
        422,
        _request(
            _span(trace, "a" * 16, "fine", good),
            _span(uuid.uuid4().hex, "b" * 16, "orphan", {"evalyard.datapoint_id": "q9"}),
        ),
        JSON,
        "'orphan'",
    )
    yield (
        422,
        _request(_span(trace, "a" * 16, "late", {**good, "evalyard.epoch": "-1"})),
        JSON,
        "evalyard.epoch",
    )
    # A result evalyard refuses (its datapoint id is too long), named by one of its spans.
    yield (
        422,
        _request(_span(trace, "a" * 16, "long", {**good, "evalyard.datapoint_id": "x" * 5000})),
        JSON,
        "'long'",
    )


def test_bad_payloads_are_refused_and_nothing_is_written(server: ServerProcess) -> None:
    with server.client() as client:
        run_id = _run(client)
        for status, body, headers, said in _bad_payloads(run_id):
            response = client.post("/v1/traces", content=body, headers=headers)
            assert response.status_code == status, (said, response.text)
            if headers["content-type"] == "application/json":
                answer = response.json()
                assert answer["message"] == answer["error"]["message"]
                assert said in answer["message"] or said in (
                    "gzip",
                    "br",
                    "not JSON",
                    "hex",
                    "zeros",
                    "not an array",
                )
            if headers["content-type"] == "application/x-protobuf":
                # A google.rpc.Status: code 3 (invalid argument), then the message.
                assert response.content.startswith(b"\x08\x03\x12")
        assert _results(client, run_id) == {}
    assert _batch_keys(server.store_url, run_id) == 0


def test_a_body_over_the_limit_is_refused_with_413(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    open_store(url).close()
    with (
        running_server(url, tmp_path, "--max-body-bytes", "4096") as small,
        small.client() as client,
    ):
        run_id = _run(client)
        spans = [
            _span(
                uuid.uuid4().hex,
                uuid.uuid4().hex[:16],
                "s" * 100,
                {"evalyard.run_id": run_id, "evalyard.datapoint_id": f"q{i}"},
            )
            for i in range(11)
        ]
        body = _request(*spans)
        # Just over the limit: the server answers before reading a body announced too large.
        assert 4096 < len(body) < 6000, len(body)
        assert client.post("/v1/traces", content=body, headers=JSON).status_code == 413
        # Small compressed, too large inflated.
        zipped = gzip.compress(body)
        assert len(zipped) < 4096
        response = client.post(
            "/v1/traces", content=zipped, headers={**JSON, "content-encoding": "gzip"}
        )
        assert response.status_code == 413, response.text
        assert _results(client, run_id) == {}


def test_tokens_are_checked_as_for_other_writes(
    auth_server: tuple[ServerProcess, Tokens], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, tokens = auth_server
    with server.client(tokens.write) as client:
        run_id = _run(client, project="a")
    body = _captured(run_id)
    for token, status in (
        (None, 401),
        (tokens.read, 403),
        (tokens.other_read, 403),
        (tokens.other_write, 404),  # a run of project a is not revealed to project b
    ):
        with server.client(token) as client:
            response = client.post("/v1/traces", content=body, headers=PROTOBUF)
            assert response.status_code == status, (token, response.text)
            assert response.headers["content-type"] == "application/x-protobuf"
    with server.client(tokens.write) as client:
        assert _results(client, run_id) == {}
    # The exporter sends the token from OTEL_EXPORTER_OTLP_HEADERS.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{server.url}/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer {tokens.write}")
    provider = _provider(run_id, OTLPSpanExporter())
    try:
        _app(provider, "gpt-4o-mini")
    finally:
        provider.shutdown()
    with server.client(tokens.write) as client:
        _check_results(_results(client, run_id))


def test_the_same_app_captured_in_process_and_sent_over_otlp_gives_the_same_steps(
    server: ServerProcess,
) -> None:
    import evalyard

    dataset = [{"id": question, "inputs": {"question": f"{question}?"}} for question in USAGE]
    provider = TracerProvider()
    provider.add_span_processor(evalyard.EvalyardSpanProcessor())
    tracer = provider.get_tracer("otlp-test-app")

    def app(inputs: dict[str, Any]) -> str:
        question = inputs["question"].rstrip("?")
        tokens_in, tokens_out = USAGE[question]
        with tracer.start_as_current_span(
            "retrieve", attributes={"openinference.span.kind": "RETRIEVER"}
        ):
            pass
        with tracer.start_as_current_span(
            "chat gpt-4o-mini",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": tokens_in,
                "gen_ai.usage.output_tokens": tokens_out,
            },
        ):
            pass
        return f"answer to {question}"

    try:
        captured = evalyard.evaluate(
            app, dataset=dataset, name=f"captured-{uuid.uuid4().hex}", store=server.url
        )
    finally:
        provider.shutdown()
    # The same app over OTLP: a span per datapoint stands for it, the app's spans below it.
    with server.client() as client:
        sent = _run(client)
    exporter = _Capture()
    otlp = _provider(sent, exporter)
    tracer = otlp.get_tracer("otlp-test-app")
    for item in dataset:
        with tracer.start_as_current_span(
            "datapoint", attributes={"evalyard.datapoint_id": item["id"]}
        ) as root:
            root.set_attribute("evalyard.outputs", app(item["inputs"]))
    otlp.shutdown()
    with server.client() as client:
        for body in exporter.bodies:
            assert client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
        one, two = _results(client, captured.run_id), _results(client, sent)
    assert set(one) == set(two) == set(USAGE)
    for question in USAGE:
        assert _timeless(one[question]["steps"]) == _timeless(two[question]["steps"])
        assert one[question]["outputs"] == two[question]["outputs"]
        tokens = ("input_tokens", "output_tokens", "total_tokens", "cost_usd")
        assert {k: one[question]["metrics"][k] for k in tokens} == {
            k: two[question]["metrics"][k] for k in tokens
        }


def _app_spans(run_id: str) -> list[ReadableSpan]:
    """The spans of :func:`_app` for ``run_id``, as the SDK finished them."""
    exporter = InMemorySpanExporter()
    provider = _provider(run_id, exporter)
    try:
        _app(provider, "gpt-4o")
    finally:
        provider.shutdown()
    return list(exporter.get_finished_spans())


def _body(spans: Sequence[ReadableSpan]) -> bytes:
    return bytes(encode_spans(spans).SerializePartialToString())


def _send(client: httpx.Client, spans: Sequence[ReadableSpan]) -> int:
    """Post the spans in one protobuf request: how many the server refused."""
    sent = client.post("/v1/traces", content=_body(spans), headers=PROTOBUF)
    assert sent.status_code == 200, sent.text
    return int(ExportTraceServiceResponse.FromString(sent.content).partial_success.rejected_spans)


def _stored_spans(store_url: str) -> int:
    store = open_store(store_url)
    assert isinstance(store, SQLStore)
    try:
        with store.engine.connect() as connection:
            found = connection.execute(
                select(func.count()).select_from(schema.otlp_spans)
            ).scalar_one()
        return int(found)
    finally:
        store.close()


def _is_root(span: ReadableSpan) -> bool:
    return span.parent is None


def _named_as(prefix: str) -> Any:
    return lambda span: span.name.startswith(prefix)


#: Ways to split a datapoint's spans over requests, each a list of span filters in the
#: order the requests are sent.
SPLITS = {
    "children first, root last": [lambda s: not _is_root(s), _is_root],
    "root first": [_is_root, lambda s: not _is_root(s)],
    "three requests, root in the middle": [
        _named_as("retrieve"),
        _is_root,
        _named_as("chat"),
    ],
    "three requests, root last": [_named_as("chat"), _named_as("retrieve"), _is_root],
}


def _same_results(one: dict[str, dict[str, Any]], two: dict[str, dict[str, Any]]) -> None:
    assert set(one) == set(two)
    for question in one:
        a, b = one[question], two[question]
        for field in ("inputs", "outputs", "ground_truth", "error", "epoch"):
            assert a[field] == b[field], (question, field)
        assert _timeless(a["steps"]) == _timeless(b["steps"])
        assert _timeless(a["metrics"]) == _timeless(b["metrics"])


def test_a_datapoints_spans_split_over_requests_make_the_result_of_one_request(
    server: ServerProcess,
) -> None:
    with server.client() as client:
        whole = _run(client)
        before = _stored_spans(server.store_url)  # the server is shared with other tests
        assert _send(client, _app_spans(whole)) == 1  # the span outside any datapoint
        expected = _results(client, whole)
        _check_results(expected)
        stored = _stored_spans(server.store_url)
        assert stored == before + 6  # 2 datapoints x 3 spans; the refused one is not kept
        for how, parts in SPLITS.items():
            run_id = _run(client)
            spans = _app_spans(run_id)
            refused = 0
            for keep in parts:
                refused += _send(client, [span for span in spans if keep(span)])
            assert refused == 1, how
            results = _results(client, run_id)
            _check_results(results)
            _same_results(results, expected)
            # Sent again, whole or in its parts: nothing is stored or written twice.
            keys = _batch_keys(server.store_url, run_id)
            assert _send(client, spans) == 1
            for keep in parts:
                _send(client, [span for span in spans if keep(span)])
            stored += 6
            assert _stored_spans(server.store_url) == stored, how
            assert _batch_keys(server.store_url, run_id) == keys, how
            _same_results(_results(client, run_id), expected)


def test_the_sdk_exporter_sending_a_datapoint_in_several_requests_logs_one_result(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    with server.client() as client:
        run_id = _run(client)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.url)
    provider = TracerProvider(resource=Resource.create({"evalyard.run_id": run_id}))
    # Two spans a request: each datapoint's root travels apart from its children.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), max_export_batch_size=2))
    try:
        _app(provider, "gpt-4o-mini")
    finally:
        provider.shutdown()
    with server.client() as client:
        _check_results(_results(client, run_id))
    assert _batch_keys(server.store_url, run_id) >= 2


def test_a_span_waiting_for_its_ancestors_is_attached_when_they_come(
    server: ServerProcess,
) -> None:
    trace = uuid.uuid4().hex
    with server.client() as client:
        run_id = _run(client)
        # The grandchild first: its parent and the root (with the datapoint) come later.
        body = _request(_span(trace, "c" * 16, "inner", {}, parent="b" * 16))
        answer = client.post("/v1/traces", content=body, headers=JSON)
        assert answer.status_code == 200, answer.text
        assert answer.json().get("partialSuccess", {}).get("rejectedSpans", "0") == "0"
        assert _results(client, run_id) == {}
        body = _request(
            _span(trace, "a" * 16, "answer", {"evalyard.datapoint_id": "x"}),
            resource={"evalyard.run_id": run_id},
        )
        assert client.post("/v1/traces", content=body, headers=JSON).status_code == 200
        assert _results(client, run_id)["x"]["steps"] == []
        body = _request(_span(trace, "b" * 16, "tool call", {}, parent="a" * 16))
        assert client.post("/v1/traces", content=body, headers=JSON).status_code == 200
        [step] = _results(client, run_id)["x"]["steps"]
        assert step["name"] == "tool call"
        assert [child["name"] for child in step["children"]] == ["inner"]


def test_pending_spans_are_bounded_per_project_and_purged_after_a_day(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from evalyard.server import create_app
    from evalyard.server.api import traces

    monkeypatch.setattr(traces, "MAX_PENDING_SPANS", 2)
    trace = uuid.uuid4().hex
    orphans = [_span(trace, f"{n:016x}", f"orphan {n}", {}, parent="f" * 16) for n in (1, 2, 3)]
    with TestClient(create_app(store, writable=True), base_url="http://127.0.0.1") as client:
        run_id = _run(client)
        # Three spans waiting for their parent: two are kept, the third is refused.
        answer = client.post("/v1/traces", content=_request(*orphans), headers=JSON)
        assert answer.status_code == 200, answer.text
        partial = answer.json()["partialSuccess"]
        assert partial["rejectedSpans"] == "1"
        assert "wait for ancestors" in partial["errorMessage"]
        assert _stored_spans(store.url) == 2
        # Once older than the bound they are purged, and the parent alone makes the result.
        monkeypatch.setattr(traces, "PENDING_SECONDS", -60.0)
        root = _span(trace, "f" * 16, "answer", {"evalyard.datapoint_id": "x"})
        body = _request(root, resource={"evalyard.run_id": run_id})
        assert client.post("/v1/traces", content=body, headers=JSON).status_code == 200
        assert _stored_spans(store.url) == 1
        results = client.get(f"/api/v1/runs/{run_id}/results").json()["results"]
        assert [r["steps"] for r in results] == [[]]
        # Sent again, the third orphan is attached at once.
        assert (
            client.post("/v1/traces", content=_request(orphans[2]), headers=JSON).status_code == 200
        )
        results = client.get(f"/api/v1/runs/{run_id}/results").json()["results"]
        assert [[s["name"] for s in r["steps"]] for r in results] == [["orphan 3"]]
