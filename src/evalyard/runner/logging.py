"""Logging results you already have: ``start_run``, ``Run.log``, ``Run.log_many``.

Example:
    >>> import evalyard
    >>> with evalyard.start_run("gpt-4o-temp-0.3", dataset="qa-v1") as run:  # doctest: +SKIP
    ...     run.log("q1", inputs={"question": "2+2?"}, outputs="4", ground_truth="4",
    ...             metrics={"exact_match": True})

On the embedded and PostgreSQL stores every ``log`` and ``log_many`` call is committed
before it returns. Through a team server (``store="http://..."``) records are checked here,
then sent in batches in the background: they are durable once ``Run.flush`` or
``Run.finish`` returns (on the server, or in the local spool while it is unreachable).
Logging the same datapoint and epoch again replaces the earlier record as a whole.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Literal

from evalyard.config import max_field_bytes
from evalyard.core.columns import MixedKindsError
from evalyard.core.ids import MAX_NAME_LENGTH, check_name, check_run_id
from evalyard.core.model import Direction, MetricDefinition, MetricKind, RunInfo, RunStatus
from evalyard.core.values import check_run_metadata
from evalyard.errors import InvalidInputError, RunExistsError, RunNameTakenError
from evalyard.runner.collector import collector_paused
from evalyard.runner.records import (
    PreparedRecord,
    build_batch,
    checked_batch,
    prepare_mapping,
    prepare_record,
)
from evalyard.store import Store, get_store
from evalyard.store.base import WriteBatch
from evalyard.store.uploader import ServerUnreachableError

__all__ = ["Run", "define_metric", "start_run"]

#: Records per transaction in ``log_many``: large enough to be fast, small enough to bound
#: memory and to keep other writers waiting briefly.
LOG_MANY_CHUNK = 100_000

StatusName = Literal["completed", "failed", "cancelled"]


class Run:
    """A run being logged. Use it as a context manager, or call :meth:`finish`.

    On leaving a ``with`` block the run is marked completed, failed (an exception) or
    cancelled (Ctrl-C); the results already logged are kept in every case.
    """

    def __init__(self, info: RunInfo, store: Store) -> None:
        self._info = info
        self._store = store
        self._limit = max_field_bytes()
        self._kinds: dict[tuple[str, str], MetricKind] = {}
        self._kinds_loaded = False
        self._lock = threading.Lock()
        self._finished = False

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self._info.run_id

    @property
    def name(self) -> str:
        """The run's name."""
        return self._info.name

    @property
    def project(self) -> str:
        """The run's project."""
        return self._info.project

    @property
    def store(self) -> Store:
        """The store the run is logged to."""
        return self._store

    def __repr__(self) -> str:
        return f"<Run {self.name!r} ({self.run_id})>"

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._finished:
            return
        if exc_type is None:
            self.finish("completed")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("cancelled")
        else:
            self.finish("failed")

    def log(
        self,
        datapoint_id: str | int | None = None,
        *,
        inputs: Any = None,
        outputs: Any = None,
        ground_truth: Any = None,
        metrics: Mapping[str, Any] | None = None,
        steps: list[dict[str, Any]] | None = None,
        error: str | None = None,
        epoch: int = 0,
        metadata: Any = None,
        duration_ms: float | None = None,
    ) -> str:
        """Log the result of one datapoint (and epoch); return its datapoint id.

        Args:
            datapoint_id: the datapoint's id; None derives one from inputs and ground truth.
            inputs: what the application was given.
            outputs: what it produced.
            ground_truth: the expected output.
            metrics: ``{name: value}``, each a number, bool, string or None (missing).
            steps: the trace, as step dicts (``name``, ``type``, ``inputs``, ``outputs``,
                ``metrics``, ``error``, ``children``).
            error: the error the application raised, if it did.
            epoch: which repeat of the datapoint this is, from 0.
            metadata: the datapoint's metadata.
            duration_ms: how long the application took.

        Raises:
            InvalidInputError: for a value that cannot be stored; nothing of this record is
                stored, and everything logged before it is kept.
        """
        record = prepare_record(
            datapoint_id,
            inputs=inputs,
            outputs=outputs,
            ground_truth=ground_truth,
            metadata=metadata,
            metrics=metrics,
            steps=steps,
            error=error,
            epoch=epoch,
            duration_ms=duration_ms,
            limit=self._limit,
        )
        self._write([record], first_index=None)
        return record.row.datapoint_id

    def log_many(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Log many results at once (the fast path); return how many were logged.

        Each record is a dict with the keys of :meth:`log` (``datapoint_id`` or ``id``).
        Records are committed in chunks as they come; a record that cannot be stored stops
        the call with an error naming it (its index and datapoint), and the records before
        it are kept (the error's ``logged_count`` says how many).
        """
        with collector_paused(), _ChunkWriter(self) as writer:
            chunk: list[PreparedRecord] = []
            chunk_start = 0
            limit = self._limit
            for index, record in enumerate(records):
                try:
                    prepared = self._prepare(record, index, limit)
                except InvalidInputError as exc:
                    logged = writer.write_last(chunk, chunk_start)
                    exc.index = index
                    exc.logged_count = logged
                    exc.add_note(
                        f"record {index} of log_many was refused; the {logged} records "
                        "before it were logged"
                    )
                    raise
                chunk.append(prepared)
                if len(chunk) >= LOG_MANY_CHUNK:
                    writer.submit(chunk, chunk_start)
                    chunk = []
                    chunk_start = index + 1
            return writer.write_last(chunk, chunk_start)

    def _prepare(self, record: Any, index: int, limit: int) -> PreparedRecord:
        return prepare_mapping(record, index, limit=limit)

    def _known_kinds(self) -> dict[tuple[str, str], MetricKind]:
        with self._lock:
            if not self._kinds_loaded:
                self._kinds.update(self._store.metric_kinds(self.run_id))
                self._kinds_loaded = True
            return dict(self._kinds)

    def _write(
        self,
        records: list[PreparedRecord],
        *,
        first_index: int | None = 0,
        built: WriteBatch | None = None,
    ) -> int:
        """Write records in one batch; on a metric changing kind, write those before it.

        Args:
            records: the records, in the order they were given.
            first_index: the ``log_many`` index of ``records[0]``, for error messages.
            built: their batch when already built (:func:`build_batch`), to check and write.
        """
        if not records:
            return 0
        known = self._known_kinds()
        batch, conflict = checked_batch(records, known, self.run_id, built=built)
        if conflict is not None:
            position, error = conflict
            logged = self._write(records[:position])
            if first_index is not None:
                error.index = first_index + position
                error.logged_count = logged
            raise error
        assert batch is not None
        self._store.write_batch(self.run_id, batch)
        with self._lock:
            for key, kind in batch.kinds.items():
                previous = self._kinds.get(key)
                if previous is None or (previous is MetricKind.BOOL and kind is MetricKind.NUMBER):
                    self._kinds[key] = kind
        return len(records)

    def to_pandas(self) -> Any:
        """The run's results as a ``pandas.DataFrame``: one row per result (datapoint ×
        epoch), with the columns of ``evalyard export`` (``datapoint_id``, ``epoch``,
        ``inputs``, ``outputs``, ... then ``metrics.NAME`` per metric).

        Raises:
            MissingDependencyError: when pandas is not installed (``pip install
                'evalyard[pandas]'``).
        """
        from evalyard.exports import results_frame

        self._store.flush(self.run_id)
        return results_frame(self.run_id, store=self._store)

    def flush(self) -> None:
        """Return once everything logged so far is durable.

        A no-op on the embedded and PostgreSQL stores, which commit in ``log``. Through a
        team server (``store="http://..."``) results are sent in the background; after
        ``flush`` (or :meth:`finish`) they are on the server, or in the local spool when the
        server is unreachable (``evalyard sync`` sends it).
        """
        self._store.flush(self.run_id)

    def finish(
        self,
        status: StatusName | RunStatus = "completed",
        *,
        shard: tuple[int, int] | None = None,
    ) -> RunInfo:
        """Give the run its final status: ``completed``, ``failed`` or ``cancelled``.

        Args:
            status: the final status.
            shard: ``(i, n)`` when this process logged shard ``i`` of ``n`` of a sharded
                run: the shard's end is recorded, and the run gets its final status when the
                last of the ``n`` shards ends (see ``evaluate(shard=...)``).
        """
        try:
            final = RunStatus(status)
        except ValueError:
            final = RunStatus.RUNNING
        if final is RunStatus.RUNNING:
            raise InvalidInputError(
                f"cannot finish run {self.run_id!r} with status {status!r}; use completed, "
                "failed or cancelled"
            )
        if shard is None:
            self._info = self._store.finish_run(self.run_id, final)
        else:
            self._store.flush(self.run_id)
            index, count = shard
            self._info = self._store.finish_shard(
                self.run_id, shard_index=index, shard_count=count, status=final
            )
        self._finished = True
        return self._info


class _ChunkWriter:
    """Writes the chunks of one ``log_many`` call in order, each on a background thread
    while the caller checks and encodes the next, so the store's work (SQLite and the
    PostgreSQL driver release the GIL while the database writes) overlaps Python's.

    One chunk is in flight at most. A write that fails is raised at the next
    :meth:`submit` or :meth:`write_last`, with ``logged_count`` counting every record of
    the call that was committed; nothing is written after a failure.
    """

    def __init__(self, run: Run) -> None:
        self._run = run
        self._logged = 0
        self._thread: threading.Thread | None = None
        self._outcome: list[BaseException | int] = []

    def __enter__(self) -> _ChunkWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Leaving by an exception (the caller's iterable raised, Ctrl-C): no write may go on
        # after the call returns, and what was in flight stays committed.
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def submit(self, chunk: list[PreparedRecord], first_index: int) -> None:
        """Write ``chunk`` in the background once the previous chunk is committed."""
        # The batch is built here, while the chunk before is being written: the writing
        # thread is then left with the store's work alone (the busier of the two).
        built = _built(chunk)
        self._settle()
        outcome = self._outcome = []

        def write() -> None:
            try:
                outcome.append(self._run._write(chunk, first_index=first_index, built=built))
            except BaseException as exc:  # handed to the caller's thread
                outcome.append(exc)

        self._thread = threading.Thread(target=write, name="evalyard-log-many", daemon=True)
        self._thread.start()

    def write_last(self, chunk: list[PreparedRecord], first_index: int) -> int:
        """Write the last ``chunk`` here, after the one in flight; return how many records
        the call logged."""
        self._settle()
        try:
            self._logged += self._run._write(chunk, first_index=first_index)
        except InvalidInputError as exc:
            exc.logged_count = self._logged + (exc.logged_count or 0)
            raise
        return self._logged

    def _settle(self) -> None:
        """Wait for the chunk in flight; raise its error with the call's logged count."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.join()
        (outcome,) = self._outcome
        if isinstance(outcome, BaseException):
            if isinstance(outcome, InvalidInputError):
                outcome.logged_count = self._logged + (outcome.logged_count or 0)
            raise outcome
        self._logged += outcome


def start_run(
    name: str | None = None,
    *,
    project: str = "default",
    dataset: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    resume: bool = False,
    store: Store | str | None = None,
) -> Run:
    """Start a run (or go on with an existing one: by name with ``resume``, or by id).

    Run names are unique within a project: a name already used there is refused with
    :class:`~evalyard.errors.RunNameTakenError`, which names the existing run.

    Args:
        name: a descriptive name, unique in the project, such as ``"gpt-4o-temp-0.3"``;
            defaults to one made up from the run id (``run-`` and its first 8 characters,
            or the whole id when a run of the project has that name already).
        project: the project the run belongs to.
        dataset: the name of the dataset the run is over, if any.
        metadata: facts about the run (model, prompt, parameters...): JSON data.
        run_id: the id to give the run. If a run has this id already, logging goes on
            into it (same project, and same name if one is given).
        resume: go on with the run of this ``name`` in the project (the newest, in a store
            that predates unique names), whatever its status; logging a datapoint and epoch
            it holds again replaces that record. Without such a run, it is created.
        store: a store, or a store URL; by default ``EVALYARD_STORE`` or the embedded file.

    Returns:
        the run handle; use it as a context manager.

    Through a team server that stays unreachable, a new run is created in the local
    spool with its results (a line on stderr says so) and on the server when it is back,
    or by ``evalyard sync``; if its name was taken there meanwhile, it is created as
    ``<name>-<first 8 characters of its id>``, with a warning.

    Raises:
        RunNameTakenError: when the project has a run of this name and ``resume`` is not
            set.
        ServerUnreachableError: with ``run_id`` or ``resume``, when the team server cannot
            be reached: going on with a run needs to look it up there.
    """
    project = check_name(project, what="project name")
    if dataset is not None:
        dataset = check_name(dataset, what="dataset name")
    if name is not None:
        name = check_name(name, what="run name")
    if resume and (name is None or run_id is not None):
        raise InvalidInputError(
            "start_run(resume=True) goes on with a run by its name: give the name, and no "
            "run_id (a run_id alone already goes on with the run of that id)"
        )
    run_metadata = check_run_metadata(metadata)
    target = get_store(store)
    if run_id is not None:
        run_id = check_run_id(run_id)
        existing = _look_up(target, run_id, project=None, how="with a run_id")
        match = [info for info in existing if info.run_id == run_id]
        if match:
            return _go_on(target, match[0], project=project, name=name)
    if resume:
        assert name is not None
        existing = _look_up(target, name, project=project, how="with resume=True")
        match = [info for info in existing if info.name == name and info.project == project]
        if match:
            return _go_on(target, match[0], project=project, name=name)
    new_id = run_id or uuid.uuid4().hex
    # Made-up names: the short one, else the whole id (two ids may share 8 characters).
    names = [name] if name is not None else list(dict.fromkeys(_default_names(new_id)))
    refused: RunNameTakenError | None = None
    for chosen in names:
        try:
            info = target.create_run(
                run_id=new_id,
                name=chosen,
                project=project,
                dataset=dataset,
                metadata=run_metadata,
            )
        except RunExistsError:
            # Another process (a shard, a retried request) created it since we looked.
            return _go_on(target, target.get_run(new_id), project=project, name=name)
        except RunNameTakenError as taken:
            if resume:
                # Checked and refused in one transaction: the run is the newest of the name.
                return _go_on(target, target.get_run(taken.run_id), project=project, name=name)
            refused = taken
            continue
        return Run(info, target)
    assert refused is not None
    raise refused


def _look_up(target: Store, reference: str, *, project: str | None, how: str) -> list[RunInfo]:
    """The runs a reference finds; a team server that cannot be reached says why it must be.

    A new run is kept in the spool while the server is away, but going on with a run needs
    to know whether it exists: that needs the server.
    """
    try:
        return target.find_runs(reference, project=project)
    except ServerUnreachableError as exc:
        exc.add_note(
            f"evalyard: start_run {how} looks the run up on the server, so the server must "
            "be reachable; a new run (without run_id or resume) is kept in the spool until "
            "it is back"
        )
        raise


def _default_names(run_id: str) -> tuple[str, str]:
    """The names a run without one gets: ``run-`` and a short id, else the whole id."""
    return f"run-{run_id[:8]}", f"run-{run_id}"[:MAX_NAME_LENGTH]


def _go_on(target: Store, info: RunInfo, *, project: str, name: str | None) -> Run:
    """Reopen an existing run for logging, after checking it is the one the caller means."""
    if info.project != project:
        raise InvalidInputError(
            f"run {info.run_id!r} belongs to project {info.project!r}, not {project!r}"
        )
    if name is not None and name != info.name:
        raise InvalidInputError(
            f"run {info.run_id!r} is named {info.name!r}, not {name!r}; leave the name "
            "out to go on with it"
        )
    return Run(target.reopen_run(info.run_id), target)


def define_metric(
    name: str,
    *,
    direction: Literal["higher", "lower", "none"] | Direction = "higher",
    tolerance: float = 0.0,
    project: str = "default",
    store: Store | str | None = None,
) -> MetricDefinition:
    """Declare which way a metric gets better, and how much change still counts as the same.

    Args:
        name: the metric's name.
        direction: ``higher`` (the default for numbers and bools), ``lower``, or ``none``
            (changes are reported, never judged).
        tolerance: an absolute change at most this large counts as the same.
        project: the project the definition belongs to.
        store: a store, or a store URL.
    """
    name = check_name(name, what="metric name")
    project = check_name(project, what="project name")
    try:
        chosen = Direction(direction)
    except ValueError:
        raise InvalidInputError(
            f"direction of metric {name!r} must be higher, lower or none, not {direction!r}"
        ) from None
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not (math.isfinite(tolerance) and tolerance >= 0)
    ):
        raise InvalidInputError(
            f"tolerance of metric {name!r} must be a finite number >= 0, not {tolerance!r}"
        )
    definition = MetricDefinition(name, chosen, float(tolerance))
    get_store(store).define_metric(project, definition)
    return definition


def _built(records: list[PreparedRecord]) -> WriteBatch | None:
    """The records' batch, or None when a metric mixes kinds in them (the writer then
    finds the record to blame)."""
    try:
        return build_batch(records)
    except MixedKindsError:
        return None
