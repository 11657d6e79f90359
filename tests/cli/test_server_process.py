"""What ``evalyard server`` sets in each serving process besides its app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_PROBE = """
import gc, sys
from evalyard.cli.server import ServerSettings, build_app
_, middle, old = gc.get_threshold()
build_app(ServerSettings(sys.argv[1], ("127.0.0.1",), False, 1 << 20, 1.0))
print(gc.get_threshold() == (10_000, middle, old), gc.get_freeze_count() > 1000)
"""


def test_a_serving_process_freezes_its_start_up_objects_and_collects_less_often(
    tmp_path: Path,
) -> None:
    # In a child process: freezing this one would keep the test session's objects for ever.
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE, f"sqlite:///{tmp_path / 'evalyard.db'}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # The youngest generation's threshold raised, the others kept; start-up objects frozen.
    assert probe.stdout.strip() == "True True", probe.stderr
