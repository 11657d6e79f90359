"""Importing results from other tools and files as runs (docs/import-export.md).

Example:
    >>> from evalyard.importers import import_file
    >>> outcome = import_file("csv", "results.csv", id_column="qid")  # doctest: +SKIP

Each format is an :class:`Importer` registered in :data:`FORMATS`; :func:`import_file`
checks the whole file before writing anything, and a file imported twice is found by its
run id (derived from the file's bytes) and not written again. A file of several runs (a
promptfoo file: one per provider × prompt) is imported whole with :func:`import_runs`.
"""

from __future__ import annotations

from evalyard.importers.base import (
    FORMATS,
    ImportedRecord,
    ImportedRun,
    Importer,
    ImportOutcome,
    MultiRunImporter,
    get_importer,
    import_file,
    import_run_id,
    import_runs,
    register_importer,
)
from evalyard.importers.inspect import InspectImporter
from evalyard.importers.lmeval import LmEvalImporter
from evalyard.importers.promptfoo import PromptfooImporter
from evalyard.importers.table import TableImporter, TableMapping

__all__ = [
    "FORMATS",
    "ImportOutcome",
    "ImportedRecord",
    "ImportedRun",
    "Importer",
    "InspectImporter",
    "LmEvalImporter",
    "MultiRunImporter",
    "PromptfooImporter",
    "TableImporter",
    "TableMapping",
    "get_importer",
    "import_file",
    "import_run_id",
    "import_runs",
    "register_importer",
]
