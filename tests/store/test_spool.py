"""The spool file: what is appended is read back as the same bytes, line by line."""

from __future__ import annotations

from pathlib import Path

from evalyard.store.spool import Spool, SpoolEntry, read_spool

# JSON that a decode and encode again would change: an integer past 64 bits (read back as a
# float), a number's own spelling, an escaped lone surrogate (which orjson refuses to
# read), text that looks like the spool's own field, and a key order of its own.
_BODIES = [
    b'{"idempotency_key":"k1","records":[{"datapoint_id":"a","epoch":0,'
    b'"metrics":{"big":123456789012345678901234567890,"f":1.50,"e":1E2}}]}',
    b'{"idempotency_key":"k2","records":[{"datapoint_id":"b","epoch":0,'
    b'"outputs":"\\ud800 and ,\\"body\\":{} \xc3\xa9","metrics":{"v":1}}]}',
    b'{"records":[],"idempotency_key":"k3"}',
]


def test_spool_lines_are_read_back_as_the_bytes_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", "http://127.0.0.1:9")
    create = b'{"run_id":"r1","name":"n","project":"p","dataset":null,"metadata":{"n":1E400}}'
    spool.append(SpoolEntry("create", "r1", body=create, name="n"))
    for body in _BODIES:
        spool.append(SpoolEntry("batch", "r1", body=body, count=1))
    spool.append(SpoolEntry("finish", "r1", status="completed", shard=(0, 2)))
    path = spool.path
    assert path is not None
    spool.close()

    contents = read_spool(path)

    assert contents.server == "http://127.0.0.1:9"
    assert contents.damaged == []
    entries = [entry for _, entry in contents.entries]
    assert [e.op for e in entries] == ["create", "batch", "batch", "batch", "finish"]
    assert (entries[0].body, entries[0].name) == (create, "n")
    assert [e.body for e in entries[1:4]] == _BODIES
    assert (entries[4].status, entries[4].shard) == ("completed", (0, 2))
    assert [number for number, _ in contents.entries] == [2, 3, 4, 5, 6]
