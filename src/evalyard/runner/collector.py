"""Pausing Python's cyclic garbage collector around bulk work (logging, importing).

Logging or importing many records builds fresh containers for each (the parsed record, its
checked metrics, its encoded fields) and keeps them until they are written. Each automatic
collection scans every container alive, the caller's records included, and finds nothing
to free (records hold no cycles): at a million records that scanning took a fifth of
``log_many``'s time. Reference counting still frees what it always frees meanwhile.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block; calls may nest and overlap across threads.

    The first caller to enter remembers whether the collector was on, and the last to
    leave restores that, so a program that turned it off itself keeps it off.
    """
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
