"""A bounded schemathesis run over the served OpenAPI description: no 5xx, whatever the
generated requests (valid and invalid bodies, parameters and paths)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

import evalyard  # noqa: E402
from evalyard.server import create_app  # noqa: E402
from evalyard.store import open_store  # noqa: E402

#: Examples per operation and generation mode; the whole run stays well under a minute.
EXAMPLES = 20


@pytest.mark.slow
def test_no_request_makes_the_server_fail(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'evalyard.db'}")
    with evalyard.start_run("fuzz", run_id="fuzz-run", store=store) as run:
        run.log_many(
            [
                {"id": f"q{i}", "outputs": f"o{i}", "metrics": {"m": i / 3, "ok": i % 2 == 0}}
                for i in range(20)
            ]
        )
    app = create_app(store, writable=True, allowed_hosts=["*"])
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    started = time.monotonic()
    operations = 0
    for found in schema.get_all_operations():
        operation = found.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def no_server_error(case: object) -> None:
                case.call_and_validate(checks=[not_a_server_error])  # type: ignore[attr-defined]

            no_server_error()
    assert operations >= 20
    assert time.monotonic() - started < 60
    store.close()
