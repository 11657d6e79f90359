"""The interface every store offers, and the batch the write side hands it.

One SQL store implements it for SQLite and PostgreSQL (:mod:`.sql`); the team server's HTTP
client will implement it too, so the SDK, the CLI and the UI never know which one they hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from evalyard.core.columns import Block, ScopeValues
from evalyard.core.model import MetricDefinition, MetricKind, Result, RunInfo, RunStatus

__all__ = ["SESSION_SCOPE", "ResultRow", "Store", "WriteBatch"]

#: The scope name of the result (session) level; steps use their own names.
SESSION_SCOPE = ""


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One result ready to store: the record's fields already checked and JSON-encoded."""

    datapoint_id: str
    """The datapoint's id."""
    epoch: int
    """The epoch, from 0."""
    inputs: str | None
    """JSON text, or None."""
    outputs: str | None
    """JSON text, or None."""
    ground_truth: str | None
    """JSON text, or None."""
    metadata: str | None
    """JSON text, or None."""
    metrics: str | None
    """JSON text of the ``{name: value}`` result-level metrics, or None."""
    steps: str | None
    """JSON text of the list of steps, or None."""
    error: str | None
    """JSON text of the error message, or None."""
    duration_ms: float | None
    """Milliseconds, or None."""


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """The results of one ``log``/``log_many`` call: rows, and their metrics as columns."""

    rows: list[ResultRow]
    """One row per (datapoint, epoch), each at most once."""
    blocks: dict[str, Block]
    """The metric values per scope (``SESSION_SCOPE`` and each step name present)."""
    kinds: dict[tuple[str, str], MetricKind] = field(default_factory=dict)
    """The kind of each (scope, metric) in the batch."""


class Store(Protocol):
    """What the SDK, the CLI and the UI need from a store."""

    url: str

    def create_run(
        self,
        *,
        run_id: str,
        name: str,
        project: str,
        dataset: str | None,
        metadata: dict[str, Any],
    ) -> RunInfo:
        """Create a run in status ``running``."""
        ...

    def reopen_run(self, run_id: str) -> RunInfo:
        """Set a run back to ``running`` (to resume or extend it) and return it."""
        ...

    def finish_run(self, run_id: str, status: RunStatus) -> RunInfo:
        """Give a run its final status and compact its metric blocks."""
        ...

    def write_batch(self, run_id: str, batch: WriteBatch) -> int:
        """Store a batch in one transaction; return how many results it held."""
        ...

    def define_metric(self, project: str, definition: MetricDefinition) -> None:
        """Create or replace a metric definition."""
        ...

    def metric_definitions(self, project: str) -> dict[str, MetricDefinition]:
        """The project's metric definitions, by name."""
        ...

    def get_run(self, run_id: str) -> RunInfo:
        """The run with this exact id; RunNotFoundError otherwise."""
        ...

    def find_runs(self, reference: str, *, project: str | None = None) -> list[RunInfo]:
        """Runs whose id is ``reference``, else whose name is, else whose id starts with it."""
        ...

    def list_runs(self, *, project: str | None = None, limit: int | None = None) -> list[RunInfo]:
        """Runs, newest first."""
        ...

    def load_scope(self, run_id: str, scope: str = SESSION_SCOPE) -> ScopeValues:
        """A run's metric values at one scope, one row per datapoint, epochs averaged."""
        ...

    def list_steps(self, run_id: str) -> list[str]:
        """The names of the steps the run's results hold, sorted."""
        ...

    def get_results(self, run_id: str, datapoint_ids: Sequence[str] | None = None) -> list[Result]:
        """The stored results of a run (all, or of the given datapoints), by id and epoch."""
        ...

    def close(self) -> None:
        """Release the store's connections."""
        ...
