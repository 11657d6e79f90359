"""The SQL store: one implementation of :class:`~evalyard.store.base.Store` for SQLite and
PostgreSQL, written with SQLAlchemy Core. Dialect differences live in the dialect modules.

Writes: one transaction per batch (a ``log``/``log_many`` call), so every result is
committed when the call returns. Each batch adds a ``batches`` row, one metric block per
scope, and upserts its results. When a run piles up batches, the newest small ones are
merged (size-tiered, so a run logged one result at a time costs O(n log n) in all), and
``finish_run`` merges all of them into one block per scope, sorted by datapoint id.

For the team server it also keeps access tokens (by hash), the idempotency keys of the
batches it wrote (in the batch's own transaction, so a batch sent twice is written once
whichever server process gets it), and the shards of sharded runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from itertools import repeat
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from evalyard.core.columns import (
    Block,
    LiveRecords,
    ScopeValues,
    StoredValue,
    block_row_bytes,
    collapse_epochs,
    concat_blocks,
    decode_block,
    encode_block,
    follow_in_order,
    merge_blocks,
    read_columns,
    sort_block,
    split_sorted,
)
from evalyard.core.model import (
    Direction,
    MetricDefinition,
    MetricKind,
    Result,
    RunInfo,
    RunStatus,
)
from evalyard.errors import (
    InvalidMetricError,
    RunExistsError,
    RunNameTakenError,
    RunNotFoundError,
    StoreError,
)
from evalyard.store import schema
from evalyard.store.base import (
    SESSION_SCOPE,
    BatchReceipt,
    Capabilities,
    ResultRow,
    SpanSession,
    StoredSpan,
    TokenInfo,
    WriteBatch,
)
from evalyard.store.dialect import Dialect
from evalyard.store.migrations import migrate, schema_version

__all__ = ["SQLStore"]

#: A run holding more batches than this gets its newest ones merged after a write.
MERGE_THRESHOLD = 32
#: The largest metric block stored in one value: SQLite and PostgreSQL refuse a value of
#: 1 GB or more, and a run's merged block grows with it (10M datapoints × 10 metrics is
#: 800 MB of numbers).
MAX_BLOCK_BYTES = 256 * 1024 * 1024

#: The columns of a result row every write sends.
_RESULT_KEY_COLUMNS = ("run_id", "datapoint_id", "epoch", "batch_id")
#: The optional fields of a result row: (column, position in ``ResultRow``).
_ROW_FIELDS = tuple(
    (name, ResultRow._fields.index(name))
    for name in (
        "inputs",
        "outputs",
        "ground_truth",
        "metadata",
        "metrics",
        "steps",
        "error",
        "duration_ms",
    )
)
#: The fields an upsert sets in a row it replaces: every field, present or not.
_RESULT_FIELDS = ("batch_id", *(name for name, _ in _ROW_FIELDS))


class SQLStore:
    """A store in an SQL database (SQLite file or PostgreSQL).

    Args:
        url: the database URL.
        dialect: the database's dialect bits.
        create: create the store (its SQLite file, its tables) when it is not there yet;
            with False, a missing store is a ``StoreError`` and nothing is created (what
            the read-only commands ask for).
    """

    capabilities = Capabilities(keyed_batches=True, tokens=True, result_pages=True, blocks=True)

    def __init__(self, url: str, dialect: Dialect, *, create: bool = True) -> None:
        self.url = url
        self.dialect = dialect
        if not create:
            where = dialect.missing_location(url)
            if where is not None:
                raise _no_store(where)
        self.engine: Engine = dialect.create_engine(url)
        try:
            if not create:
                with self.engine.connect() as probe:
                    if schema_version(probe) == 0:
                        raise _no_store(dialect.display_url(url))
            migrate(self.engine, dialect)
        except DBAPIError as exc:
            self.engine.dispose()
            raise StoreError(
                f"cannot open the store {dialect.display_url(url)}: {exc.orig}"
            ) from None
        except BaseException:
            self.engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"SQLStore({self.dialect.display_url(self.url)!r})"

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with (
            self._failures("write to"),
            self.engine.connect().execution_options(evalyard_write=True) as connection,
            connection.begin(),
        ):
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        options = self.dialect.read_options()
        with (
            self._failures("read"),
            self.engine.connect().execution_options(**options) as connection,
            connection.begin(),
        ):
            yield connection

    @contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        """A database that fails (down, disk full, damaged) as a ``StoreError`` naming the
        store; a conflict (IntegrityError) is left to the caller, which expects it."""
        try:
            yield
        except IntegrityError:
            raise
        except DBAPIError as exc:
            reason = " ".join(str(exc.orig).split())[:300]
            raise StoreError(
                f"could not {doing} the store {self.dialect.display_url(self.url)}: "
                f"{type(exc.orig).__name__}: {reason}"
            ) from exc

    def after_fork(self) -> None:
        """In a forked child: drop the parent's connections unclosed (closing would close
        the parent's sockets); the pool opens new ones."""
        self.engine.dispose(close=False)

    def close(self) -> None:
        """Release the store's connections."""
        self.engine.dispose()

    # -- runs -------------------------------------------------------------------------

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

        The checks and the insert are one transaction, under a lock of the name, so two
        writers cannot both create a run, or two runs of one name in a project.

        Raises:
            RunExistsError: when a run has this id (checked first: the shards of one run
                all try to create it).
            RunNameTakenError: when a run of the project has this name; it names the
                newest such run.
        """
        now = time.time()
        runs = schema.runs
        try:
            with self._write() as connection:
                self.dialect.lock_run_name(connection, project, name)
                exists = connection.execute(
                    select(runs.c.run_id).where(runs.c.run_id == run_id)
                ).first()
                if exists is not None:
                    raise RunExistsError(run_id)
                taken = connection.execute(
                    select(runs.c.run_id, runs.c.status, runs.c.created_at)
                    .where(and_(runs.c.project == project, runs.c.name == name))
                    .order_by(runs.c.created_at.desc(), runs.c.run_id)
                    .limit(1)
                ).first()
                if taken is not None:
                    raise RunNameTakenError(
                        name,
                        project=project,
                        run_id=taken.run_id,
                        status=taken.status,
                        created_at=taken.created_at,
                    )
                connection.execute(
                    insert(schema.runs).values(
                        run_id=run_id,
                        project=project,
                        name=name,
                        dataset=dataset,
                        status=RunStatus.RUNNING.value,
                        metadata=json.dumps(metadata, ensure_ascii=False, allow_nan=False),
                        created_at=now,
                        finished_at=None,
                        result_count=0,
                        datapoint_count=0,
                    )
                )
        except IntegrityError:
            # Another writer created it between our check and our insert (PostgreSQL).
            raise RunExistsError(run_id) from None
        return RunInfo(run_id, name, project, RunStatus.RUNNING, now, None, dataset, metadata)

    def flush(self, run_id: str | None = None) -> None:
        """Nothing to do: every batch is committed when :meth:`write_batch` returns."""
        return None

    def reopen_run(self, run_id: str) -> RunInfo:
        """Set a run back to ``running`` (to resume or extend it) and return it."""
        with self._write() as connection:
            self._require_run(connection, run_id)
            connection.execute(
                update(schema.runs)
                .where(schema.runs.c.run_id == run_id)
                .values(status=RunStatus.RUNNING.value, finished_at=None)
            )
        return self.get_run(run_id)

    def finish_run(self, run_id: str, status: RunStatus) -> RunInfo:
        """Give a run its final status, and merge its blocks into one per scope."""
        self._compact(run_id, full=True)
        with self._write() as connection:
            self._require_run(connection, run_id)
            connection.execute(
                update(schema.runs)
                .where(schema.runs.c.run_id == run_id)
                .values(status=status.value, finished_at=time.time())
            )
        return self.get_run(run_id)

    def finish_shard(
        self, run_id: str, *, shard_index: int, shard_count: int, status: RunStatus
    ) -> RunInfo:
        """Record that one shard of a sharded run ended; the last shard to end finishes it.

        The run's final status is ``completed`` when every shard completed, else ``failed``
        when one failed, else ``cancelled``. Shard writers take turns on the run's lock, so
        exactly one of them sees the last shard arrive.
        """
        s = schema.run_shards
        statement = self.dialect.upsert(
            s,
            keys=("run_id", "shard_count", "shard_index"),
            update=("status", "finished_at"),
            newer_than=None,
        )
        with self._write() as connection:
            self.dialect.lock_run(connection, run_id)
            self._require_run(connection, run_id)
            connection.execute(
                statement,
                {
                    "run_id": run_id,
                    "shard_count": shard_count,
                    "shard_index": shard_index,
                    "status": status.value,
                    "finished_at": time.time(),
                },
            )
            statuses = [
                RunStatus(row.status)
                for row in connection.execute(
                    select(s.c.status).where(
                        and_(s.c.run_id == run_id, s.c.shard_count == shard_count)
                    )
                )
            ]
        if len(statuses) < shard_count:
            return self.get_run(run_id)
        final = RunStatus.COMPLETED
        if RunStatus.FAILED in statuses:
            final = RunStatus.FAILED
        elif any(status is not RunStatus.COMPLETED for status in statuses):
            final = RunStatus.CANCELLED
        return self.finish_run(run_id, final)

    def get_run(self, run_id: str) -> RunInfo:
        """The run with this exact id; RunNotFoundError otherwise."""
        with self._read() as connection:
            row = connection.execute(
                select(schema.runs).where(schema.runs.c.run_id == run_id)
            ).first()
            if row is None:
                raise RunNotFoundError(run_id)
            return self._with_live_counts(connection, [_run_info(row._mapping)])[0]

    def find_runs(self, reference: str, *, project: str | None = None) -> list[RunInfo]:
        """Runs whose id is ``reference``, else whose name is, else whose id starts with it;
        newest first (at most 50)."""
        runs = schema.runs
        in_project = (runs.c.project == project) if project is not None else None
        with self._read() as connection:
            for condition in (
                runs.c.run_id == reference,
                runs.c.name == reference,
                # A prefix of at least 6 characters, as git accepts short commit ids.
                runs.c.run_id.startswith(reference, autoescape=True)
                if len(reference) >= 6
                else None,
            ):
                if condition is None:
                    continue
                query = (
                    select(runs).where(condition).order_by(runs.c.created_at.desc(), runs.c.run_id)
                )
                if in_project is not None:
                    query = query.where(in_project)
                rows = connection.execute(query.limit(50)).all()
                if rows:
                    return self._with_live_counts(
                        connection, [_run_info(row._mapping) for row in rows]
                    )
        return []

    def list_runs(self, *, project: str | None = None, limit: int | None = None) -> list[RunInfo]:
        """Runs, newest first."""
        query = select(schema.runs).order_by(schema.runs.c.created_at.desc(), schema.runs.c.run_id)
        if project is not None:
            query = query.where(schema.runs.c.project == project)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as connection:
            infos = [_run_info(row._mapping) for row in connection.execute(query)]
            return self._with_live_counts(connection, infos)

    def _with_live_counts(self, connection: Connection, infos: list[RunInfo]) -> list[RunInfo]:
        # Finished runs carry counts refreshed when their blocks were merged; running runs
        # are counted now.
        running = [info.run_id for info in infos if info.status is RunStatus.RUNNING]
        if not running:
            return infos
        r = schema.results
        counts = {
            row.run_id: (row.results, row.datapoints)
            for row in connection.execute(
                select(
                    r.c.run_id,
                    func.count().label("results"),
                    func.count(r.c.datapoint_id.distinct()).label("datapoints"),
                )
                .where(r.c.run_id.in_(running))
                .group_by(r.c.run_id)
            )
        }
        out = []
        for info in infos:
            if info.run_id in counts:
                results, datapoints = counts[info.run_id]
                info = _replace_counts(info, int(results), int(datapoints))
            out.append(info)
        return out

    def _require_run(self, connection: Connection, run_id: str) -> None:
        found = connection.execute(
            select(schema.runs.c.run_id).where(schema.runs.c.run_id == run_id)
        ).first()
        if found is None:
            raise RunNotFoundError(run_id)

    # -- metric definitions ---------------------------------------------------------------

    def define_metric(self, project: str, definition: MetricDefinition) -> None:
        """Create or replace a metric definition."""
        statement = self.dialect.upsert(
            schema.metric_definitions,
            keys=("project", "metric"),
            update=("direction", "tolerance"),
            newer_than=None,
        )
        with self._write() as connection:
            connection.execute(
                statement,
                {
                    "project": project,
                    "metric": definition.name,
                    "direction": definition.direction.value,
                    "tolerance": definition.tolerance,
                },
            )

    def metric_definitions(self, project: str) -> dict[str, MetricDefinition]:
        """The project's metric definitions, by name."""
        d = schema.metric_definitions
        with self._read() as connection:
            rows = connection.execute(select(d).where(d.c.project == project)).all()
        return {
            row.metric: MetricDefinition(row.metric, Direction(row.direction), row.tolerance)
            for row in rows
        }

    # -- writing results ------------------------------------------------------------------

    def metric_kinds(self, run_id: str) -> dict[tuple[str, str], MetricKind]:
        """The kind of each (scope, metric) the run holds."""
        m = schema.run_metrics
        with self._read() as connection:
            rows = connection.execute(
                select(m.c.scope, m.c.metric, m.c.kind).where(m.c.run_id == run_id)
            ).all()
        return {(row.scope, row.metric): MetricKind(row.kind) for row in rows}

    def write_batch(self, run_id: str, batch: WriteBatch) -> int:
        """Store a batch in one transaction; return how many results it held."""
        if not batch.rows:
            return 0
        return self._write_batch(run_id, batch, None).record_count

    def write_keyed_batch(self, run_id: str, batch: WriteBatch, key: str) -> BatchReceipt:
        """Store a batch once per idempotency ``key``: a key already written is acknowledged
        without writing anything. The key is committed in the batch's own transaction."""
        return self._write_batches([(run_id, batch, key)])[0]

    def write_keyed_batches(
        self, batches: Sequence[tuple[str, WriteBatch, str]]
    ) -> list[BatchReceipt]:
        """Store batches of several runs in one transaction, each once per (run, key): all
        are written or none (an OTLP request may hold results of several runs)."""
        return self._write_batches(list(batches))

    def _write_batch(self, run_id: str, batch: WriteBatch, key: str | None) -> BatchReceipt:
        return self._write_batches([(run_id, batch, key)])[0]

    def _write_batches(
        self, batches: Sequence[tuple[str, WriteBatch, str | None]]
    ) -> list[BatchReceipt]:
        try:
            with self._write() as connection:
                receipts, compact = self._write_batches_in(connection, batches)
        except IntegrityError:
            keys = [(run_id, key) for run_id, _, key in batches]
            if any(key is None or not self._key_written(run_id, key) for run_id, key in keys):
                raise
            # Another writer committed the same keys between our check and our insert: it
            # wrote the batches (the run lock makes this rare).
            return [BatchReceipt(len(batch.rows), duplicate=True) for _, batch, _ in batches]
        for run_id in dict.fromkeys(compact):
            self._compact(run_id, full=False)
        return receipts

    def _write_batches_in(
        self, connection: Connection, batches: Sequence[tuple[str, WriteBatch, str | None]]
    ) -> tuple[list[BatchReceipt], list[str]]:
        """Write batches in an open transaction: their receipts, and the runs to compact
        once it has committed."""
        receipts: list[BatchReceipt] = []
        compact: list[str] = []
        # Writers of one run take turns, so batch ids follow commit order: "the last write
        # wins" then means the same thing for result rows and metric blocks. Runs are
        # locked in one order, so two writers of the same runs cannot deadlock.
        for run_id in sorted({run_id for run_id, _, _ in batches}):
            self.dialect.lock_run(connection, run_id)
            self._require_run(connection, run_id)
        for run_id, batch, key in batches:
            receipt, pending = self._write_batch_in(connection, run_id, batch, key)
            receipts.append(receipt)
            if pending > MERGE_THRESHOLD:
                compact.append(run_id)
        return receipts, compact

    @contextmanager
    def span_session(self, project: str) -> Iterator[SpanSession]:
        """One write transaction over the received spans of ``project`` (see
        :class:`~evalyard.store.base.SpanSession`)."""
        with self._write() as connection:
            # OTLP requests of one project take turns (before any run lock, so they cannot
            # deadlock with batch writers): each sees every span committed before it, so
            # two requests holding halves of one datapoint cannot both miss the other half.
            self.dialect.lock_run(connection, "\x00otlp-spans\x00" + project)
            session = _SpanSession(self, connection, project)
            yield session
        for run_id in dict.fromkeys(session.compact):
            self._compact(run_id, full=False)

    def _write_batch_in(
        self, connection: Connection, run_id: str, batch: WriteBatch, key: str | None
    ) -> tuple[BatchReceipt, int]:
        """Write one batch in an open transaction holding the run's lock: its receipt, and
        how many batches the run then has (0 when nothing was written)."""
        if key is not None:
            k = schema.batch_keys
            seen = connection.execute(
                select(k.c.record_count).where(
                    and_(k.c.run_id == run_id, k.c.idempotency_key == key)
                )
            ).first()
            if seen is not None:
                return BatchReceipt(int(seen.record_count), duplicate=True), 0
            connection.execute(
                insert(k).values(
                    run_id=run_id,
                    idempotency_key=key,
                    record_count=len(batch.rows),
                    created_at=time.time(),
                )
            )
        if not batch.rows:
            return BatchReceipt(0, duplicate=False), 0
        self._record_kinds(connection, run_id, batch.kinds)
        batch_id = connection.execute(
            insert(schema.batches)
            .values(run_id=run_id, record_count=len(batch.rows), created_at=time.time())
            .returning(schema.batches.c.batch_id)
        ).scalar_one()
        self._insert_blocks(connection, run_id, batch_id, batch.blocks)
        self._upsert_results(connection, run_id, batch_id, batch.rows)
        pending = connection.execute(
            select(func.count()).where(schema.batches.c.run_id == run_id)
        ).scalar_one()
        return BatchReceipt(len(batch.rows), duplicate=False), int(pending)

    def _key_written(self, run_id: str, key: str) -> bool:
        k = schema.batch_keys
        with self._read() as connection:
            found = connection.execute(
                select(k.c.record_count).where(
                    and_(k.c.run_id == run_id, k.c.idempotency_key == key)
                )
            ).first()
        return found is not None

    def _upsert_results(
        self, connection: Connection, run_id: str, batch_id: int, rows: list[ResultRow]
    ) -> None:
        # Only the fields some row of the batch has are sent: a field left out is NULL in
        # a new row and, through the update of every field, in a replaced one. Most batches
        # hold metrics alone, and binding seven NULLs per row cost more than the insert.
        fields = [(name, position) for name, position in _ROW_FIELDS if _some(rows, position)]
        values = list(
            zip(
                repeat(run_id),
                map(itemgetter(0), rows),  # datapoint_id
                map(itemgetter(1), rows),  # epoch
                repeat(batch_id),
                *(map(itemgetter(position), rows) for _, position in fields),
            )
        )
        # Each dialect's fastest bulk path (COPY on PostgreSQL); the newer batch wins.
        self.dialect.bulk_upsert(
            connection,
            schema.results,
            (*_RESULT_KEY_COLUMNS, *(name for name, _ in fields)),
            values,
            keys=("run_id", "datapoint_id", "epoch"),
            update=_RESULT_FIELDS,
            newer_than="batch_id",
        )

    def _record_kinds(
        self, connection: Connection, run_id: str, kinds: dict[tuple[str, str], MetricKind]
    ) -> None:
        if not kinds:
            return
        m = schema.run_metrics
        known = {
            (row.scope, row.metric): MetricKind(row.kind)
            for row in connection.execute(
                select(m.c.scope, m.c.metric, m.c.kind).where(m.c.run_id == run_id)
            )
        }
        new_rows = []
        for (scope, metric), kind in kinds.items():
            old = known.get((scope, metric))
            if old is None:
                new_rows.append(
                    {"run_id": run_id, "scope": scope, "metric": metric, "kind": kind.value}
                )
            elif (old is MetricKind.STRING) != (kind is MetricKind.STRING):
                step = f" of step {scope!r}" if scope else ""
                raise InvalidMetricError(
                    f"metric {metric!r}{step} is a {kind.value} here, but run {run_id!r} "
                    f"holds {old.value} values for it; log one kind of value per metric",
                    metric=metric,
                    step=scope or None,
                )
            elif old is MetricKind.BOOL and kind is MetricKind.NUMBER:
                connection.execute(
                    update(m)
                    .where(and_(m.c.run_id == run_id, m.c.scope == scope, m.c.metric == metric))
                    .values(kind=MetricKind.NUMBER.value)
                )
        if new_rows:
            connection.execute(
                self.dialect.insert_ignore(m, keys=("run_id", "scope", "metric")), new_rows
            )

    def _insert_blocks(
        self, connection: Connection, run_id: str, batch_id: int, blocks: dict[str, Block]
    ) -> None:
        rows = []
        for scope, block in blocks.items():
            ids, epochs, columns = encode_block(block)
            rows.append(
                {
                    "batch_id": batch_id,
                    "scope": scope,
                    "run_id": run_id,
                    "row_count": len(block),
                    "ids": ids,
                    "epochs": epochs,
                    "columns": columns,
                }
            )
        if rows:
            connection.execute(insert(schema.metric_blocks), rows)

    # -- merging blocks ---------------------------------------------------------------------

    def compact(self, run_id: str) -> None:
        """Merge all of a run's blocks into one per scope, sorted by datapoint id."""
        self._compact(run_id, full=True)

    def _compact(self, run_id: str, *, full: bool) -> None:
        b = schema.batches
        mb = schema.metric_blocks
        with self._write() as connection:
            self.dialect.lock_run(connection, run_id)
            sizes = connection.execute(
                select(b.c.batch_id, b.c.record_count)
                .where(b.c.run_id == run_id)
                .order_by(b.c.batch_id)
            ).all()
            chosen = _choose_batches([(row.batch_id, row.record_count) for row in sizes], full)
            if not chosen:
                if full:
                    self._refresh_counts(connection, run_id)
                return
            low, high = chosen[0], chosen[-1]
            in_range = and_(mb.c.run_id == run_id, mb.c.batch_id >= low, mb.c.batch_id <= high)
            by_scope: dict[str, list[tuple[int, Block]]] = {}
            for row in connection.execute(
                select(
                    mb.c.batch_id, mb.c.scope, mb.c.row_count, mb.c.ids, mb.c.epochs, mb.c.columns
                )
                .where(in_range)
                .order_by(mb.c.scope, mb.c.batch_id)
            ):
                block = decode_block(row.row_count, row.ids, row.epochs, row.columns)
                by_scope.setdefault(row.scope, []).append((row.batch_id, block))
            if len(chosen) == 1 and all(
                sort_block(block) is block for blocks in by_scope.values() for _, block in blocks
            ):
                # One batch, already in datapoint order (a batch holds each record once).
                self._refresh_counts(connection, run_id)
                return
            session_blocks = by_scope.pop(SESSION_SCOPE, [])
            # Which batch holds each record matters only to drop replaced step rows.
            session, live = merge_blocks(session_blocks, want_live=bool(by_scope))
            merged = {SESSION_SCOPE: session}
            for scope, blocks in by_scope.items():
                block, _ = merge_blocks(blocks, live=live)
                if len(block):
                    merged[scope] = block
            pieces = _storable_pieces(merged, sort=full)
            if len(pieces) > 1:
                # Too large for one block (SQLite and PostgreSQL keep a value under 1 GB):
                # the rows go, in id order, into several batches newer than every other
                # batch of the run, as the merged batches were.
                connection.execute(delete(mb).where(in_range))
                connection.execute(
                    delete(b).where(
                        and_(b.c.run_id == run_id, b.c.batch_id >= low, b.c.batch_id <= high)
                    )
                )
                for piece in pieces:
                    batch_id = connection.execute(
                        insert(b)
                        .values(
                            run_id=run_id,
                            record_count=len(piece[SESSION_SCOPE]),
                            created_at=time.time(),
                        )
                        .returning(b.c.batch_id)
                    ).scalar_one()
                    self._insert_blocks(connection, run_id, batch_id, piece)
                self._refresh_counts(connection, run_id)
                return
            merged = pieces[0]
            connection.execute(delete(mb).where(in_range))
            connection.execute(
                delete(b).where(
                    and_(b.c.run_id == run_id, b.c.batch_id >= low, b.c.batch_id < high)
                )
            )
            connection.execute(
                update(b).where(b.c.batch_id == high).values(record_count=len(session))
            )
            self._insert_blocks(connection, run_id, high, merged)
            self._refresh_counts(connection, run_id)

    def _refresh_counts(self, connection: Connection, run_id: str) -> None:
        r = schema.results
        row = connection.execute(
            select(func.count(), func.count(r.c.datapoint_id.distinct())).where(
                r.c.run_id == run_id
            )
        ).one()
        connection.execute(
            update(schema.runs)
            .where(schema.runs.c.run_id == run_id)
            .values(result_count=int(row[0]), datapoint_count=int(row[1]))
        )

    # -- reading values ---------------------------------------------------------------------

    def load_scope(self, run_id: str, scope: str = SESSION_SCOPE) -> ScopeValues:
        """A run's metric values at one scope, one row per datapoint, epochs averaged."""
        return collapse_epochs(self.load_block(run_id, scope))

    def load_block(self, run_id: str, scope: str = SESSION_SCOPE) -> Block:
        """A run's metric values at one scope, one row per (datapoint, epoch): the last
        record of each, before epochs are averaged (what the team server sends)."""
        mb = schema.metric_blocks
        with self._read() as connection:
            self._require_run(connection, run_id)
            selected = and_(mb.c.run_id == run_id, mb.c.scope == scope)
            reader = self.dialect.block_reader(connection)
            if reader is not None and scope == SESSION_SCOPE:
                return self._read_in_parts(connection, reader, selected)
            rows = self.dialect.fetch_blobs(
                connection,
                select(mb.c.batch_id, mb.c.row_count, mb.c.ids, mb.c.epochs, mb.c.columns)
                .where(selected)
                .order_by(mb.c.batch_id),
            )
            live: LiveRecords | None = None
            if scope != SESSION_SCOPE and rows:
                session_rows = self.dialect.fetch_blobs(
                    connection,
                    select(mb.c.batch_id, mb.c.row_count, mb.c.ids, mb.c.epochs)
                    .where(and_(mb.c.run_id == run_id, mb.c.scope == SESSION_SCOPE))
                    .order_by(mb.c.batch_id),
                )
                if len(session_rows) > 1:
                    _, live = merge_blocks(
                        [
                            (row.batch_id, decode_block(row.row_count, row.ids, row.epochs, None))
                            for row in session_rows
                        ],
                        want_live=True,
                    )
        blocks = [
            (row.batch_id, decode_block(row.row_count, row.ids, row.epochs, row.columns))
            for row in rows
        ]
        merged, _ = merge_blocks(blocks, live=live)
        return merged

    def _read_in_parts(
        self,
        connection: Connection,
        reader: Callable[[int], AbstractContextManager[StoredValue]],
        selected: ColumnElement[bool],
    ) -> Block:
        """The merged session blocks of ``selected``, each block's metrics read a part at a
        time: when they need no merging (one block, or the sorted pieces of a run too large
        for one), every number column is read straight into its place in one array."""
        mb = schema.metric_blocks
        rows = self.dialect.fetch_blobs(
            connection,
            select(
                literal_column("rowid").label("rowid"),
                mb.c.batch_id,
                mb.c.row_count,
                mb.c.ids,
                mb.c.epochs,
                func.length(mb.c.columns).label("size"),
            )
            .where(selected)
            .order_by(mb.c.batch_id),
        )
        blocks = [decode_block(row.row_count, row.ids, row.epochs, None) for row in rows]
        with ExitStack() as opened:
            stored = [opened.enter_context(reader(row.rowid)) for row in rows]
            if len(blocks) == 1 or (blocks and follow_in_order(blocks)):
                columns = read_columns(
                    [(row.row_count, s) for row, s in zip(rows, stored, strict=True)]
                )
                if columns is not None:
                    merged = concat_blocks(blocks)
                    return Block(merged.ids, merged.epochs, columns)
            whole = [
                (
                    row.batch_id,
                    decode_block(row.row_count, row.ids, row.epochs, s.read(0, row.size)),
                )
                for row, s in zip(rows, stored, strict=True)
            ]
        merged, _ = merge_blocks(whole)
        return merged

    def list_steps(self, run_id: str) -> list[str]:
        """The names of the steps the run's results hold, sorted."""
        mb = schema.metric_blocks
        with self._read() as connection:
            self._require_run(connection, run_id)
            rows = connection.execute(
                select(mb.c.scope)
                .where(and_(mb.c.run_id == run_id, mb.c.scope != SESSION_SCOPE))
                .distinct()
            ).all()
        return sorted(row.scope for row in rows)

    def result_keys(self, run_id: str) -> list[tuple[str, int]]:
        """The (datapoint id, epoch) of every result the run holds, sorted.

        The cheap listing ``evaluate(resume=...)`` uses to find what a run lacks.
        """
        r = schema.results
        query = (
            select(r.c.datapoint_id, r.c.epoch)
            .where(r.c.run_id == run_id)
            .order_by(r.c.datapoint_id, r.c.epoch)
        )
        with self._read() as connection:
            self._require_run(connection, run_id)
            return [(row.datapoint_id, row.epoch) for row in connection.execute(query)]

    def get_results(self, run_id: str, datapoint_ids: Sequence[str] | None = None) -> list[Result]:
        """The stored results of a run (all, or of the given datapoints), by id and epoch."""
        r = schema.results
        query = select(r).where(r.c.run_id == run_id).order_by(r.c.datapoint_id, r.c.epoch)
        with self._read() as connection:
            self._require_run(connection, run_id)
            if datapoint_ids is None:
                rows = connection.execute(query).all()
            else:
                rows = []
                unique = sorted(set(datapoint_ids))
                for start in range(0, len(unique), 500):
                    chunk = unique[start : start + 500]
                    rows.extend(connection.execute(query.where(r.c.datapoint_id.in_(chunk))))
        return [_result(row._mapping) for row in rows]

    def result_page(
        self, run_id: str, *, after: tuple[str, int] | None = None, limit: int = 1000
    ) -> list[Result]:
        """Up to ``limit`` results of a run after the (datapoint id, epoch) ``after``, in
        order: pages through a run of any size with bounded memory."""
        r = schema.results
        query = select(r).where(r.c.run_id == run_id)
        if after is not None:
            datapoint_id, epoch = after
            query = query.where(
                or_(
                    r.c.datapoint_id > datapoint_id,
                    and_(r.c.datapoint_id == datapoint_id, r.c.epoch > epoch),
                )
            )
        query = query.order_by(r.c.datapoint_id, r.c.epoch).limit(limit)
        with self._read() as connection:
            self._require_run(connection, run_id)
            rows = connection.execute(query).all()
        return [_result(row._mapping) for row in rows]

    # -- access tokens --------------------------------------------------------------------

    def add_token(
        self, *, token_id: str, token_hash: str, scope: str, project: str | None, name: str | None
    ) -> TokenInfo:
        """Store a new access token by the hash of its secret (never the secret)."""
        now = time.time()
        with self._write() as connection:
            connection.execute(
                insert(schema.access_tokens).values(
                    token_id=token_id,
                    token_hash=token_hash,
                    scope=scope,
                    project=project,
                    name=name,
                    created_at=now,
                    revoked_at=None,
                )
            )
        return TokenInfo(token_id, scope, project, name, now)

    def find_token(self, token_hash: str) -> TokenInfo | None:
        """The valid (unrevoked) token whose secret has this hash, or None."""
        t = schema.access_tokens
        with self._read() as connection:
            row = connection.execute(
                select(t).where(and_(t.c.token_hash == token_hash, t.c.revoked_at.is_(None)))
            ).first()
        return None if row is None else _token(row._mapping)

    def list_tokens(self) -> list[TokenInfo]:
        """Every token, oldest first (revoked ones too)."""
        t = schema.access_tokens
        with self._read() as connection:
            rows = connection.execute(select(t).order_by(t.c.created_at, t.c.token_id)).all()
        return [_token(row._mapping) for row in rows]

    def revoke_token(self, token_id: str) -> bool:
        """Revoke a token and end its login sessions; False when no valid token has this id."""
        t = schema.access_tokens
        with self._write() as connection:
            done = connection.execute(
                update(t)
                .where(and_(t.c.token_id == token_id, t.c.revoked_at.is_(None)))
                .values(revoked_at=time.time())
            )
            connection.execute(
                delete(schema.login_sessions).where(schema.login_sessions.c.token_id == token_id)
            )
        return bool(done.rowcount)

    # -- login sessions -------------------------------------------------------------------

    def add_session(self, *, session_hash: str, token_id: str, expires_at: float) -> None:
        """Store a login session by the hash of its random id; expired ones are purged."""
        s = schema.login_sessions
        now = time.time()
        with self._write() as connection:
            connection.execute(delete(s).where(s.c.expires_at <= now))
            connection.execute(
                insert(s).values(
                    session_hash=session_hash,
                    token_id=token_id,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    def find_session(self, session_hash: str) -> TokenInfo | None:
        """The token of the unexpired session with this hash, while the token is valid."""
        s, t = schema.login_sessions, schema.access_tokens
        with self._read() as connection:
            row = connection.execute(
                select(t)
                .join(s, s.c.token_id == t.c.token_id)
                .where(
                    and_(
                        s.c.session_hash == session_hash,
                        s.c.expires_at > time.time(),
                        t.c.revoked_at.is_(None),
                    )
                )
            ).first()
        return None if row is None else _token(row._mapping)

    def end_session(self, session_hash: str) -> bool:
        """Delete a login session; False when there was none with this hash."""
        s = schema.login_sessions
        with self._write() as connection:
            done = connection.execute(delete(s).where(s.c.session_hash == session_hash))
        return bool(done.rowcount)


_CHUNK = 500


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _stored_span(row: Any) -> StoredSpan:
    return StoredSpan(
        trace_id=row.trace_id,
        span_id=row.span_id,
        span=row.span,
        run_id=row.run_id,
        datapoint_id=row.datapoint_id,
        epoch=row.epoch,
        received_at=row.received_at,
    )


class _SpanSession:
    """:class:`~evalyard.store.base.SpanSession` of an SQL store."""

    def __init__(self, store: SQLStore, connection: Connection, project: str) -> None:
        self._store = store
        self._connection = connection
        self._project = project
        self.compact: list[str] = []

    def spans_of_traces(self, trace_ids: Iterable[str]) -> list[StoredSpan]:
        t = schema.otlp_spans
        found: list[StoredSpan] = []
        for chunk in _chunks(sorted(set(trace_ids))):
            rows = self._connection.execute(
                select(t).where(and_(t.c.project == self._project, t.c.trace_id.in_(chunk)))
            )
            found.extend(_stored_span(row) for row in rows)
        return found

    def spans_of_results(self, keys: Iterable[tuple[str, str, int]]) -> list[StoredSpan]:
        t = schema.otlp_spans
        wanted = set(keys)
        by_run: dict[str, set[str]] = {}
        for run_id, datapoint_id, _ in wanted:
            by_run.setdefault(run_id, set()).add(datapoint_id)
        found: list[StoredSpan] = []
        for run_id in sorted(by_run):
            for chunk in _chunks(sorted(by_run[run_id])):
                rows = self._connection.execute(
                    select(t).where(
                        and_(
                            t.c.project == self._project,
                            t.c.run_id == run_id,
                            t.c.datapoint_id.in_(chunk),
                        )
                    )
                )
                found.extend(
                    _stored_span(row)
                    for row in rows
                    if (row.run_id, row.datapoint_id, row.epoch) in wanted
                )
        return found

    def add_spans(self, spans: Sequence[StoredSpan]) -> None:
        if not spans:
            return
        statement = self._store.dialect.insert_ignore(
            schema.otlp_spans, keys=("project", "trace_id", "span_id")
        )
        for chunk in _chunks(spans):
            self._connection.execute(
                statement,
                [
                    {
                        "project": self._project,
                        "trace_id": span.trace_id,
                        "span_id": span.span_id,
                        "run_id": span.run_id,
                        "datapoint_id": span.datapoint_id,
                        "epoch": span.epoch,
                        "span": span.span,
                        "received_at": span.received_at,
                    }
                    for span in chunk
                ],
            )

    def assign(self, spans: Sequence[StoredSpan]) -> None:
        t = schema.otlp_spans
        for span in spans:
            self._connection.execute(
                update(t)
                .where(
                    and_(
                        t.c.project == self._project,
                        t.c.trace_id == span.trace_id,
                        t.c.span_id == span.span_id,
                    )
                )
                .values(run_id=span.run_id, datapoint_id=span.datapoint_id, epoch=span.epoch)
            )

    def remove(self, keys: Sequence[tuple[str, str]]) -> None:
        t = schema.otlp_spans
        for trace_id, span_id in keys:
            self._connection.execute(
                delete(t).where(
                    and_(
                        t.c.project == self._project,
                        t.c.trace_id == trace_id,
                        t.c.span_id == span_id,
                    )
                )
            )

    def pending_count(self) -> int:
        t = schema.otlp_spans
        count = self._connection.execute(
            select(func.count()).where(and_(t.c.project == self._project, t.c.run_id.is_(None)))
        ).scalar_one()
        return int(count)

    def purge_pending(self, before: float) -> int:
        t = schema.otlp_spans
        purged = self._connection.execute(
            delete(t).where(
                and_(
                    t.c.project == self._project,
                    t.c.run_id.is_(None),
                    t.c.received_at < before,
                )
            )
        )
        return int(purged.rowcount or 0)

    def write_keyed_batches(
        self, batches: Sequence[tuple[str, WriteBatch, str]]
    ) -> list[BatchReceipt]:
        receipts, compact = self._store._write_batches_in(self._connection, batches)
        self.compact.extend(compact)
        return receipts


def _no_store(where: str) -> StoreError:
    return StoreError(
        f"no store at {where}; `evalyard demo` or logging a run creates one (or pass "
        "--store URL / set EVALYARD_STORE)"
    )


def _token(row: Any) -> TokenInfo:
    return TokenInfo(
        token_id=row["token_id"],
        scope=row["scope"],
        project=row["project"],
        name=row["name"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def _storable_pieces(merged: dict[str, Block], *, sort: bool) -> list[dict[str, Block]]:
    """The merged blocks of a run, sorted when ``sort``, as one piece if they fit in a
    stored value of :data:`MAX_BLOCK_BYTES`, else cut (sorted) into pieces that each do,
    every scope at the same (datapoint, epoch) keys so a step row stays in its record's
    piece."""
    session = merged[SESSION_SCOPE]
    widest = max(block_row_bytes(block) for block in merged.values())
    rows_per_piece = max(1, MAX_BLOCK_BYTES // widest)
    if len(session) <= rows_per_piece:
        if sort:
            return [{scope: sort_block(block) for scope, block in merged.items()}]
        return [merged]
    ordered = {scope: sort_block(block) for scope, block in merged.items()}
    session = ordered[SESSION_SCOPE]
    starts = [
        (session.ids[row], int(session.epochs[row]))
        for row in range(rows_per_piece, len(session), rows_per_piece)
    ]
    cut = {scope: split_sorted(block, starts) for scope, block in ordered.items()}
    pieces: list[dict[str, Block]] = []
    for index in range(len(starts) + 1):
        piece = {SESSION_SCOPE: cut[SESSION_SCOPE][index]}
        piece.update(
            (scope, blocks[index])
            for scope, blocks in cut.items()
            if scope != SESSION_SCOPE and len(blocks[index])
        )
        pieces.append(piece)
    return pieces


def _choose_batches(sizes: list[tuple[int, int]], full: bool) -> list[int]:
    """The batch ids to merge: all of them, or the newest small ones (size-tiered)."""
    if full:
        # A single batch too: merging it sorts it, which makes every later read cheaper.
        return [batch_id for batch_id, _ in sizes]
    if len(sizes) <= MERGE_THRESHOLD:
        return []
    chosen: list[int] = []
    total = 0
    for batch_id, count in reversed(sizes):
        # Merge batches no bigger than what is already chosen, and at least half the pile.
        if chosen and count > total and len(chosen) >= MERGE_THRESHOLD // 2:
            break
        chosen.append(batch_id)
        total += count
    chosen.reverse()
    return chosen if len(chosen) > 1 else []


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _result(row: Any) -> Result:
    return Result(
        datapoint_id=row["datapoint_id"],
        epoch=row["epoch"],
        inputs=_json(row["inputs"]),
        outputs=_json(row["outputs"]),
        ground_truth=_json(row["ground_truth"]),
        metadata=_json(row["metadata"]),
        metrics=_json(row["metrics"]) or {},
        steps=_json(row["steps"]) or [],
        error=_json(row["error"]),
        duration_ms=row["duration_ms"],
    )


def _run_info(row: Any) -> RunInfo:
    return RunInfo(
        run_id=row["run_id"],
        name=row["name"],
        project=row["project"],
        status=RunStatus(row["status"]),
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        dataset=row["dataset"],
        metadata=json.loads(row["metadata"]),
        result_count=row["result_count"],
        datapoint_count=row["datapoint_count"],
    )


def _replace_counts(info: RunInfo, results: int, datapoints: int) -> RunInfo:
    return RunInfo(
        info.run_id,
        info.name,
        info.project,
        info.status,
        info.created_at,
        info.finished_at,
        info.dataset,
        info.metadata,
        results,
        datapoints,
    )


def _some(rows: list[ResultRow], position: int) -> bool:
    """Whether a row holds a value (not None) at ``position`` (C-level passes only)."""
    values = list(map(itemgetter(position), rows))
    return values.count(None) != len(values)
