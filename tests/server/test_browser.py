"""The UI in a real browser (Debian's chromium through Playwright), used as a person would:
the seed page's "How to Compare Runs", step by step, and stored XSS payloads that must
render as text and run nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

import evalyard
from evalyard.core.formats import format_aggregate
from evalyard.server import create_app
from evalyard.store import open_store
from tests.server.conftest import XSS_PAYLOADS, Served, serve
from tests.server.test_many_page import log_three

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not at /usr/bin/chromium (apt-get install chromium)",
    ),
]

if CHROMIUM.exists():
    from playwright.sync_api import Browser, Page, expect, sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


class Watched:
    """A page, and what went wrong on it: script errors, console errors, dialogs."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(getattr(dialog, "message", "?"))
        dialog.dismiss()  # type: ignore[attr-defined]


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    found = Watched(page)
    yield found
    context.close()
    assert found.errors == []
    assert found.dialogs == []


def _row_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("tr[data-datapoint-id]").evaluate_all(
        "rows => rows.map(row => row.dataset.datapointId)"
    )
    return ids


def test_compare_two_runs_as_the_seed_page_says(watched: Watched, served_sqlite: Served) -> None:
    page, runs, store = watched.page, served_sqlite.runs, served_sqlite.store
    base = served_sqlite.base_url

    # Go to Experiments in the sidebar.
    page.goto(base + "/datasets")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Experiments").click()
    expect(page).to_have_url(re.compile(r"/experiments$"))

    # Select an experiment run to view its details.
    page.get_by_role("link", name="candidate", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("candidate")
    expect(page.locator("#datapoints tr[data-datapoint-id]")).to_have_count(50)

    # Click Compared with and select another run; the view updates to the comparison.
    with page.expect_navigation():
        page.get_by_label("Compared with", exact=True).select_option(runs.baseline)
    assert f"compare={runs.baseline}" in page.url
    expect(page.get_by_role("heading", level=1)).to_contain_text("compared with")

    # The aggregated numbers are those of compare_runs, shown and exact.
    expected = evalyard.compare_runs(runs.candidate, runs.baseline, store=store)
    for name, delta in expected.metric_deltas.items():
        row = page.locator(f'tr[data-metric="{name}"]')
        for column, value in (("old", delta.old_aggregate), ("new", delta.new_aggregate)):
            cell = row.locator(f'td[data-col="{column}"] .num')
            text = format_aggregate(value, kind=delta.kind, aggregate_function="average")
            expect(cell).to_have_text(text)
            if value is not None:
                assert cell.get_attribute("data-value") == repr(value)
        for column, number in (
            ("improved", delta.improved_count),
            ("regressed", delta.degraded_count),
            ("unchanged", delta.same_count),
        ):
            link = row.locator(f'td[data-col="{column}"] a[data-count]')
            assert link.get_attribute("data-count") == str(number)
    expect(page.get_by_role("img", name="Distribution of accuracy")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "comparison.png"), full_page=True)

    # Filter Regressed for a metric: the rows are exactly the degraded ids.
    with page.expect_navigation():
        page.get_by_label("Metric", exact=True).select_option("accuracy")
    with page.expect_navigation():
        page.get_by_label("Show", exact=True).select_option(label="Regressed")
    degraded = expected.metric_deltas["accuracy"].degraded
    assert degraded
    assert _row_ids(page) == degraded
    expect(page.locator("#datapoints .status-regressed").first).to_have_text("▼ regressed")

    # Toggle Diff: both outputs, with the differences highlighted.
    with page.expect_navigation():
        page.get_by_label("Diff", exact=True).check()
    assert "diff=1" in page.url
    assert _row_ids(page) == degraded
    expect(page.locator("#datapoints td.output.new ins").first).to_be_visible()
    expect(page.locator("#datapoints td.output.old del").first).to_be_visible()

    # Switch Viewing event to a step: that step's metrics.
    with page.expect_navigation():
        page.get_by_label("Viewing event", exact=True).select_option(label="retrieve")
    at_step = evalyard.compare_runs(runs.candidate, runs.baseline, step="retrieve", store=store)
    expect(page.locator("tr[data-metric]")).to_have_count(len(at_step.metric_deltas))
    for name, delta in at_step.metric_deltas.items():
        cell = page.locator(f'tr[data-metric="{name}"] td[data-col="new"] .num')
        assert cell.get_attribute("data-value") == repr(delta.new_aggregate)
    expect(page.locator('tr[data-metric="accuracy"]')).to_have_count(0)
    expect(page.locator("#datapoints td.output.new").first).to_contain_text("doc-")

    # The back button goes back to the session level, filters and all.
    page.go_back()
    expect(page.get_by_label("Viewing event", exact=True)).to_have_value("")
    assert _row_ids(page) == degraded

    # A row opens the datapoint: both outputs, both traces side by side.
    page.locator("#datapoints tr[data-datapoint-id] td.id a").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(degraded[0])
    expect(page.locator(".trace-row[data-step='retrieve'] .trace-cell")).to_have_count(2)
    expect(page.locator("pre.value.diff ins").first).to_be_visible()


def test_the_controls_work_without_javascript(browser: Browser, served_sqlite: Served) -> None:
    runs, store = served_sqlite.runs, served_sqlite.store
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{served_sqlite.base_url}/runs/{runs.candidate}")
        page.get_by_label("Compared with", exact=True).select_option(runs.baseline)
        settings = page.get_by_role("form", name="Comparison settings")
        with page.expect_navigation():
            settings.get_by_role("button", name="Apply").click()
        assert f"compare={runs.baseline}" in page.url
        page.get_by_label("Metric", exact=True).select_option("score")
        page.get_by_label("Show", exact=True).select_option("improved")
        filters = page.get_by_role("form", name="Datapoint filters")
        with page.expect_navigation():
            filters.get_by_role("button", name="Apply").click()
        expected = evalyard.compare_runs(runs.candidate, runs.baseline, store=store)
        assert _row_ids(page) == expected.metric_deltas["score"].improved[:50]
    finally:
        context.close()


def test_stored_payloads_render_as_text_and_run_nothing(
    watched: Watched, payload_server: tuple[str, dict[str, str]]
) -> None:
    page = watched.page
    base, ids = payload_server
    script, img, svg = XSS_PAYLOADS
    new, old = ids["candidate"], ids["baseline"]
    step = quote(f"step {img}")
    datapoint = quote(f"dp-1 {svg}", safe="")
    visits = {
        "/experiments": [script, img, svg],
        "/datasets": [svg],
        f"/runs/{new}": [img, svg, script],
        f"/runs/{new}?compare={old}&diff=1": [script, img, svg],
        f"/runs/{new}?compare={old}&step={step}": [svg],
        f"/runs/{new}/datapoints/{datapoint}?compare={old}": [script, img, svg],
    }
    for path, texts in visits.items():
        page.goto(base + path)
        page.wait_for_load_state("load")
        page.wait_for_timeout(150)  # let an injected onerror or onload fire, if any
        for text in texts:
            expect(page.get_by_text(text).filter(visible=True).first).to_be_visible()
        assert page.locator("img").count() == 0, path
        assert page.locator("script:not([src])").count() == 0, path
        assert page.locator("svg[onload]").count() == 0, path
        assert watched.dialogs == [], path


def test_compare_several_runs_with_a_baseline(watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    url = f"sqlite:///{tmp_path / 'many.db'}"
    baseline, better, worse = log_three(url)
    store = open_store(url)
    try:
        with serve(create_app(store)) as base:
            page.goto(base + "/experiments")
            page.get_by_role("navigation", name="Main").get_by_role(
                "link", name="Compare runs"
            ).click()
            expect(page).to_have_url(re.compile(r"/compare$"))

            # Pick two runs in Runs, the baseline in Baseline, and compare.
            page.get_by_label("Runs", exact=True).select_option([better, worse])
            page.get_by_label("Baseline", exact=True).select_option(baseline)
            with page.expect_navigation():
                page.get_by_role("button", name="Compare").click()
            assert f"baseline={baseline}" in page.url

            # The leaderboard ranks the better run first; the verdicts are the family's.
            leaders = page.locator("table.leaderboard tbody tr")
            expect(leaders).to_have_count(3)
            expect(leaders.first).to_have_attribute("data-run-id", better)
            expected = evalyard.compare_many([better, worse], baseline=baseline, store=url)
            board = expected.get_leaderboard("latency_ms")
            assert next(s.run_id for s in board.standings) == better
            # Choose the metric: the page follows it (and the URL records it).
            with page.expect_navigation():
                page.get_by_label("Metric", exact=True).select_option("score")
            assert "metric=score" in page.url
            expect(
                page.locator(f'table.leaderboard tr[data-run-id="{better}"] [data-col="verdict"]')
            ).to_have_text("▲ improved")
            expect(
                page.locator(f'table.leaderboard tr[data-run-id="{worse}"] [data-col="verdict"]')
            ).to_have_text("▼ regressed")
            # The matrix: each run against each other (columns in the order of the rows).
            order = page.locator("table.matrix tbody tr").evaluate_all(
                "rows => rows.map(row => row.dataset.runId)"
            )
            assert order[0] == baseline
            cells = page.locator(f'table.matrix tr[data-run-id="{better}"] td')
            expect(cells.nth(order.index(worse))).to_have_text("▲ improved")
            expect(cells.nth(order.index(better))).to_have_text("—")
            # The trend chart and the grid, with the best and worst run of each datapoint.
            expect(page.get_by_role("img", name="Trend of score")).to_be_visible()
            rows = page.locator("table.grid tr[data-datapoint-id]")
            expect(rows).to_have_count(30)
            best = page.locator(f'table.grid td[data-mark="best"][data-run-id="{better}"]')
            assert best.count() > 0
            worst = page.locator(f'table.grid td[data-mark="worst"][data-run-id="{worse}"]')
            assert worst.count() > 0
            expect(best.first.locator(".mark")).to_contain_text("best")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "compare-runs.png"), full_page=True)

            # A datapoint opens in the first run, compared with the baseline.
            rows.first.locator("th a").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("q0")
            assert f"compare={baseline}" in page.url
    finally:
        store.close()
