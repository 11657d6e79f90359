"""Every table of the store, in one place. Changed only through :mod:`.migrations`.

- ``runs``: one row per run.
- ``results``: one row per (run, datapoint, epoch): the record as logged (JSON text fields),
  replaced as a whole when logged again. Read for showing results, never for comparing.
- ``batches``: one row per write (a ``log``/``log_many`` call), in commit order.
- ``metric_blocks``: per batch and scope (``""`` for the session, else a step name), the
  batch's metric values as columns (see :mod:`evalyard.core.columns`). Comparisons read
  only these, which is what makes them fast.
- ``run_metrics``: the kind of each (run, scope, metric), for refusing a metric that changes
  kind and for listing a run's metrics and steps without reading its values.
- ``metric_definitions``: direction and tolerance per (project, metric).

Added by migration 2 (the team server):

- ``access_tokens``: the server's access tokens, by a public id; only a SHA-256 hash of
  each secret is stored, so a stolen database grants nothing.
- ``batch_keys``: the idempotency key of every batch the server wrote, committed in the
  batch's own transaction: a batch sent again (a retry, a spooled batch) is acknowledged
  without being written twice, by whichever server process receives it.
- ``run_shards``: which shards of a sharded evaluation have finished, and how.

Added by migration 3:

- ``login_sessions``: the web UI's login sessions, each by the SHA-256 of its random id (the
  cookie holds the id, never the token), with the token it was opened with and when it
  expires. Logging out deletes the row; revoking the token deletes its rows.

Added by migration 4:

- ``otlp_spans``: every span received over OTLP (``POST /v1/traces``), as the JSON of its
  :class:`~evalyard.core.spans.SpanRecord`, keyed by (project, trace id, span id) so a span
  sent again is stored once. ``project`` is the project of the token that sent it (``""``
  for a token of every project). ``run_id``, ``datapoint_id`` and ``epoch`` are the result
  the span belongs to, NULL while it is pending (no datapoint found through its ancestors
  yet). A result made from spans is rebuilt from all of its rows whenever one is added.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "access_tokens",
    "batch_keys",
    "batches",
    "login_sessions",
    "metadata",
    "metric_blocks",
    "metric_definitions",
    "otlp_spans",
    "results",
    "run_metrics",
    "run_shards",
    "runs",
    "schema_migrations",
]

metadata = MetaData()

schema_migrations = Table(
    "evalyard_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", Float, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("project", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("dataset", String(200)),
    Column("status", String(16), nullable=False),
    Column("metadata", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
    # Refreshed when a run's batches are compacted; counted live while it is running.
    Column("result_count", Integer, nullable=False, default=0),
    Column("datapoint_count", Integer, nullable=False, default=0),
    Index("ix_runs_project_created", "project", "created_at"),
    Index("ix_runs_name", "name"),
)

results = Table(
    "results",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.run_id"), primary_key=True),
    Column("datapoint_id", String(512), primary_key=True),
    Column("epoch", Integer, primary_key=True, autoincrement=False),
    Column("batch_id", Integer, nullable=False),
    Column("inputs", Text),
    Column("outputs", Text),
    Column("ground_truth", Text),
    Column("metadata", Text),
    Column("metrics", Text),
    Column("steps", Text),
    Column("error", Text),
    Column("duration_ms", Float),
)

batches = Table(
    "batches",
    metadata,
    Column("batch_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.run_id"), nullable=False),
    Column("record_count", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_batches_run", "run_id", "batch_id"),
)

metric_blocks = Table(
    "metric_blocks",
    metadata,
    Column("batch_id", Integer, ForeignKey("batches.batch_id"), primary_key=True),
    Column("scope", String(200), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("ids", LargeBinary, nullable=False),
    Column("epochs", LargeBinary),
    Column("columns", LargeBinary, nullable=False),
    Index("ix_metric_blocks_run_scope", "run_id", "scope", "batch_id"),
)

run_metrics = Table(
    "run_metrics",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.run_id"), primary_key=True),
    Column("scope", String(200), primary_key=True),
    Column("metric", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),
)

metric_definitions = Table(
    "metric_definitions",
    metadata,
    Column("project", String(200), primary_key=True),
    Column("metric", String(200), primary_key=True),
    Column("direction", String(16), nullable=False),
    Column("tolerance", Float, nullable=False),
)

# -- migration 2 ----------------------------------------------------------------------------

access_tokens = Table(
    "access_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scope", String(16), nullable=False),
    # None: every project.
    Column("project", String(200)),
    Column("name", String(200)),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)

batch_keys = Table(
    "batch_keys",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("idempotency_key", String(128), primary_key=True),
    Column("record_count", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

run_shards = Table(
    "run_shards",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("shard_count", Integer, primary_key=True, autoincrement=False),
    Column("shard_index", Integer, primary_key=True, autoincrement=False),
    Column("status", String(16), nullable=False),
    Column("finished_at", Float, nullable=False),
)

# -- migration 3 ----------------------------------------------------------------------------

login_sessions = Table(
    "login_sessions",
    metadata,
    # The SHA-256 of the session's random id (the cookie); never the id itself.
    Column("session_hash", String(64), primary_key=True),
    Column("token_id", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_login_sessions_token", "token_id"),
    Index("ix_login_sessions_expires", "expires_at"),
)

# -- migration 4 ----------------------------------------------------------------------------

otlp_spans = Table(
    "otlp_spans",
    metadata,
    # The project of the token that sent the span ("" for a token of every project): spans
    # join only the spans sent under the same project.
    Column("project", String(200), primary_key=True),
    Column("trace_id", String(64), primary_key=True),
    Column("span_id", String(64), primary_key=True),
    # The result the span belongs to; NULL while it is pending.
    Column("run_id", String(64)),
    Column("datapoint_id", String(512)),
    Column("epoch", Integer),
    # The span as JSON (see evalyard.server.otlp.span_to_json).
    Column("span", Text, nullable=False),
    Column("received_at", Float, nullable=False),
    Index("ix_otlp_spans_result", "project", "run_id", "datapoint_id", "epoch"),
    Index("ix_otlp_spans_received", "project", "received_at"),
)
