"""A run killed with SIGKILL in the middle, then resumed: every datapoint exactly once.

docs/reliability.md, "Killed runs": a killed process cannot mark its run, so the run stays
``running``; ``evaluate(resume=...)`` runs only the (datapoint, epoch) pairs it lacks and
completes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import evalyard
from evalyard.core.model import RunStatus
from evalyard.store import open_store

DATAPOINTS = 40
EPOCHS = 2

# The child process: a slow application over the dataset, killed from outside part-way.
CHILD = (
    textwrap.dedent(
        """
    import sys, time
    import evalyard

    def slow(inputs):
        time.sleep(0.02)
        return {"answer": inputs["n"] * 2, "by": "first process"}

    evalyard.evaluate(
        slow,
        dataset=[{"id": f"d{n:03d}", "inputs": {"n": n}} for n in range(DATAPOINTS)],
        name="killed-run",
        repeats=EPOCHS,
        max_workers=2,
        store=sys.argv[1],
        print_results=False,
    )
    """
    )
    .replace("DATAPOINTS", str(DATAPOINTS))
    .replace("EPOCHS", str(EPOCHS))
)


def test_a_run_killed_with_sigkill_resumes_with_every_datapoint_exactly_once(
    store_url: str,
) -> None:
    store = open_store(store_url)
    child = subprocess.Popen([sys.executable, "-c", CHILD, store_url])
    try:
        deadline = time.monotonic() + 30
        logged = 0
        while time.monotonic() < deadline and child.poll() is None:
            runs = store.find_runs("killed-run")
            if runs:
                logged = len(store.result_keys(runs[0].run_id))
                if logged >= 12:
                    break
            time.sleep(0.02)
        assert child.poll() is None, "the child finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    (info,) = store.find_runs("killed-run")
    assert info.status is RunStatus.RUNNING  # nobody could mark it
    before = store.result_keys(info.run_id)
    assert 12 <= len(before) < DATAPOINTS * EPOCHS

    ran: list[int] = []

    def fast(inputs: dict[str, int]) -> dict[str, object]:
        ran.append(inputs["n"])
        return {"answer": inputs["n"] * 2, "by": "resume"}

    result = evalyard.evaluate(
        fast,
        dataset=[{"id": f"d{n:03d}", "inputs": {"n": n}} for n in range(DATAPOINTS)],
        resume="killed-run",
        repeats=EPOCHS,
        store=store,
        print_results=False,
    )
    after = store.result_keys(info.run_id)
    expected = [(f"d{n:03d}", epoch) for n in range(DATAPOINTS) for epoch in range(EPOCHS)]
    assert after == expected  # every (datapoint, epoch) once, none twice
    assert result.skipped_count == len(before)
    assert len(ran) == DATAPOINTS * EPOCHS - len(before)
    final = store.get_run(info.run_id)
    assert final.status is RunStatus.COMPLETED
    assert (final.result_count, final.datapoint_count) == (DATAPOINTS * EPOCHS, DATAPOINTS)
    values = store.load_scope(info.run_id)
    assert len(values.ids) == len(set(values.ids)) == DATAPOINTS
    # the results the killed process committed were kept, not run again
    by = {(r.datapoint_id, r.epoch): r.outputs["by"] for r in store.get_results(info.run_id)}
    assert sum(origin == "first process" for origin in by.values()) == len(before)
    store.close()
