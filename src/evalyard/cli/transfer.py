"""``evalyard import`` and ``evalyard export``: runs in and out of files (docs/import-export.md).

Example:
    $ evalyard import csv results.csv --id-column qid --metric-column accuracy
    imported 1,000 results from results.csv as run 'results' (3f2a9c1b...) in project 'default'
    $ evalyard import promptfoo results.json     # a run per provider × prompt
    $ evalyard import lm-eval out/pythia-160m      # lm_eval --log_samples output
    $ evalyard export results --format parquet --output results.parquet
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from evalyard.exports import EXPORT_FORMATS, export_run
from evalyard.importers import FORMATS, TableImporter, import_runs
from evalyard.runs import resolve_run
from evalyard.store import get_store

__all__ = ["export_command", "import_command"]

#: The options of the formats that take some (other than the tables' columns).
_FORMAT_OPTIONS = {"promptfoo": ("provider", "prompt"), "lm-eval": ("task",)}
#: The formats that take --rest (what becomes of the fields they do not map).
_TAKE_REST = {"lm-eval"}


@click.command("import")
@click.argument("format_name", metavar="FORMAT", type=click.Choice(sorted(FORMATS)))
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--name",
    default=None,
    help="The run's name; default: the file's (or the log's) name. For a file of several "
    "runs (promptfoo), the prefix of each: NAME/PROVIDER/PROMPT.",
)
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
    "--provider",
    default=None,
    metavar="LABEL",
    help="promptfoo: import the runs of this provider (its label or id) only.",
)
@click.option(
    "--prompt",
    default=None,
    metavar="LABEL",
    help="promptfoo: import the runs of this prompt (its label, text or id) only.",
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
    provider: str | None,
    prompt: str | None,
    store_url: str | None,
) -> None:
    """Import the results in PATH, a FORMAT file, as a run (or runs).

    FORMAT is a table (jsonl, csv, parquet; the column options map its columns) or a
    tool's log: inspect (an Inspect AI .eval or .json log; pip install 'evalyard[inspect]'),
    promptfoo (promptfoo eval -o FILE.json: a run per provider × prompt; --provider and
    --prompt import some), lm-eval (lm_eval --log_samples output: PATH is the --output_path
    folder, a results_*.json or one samples_*.jsonl; --task imports one task).

    The whole file is checked before anything is written: a malformed one names its line
    and field and imports nothing. Importing the same file again finds the run it made.
    """
    columns: dict[str, Any] = {
        "id_column": id_column,
        "input_column": input_column,
        "output_column": output_column,
        "expected_column": expected_column,
        "epoch_column": epoch_column,
        "metric_columns": list(metric_columns),
        "rest": rest,
    }
    if not isinstance(FORMATS[format_name], TableImporter):
        given = [key for key, value in columns.items() if value and key != "rest"]
        if format_name in _TAKE_REST and not given:
            columns = {"rest": rest}
        elif given or rest != "metadata":
            option = "--" + (given[0] if given else "rest").replace("_", "-").removesuffix("s")
            raise click.UsageError(
                f"{option} is an option of the table formats (jsonl, csv, parquet); "
                f"a {format_name} file says itself which field is what"
            )
        else:
            columns = {}
    selected: dict[str, Any] = {"provider": provider, "prompt": prompt, "task": task}
    takes = _FORMAT_OPTIONS.get(format_name, ())
    for key, value in selected.items():
        if value is not None and key not in takes:
            owner = next(fmt for fmt, keys in _FORMAT_OPTIONS.items() if key in keys)
            raise click.UsageError(f"--{key} is an option of the {owner} format")
    outcomes = import_runs(
        format_name,
        path,
        name=name,
        project=project,
        dataset=dataset,
        store=get_store(store_url),
        **columns,
        **{key: value for key, value in selected.items() if value is not None},
    )
    for outcome in outcomes:
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
