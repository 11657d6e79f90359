"""The importer contract: a file becomes one run, checked as a whole before anything is written.

An importer reads a file into an :class:`ImportedRun` (the run's name, project, dataset and
metadata, and one :class:`ImportedRecord` per datapoint and epoch, each with where it came
from in the file). :func:`import_file` does the rest, the same for every format:

1. the run id is derived from the format, its options, the project and the file's bytes
   (BLAKE2b, 32 hex characters), so importing the same file again finds the run it made
   and writes nothing (``ImportOutcome.created`` is False);
2. every record is checked and encoded as ``log_many`` would, and the (datapoint, epoch)
   keys and the metric kinds are checked across the whole file; the first fault raises
   :class:`~evalyard.errors.ImportFileError` naming the file, the line (or row) and the
   field, and nothing is written;
3. the run is created and the records written in one batch, then the run is completed.

Formats register themselves in :data:`FORMATS` with :func:`register_importer`.

A file can hold several runs (a promptfoo file: one per provider × prompt). Its importer is
a :class:`MultiRunImporter`: it reads every run the options select, each with the options
that select it alone (so each run's id is derived from the file and its selection).
:func:`import_file` takes exactly one of them; :func:`import_runs` imports every one,
checking them all before it writes any.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from evalyard.config import max_field_bytes
from evalyard.core.columns import MixedKindsError
from evalyard.core.ids import canonical_json, check_name
from evalyard.core.model import Direction, MetricDefinition, RunInfo, RunStatus
from evalyard.errors import (
    ImportFileError,
    InvalidInputError,
    InvalidMetricError,
    InvalidRecordError,
    RunNameTakenError,
)
from evalyard.runner.collector import collector_paused
from evalyard.runner.logging import start_run
from evalyard.runner.records import (
    PreparedRecord,
    build_batch,
    first_kind_conflict,
    prepare_record,
)
from evalyard.store import Store, get_store
from evalyard.store.base import WriteBatch

__all__ = [
    "FORMATS",
    "ImportOutcome",
    "ImportedRecord",
    "ImportedRun",
    "Importer",
    "MultiRunImporter",
    "ReadsFolders",
    "get_importer",
    "import_file",
    "import_run_id",
    "import_runs",
    "register_importer",
]


@dataclass(slots=True)
class ImportedRecord:
    """One datapoint and epoch of an imported file, as ``Run.log`` takes it."""

    location: str
    """Where it is in the file (``line 7``, ``row 7``), for error messages."""
    datapoint_id: str | int | None = None
    """The datapoint's id; None derives one from the inputs and expected output."""
    inputs: Any = None
    """What the application was given."""
    outputs: Any = None
    """What it produced."""
    expected: Any = None
    """The expected output (stored as the ground truth)."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """The metrics, by name: numbers, bools, strings or None."""
    metadata: Any = None
    """The datapoint's metadata."""
    steps: list[dict[str, Any]] | None = None
    """The trace, as step dicts."""
    epoch: int = 0
    """Which repeat of the datapoint this is, from 0."""
    error: str | None = None
    """The error the application raised, if it did."""
    duration_ms: float | None = None
    """How long the application took."""


@dataclass(slots=True)
class ImportedRun:
    """What an importer read from a file: the run and its records."""

    name: str
    """The run's name (the caller's ``name`` wins)."""
    records: list[ImportedRecord]
    """One per datapoint and epoch."""
    project: str | None = None
    """The project the file suggests; the caller's wins, else ``default``."""
    dataset: str | None = None
    """The dataset the file suggests; the caller's wins."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Facts about the run (model, task, the tool's settings)."""
    part: str | None = None
    """Which part of a file of several runs this is (``echo-a/brief``): a caller's name for
    the file becomes ``NAME/PART`` for each of its runs."""
    directions: dict[str, str] = field(default_factory=dict)
    """Metric directions the format implies (``lower`` for token counts), by metric name;
    defined in the project only for metrics it has no definition of."""


class Importer(Protocol):
    """A format that can be imported: a name, and a reader of files."""

    @property
    def name(self) -> str:
        """The format's name, as ``evalyard import FORMAT`` takes it."""
        ...

    @property
    def description(self) -> str:
        """What files it reads, in one line."""
        ...

    def read(self, path: Path, options: Mapping[str, Any]) -> ImportedRun:
        """Read a file into a run; raise :class:`ImportFileError` for a malformed one.

        ``options`` are the format's own (already checked by :meth:`check_options`).
        """
        ...

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options in canonical form (they are part of the run id), or an error."""
        ...


@runtime_checkable
class MultiRunImporter(Importer, Protocol):
    """A format whose files can hold several runs (promptfoo: one per provider × prompt)."""

    def read_runs(
        self, path: Path, options: Mapping[str, Any]
    ) -> list[tuple[dict[str, Any], ImportedRun]]:
        """Every run of the file that ``options`` select, each with the options that select
        it alone, in canonical form (part of its run id); an error when none is selected."""
        ...


@runtime_checkable
class ReadsFolders(Protocol):
    """An importer whose path may stand for several files (a tool's output folder).

    Such an importer also has ``sources``: the files a path stands for, in a fixed order.
    The run id is derived from their names and bytes rather than from the path's bytes.
    """

    def sources(self, path: Path, options: Mapping[str, Any]) -> list[Path]:
        """The files ``path`` stands for (raise :class:`ImportFileError` when none)."""
        ...


#: The registered formats, by name.
FORMATS: dict[str, Importer] = {}


def register_importer(importer: Importer) -> Importer:
    """Add a format to :data:`FORMATS` (a later one of the same name replaces it)."""
    FORMATS[importer.name] = importer
    return importer


def get_importer(name: str) -> Importer:
    """The format called ``name``.

    Raises:
        InvalidInputError: naming the formats there are.
    """
    found = FORMATS.get(name)
    if found is None:
        raise InvalidInputError(
            f"unknown import format {name!r}; use one of: {', '.join(sorted(FORMATS))}"
        )
    return found


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What :func:`import_file` did."""

    run: RunInfo
    """The run the file is in."""
    created: bool
    """False when the file had been imported already (nothing was written)."""
    record_count: int
    """How many records (datapoint × epoch) were imported, or the run holds when it had
    been imported already."""


def import_run_id(
    format_name: str, options: Mapping[str, Any], project: str | None, content_hash: bytes
) -> str:
    """The run id of a file imported with these options into this project (None: the
    project the file names, else ``default``): 32 hex digits."""
    digest = hashlib.blake2b(digest_size=16, person=b"evalyard-import")
    digest.update(canonical_json([format_name, dict(options), project]).encode("utf-8"))
    digest.update(b"\0")
    digest.update(content_hash)
    return digest.hexdigest()


def file_hash(path: Path) -> bytes:
    """The BLAKE2b digest of a file's bytes, read in blocks."""
    digest = hashlib.blake2b()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def sources_hash(path: Path, files: list[Path]) -> bytes:
    """The content hash of what ``path`` stands for: a file's own :func:`file_hash`, else
    the BLAKE2b digest of each file's name and hash, in order (so a folder and the file
    that names the same files hash alike)."""
    if files == [path]:
        return file_hash(path)
    digest = hashlib.blake2b()
    for part in files:
        digest.update(canonical_json([part.name, file_hash(part).hex()]).encode("utf-8"))
        digest.update(b"\0")
    return digest.digest()


def _sources(importer: Importer, path: Path, options: Mapping[str, Any]) -> list[Path]:
    """The files an import of ``path`` reads."""
    if isinstance(importer, ReadsFolders):
        return importer.sources(path, options)
    if path.is_dir():
        raise ImportFileError(
            f"this is a folder; the {importer.name} format reads one file", path=str(path)
        )
    return [path]


@collector_paused()
def import_file(
    format_name: str,
    path: str | Path,
    *,
    name: str | None = None,
    project: str | None = None,
    dataset: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    store: Store | str | None = None,
    **options: Any,
) -> ImportOutcome:
    """Import a file as a run (see the module's description for the steps).

    Args:
        format_name: a key of :data:`FORMATS` (``jsonl``, ``csv``, ``parquet``, ...).
        path: the file (or, for a format that reads a tool's output folder, the folder).
        name: the run's name; by default the one the importer gives (the file's stem).
        project: the run's project; by default the file's, else ``default``.
        dataset: the run's dataset name.
        metadata: run metadata added to the importer's (the caller's keys win).
        store: a store, or a store URL.
        options: the format's options (a table's column mapping: ``id_column``, ...; the
            selection of a :class:`MultiRunImporter`: ``provider``, ``prompt``).

    A :class:`MultiRunImporter`'s file is read first, to find the one run the options
    select (then its id); use :func:`import_runs` for all of them.

    Raises:
        ImportFileError: naming the file, line and field of the first fault; nothing is
            written.
        InvalidInputError: when the options select several runs of the file (or none).
        RunNameTakenError: when the project has another run of that name.
    """
    importer = get_importer(format_name)
    source = Path(path)
    if not source.exists():
        raise ImportFileError("there is no such file", path=str(path))
    checked_options = importer.check_options(options)
    files = _sources(importer, source, checked_options)
    if project is not None:
        project = check_name(project, what="project name")
    target = get_store(store)
    content_hash = sources_hash(source, files)
    if isinstance(importer, MultiRunImporter):
        # The file is read to find its runs: the options may select one by a label.
        found = importer.read_runs(source, checked_options)
        if len(found) != 1:
            parts = ", ".join(repr(run.part or run.name) for _, run in found)
            raise InvalidInputError(
                f"{path} holds {len(found)} runs ({parts}); select one with the "
                f"{importer.name} options, or import them all with import_runs"
            )
        selection, imported = found[0]
        run_id = import_run_id(importer.name, selection, project, content_hash)
        done = _completed(target, run_id)
        if done is not None:
            return done
        batch = _checked_run(imported, str(path), run_id)
        return _write(
            importer, source, run_id, imported, batch, name, project, dataset, metadata, target
        )
    # The id is known before the file is read: a file imported already is not read again.
    run_id = import_run_id(importer.name, checked_options, project, content_hash)
    done = _completed(target, run_id)
    if done is not None:
        return done
    imported = importer.read(source, checked_options)
    batch = _checked_run(imported, str(path), run_id)
    return _write(
        importer, source, run_id, imported, batch, name, project, dataset, metadata, target
    )


@collector_paused()
def import_runs(
    format_name: str,
    path: str | Path,
    *,
    name: str | None = None,
    project: str | None = None,
    dataset: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    store: Store | str | None = None,
    **options: Any,
) -> list[ImportOutcome]:
    """Import every run a file holds: :func:`import_file` for a format of one run per
    file; for a :class:`MultiRunImporter`, each run its options select.

    Every run is checked before any is written, and a run imported already is left as it
    is (its outcome says ``created=False``). A ``name`` names the only run, or is the
    prefix of each (``NAME/PART``) when there are several.

    Raises:
        ImportFileError: naming the file, place and field of the first fault; nothing is
            written.
        RunNameTakenError: when the project has a run of one of the names; nothing is
            written.
    """
    importer = get_importer(format_name)
    if not isinstance(importer, MultiRunImporter):
        return [
            import_file(
                format_name,
                path,
                name=name,
                project=project,
                dataset=dataset,
                metadata=metadata,
                store=store,
                **options,
            )
        ]
    source = Path(path)
    if not source.is_file():
        raise ImportFileError("there is no such file", path=str(path))
    checked_options = importer.check_options(options)
    if project is not None:
        project = check_name(project, what="project name")
    target = get_store(store)
    content_hash = file_hash(source)
    found = importer.read_runs(source, checked_options)
    several = len(found) > 1
    outcomes: list[ImportOutcome | None] = []
    pending: list[tuple[int, str, ImportedRun, WriteBatch, str]] = []
    names: dict[tuple[str, str], str] = {}
    for selection, imported in found:
        run_id = import_run_id(importer.name, selection, project, content_hash)
        done = _completed(target, run_id)
        outcomes.append(done)
        if done is not None:
            continue
        batch = _checked_run(imported, str(path), run_id)
        run_name = imported.name
        if name is not None:
            run_name = f"{name}/{imported.part}" if several and imported.part else name
        run_name = check_name(run_name, what="run name")
        chosen_project = check_name(project or imported.project or "default", what="project name")
        _check_name_free(target, run_name, chosen_project, run_id, names)
        pending.append((len(outcomes) - 1, run_id, imported, batch, run_name))
    for position, run_id, imported, batch, run_name in pending:
        outcomes[position] = _write(
            importer, source, run_id, imported, batch, run_name, project, dataset, metadata, target
        )
    return [outcome for outcome in outcomes if outcome is not None]


def _completed(target: Store, run_id: str) -> ImportOutcome | None:
    """The outcome of a run imported already (a completed run of this id), else None."""
    existing = [info for info in target.find_runs(run_id) if info.run_id == run_id]
    if existing and existing[0].status is RunStatus.COMPLETED:
        return ImportOutcome(existing[0], False, existing[0].result_count)
    return None


def _check_name_free(
    target: Store, name: str, project: str, run_id: str, names: dict[tuple[str, str], str]
) -> None:
    """Refuse a name another run of the project has (in the store, or earlier in the
    file), before anything is written."""
    if names.setdefault((project, name), run_id) != run_id:
        raise InvalidInputError(
            f"two runs of the file would both be named {name!r}; give them other labels"
        )
    for info in target.find_runs(name, project=project):
        if info.name == name and info.project == project and info.run_id != run_id:
            raise RunNameTakenError(
                name,
                project=project,
                run_id=info.run_id,
                status=info.status.value,
                created_at=info.created_at,
                fix="give the import another --name",
            )


def _checked_run(imported: ImportedRun, path: str, run_id: str) -> WriteBatch:
    if not imported.records:
        raise ImportFileError("the file holds no results", path=path)
    return _checked_batch(imported.records, path, run_id)


def _write(
    importer: Importer,
    source: Path,
    run_id: str,
    imported: ImportedRun,
    batch: WriteBatch,
    name: str | None,
    project: str | None,
    dataset: str | None,
    metadata: Mapping[str, Any] | None,
    target: Store,
) -> ImportOutcome:
    """Create the run, write its checked batch in one go, and complete it."""
    chosen_project = check_name(project or imported.project or "default", what="project name")
    run_metadata = {
        **imported.metadata,
        "imported_from": {"format": importer.name, "file": source.name},
        **(metadata or {}),
    }
    run = start_run(
        name or imported.name,
        project=chosen_project,
        dataset=dataset or imported.dataset,
        metadata=run_metadata,
        run_id=run_id,
        store=target,
    )
    defined = target.metric_definitions(chosen_project) if imported.directions else {}
    for metric, direction in imported.directions.items():
        if metric not in defined:
            target.define_metric(chosen_project, MetricDefinition(metric, Direction(direction)))
    target.write_batch(run.run_id, batch)
    target.flush(run.run_id)
    info = run.finish("completed")
    return ImportOutcome(info, True, len(imported.records))


def _checked_batch(records: Iterable[ImportedRecord], path: str, run_id: str) -> WriteBatch:
    """Check and encode every record into one batch; the first fault is an error naming
    its place."""
    limit = max_field_bytes()
    prepared: list[PreparedRecord] = []
    places: list[str] = []
    seen: dict[tuple[str, int], str] = {}
    for record in records:
        try:
            item = prepare_record(
                record.datapoint_id,
                inputs=record.inputs,
                outputs=record.outputs,
                ground_truth=record.expected,
                metadata=record.metadata,
                metrics=record.metrics,
                steps=record.steps,
                error=record.error,
                epoch=record.epoch,
                duration_ms=record.duration_ms,
                limit=limit,
            )
        except InvalidInputError as exc:
            raise _refused(exc, path, record.location) from None
        key = (item.row.datapoint_id, item.row.epoch)
        first = seen.setdefault(key, record.location)
        if first != record.location:
            raise ImportFileError(
                f"datapoint {key[0]!r} epoch {key[1]} is there already at {first}; give each "
                "row its own id (an id column) or an epoch column",
                path=path,
                line=record.location,
                field="datapoint_id",
            )
        prepared.append(item)
        places.append(record.location)
    try:
        return build_batch(prepared)
    except MixedKindsError:
        conflict = first_kind_conflict(prepared, {}, run_id)
        assert conflict is not None
        position, error = conflict
        message = str(error).replace(f"but run {run_id!r} holds", "but earlier rows hold")
        raise ImportFileError(
            message, path=path, line=places[position], field=error.metric
        ) from None


def _refused(error: InvalidInputError, path: str, location: str) -> ImportFileError:
    if isinstance(error, InvalidMetricError):
        field_name: str | None = error.metric
    elif isinstance(error, InvalidRecordError):
        field_name = error.field
    else:
        field_name = None
    return ImportFileError(str(error), path=path, line=location, field=field_name)
