"""What the benchmarks share when they report: the machine, the revision, and the block of
benchmarks/README.md each one rewrites between its own markers."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


def revision() -> str:
    """The short git revision of the code measured, or ``unknown``."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _proc_field(path: str, prefix: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_description(*versions: str) -> str:
    """CPU, cores, RAM, the system and Python, then ``versions`` (``"numpy 2.1"``...), in
    one line."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.machine()
    memory = _proc_field("/proc/meminfo", "MemTotal:")
    ram = f", {int(memory.split()[0]) / 1024 / 1024:.1f} GiB RAM" if memory else ""
    return "; ".join(
        [
            f"{cpu}, {cores} cores{ram}",
            f"{platform.system()} {platform.release()}",
            f"Python {platform.python_version()}",
            *versions,
        ]
    )


def write_block(path: Path, key: str, block: str, *, script: str) -> None:
    """Replace the block of ``key`` in ``path`` (append it if absent): the text between
    ``<!-- KEY:begin (written by SCRIPT) -->`` and ``<!-- KEY:end -->``."""
    begin = f"<!-- {key}:begin (written by {script}) -->"
    end = f"<!-- {key}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    new_block = f"{begin}\n{block}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + new_block + tail
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + new_block + "\n"
    path.write_text(text, encoding="utf-8")
