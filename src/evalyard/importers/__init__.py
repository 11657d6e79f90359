"""Importing results from other tools and files as runs (docs/import-export.md).

Example:
    >>> from evalyard.importers import import_file
    >>> outcome = import_file("csv", "results.csv", id_column="qid")  # doctest: +SKIP

Each format is an :class:`Importer` registered in :data:`FORMATS`; :func:`import_file`
checks the whole file before writing anything, and a file imported twice is found by its
run id (derived from the file's bytes) and not written again.
"""

from __future__ import annotations

from evalyard.importers.base import (
    FORMATS,
    ImportedRecord,
    ImportedRun,
    Importer,
    ImportOutcome,
    get_importer,
    import_file,
    import_run_id,
    register_importer,
)
from evalyard.importers.lmeval import LmEvalImporter
from evalyard.importers.table import TableImporter, TableMapping

__all__ = [
    "FORMATS",
    "ImportOutcome",
    "ImportedRecord",
    "ImportedRun",
    "Importer",
    "LmEvalImporter",
    "TableImporter",
    "TableMapping",
    "get_importer",
    "import_file",
    "import_run_id",
    "register_importer",
]
