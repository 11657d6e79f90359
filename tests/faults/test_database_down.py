"""The database of a team server goes away while clients log: the server answers 503 with
Retry-After (never a 500), clients retry and then spool, and once the database is back
every result is stored exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

import evalyard
from evalyard.store import open_store
from tests.api.conftest import ServerProcess
from tests.conftest import postgres_schema_url
from tests.faults.conftest import TCPLink

pytestmark = [pytest.mark.faults, pytest.mark.postgres]


@pytest.fixture
def linked() -> Iterator[tuple[str, str, TCPLink]]:
    """(direct URL, URL through a link that can be cut, the link) of a fresh schema."""
    for direct in postgres_schema_url():
        parsed = make_url(direct)
        link = TCPLink((parsed.host or "127.0.0.1", parsed.port or 5432))
        through = parsed.set(host="127.0.0.1", port=link.port)
        open_store(direct).close()  # the tables, made before the server starts
        try:
            yield direct, through.render_as_string(hide_password=False), link
        finally:
            link.cut()


def test_a_database_that_goes_away_is_503_then_spooled_then_stored_exactly_once(
    linked: tuple[str, str, TCPLink], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct, through, link = linked
    monkeypatch.setenv("EVALYARD_RETRY_SECONDS", "0.5")
    server = ServerProcess(through, tmp_path).start()
    try:
        run = evalyard.start_run("database-goes-away", store=server.url)
        run.log_many([{"id": f"a{i}", "metrics": {"v": 1.0}} for i in range(500)])
        run.flush()

        link.cut()
        with server.client() as client:
            read = client.get(f"/api/v1/runs/{run.run_id}")
            page = client.get("/experiments")
            written = client.post(
                f"/api/v1/runs/{run.run_id}/batches",
                json={"idempotency_key": "k-outage", "records": [{"datapoint_id": "x"}]},
            )
        for answer in (read, page, written):
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "5"
        body = read.json()["error"]
        assert body["type"] == "StoreError"
        assert str(link.port) not in body["message"]  # the database's address stays private
        assert "unavailable" in body["message"]

        run.log_many([{"id": f"b{i}", "metrics": {"v": 2.0}} for i in range(500)])
        run.flush()  # returns: the server answered 503 past the retry time, so they spooled
        spooled = list((tmp_path / ".evalyard" / "spool").glob("*.jsonl"))
        assert len(spooled) == 1

        link.restore()
        run.log_many([{"id": f"c{i}", "metrics": {"v": 3.0}} for i in range(500)])
        info = run.finish()  # the spool first, then the rest, then the finish
    finally:
        server.stop()
    assert info.result_count == 1_500
    assert "could not" in server.log()  # the server log says what failed
    store = open_store(direct)
    keys = store.result_keys(run.run_id)
    assert len(keys) == len(set(keys)) == 1_500
    store.close()
