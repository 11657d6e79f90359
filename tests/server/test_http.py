"""The pages over real HTTP (uvicorn on loopback), on SQLite and PostgreSQL: the numbers
equal ``compare_runs``, filters list exactly its ids, parameters are checked, and the
security headers are there."""

from __future__ import annotations

import html
import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

import evalyard
from evalyard.server import create_app
from evalyard.server.app import CONTENT_SECURITY_POLICY
from evalyard.store import open_store
from tests.server.conftest import Served, serve

_ROW_IDS = re.compile(r'<tr data-datapoint-id="([^"]*)"')


def row_ids(page: str) -> list[str]:
    """The ``data-datapoint-id`` of each row of a page, unescaped."""
    return [html.unescape(found) for found in _ROW_IDS.findall(page)]


def all_row_ids(client: httpx.Client, url: str) -> list[str]:
    """The row ids of every page of a table, walking ``page=`` until the last."""
    ids: list[str] = []
    page = 1
    while True:
        response = client.get(f"{url}&page={page}")
        assert response.status_code == 200, response.text
        found = row_ids(response.text)
        ids.extend(found)
        if f"Page {page:,} of {page:,}" in response.text or "Next ›</a>" not in response.text:
            return ids
        page += 1


def metric_row(page: str, metric: str) -> str:
    start = page.index(f'<tr data-metric="{html.escape(metric)}">')
    return page[start : page.index("</tr>", start)]


def data_value(cell_html: str, column: str) -> str | None:
    match = re.search(
        rf'data-col="{column}"><span class="num[^"]*" data-value="([^"]*)"', cell_html
    )
    return None if match is None else match.group(1)


def count(cell_html: str, column: str) -> int:
    match = re.search(rf'data-col="{column}"><a [^>]*data-count="(\d+)"', cell_html)
    assert match is not None, cell_html
    return int(match.group(1))


def test_home_redirects_to_experiments(served: Served) -> None:
    with served.client() as client:
        response = client.get("/", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/experiments"


def test_every_response_carries_the_security_headers(served: Served) -> None:
    runs = served.runs
    paths = [
        "/experiments",
        "/datasets",
        f"/runs/{runs.candidate}",
        f"/runs/{runs.candidate}?compare={runs.baseline}",
        f"/runs/{runs.candidate}/datapoints/q001?compare={runs.baseline}",
        "/static/app.css",
        "/api/v1/runs",
        "/no-such-page",
    ]
    with served.client() as client:
        for path in paths:
            response = client.get(path)
            assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert "server-timing" in response.headers


def test_pages_have_no_inline_script_or_style(served: Served) -> None:
    runs = served.runs
    with served.client() as client:
        page = client.get(f"/runs/{runs.candidate}?compare={runs.baseline}&diff=1").text
    assert "<script>" not in page
    assert "<style" not in page
    assert " style=" not in page
    assert " on" + "click=" not in page
    assert '<script src="/static/app.js' in page


def test_a_host_outside_the_allow_list_gets_400(served: Served) -> None:
    with served.client() as client:
        refused = client.get("/experiments", headers={"host": "attacker.example"})
        accepted = client.get("/experiments", headers={"host": "localhost:8000"})
    assert refused.status_code == 400
    assert "--allow-host" in refused.text
    assert accepted.status_code == 200


def test_an_allowed_host_can_be_added(served: Served) -> None:
    app = create_app(served.store, allowed_hosts=["evalyard.test"])
    with serve(app) as base, httpx.Client(base_url=base) as client:
        assert client.get("/experiments", headers={"host": "evalyard.test"}).status_code == 200
        assert client.get("/experiments").status_code == 400


def test_experiments_lists_runs_with_counts_and_key_aggregates(served: Served) -> None:
    with served.client() as client:
        page = client.get("/experiments").text
        only_side = client.get("/experiments?project=side").text
        on_dataset = client.get("/experiments?dataset=other").text
    for name in ("baseline", "candidate", "unrelated", "elsewhere"):
        assert f">{name}</a>" in page
    assert "accuracy <span" in page  # a key aggregate column
    assert "qa-v1" in page
    assert "completed" in page
    assert ">elsewhere</a>" in only_side
    assert ">baseline</a>" not in only_side
    assert ">unrelated</a>" in on_dataset
    assert ">baseline</a>" not in on_dataset


def test_an_empty_store_says_to_run_the_demo(tmp_path: object) -> None:
    store = open_store(f"sqlite:///{tmp_path}/empty.db")
    try:
        with serve(create_app(store)) as base, httpx.Client(base_url=base) as client:
            page = client.get("/experiments").text
            datasets = client.get("/datasets").text
    finally:
        store.close()
    assert "No runs yet" in page
    assert "evalyard demo" in page
    assert "No datasets yet" in datasets


def test_datasets_lists_datasets_with_run_counts(served: Served) -> None:
    with served.client() as client:
        page = client.get("/datasets").text
    assert ">qa-v1</a>" in page
    assert ">other</a>" in page
    row = page[page.index(">qa-v1</a>") :]
    assert '<td class="num">3</td>' in row[: row.index("</tr>")]


def test_aggregated_numbers_equal_compare_runs(served: Served) -> None:
    runs = served.runs
    expected = evalyard.compare_runs(runs.candidate, runs.baseline, store=served.store)
    with served.client() as client:
        page = client.get(f"/runs/{runs.candidate}?compare={runs.baseline}").text
    assert expected.metric_deltas
    for name, delta in expected.metric_deltas.items():
        row = metric_row(page, name)
        for column, value in (
            ("old", delta.old_aggregate),
            ("new", delta.new_aggregate),
            ("delta", delta.delta),
        ):
            assert data_value(row, column) == (None if value is None else repr(value)), (
                name,
                column,
            )
        assert count(row, "improved") == delta.improved_count
        assert count(row, "regressed") == delta.degraded_count
        assert count(row, "unchanged") == delta.same_count
    assert (
        f'>{len(expected.common_datapoints)}</span><span class="stat-label">datapoints shared'
        in page
    )


@pytest.mark.parametrize("aggregate", ["median", "p90", "sum"])
def test_the_aggregate_select_changes_the_aggregates(served: Served, aggregate: str) -> None:
    runs = served.runs
    expected = evalyard.compare_runs(
        runs.candidate, runs.baseline, aggregate_function=aggregate, store=served.store
    )
    with served.client() as client:
        page = client.get(
            f"/runs/{runs.candidate}?compare={runs.baseline}&aggregate={aggregate}"
        ).text
    delta = expected.metric_deltas["score"]
    assert data_value(metric_row(page, "score"), "new") == repr(delta.new_aggregate)
    assert f'<option value="{aggregate}" selected>' in page


@pytest.mark.parametrize(
    ("show", "attribute"),
    [("improved", "improved"), ("regressed", "degraded"), ("unchanged", "same")],
)
@pytest.mark.parametrize("metric", ["accuracy", "score", "latency_ms"])
def test_a_filter_lists_exactly_the_ids_of_compare_runs(
    served: Served, metric: str, show: str, attribute: str
) -> None:
    runs = served.runs
    expected = evalyard.compare_runs(runs.candidate, runs.baseline, store=served.store)
    wanted = getattr(expected.metric_deltas[metric], attribute)
    with served.client() as client:
        ids = all_row_ids(
            client, f"/runs/{runs.candidate}?compare={runs.baseline}&metric={metric}&show={show}"
        )
    assert ids == wanted


def test_only_in_one_run_filters(served: Served) -> None:
    runs = served.runs
    base = f"/runs/{runs.candidate}?compare={runs.baseline}"
    with served.client() as client:
        assert row_ids(client.get(base + "&show=new_only").text) == ["new-only"]
        assert row_ids(client.get(base + "&show=old_only").text) == ["old-only"]
        every = all_row_ids(client, base + "&show=all")
    assert every == sorted(every)
    assert len(every) == 62


def test_the_table_is_paginated_at_50_rows_and_a_deep_page_shows_the_last(served: Served) -> None:
    runs = served.runs
    base = f"/runs/{runs.candidate}?compare={runs.baseline}"
    with served.client() as client:
        first = row_ids(client.get(base).text)
        second = row_ids(client.get(base + "&page=2").text)
        deep = client.get(base + "&page=9999")
    assert len(first) == 50
    assert len(second) == 12
    assert deep.status_code == 200
    assert row_ids(deep.text) == second


@pytest.mark.parametrize("sort", ["delta", "-delta", "value", "-value", "baseline", "-id"])
def test_sorting_orders_rows_by_the_metric(served: Served, sort: str) -> None:
    runs = served.runs
    store = served.store
    new = store.load_scope(runs.candidate)
    old = store.load_scope(runs.baseline)
    with served.client() as client:
        ids = all_row_ids(
            client,
            f"/runs/{runs.candidate}?compare={runs.baseline}&metric=score&show=all&sort={sort}",
        )
    assert sorted(ids) == sorted(set(new.ids) | set(old.ids))

    def value(ids_: list[str], values: object, datapoint_id: str) -> float:
        import numpy as np

        if datapoint_id not in ids_:
            return float("nan")
        return float(np.asarray(values)[ids_.index(datapoint_id)])

    key = sort.lstrip("-")
    if key == "id":
        assert ids == sorted(ids, reverse=True)
        return
    new_score, old_score = new.columns["score"].values, old.columns["score"].values
    keys = []
    for i in ids:
        a, b = value(new.ids, new_score, i), value(old.ids, old_score, i)
        keys.append({"delta": a - b, "value": a, "baseline": b}[key])
    present = [k for k in keys if k == k]
    assert present == sorted(present, reverse=sort.startswith("-"))
    assert all(k != k for k in keys[len(present) :])  # missing values last


def test_the_step_view_scopes_the_comparison_to_that_step(served: Served) -> None:
    runs = served.runs
    expected = evalyard.compare_runs(
        runs.candidate, runs.baseline, step="retrieve", store=served.store
    )
    with served.client() as client:
        page = client.get(f"/runs/{runs.candidate}?compare={runs.baseline}&step=retrieve").text
        regressed = all_row_ids(
            client,
            f"/runs/{runs.candidate}?compare={runs.baseline}&step=retrieve&metric=hits&show=regressed",
        )
    assert set(expected.metric_deltas) == {"hits", "recall"}
    for name, delta in expected.metric_deltas.items():
        assert data_value(metric_row(page, name), "new") == repr(delta.new_aggregate)
    assert '<tr data-metric="accuracy">' not in page
    assert regressed == expected.metric_deltas["hits"].degraded
    assert '<option value="retrieve" selected>retrieve</option>' in page


def test_compared_with_lists_only_runs_sharing_datapoints(served: Served) -> None:
    runs = served.runs
    with served.client() as client:
        page = client.get(f"/runs/{runs.candidate}").text
    select = page[
        page.index('<select id="compare"') : page.index("</select>", page.index('id="compare"'))
    ]
    assert f'value="{runs.baseline}"' in select
    assert "61 shared" not in select
    assert "60 shared" in select
    assert runs.unrelated not in select  # shares nothing
    assert runs.other_project not in select  # another project
    assert "Compared with</label>" in page


def test_a_run_page_shows_header_metadata_aggregates_and_its_table(served: Served) -> None:
    runs = served.runs
    with served.client() as client:
        page = client.get(f"/runs/{runs.candidate}?metric=score&sort=-value").text
    assert "<h1>candidate</h1>" in page
    assert runs.candidate in page
    assert "small-2" in page  # metadata
    assert '<tr data-metric="accuracy">' in page
    ids = row_ids(page)
    assert len(ids) == 50
    table = page[page.index('id="datapoints"') :]
    values = [
        float(v)
        for v in re.findall(r'<td class="num"><span class="num " data-value="([^"]+)"', table)
    ]
    assert values == sorted(values, reverse=True)


def test_the_datapoint_page_shows_both_outputs_with_a_diff_and_both_traces(served: Served) -> None:
    runs = served.runs
    with served.client() as client:
        page = client.get(f"/runs/{runs.candidate}/datapoints/q004?compare={runs.baseline}").text
        alone = client.get(f"/runs/{runs.candidate}/datapoints/q004").text
    assert "<del>8 because</del>" in page
    assert "<ins>9 since</ins>" in page
    assert page.count('data-step="retrieve"') == 1
    assert 'data-step="format"' in page
    assert "What is 4 plus 4?" in page  # inputs
    assert '<tr data-metric="accuracy">' in page
    assert "▼ regressed" in page
    assert "<del>" not in alone


def test_diff_mode_highlights_changes_in_the_table(served: Served) -> None:
    runs = served.runs
    with served.client() as client:
        page = client.get(f"/runs/{runs.candidate}?compare={runs.baseline}&diff=1").text
        plain = client.get(f"/runs/{runs.candidate}?compare={runs.baseline}").text
    assert page.count("<ins>") >= 10
    assert page.count("<del>") >= 10
    assert "<ins>" not in plain


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("aggregate=mean", "aggregate"),
        ("show=everything", "show"),
        ("sort=id%3B%20DROP%20TABLE%20runs", "sort"),
        ("sort=value%20desc", "sort"),
        ("page=0", "page"),
        ("page=1e3", "page"),
        ("diff=yes", "diff"),
        ("metric=" + "m" * 300, "metric"),
    ],
)
def test_a_parameter_outside_its_allow_list_gets_400_naming_it(
    served: Served, query: str, parameter: str
) -> None:
    runs = served.runs
    with served.client() as client:
        page = client.get(f"/runs/{runs.candidate}?compare={runs.baseline}&{query}")
        api = client.get(
            f"/api/v1/runs/{runs.candidate}/comparison?compare={runs.baseline}&{query}"
        )
    assert page.status_code == 400
    assert f"query parameter {parameter}=" in html.unescape(page.text)
    # The API checks its parameters against their documented schemas: 422, naming it.
    assert api.status_code == 422
    assert api.json()["error"]["parameter"] == parameter
    assert api.json()["error"]["message"].startswith(f"query parameter {parameter}=")


@pytest.mark.parametrize(
    "payload",
    ["' OR '1'='1", "x'; DROP TABLE runs; --", "retrieve' --", "%' OR 1=1 --"],
)
def test_sql_injection_in_free_parameters_is_matched_literally(
    served: Served, payload: str
) -> None:
    runs = served.runs
    q = quote(payload)
    with served.client() as client:
        step = client.get(f"/runs/{runs.candidate}?compare={runs.baseline}&step={q}")
        metric = client.get(f"/runs/{runs.candidate}?compare={runs.baseline}&metric={q}")
        compare = client.get(f"/runs/{runs.candidate}?compare={q}")
        project = client.get(f"/experiments?project={q}")
        run = client.get(f"/runs/{q}")
        dp = client.get(f"/runs/{runs.candidate}/datapoints/{q}")
    assert step.status_code == 200
    assert "no step is named" in html.unescape(step.text)
    assert metric.status_code == 200
    assert "is not recorded" in html.unescape(metric.text)
    assert compare.status_code == 404
    assert project.status_code == 200
    assert "No runs match" in project.text
    assert run.status_code == 404
    assert dp.status_code == 404
    assert len(served.store.list_runs()) == 4  # nothing was dropped


def test_unknown_runs_and_datapoints_get_404(served: Served) -> None:
    runs = served.runs
    with served.client() as client:
        assert client.get("/runs/no-such-run").status_code == 404
        assert client.get(f"/runs/{runs.candidate}?compare=no-such-run").status_code == 404
        missing = client.get(f"/runs/{runs.candidate}/datapoints/nope")
        assert missing.status_code == 404
        assert "nope" in missing.text
        assert client.get("/api/v1/runs/no-such-run").json()["error"]["status"] == 404


def test_runs_sharing_nothing_say_so(served: Served) -> None:
    runs = served.runs
    with served.client() as client:
        page = client.get(f"/runs/{runs.candidate}?compare={runs.unrelated}").text
    assert "the runs share no datapoints: nothing can be paired" in page


def test_a_run_compared_with_itself_warns(served: Served) -> None:
    runs = served.runs
    with served.client() as client:
        page = client.get(f"/runs/{runs.candidate}?compare={runs.candidate}").text
    assert "the run is compared with itself" in page


def test_long_outputs_are_cut_in_the_table_and_whole_on_the_datapoint_page(
    served: Served, tmp_path: object
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/long.db")
    long_text = "word " * 20_000 + "THE-END"
    try:
        with evalyard.start_run("a", store=store) as a:
            a.log("long", outputs=long_text, metrics={"m": 1})
        with evalyard.start_run("b", store=store) as b:
            b.log("long", outputs=long_text.replace("THE-END", "OTHER-END"), metrics={"m": 2})
        with serve(create_app(store)) as base, httpx.Client(base_url=base) as client:
            table = client.get(f"/runs/{b.run_id}?compare={a.run_id}&diff=1")
            detail = client.get(f"/runs/{b.run_id}/datapoints/long?compare={a.run_id}")
    finally:
        store.close()
    assert table.status_code == 200
    assert len(table.content) < 60_000
    assert "THE-END" not in table.text
    assert "<del>THE-END</del>" in detail.text
    assert "<ins>OTHER-END</ins>" in detail.text


def test_the_comparison_refreshes_when_a_run_gets_more_results(tmp_path: object) -> None:
    store = open_store(f"sqlite:///{tmp_path}/live.db")
    try:
        with evalyard.start_run("old", store=store) as old:
            old.log("a", metrics={"m": 1.0})
            old.log("b", metrics={"m": 1.0})
        new = evalyard.start_run("new", store=store)
        new.log("a", metrics={"m": 2.0})
        with serve(create_app(store)) as base, httpx.Client(base_url=base) as client:
            url = f"/runs/{new.run_id}?compare={old.run_id}&metric=m&show=improved"
            assert row_ids(client.get(url).text) == ["a"]
            new.log("b", metrics={"m": 3.0})
            assert row_ids(client.get(url).text) == ["a", "b"]
            new.finish()
    finally:
        store.close()


def test_datapoint_ids_with_slashes_and_url_characters_have_working_pages(tmp_path: object) -> None:
    store = open_store(f"sqlite:///{tmp_path}/ids.db")
    odd = ["dir/sub/x y", "q?a=1#frag", "ünïcode %2F", "..", "a\\b"]
    try:
        with evalyard.start_run("odd", store=store) as run:
            for i, datapoint_id in enumerate(odd):
                run.log(datapoint_id, outputs=f"out {i}", metrics={"m": i})
        with serve(create_app(store)) as base, httpx.Client(base_url=base) as client:
            table = client.get(f"/runs/{run.run_id}").text
            links = re.findall(r'<td class="id"><a href="([^"]+)"', table)
            assert sorted(row_ids(table)) == sorted(odd)
            for link, datapoint_id in zip(links, row_ids(table), strict=True):
                page = client.get(html.unescape(link))
                assert page.status_code == 200, link
                assert f'<code class="id-title">{html.escape(datapoint_id)}</code>' in page.text
    finally:
        store.close()


def test_a_broken_store_is_a_503_to_retry_without_details(tmp_path: Path) -> None:
    # A real store broken under the server's feet: its tables dropped behind its back.
    path = tmp_path / "broken.db"
    store = open_store(f"sqlite:///{path}")
    with sqlite3.connect(path) as raw:
        raw.execute("DROP TABLE runs")
    with serve(create_app(store)) as base:
        page = httpx.get(base + "/experiments")
        api = httpx.get(base + "/api/v1/runs")
    store.close()
    for response in (page, api):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert "Traceback" not in response.text
    assert api.json()["error"]["type"] == "StoreError"
    message = api.json()["error"]["message"]
    assert "The store is unavailable right now" in message
    assert str(tmp_path) not in message  # where the store lives is for the server's log


def test_an_unexpected_error_is_a_500_without_details(tmp_path: Path) -> None:
    # A result whose stored JSON was damaged behind evalyard's back.
    path = tmp_path / "damaged.db"
    store = open_store(f"sqlite:///{path}")
    with evalyard.start_run("r", store=store) as run:
        run.log("q1", outputs="fine", metrics={"m": 1.0})
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE results SET outputs = '{\"secret\": [oops'")
    with serve(create_app(store)) as base:
        # After a 500 the server closes the connection (Starlette re-raises to log the
        # error), so each request gets its own.
        page = httpx.get(base + f"/runs/{run.run_id}/datapoints/q1")
        api = httpx.get(base + f"/api/v1/runs/{run.run_id}/results", params={"datapoint_id": "q1"})
    store.close()
    assert page.status_code == 500
    assert "JSONDecodeError" in page.text
    assert "secret" not in page.text
    assert api.status_code == 500
    assert api.json()["error"]["status"] == 500
    assert "secret" not in api.text


def test_the_tables_default_metric_is_one_that_changed(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'default.db'}")
    try:
        for name, shift in (("old", 0.0), ("new", 0.5)):
            with evalyard.start_run(name, store=store) as run:
                for i in range(10):
                    run.log(f"q{i}", metrics={"a_steady": 1.0, "b_moves": i / 10 + shift})
            if name == "old":
                old_id = run.run_id
        with serve(create_app(store)) as base, httpx.Client(base_url=base) as client:
            twin = client.get(f"/api/v1/runs/{run.run_id}/comparison", params={"compare": old_id})
            alone = client.get(f"/api/v1/runs/{run.run_id}")
    finally:
        store.close()
    # Compared: the metric that moved; alone: the first one.
    assert twin.json()["datapoints"]["metric"] == "b_moves"
    assert alone.json()["datapoints"]["metric"] == "a_steady"
