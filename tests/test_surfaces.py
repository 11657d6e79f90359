"""One comparison, every surface: the terminal table, Markdown, JSON, the web page and its
JSON twin state the same numbers and the same words.

The runs cover each way a metric reads: a pass/fail metric (a rate, in percentage points),
a score that regresses significantly, a latency where lower is better, a category without
direction, and a metric that does not move at all.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import evalyard
from evalyard.cli.main import cli
from evalyard.cli.text import markdown_escape
from evalyard.core.formats import format_aggregate, format_delta, format_p
from evalyard.core.report import MetricLine, comparison_report
from evalyard.core.stats import Verdict
from evalyard.core.words import verdict_word
from evalyard.server import create_app
from tests.server.conftest import serve


def _log(url: str) -> tuple[str, str]:
    evalyard.define_metric("latency_ms", direction="lower", store=url)
    with evalyard.start_run("baseline", dataset="qa", store=url) as old:
        for i in range(40):
            old.log(
                f"q{i}",
                outputs=f"answer {i}",
                metrics={
                    "passed": i % 3 != 0,
                    "score": 0.5 + (i % 5) / 10,
                    "latency_ms": 300 + (i * 7) % 50,
                    "label": "a" if i % 2 else "b",
                    "steady": 1.0,
                },
            )
    with evalyard.start_run("candidate", dataset="qa", store=url) as new:
        for i in range(40):
            new.log(
                f"q{i}",
                outputs=f"answer {i}!",
                metrics={
                    "passed": i % 4 != 0,
                    "score": 0.3 + (i % 5) / 10 + (i % 2) / 100,
                    "latency_ms": 200 + (i * 11) % 60,
                    "label": "a" if i % 3 else "b",
                    "steady": 1.0,
                },
            )
    return new.run_id, old.run_id


@pytest.fixture
def logged(tmp_path: Path) -> tuple[str, str, str]:
    url = f"sqlite:///{tmp_path / 'surfaces.db'}"
    new_id, old_id = _log(url)
    return url, new_id, old_id


class _Rows(HTMLParser):
    """The cells of each ``<tr data-metric>`` of the aggregated metrics table, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self._metric: str | None = None
        self._column: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-metric"):
            self._metric = found["data-metric"]
            self.rows[self._metric] = {}
        elif tag == "td" and self._metric is not None and found.get("data-col"):
            self._column = found["data-col"]
            self.rows[self._metric][self._column] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._column = None
        elif tag == "tr":
            self._metric = None

    def handle_data(self, data: str) -> None:
        if self._metric is not None and self._column is not None:
            self.rows[self._metric][self._column] += data


def _cells(line: MetricLine) -> list[str]:
    """What every text surface states for a metric, in the order the tables show it."""
    return [line.baseline, line.new, line.difference, line.interval, line.p_adjusted]


def _in_order(row: str, cells: list[str]) -> None:
    at = 0
    for cell in cells:
        found = row.find(cell, at)
        assert found >= 0, f"{cell!r} not in {row!r} after position {at}"
        at = found + len(cell)


def test_every_surface_states_the_same_numbers_and_words(logged: tuple[str, str, str]) -> None:
    url, new_id, old_id = logged
    comparison = evalyard.compare_runs(new_id, old_id, store=url)
    report = comparison_report(comparison)
    lines = {line.metric: line for line in report.lines}
    # The runs exercise each kind of line.
    assert comparison.metric_deltas["score"].verdict is Verdict.REGRESSED
    assert comparison.metric_deltas["latency_ms"].verdict is Verdict.IMPROVED
    assert comparison.metric_deltas["label"].verdict is None
    assert lines["passed"].baseline.endswith("%")
    assert lines["steady"].verdict.text == "= no change"

    runner = CliRunner()
    args = ["compare", new_id, "--with", old_id, "--store", url]
    table = runner.invoke(cli, args)
    markdown = runner.invoke(cli, [*args, "--format", "markdown"])
    as_json = runner.invoke(cli, [*args, "--format", "json"])
    assert table.exit_code == markdown.exit_code == as_json.exit_code == 0
    data = json.loads(as_json.stdout)

    with serve(create_app(url)) as base, httpx.Client(base_url=base) as client:
        page = client.get(f"/runs/{new_id}", params={"compare": old_id})
        twin = client.get(f"/api/v1/runs/{new_id}/comparison", params={"compare": old_id})
    assert page.status_code == twin.status_code == 200
    parsed = _Rows()
    parsed.feed(page.text)
    assert twin.json()["metric_deltas"] == data["metric_deltas"]
    assert report.verdicts in page.text
    assert report.verdicts in table.stdout
    assert markdown_escape(report.verdicts) in markdown.stdout

    for name, line in lines.items():
        # The terminal table: one row per metric, the report's cells in order.
        row = next(text for text in table.stdout.splitlines() if text.startswith(name + " "))
        _in_order(row, [*_cells(line), line.verdict.text])
        # Markdown: the same cells, in the same order.
        md_row = next(
            text
            for text in markdown.stdout.splitlines()
            if text.startswith(f"| {markdown_escape(name)} |")
        )
        _in_order(md_row, [*_cells(line), line.verdict.text])
        # The web page: each cell of the row.
        cells = parsed.rows[name]
        assert cells["old"].strip() == line.baseline
        assert cells["new"].strip() == line.new
        assert cells["delta"].strip().startswith(line.difference)
        assert cells["interval"].strip().startswith(line.interval)
        assert cells["p"].strip() == line.p_adjusted
        assert cells["verdict"].strip() == line.verdict.text
        # JSON: the exact values the words and numbers were written from.
        exact = data["metric_deltas"][name]
        kind, fn = exact["kind"], exact["aggregate_function"]
        assert format_aggregate(exact["old_aggregate"], kind=kind, aggregate_function=fn) == (
            line.baseline
        )
        assert format_aggregate(exact["new_aggregate"], kind=kind, aggregate_function=fn) == (
            line.new
        )
        scale = max(abs(exact["old_aggregate"] or 0), abs(exact["new_aggregate"] or 0))
        assert (
            format_delta(exact["delta"], kind=kind, aggregate_function=fn, reference=scale)
            == line.difference
        )
        assert format_p(exact["p_adjusted"]) == line.p_adjusted
        verdict = None if exact["verdict"] is None else Verdict(exact["verdict"])
        assert verdict_word(verdict, found_count=exact["found_count"]) == line.verdict
        assert data["verdicts"][name] == exact["verdict"]
