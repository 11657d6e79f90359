"""Importing and exporting through a real team server (SQLite and PostgreSQL behind it)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import evalyard
from evalyard.exports import export_run
from evalyard.importers import import_file
from evalyard.store import open_store
from tests.api.conftest import ServerProcess


def test_import_through_the_server_is_idempotent_and_compares(
    server: ServerProcess, tmp_path: Path
) -> None:
    path = tmp_path / "remote-samples.jsonl"
    rows = [
        {"id": f"r{i}", "input": f"question {i}", "metrics": {"acc": i % 3 != 0, "score": i / 10}}
        for i in range(50)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    first = import_file("jsonl", path, project="remote-import", store=server.url)
    assert first.created
    again = import_file("jsonl", path, project="remote-import", store=server.url)
    assert not again.created
    assert again.run.run_id == first.run.run_id
    on_the_store = open_store(server.store_url)
    try:
        info = on_the_store.get_run(first.run.run_id)
        assert (info.result_count, info.status.value) == (50, "completed")
        assert len(on_the_store.list_runs(project="remote-import")) == 1
    finally:
        on_the_store.close()
    stream = io.StringIO()
    assert export_run(first.run.run_id, "jsonl", stream, store=server.url) == 50
    copy = tmp_path / "copy.jsonl"
    copy.write_text(stream.getvalue(), encoding="utf-8")
    back = import_file("jsonl", copy, project="remote-import", name="copy", store=server.url).run
    comparison = evalyard.compare_runs(back.run_id, first.run.run_id, store=server.url)
    assert len(comparison.common_datapoints) == 50
    assert comparison.get_metric_delta("score").same_count == 50
    assert (
        comparison.get_metric_delta("acc").new_aggregate == sum(i % 3 != 0 for i in range(50)) / 50
    )
