"""A disk that fills up: a clear error naming the store, nothing already stored lost, and the
store usable again once there is room."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import evalyard
from evalyard.errors import StoreError
from evalyard.store import open_store
from tests.api.conftest import ServerProcess

pytestmark = pytest.mark.faults

OUTPUT = "x" * 20_000  # each result takes some room


def test_a_full_disk_is_a_clear_error_and_loses_nothing_stored(small_disk: Path) -> None:
    room = small_disk / "room-to-free"
    room.write_bytes(b"\0" * 400_000)
    url = f"sqlite:///{small_disk / 'evalyard.db'}"
    store = open_store(url)
    run = evalyard.start_run("fills-the-disk", store=store)
    returned: list[str] = []

    def fill() -> None:
        for i in range(1_000):
            run.log(f"d{i:04d}", outputs=f"{i} {OUTPUT}", metrics={"n": i})
            returned.append(f"d{i:04d}")

    with pytest.raises(StoreError) as caught:
        fill()
    message = str(caught.value)
    assert "evalyard.db" in message
    assert "full" in message
    assert 10 < len(returned) < 1_000

    stored = [r.datapoint_id for r in store.get_results(run.run_id)]
    assert stored == returned  # every log that returned, and nothing half-written
    room.unlink()
    run.log("after", outputs="room again", metrics={"n": -1})
    run.finish()
    store.close()

    with sqlite3.connect(small_disk / "evalyard.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    reopened = open_store(url)
    info = reopened.get_run(run.run_id)
    assert info.result_count == len(returned) + 1
    assert reopened.get_results(run.run_id, ["d0000"])[0].outputs == f"0 {OUTPUT}"
    reopened.close()


def test_a_spool_on_a_full_disk_is_a_clear_error_and_keeps_what_the_server_took(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALYARD_RETRY_SECONDS", "0.3")
    monkeypatch.setenv("EVALYARD_SPOOL_DIR", str(small_disk / "spool"))
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    server = ServerProcess(url, tmp_path).start()
    try:
        run = evalyard.start_run("spool-fills-the-disk", store=server.url)
        run.log_many([{"id": f"a{i}", "outputs": OUTPUT} for i in range(20)])
        run.flush()
        server.kill()
        (small_disk / "filler").write_bytes(b"\0" * 1_900_000)
        run.log_many([{"id": f"b{i}", "outputs": OUTPUT} for i in range(50)])
        with pytest.raises(StoreError, match="spool") as caught:
            run.flush()
        assert str(small_disk / "spool") in str(caught.value)
    finally:
        server.stop()
    stored = open_store(url)
    assert len(stored.result_keys(run.run_id)) == 20
    stored.close()
