"""A fake OpenAI-compatible server on 127.0.0.1, and one SDK tracer provider for the suite.

The server answers ``/v1/chat/completions`` with a fixed reply and usage that depends on
the model asked for (:func:`usage_for`), so a test can check the tokens and cost evalyard
recorded against what the server returned.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("openai")

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

RESPONSE_SUFFIX = "-2024-07-18"


def usage_for(model: str) -> dict[str, int]:
    """The usage the fake server reports for a model: the bigger model reads more."""
    prompt = 120 if model == "gpt-4o" else 80
    return {"prompt_tokens": prompt, "completion_tokens": 30, "total_tokens": prompt + 30}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body: dict[str, Any] = json.loads(self.rfile.read(int(self.headers["content-length"])))
        model = body["model"]
        question = body["messages"][-1]["content"]
        reply = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model + RESPONSE_SUFFIX,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"answer to {question}"},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage_for(model),
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[str]:
    """The base URL of the fake server."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="session")
def provider() -> TracerProvider:
    """The global tracer provider (set once per process), exporting to memory."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    made = TracerProvider()
    made.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(made)
    return made


@pytest.fixture
def exported(provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    """The user's own exporter, emptied before the test."""
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()
