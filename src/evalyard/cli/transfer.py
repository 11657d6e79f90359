"""``evalyard import`` and ``evalyard export``: runs in and out of files (docs/import-export.md).

Example:
    $ evalyard import csv results.csv --id-column qid --metric-column accuracy
    imported 1,000 results from results.csv as run 'results' (3f2a9c1b...) in project 'default'
    $ evalyard export results --format parquet --output results.parquet
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from evalyard.exports import EXPORT_FORMATS, export_run
from evalyard.importers import FORMATS, import_file
from evalyard.runs import resolve_run
from evalyard.store import get_store

__all__ = ["export_command", "import_command"]


@click.command("import")
@click.argument("format_name", metavar="FORMAT", type=click.Choice(sorted(FORMATS)))
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="The run's name; default: the file's name.")
@click.option("--project", default=None, help="The run's project; default: default.")
@click.option("--dataset", default=None, help="The name of the dataset the run is over.")
@click.option("--id-column", default=None, metavar="COLUMN", help="The datapoint ids.")
@click.option("--input-column", default=None, metavar="COLUMN", help="The inputs.")
@click.option("--output-column", default=None, metavar="COLUMN", help="The outputs.")
@click.option("--expected-column", default=None, metavar="COLUMN", help="The expected outputs.")
@click.option("--epoch-column", default=None, metavar="COLUMN", help="The epochs (from 0).")
@click.option(
    "--metric-column",
    "metric_columns",
    multiple=True,
    metavar="COLUMN",
    help="A metric column (repeatable), or PREFIX* for every column with that prefix; "
    "default: the metrics.NAME columns.",
)
@click.option(
    "--task",
    default=None,
    metavar="NAME",
    help="lm-eval: import this task of the run only; default: every task.",
)
@click.option(
    "--rest",
    type=click.Choice(["metadata", "ignore"]),
    default="metadata",
    show_default=True,
    help="What becomes of the columns not mapped (lm-eval: the document, arguments and raw "
    "responses): each datapoint's metadata, or nothing.",
)
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    default=None,
    help="Store URL; default: EVALYARD_STORE, else .evalyard/evalyard.db here.",
)
def import_command(
    format_name: str,
    path: Path,
    name: str | None,
    project: str | None,
    dataset: str | None,
    id_column: str | None,
    input_column: str | None,
    output_column: str | None,
    expected_column: str | None,
    epoch_column: str | None,
    metric_columns: tuple[str, ...],
    task: str | None,
    rest: str,
    store_url: str | None,
) -> None:
    """Import the results in PATH, a FORMAT file, as a run.

    The whole file is checked before anything is written: a malformed one names its line
    and field and imports nothing. Importing the same file again finds the run it made.
    For lm-eval, PATH is lm_eval's --output_path folder, a results_*.json or one
    samples_*.jsonl.
    """
    given: dict[str, Any] = {
        "id_column": id_column,
        "input_column": input_column,
        "output_column": output_column,
        "expected_column": expected_column,
        "epoch_column": epoch_column,
        "metric_columns": list(metric_columns) or None,
        "task": task,
    }
    # Only the options given: each format refuses the options it does not take.
    options = {key: value for key, value in given.items() if value is not None}
    outcome = import_file(
        format_name,
        path,
        name=name,
        project=project,
        dataset=dataset,
        store=get_store(store_url),
        rest=rest,
        **options,
    )
    run = outcome.run
    where = f"run {run.name!r} ({run.run_id[:8]}) in project {run.project!r}"
    if outcome.created:
        click.echo(f"imported {outcome.record_count:,} results from {path} as {where}")
    else:
        click.echo(f"{path} is imported already: {where}; nothing was written")


@click.command("export")
@click.argument("run")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(EXPORT_FORMATS),
    default="jsonl",
    show_default=True,
    help="The file format.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The file to write; default: stdout (jsonl and csv).",
)
@click.option(
    "--latest",
    is_flag=True,
    default=False,
    help="When a run name matches several runs (in several projects), take the newest.",
)
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    default=None,
    help="Store URL; default: EVALYARD_STORE, else .evalyard/evalyard.db here.",
)
def export_command(
    run: str, output_format: str, output: Path | None, latest: bool, store_url: str | None
) -> None:
    """Write RUN's results, one row per datapoint and epoch, as JSONL, CSV or Parquet."""
    store = get_store(store_url, create=False)
    info = resolve_run(run, latest=latest, store=store)
    if output is None and output_format == "parquet":
        raise click.UsageError("a Parquet export needs a file: give --output PATH")
    count = export_run(info, output_format, output, store=store)
    if output is not None:
        click.echo(f"exported {count:,} results of run {info.name!r} to {output}", err=True)
