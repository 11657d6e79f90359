"""The traced demo in the web UI: each model step shows its model, tokens and cost."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")

from starlette.testclient import TestClient

import evalyard
from evalyard.core.formats import format_value, unit_of
from evalyard.demo.experiment import TRACED_BASELINE, TRACED_CANDIDATE, run_experiment
from evalyard.server import create_app
from evalyard.store import get_store


def chip(name: str, value: object) -> str:
    shown = format_value(value, kind="number", unit=unit_of(name))
    return f'<span class="chip-name">{name}</span> <span class="num">{shown}</span>'


def test_the_traced_demos_pages_show_each_model_steps_tokens_and_cost(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    old_id = run_experiment(TRACED_BASELINE, store=url)
    new_id = run_experiment(TRACED_CANDIDATE, store=url)
    (old,) = evalyard.get_results(old_id, ["q01"], store=url)
    (new,) = evalyard.get_results(new_id, ["q01"], store=url)
    with TestClient(create_app(get_store(url)), base_url="http://127.0.0.1") as client:
        page = client.get(f"/runs/{new_id}/datapoints/q01?compare={old_id}")
        run_page = client.get(f"/runs/{new_id}?compare={old_id}&step=chat")
    assert page.status_code == 200
    text = page.text
    assert 'data-step="retrieve"' in text
    assert 'data-step="chat"' in text
    # Both runs' model steps side by side: the model marked as changed, and the tokens,
    # cost and latency of each call.
    assert (
        '<li class="chip differs"><span class="chip-name">model</span> <span>gpt-4o</span>' in text
    )
    assert (
        '<li class="chip differs"><span class="chip-name">model</span> <span>gpt-4o-mini</span>'
        in text
    )
    for result in (old, new):
        metrics = result.steps[1]["metrics"]
        for name in ("input_tokens", "output_tokens", "total_tokens", "cost_usd", "latency_ms"):
            assert chip(name, metrics[name]) in text, name
    assert old.steps[1]["metrics"]["cost_usd"] < new.steps[1]["metrics"]["cost_usd"]
    # A cost reads in dollars, never in scientific notation.
    assert chip("cost_usd", old.steps[1]["metrics"]["cost_usd"]).count("$0.0000") == 1
    # The run page compares the step's metrics, with verdicts.
    assert run_page.status_code == 200
    for name in ("cost_usd", "input_tokens", "output_tokens", "total_tokens", "latency_ms"):
        assert name in run_page.text
    assert "metrics regressed" in run_page.text
