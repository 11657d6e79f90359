"""The Compare runs page and its JSON twin: several runs against one baseline, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser

import httpx
import pytest

import evalyard
from evalyard.core.many_report import many_report
from evalyard.server import create_app
from evalyard.store import open_store
from tests.server.conftest import serve


@dataclass(frozen=True)
class ManyRuns:
    base_url: str
    url: str
    baseline: str
    better: str
    worse: str


def log_three(url: str) -> tuple[str, str, str]:
    """A baseline and two runs of 30 datapoints: one clearly better, one clearly worse."""
    evalyard.define_metric("latency_ms", direction="lower", store=url)
    ids = []
    for name, shift in (("baseline", 0.0), ("better", 0.3), ("worse", -0.3)):
        with evalyard.start_run(name, dataset="qa", store=url) as run:
            for i in range(30):
                score = min(1.0, max(0.0, 0.5 + shift + ((i * 7) % 11 - 5) / 50))
                run.log(
                    f"q{i}",
                    outputs=f"{name} {i}",
                    metrics={"score": score, "latency_ms": 100 - shift * 50 + i, "ok": i % 3 != 0},
                    steps=[{"name": "retrieve", "metrics": {"hits": i % 4}}],
                )
        ids.append(run.run_id)
    return ids[0], ids[1], ids[2]


@pytest.fixture(scope="module")
def many_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManyRuns]:
    path = tmp_path_factory.mktemp("many") / "evalyard.db"
    url = f"sqlite:///{path}"
    baseline, better, worse = log_three(url)
    store = open_store(url)
    try:
        with serve(create_app(store)) as base:
            yield ManyRuns(base, url, baseline, better, worse)
    finally:
        store.close()


class _Cells(HTMLParser):
    """Text of each row of one table (by its class), keyed by the row's data attribute."""

    def __init__(self, table: str, key: str) -> None:
        super().__init__()
        self.table, self.key = table, key
        self.rows: dict[str, list[str]] = {}
        self.marks: dict[str, list[str]] = {}
        self._inside = False
        self._row: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and self.table in (found.get("class") or "").split():
            self._inside = True
        elif self._inside and tag == "tr" and found.get(self.key):
            self._row = found[self.key]
            self.rows[self._row] = []
            self.marks[self._row] = []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = []
            self.marks[self._row].append(found.get("data-mark") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self.rows[self._row].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._inside = False
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _params(runs: ManyRuns, **extra: str) -> list[tuple[str, str]]:
    pairs = [("baseline", runs.baseline), ("runs", runs.better), ("runs", runs.worse)]
    return pairs + list(extra.items())


def test_the_page_states_the_leaderboard_of_compare_many(many_runs: ManyRuns) -> None:
    with httpx.Client(base_url=many_runs.base_url) as client:
        page = client.get("/compare", params=_params(many_runs, metric="score"))
    assert page.status_code == 200
    expected = evalyard.compare_many(
        [many_runs.better, many_runs.worse], baseline=many_runs.baseline, store=many_runs.url
    )
    board = next(b for b in many_report(expected).boards if b.metric == "score")
    table = _Cells("leaderboard", "data-run-id")
    table.feed(page.text)
    # Ranked best first, each row the report's words and numbers.
    assert list(table.rows) == [line.standing.run_id for line in board.lines]
    assert next(iter(table.rows)) == many_runs.better
    for line in board.lines:
        row = table.rows[line.standing.run_id]
        assert row[0] == line.rank
        assert row[2] == line.aggregate
        assert row[4] == line.delta
        assert row[-1] == line.verdict.text
    assert table.rows[many_runs.better][-1] == "▲ improved"
    assert table.rows[many_runs.worse][-1] == "▼ regressed"
    assert many_report(expected).verdicts in page.text


def test_the_matrix_and_the_grid_mark_each_run(many_runs: ManyRuns) -> None:
    with httpx.Client(base_url=many_runs.base_url) as client:
        page = client.get("/compare", params=_params(many_runs, metric="score")).text
    matrix = _Cells("matrix", "data-run-id")
    matrix.feed(page)
    # The better run against the worse one, and the mirror cell.
    order = [many_runs.baseline, many_runs.better, many_runs.worse]
    assert matrix.rows[many_runs.better][1 + order.index(many_runs.worse)] == "▲ improved"
    assert matrix.rows[many_runs.worse][1 + order.index(many_runs.better)] == "▼ regressed"
    assert matrix.rows[many_runs.baseline][1] == "—"
    grid = _Cells("grid", "data-datapoint-id")
    grid.feed(page)
    assert list(grid.rows)[:3] == ["q0", "q1", "q2"]  # natural order: q2 before q10
    assert list(grid.rows).index("q2") < list(grid.rows).index("q10")
    for marks in grid.marks.values():
        # Columns: datapoint, baseline, better, worse; higher scores are better.
        assert marks[1:] in (["", "best", "worst"], ["worst", "best", ""], ["", "", ""])
    assert 'aria-label="Trend of score"' in page


def test_the_json_twin_is_the_comparison_with_the_pages_parts(many_runs: ManyRuns) -> None:
    with httpx.Client(base_url=many_runs.base_url) as client:
        body = client.get("/api/v1/compare", params=_params(many_runs, metric="score")).json()
        missing = client.get("/api/v1/compare", params={"baseline": many_runs.baseline})
        unknown = client.get("/compare", params={"baseline": "nope", "runs": many_runs.better})
    expected = evalyard.compare_many(
        [many_runs.better, many_runs.worse], baseline=many_runs.baseline, store=many_runs.url
    ).to_dict()
    assert body["leaderboards"] == expected["leaderboards"]
    assert body["metric"] == "score"
    assert body["matrix"]["run_ids"] == [many_runs.baseline, many_runs.better, many_runs.worse]
    assert body["grid"]["total"] == 30
    assert [p["selected"] for p in body["trend"]] == [True, True, True]
    assert missing.status_code == 422  # runs is a required parameter
    assert missing.json()["error"]["parameter"] == "runs"
    assert unknown.status_code == 404


def test_before_a_choice_the_page_offers_the_runs(many_runs: ManyRuns) -> None:
    with httpx.Client(base_url=many_runs.base_url) as client:
        page = client.get("/compare").text
    assert '<label for="runs">Runs</label>' in page
    assert '<label for="baseline">Baseline</label>' in page
    assert page.count(f'value="{many_runs.better}"') == 2  # in both selects
    assert 'class="data leaderboard"' not in page


def test_a_step_scopes_the_page_and_an_unknown_one_falls_back(many_runs: ManyRuns) -> None:
    with httpx.Client(base_url=many_runs.base_url) as client:
        step = client.get("/api/v1/compare", params=_params(many_runs, step="retrieve")).json()
        ghost = client.get("/compare", params=_params(many_runs, step="ghost")).text
    assert step["step"] == "retrieve"
    assert step["metric"] == "hits"
    assert "no step is named &#39;ghost&#39; here" in ghost
