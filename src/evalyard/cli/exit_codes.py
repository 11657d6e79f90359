"""The CLI's exit codes (comparison.md §6), and the ``--fail-on`` conditions that decide code 1.

| code | meaning |
|---|---|
| 0 | success |
| 1 | the ``--fail-on`` condition held; ``evalyard sync`` left spool files behind |
| 2 | usage error, unknown or ambiguous run, bad input |

An evalyard error carries its own code (``EvalyardError.exit_code``); anything else that
escapes a command exits with 2, so that a crash can never pass for a regression.
"""

from __future__ import annotations

from collections.abc import Callable

from evalyard.core.compare import RunComparisonResult
from evalyard.errors import EvalyardError

__all__ = [
    "CONDITION_HELD",
    "FAIL_CONDITIONS",
    "SUCCESS",
    "SYNC_INCOMPLETE",
    "USAGE_ERROR",
    "any_degraded",
    "exit_code_for",
    "regressed",
]

SUCCESS = 0
CONDITION_HELD = 1
USAGE_ERROR = 2
#: ``evalyard sync`` left spool files behind (a server away, another server's files) or
#: moved some into ``failed/`` (damaged, or refused in part).
SYNC_INCOMPLETE = 1


def regressed(comparison: RunComparisonResult) -> list[str]:
    """The metrics whose verdict is ``regressed`` at the scope compared (docs/comparison.md §2).

    A metric with a tolerance that stays non-inferior (its interval rules out a loss larger
    than the tolerance) does not fail the gate.
    """
    return comparison.regressed_metrics()


def any_degraded(comparison: RunComparisonResult) -> list[str]:
    """The metrics on which at least one datapoint got worse, whatever the statistics say."""
    return comparison.list_degraded_metrics()


#: ``--fail-on`` choices: each returns the metrics that make the condition hold.
FAIL_CONDITIONS: dict[str, Callable[[RunComparisonResult], list[str]]] = {
    "regression": regressed,
    "any-degraded": any_degraded,
}


def exit_code_for(error: BaseException) -> int:
    """The exit code for an error that stopped a command.

    Code 1 is kept for the ``--fail-on`` condition: an error whose class says 1 (the base
    ``EvalyardError``, ``StoreError``) exits with 2, so that CI never reads a store it
    could not open as a regression.
    """
    if isinstance(error, EvalyardError) and error.exit_code != CONDITION_HELD:
        return error.exit_code
    return USAGE_ERROR
