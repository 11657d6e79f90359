"""The interface every store offers, and the batch the write side hands it.

One SQL store implements it for SQLite and PostgreSQL (:mod:`.sql`); the team server's HTTP
client (:mod:`.http`) implements it too, so the SDK, the CLI and the UI never know which one
they hold. Only SQL stores keep access tokens (:class:`TokenStore`): the server checks them
in its own database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from evalyard.core.columns import Block, ScopeValues
from evalyard.core.model import MetricDefinition, MetricKind, Result, RunInfo, RunStatus

__all__ = [
    "SESSION_SCOPE",
    "TOKEN_SCOPES",
    "BatchReceipt",
    "BlockStore",
    "Capabilities",
    "KeyedBatchStore",
    "ResultPager",
    "ResultRow",
    "SpanSession",
    "Store",
    "StoredSpan",
    "TokenInfo",
    "TokenStore",
    "WriteBatch",
]

#: The scopes an access token may have: ``write`` also reads.
TOKEN_SCOPES = ("read", "write")

#: The scope name of the result (session) level; steps use their own names.
SESSION_SCOPE = ""


class ResultRow(NamedTuple):
    """One result ready to store: the record's fields already checked and JSON-encoded.

    A named tuple: a million of them are built by one ``log_many``, and a tuple is built
    several times faster than a frozen dataclass.
    """

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


@dataclass(frozen=True, slots=True)
class BatchReceipt:
    """What writing a batch under an idempotency key did."""

    record_count: int
    """How many results the batch held (when first written)."""
    duplicate: bool
    """True when a batch with this key had been written before, and nothing was written."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An access token of the team server, as stored: never the secret itself."""

    token_id: str
    """The token's public id (shown by ``evalyard token list``, used to revoke it)."""
    scope: str
    """``read`` or ``write`` (which also reads)."""
    project: str | None
    """The one project the token opens, or None for every project."""
    name: str | None
    """A note saying whose or what for."""
    created_at: float
    """When it was created, in seconds since the Unix epoch."""
    revoked_at: float | None = None
    """When it was revoked, or None while it is valid."""

    def to_dict(self) -> dict[str, Any]:
        """The token's description as JSON data (no secret in it)."""
        return {
            "token_id": self.token_id,
            "scope": self.scope,
            "project": self.project,
            "name": self.name,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a store can do beyond :class:`Store`: each flag promises one more protocol.

    Checked once, where a store is put to a use that needs more (the team server checks
    them when its app is made), instead of probing methods at every call.
    """

    keyed_batches: bool = False
    """:class:`KeyedBatchStore`: writes batches once per idempotency key (the team server
    takes the SDK's writes through it)."""
    tokens: bool = False
    """:class:`TokenStore`: keeps the team server's access tokens."""
    result_pages: bool = False
    """:class:`ResultPager`: reads a run's results a page at a time."""
    blocks: bool = False
    """:class:`BlockStore`: reads a run's values one row per (datapoint, epoch)."""


class TokenStore(Protocol):
    """Where the team server keeps its access tokens (an SQL store)."""

    def add_token(
        self, *, token_id: str, token_hash: str, scope: str, project: str | None, name: str | None
    ) -> TokenInfo:
        """Store a new token by the hash of its secret."""
        ...

    def find_token(self, token_hash: str) -> TokenInfo | None:
        """The valid (unrevoked) token whose secret has this hash, or None."""
        ...

    def list_tokens(self) -> list[TokenInfo]:
        """Every token, oldest first."""
        ...

    def revoke_token(self, token_id: str) -> bool:
        """Revoke a token, ending its login sessions; False when no valid token has this id."""
        ...

    def add_session(self, *, session_hash: str, token_id: str, expires_at: float) -> None:
        """Store a new login session of a token by the hash of its random id."""
        ...

    def find_session(self, session_hash: str) -> TokenInfo | None:
        """The token of the unexpired session with this hash, while the token is valid."""
        ...

    def end_session(self, session_hash: str) -> bool:
        """Delete a login session; False when there was none with this hash."""
        ...


class KeyedBatchStore(Protocol):
    """A store that writes each batch once per idempotency key."""

    def write_keyed_batch(self, run_id: str, batch: WriteBatch, key: str) -> BatchReceipt:
        """Write a batch unless a batch with this key was written before."""
        ...

    def write_keyed_batches(
        self, batches: Sequence[tuple[str, WriteBatch, str]]
    ) -> list[BatchReceipt]:
        """Write batches of several runs (run id, batch, key) in one transaction, all or
        none, each unless a batch with its key was written to its run before."""
        ...

    def span_session(self, project: str) -> AbstractContextManager[SpanSession]:
        """One write transaction over the received spans of ``project`` (OTLP ingestion):
        sessions of one project take turns; everything done in it commits together."""
        ...


@dataclass(frozen=True, slots=True)
class StoredSpan:
    """A span received over OTLP, as the store keeps it (table ``otlp_spans``)."""

    trace_id: str
    """The span's trace id."""
    span_id: str
    """The span's id."""
    span: str
    """The span as JSON text."""
    run_id: str | None = None
    """The run of the result it belongs to; None while it is pending."""
    datapoint_id: str | None = None
    """The datapoint of that result; None while it is pending."""
    epoch: int | None = None
    """The epoch of that result; None while it is pending."""
    received_at: float = 0.0
    """When it was first received (seconds since the epoch)."""


class SpanSession(Protocol):
    """The received spans of one project, inside one write transaction that holds the
    project's span lock (see :meth:`KeyedBatchStore.span_session`)."""

    def spans_of_traces(self, trace_ids: Iterable[str]) -> list[StoredSpan]:
        """Every stored span of these traces."""
        ...

    def spans_of_results(self, keys: Iterable[tuple[str, str, int]]) -> list[StoredSpan]:
        """Every stored span that belongs to one of these (run, datapoint, epoch)."""
        ...

    def add_spans(self, spans: Sequence[StoredSpan]) -> None:
        """Store spans; a span already stored (same trace and span id) is left alone."""
        ...

    def assign(self, spans: Sequence[StoredSpan]) -> None:
        """Set the run, datapoint and epoch of stored spans (by trace and span id)."""
        ...

    def remove(self, keys: Sequence[tuple[str, str]]) -> None:
        """Delete stored spans by (trace id, span id)."""
        ...

    def pending_count(self) -> int:
        """How many stored spans are pending (no datapoint yet)."""
        ...

    def purge_pending(self, before: float) -> int:
        """Delete the pending spans received before ``before``; how many there were."""
        ...

    def write_keyed_batches(
        self, batches: Sequence[tuple[str, WriteBatch, str]]
    ) -> list[BatchReceipt]:
        """As :meth:`KeyedBatchStore.write_keyed_batches`, in this transaction."""
        ...


class ResultPager(Protocol):
    """A store that reads a run's results a page at a time."""

    def result_page(
        self, run_id: str, *, after: tuple[str, int] | None, limit: int
    ) -> list[Result]:
        """Up to ``limit`` results after the (datapoint id, epoch) ``after``, in key order."""
        ...


class BlockStore(Protocol):
    """A store that reads a run's values one row per (datapoint, epoch)."""

    def load_block(self, run_id: str, scope: str = SESSION_SCOPE) -> Block:
        """A run's values at one scope, before epochs are averaged."""
        ...


class Store(Protocol):
    """What the SDK, the CLI and the UI need from a store."""

    url: str
    capabilities: Capabilities
    """What else it can do (see :class:`Capabilities`)."""

    def create_run(
        self,
        *,
        run_id: str,
        name: str,
        project: str,
        dataset: str | None,
        metadata: dict[str, Any],
    ) -> RunInfo:
        """Create a run in status ``running``.

        Raises:
            RunExistsError: when a run has this id.
            RunNameTakenError: when a run of the project has this name (run names are
                unique within a project).
        """
        ...

    def reopen_run(self, run_id: str) -> RunInfo:
        """Set a run back to ``running`` (to resume or extend it) and return it."""
        ...

    def finish_run(self, run_id: str, status: RunStatus) -> RunInfo:
        """Give a run its final status and compact its metric blocks."""
        ...

    def write_batch(self, run_id: str, batch: WriteBatch) -> int:
        """Store a batch in one transaction; return how many results it held.

        A remote store may hand the batch to a background sender and return at once; its
        results are then durable once :meth:`flush` or :meth:`finish_run` returns.
        """
        ...

    def flush(self, run_id: str | None = None) -> None:
        """Return once every batch written so far (for one run, or all) is durable."""
        ...

    def finish_shard(
        self, run_id: str, *, shard_index: int, shard_count: int, status: RunStatus
    ) -> RunInfo:
        """Record that one shard of a sharded run ended; the last of the ``shard_count``
        shards to end gives the run its final status (completed when every shard
        completed). Returns the run as it is then."""
        ...

    def metric_kinds(self, run_id: str) -> dict[tuple[str, str], MetricKind]:
        """The kind of each (scope, metric) the run holds."""
        ...

    def result_keys(self, run_id: str) -> list[tuple[str, int]]:
        """The (datapoint id, epoch) of every result the run holds, sorted."""
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
        """Runs whose id is ``reference``, else whose name is, else whose id starts with it;
        newest first."""
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

    def after_fork(self) -> None:
        """In a forked child process: drop the parent's connections (unclosed)."""
        ...
