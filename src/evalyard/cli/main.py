"""The ``evalyard`` command line: list, show and compare runs; run the demo (docs/comparison.md §6).

Example:
    $ evalyard demo
    $ evalyard runs
    $ evalyard compare my-new-prompt --with baseline --fail-on regression

Commands are thin: they resolve the store, call the read side (:mod:`evalyard.runs`) and
print what a renderer (:mod:`evalyard.cli.render`) makes of it. Errors print one line,
``error: ...``, on stderr and exit with the code of :mod:`evalyard.cli.exit_codes`. The
commands that only read (``runs``, ``show``, ``compare``, ``export``, ``ui``) never create a store:
where there is none they say so and exit with 2.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from rich.console import Console, RenderableType

from evalyard.cli import leaderboards, render
from evalyard.cli.demo import run_demo
from evalyard.cli.exit_codes import CONDITION_HELD, FAIL_CONDITIONS, exit_code_for
from evalyard.cli.server import server
from evalyard.cli.sync import sync
from evalyard.cli.token import token
from evalyard.cli.transfer import export_command, import_command
from evalyard.cli.ui import ui
from evalyard.core.aggregate import AGGREGATE_FUNCTIONS
from evalyard.core.compare import RunComparisonResult
from evalyard.core.formats import format_interval, format_p, unit_of
from evalyard.core.model import RunInfo
from evalyard.errors import ComparisonWarning, EvalyardError
from evalyard.many import compare_many
from evalyard.runs import compare_runs, get_results, list_runs, resolve_run, summarise_run
from evalyard.store import Store, get_store
from evalyard.version import __version__

__all__ = ["cli", "main"]

_F = TypeVar("_F", bound=Callable[..., Any])

# Without a terminal (a pipe, a CI log) rich would assume 80 columns and fold the tables.
_PIPE_WIDTH = 200


class _Group(click.Group):
    """The command group; it turns errors into one ``error:`` line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            # The boundary: no traceback, one line that says what and where (docs/comparison.md §6).
            click.echo(f"error: {_one_line(exc)}", err=True)
            ctx.exit(exit_code_for(exc))


def _one_line(error: Exception) -> str:
    message = " ".join(str(error).splitlines()).strip()
    if isinstance(error, EvalyardError):
        return message or type(error).__name__
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _console() -> Console:
    width = None if sys.stdout.isatty() else _PIPE_WIDTH
    return Console(highlight=False, width=width)


def _print(renderable: RenderableType) -> None:
    _console().print(renderable)


def _format_option(*choices: str) -> Callable[[_F], _F]:
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


_latest_option = click.option(
    "--latest",
    is_flag=True,
    default=False,
    help="When a run name matches several runs (in several projects), take the newest.",
)

_store_option = click.option(
    "--store",
    "store_url",
    metavar="URL",
    default=None,
    help="Store URL (sqlite:///PATH, postgresql://...); "
    "default: EVALYARD_STORE, else .evalyard/evalyard.db here.",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evalyard")
def cli() -> None:
    """evalyard: track and compare runs of LLM applications.

    RUN is a run id, a run name, or a unique id prefix (6+ characters). A name used in
    several projects matches several runs: refer to one by its id, or pass --latest.
    Exit codes: 0 success, 1 the --fail-on condition held, 2 usage error or unknown run.
    """


@cli.command("runs")
@click.option("--project", default=None, help="Only the runs of this project.")
@_format_option("table", "json")
@_store_option
def runs_command(project: str | None, output_format: str, store_url: str | None) -> None:
    """List the runs, newest first."""
    found = list_runs(project=project, store=get_store(store_url, create=False))
    if output_format == "json":
        click.echo(render.runs_json(found))
    else:
        _print(render.runs_table(found))


@cli.command("show")
@click.argument("run")
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many datapoints' results to show.",
)
@_format_option("table", "json")
@_latest_option
@_store_option
def show_command(
    run: str, limit: int, output_format: str, latest: bool, store_url: str | None
) -> None:
    """Show a run: its facts, metrics per step, and first results."""
    store = get_store(store_url, create=False)
    summary = summarise_run(resolve_run(run, latest=latest, store=store), store=store)
    results = []
    if limit:
        ids = [datapoint_id for datapoint_id, _ in store.result_keys(summary.run.run_id)]
        shown = render.first_datapoints(list(dict.fromkeys(ids)), limit)
        results = get_results(summary.run, shown, store=store) if shown else []
    if output_format == "json":
        click.echo(render.summary_json(summary, results))
    else:
        _print(render.summary_table(summary, results))


@cli.command("compare")
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option(
    "--with", "baseline", required=True, metavar="BASELINE", help="The run to compare with."
)
@click.option(
    "--aggregate",
    metavar="FUNCTION",
    default="average",
    show_default=True,
    help=f"Aggregate function: {', '.join(AGGREGATE_FUNCTIONS)}.",
)
@click.option("--step", default=None, metavar="NAME", help="Compare the steps called NAME.")
@click.option(
    "--alpha",
    type=float,
    default=0.05,
    show_default=True,
    help="Significance level of the verdicts (intervals are 1 − alpha).",
)
@_format_option("table", "json", "markdown")
@click.option(
    "--fail-on",
    type=click.Choice(list(FAIL_CONDITIONS)),
    default=None,
    help="Exit with 1 when a metric regressed, or when any datapoint degraded.",
)
@_latest_option
@_store_option
@click.pass_context
def compare_command(
    ctx: click.Context,
    runs: tuple[str, ...],
    baseline: str,
    aggregate: str,
    step: str | None,
    alpha: float,
    output_format: str,
    fail_on: str | None,
    latest: bool,
    store_url: str | None,
) -> None:
    """Compare RUN with a baseline run, datapoint by datapoint, with paired statistics.

    With several RUNs, each is compared with the baseline and the runs are ranked per
    metric: a leaderboard per metric, with each run's verdict against the baseline,
    Holm-adjusted across the tests of all the runs.

    --fail-on regression exits 1 when a metric's verdict at the scope compared is
    "regressed" (significant after Holm's correction), for any RUN; --fail-on any-degraded
    when any shared datapoint got worse on any metric, for any RUN.
    """
    store = get_store(store_url, create=False)
    infos = [resolve_run(run, latest=latest, store=store) for run in runs]
    old_info = resolve_run(baseline, latest=latest, store=store)
    if len(infos) > 1:
        _compare_many(
            ctx,
            infos,
            baseline=old_info,
            aggregate=aggregate,
            step=step,
            alpha=alpha,
            output_format=output_format,
            fail_on=fail_on,
            store=store,
        )
        return
    new_info = infos[0]
    with warnings.catch_warnings():
        # The warnings go to stderr below, as one line each, not as Python warnings.
        warnings.simplefilter("ignore", ComparisonWarning)
        comparison = compare_runs(
            new_info, old_info, aggregate_function=aggregate, step=step, alpha=alpha, store=store
        )
    _emit(
        output_format,
        comparison.warnings,
        as_json=lambda: render.comparison_json(comparison),
        as_markdown=lambda: render.comparison_markdown(comparison),
        as_table=lambda width: render.comparison_table(comparison, width=width),
    )
    if fail_on is not None:
        details = _held(comparison, fail_on)
        if details:
            click.echo(f"--fail-on {fail_on} held for: {'; '.join(details)}", err=True)
            ctx.exit(CONDITION_HELD)


def _emit(
    output_format: str,
    warnings_: Sequence[str],
    *,
    as_json: Callable[[], str],
    as_markdown: Callable[[], str],
    as_table: Callable[[int], RenderableType],
) -> None:
    """Print a comparison's warnings on stderr, then the comparison in the format asked."""
    for warning in warnings_:
        click.echo(f"warning: {warning}", err=True)
    if output_format == "json":
        click.echo(as_json())
    elif output_format == "markdown":
        click.echo(as_markdown(), nl=False)
    else:
        console = _console()
        console.print(as_table(console.width))


def _held(comparison: RunComparisonResult, fail_on: str) -> list[str]:
    """The metrics that make ``--fail-on`` hold, each with the numbers behind it."""
    details = []
    for name in FAIL_CONDITIONS[fail_on](comparison):
        d = comparison.metric_deltas[name]
        interval = format_interval(
            d.mean_diff, d.ci_low, d.ci_high, kind=d.kind, unit=unit_of(name)
        )
        details.append(
            f"{name} (mean diff {interval}, p(Holm) {format_p(d.p_adjusted)})"
            if fail_on == "regression"
            else name
        )
    return details


def _compare_many(
    ctx: click.Context,
    runs: list[RunInfo],
    *,
    baseline: RunInfo,
    aggregate: str,
    step: str | None,
    alpha: float,
    output_format: str,
    fail_on: str | None,
    store: Store,
) -> None:
    """``evalyard compare`` with several runs: a leaderboard per metric."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ComparisonWarning)
        result = compare_many(
            runs,
            baseline=baseline,
            aggregate_function=aggregate,
            step=step,
            alpha=alpha,
            store=store,
        )
    _emit(
        output_format,
        result.warnings,
        as_json=lambda: leaderboards.leaderboards_json(result),
        as_markdown=lambda: leaderboards.leaderboards_markdown(result),
        as_table=lambda width: leaderboards.leaderboards_table(result, width=width),
    )
    if fail_on is not None:
        held = [
            f"{comparison.new_run.name if comparison.new_run else run_id}: {detail}"
            for run_id, comparison in result.comparisons.items()
            for detail in _held(comparison, fail_on)
        ]
        if held:
            click.echo(f"--fail-on {fail_on} held for: {'; '.join(held)}", err=True)
            ctx.exit(CONDITION_HELD)


@cli.command("demo")
@_store_option
@click.option(
    "--traced",
    is_flag=True,
    help="Trace the pipeline with OpenTelemetry spans, a small model against a larger one: "
    "per-step tokens, cost and latency (needs: pip install 'evalyard[otel]').",
)
def demo_command(store_url: str | None, traced: bool) -> None:
    """Log two runs of a small question-answering pipeline and compare them (offline)."""
    run_demo(_console(), store=get_store(store_url), store_option=store_url, traced=traced)


cli.add_command(ui)
cli.add_command(server)
cli.add_command(token)
cli.add_command(sync)
cli.add_command(import_command)
cli.add_command(export_command)


#: The conventional exit code of a command stopped by Ctrl-C (128 + SIGINT).
INTERRUPTED = 130


def main() -> None:
    """Run the ``evalyard`` command line (the console script)."""
    try:
        # Without standalone mode, click returns the exit code a command asked for.
        code = cli.main(prog_name="evalyard", standalone_mode=False)
        raise SystemExit(code if isinstance(code, int) else 0)
    except click.exceptions.Exit as done:
        raise SystemExit(done.exit_code) from None
    except click.ClickException as error:
        error.show()
        raise SystemExit(error.exit_code) from None
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        raise SystemExit(INTERRUPTED) from None
