"""Evaluators: binding by name, results per comparison.md §5, errors as data, the built-ins, and the
LLM judge against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import evalyard
from evalyard.core.model import Direction, MetricDefinition
from evalyard.errors import InvalidInputError
from evalyard.evaluators import (
    JudgeError,
    contains,
    edit_similarity,
    exact_match,
    json_schema_match,
    llm_judge,
    regex,
    token_f1,
    valid_json,
)
from evalyard.evaluators.replies import parse_score, parse_verdict
from evalyard.store import SQLStore

# -- the built-ins --------------------------------------------------------------------------


def test_text_evaluators() -> None:
    assert exact_match(" Paris\n", "Paris") is True
    assert exact_match({"a": 1}, {"a": 1}) is True
    assert exact_match("Paris", None) is None  # no ground truth: the metric is missing
    assert contains("paris", ignore_case=True)("It is PARIS.") is True
    assert contains(["Paris", "France"])("Paris, France") is True
    assert contains(["Paris", "Texas"])("Paris, France") is False
    assert contains()("The answer is 42.", ground_truth="42") is True
    assert regex(r"\d{4}")("in 1214") is True
    assert regex(r"\d{4}", full_match=True)("in 1214") is False
    assert edit_similarity("kitten", "kitten") == 1.0
    assert edit_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert edit_similarity("", "") == 1.0
    assert token_f1("The city of Paris!", "paris") == pytest.approx(0.4)
    assert token_f1("", "") == 1.0
    assert token_f1("London", "Paris") == 0.0
    with pytest.raises(InvalidInputError, match="bad pattern"):
        regex("(unclosed")


def test_structured_evaluators() -> None:
    assert valid_json('{"a": [1, 2]}') is True
    assert valid_json("{a: 1}") is False
    assert valid_json({"already": "data"}) is True
    assert valid_json(None) is False
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    match = json_schema_match(schema)
    assert match('{"answer": 4}') is True
    assert match({"answer": "four"}) is False
    assert match("not json") is False
    with pytest.raises(InvalidInputError, match="schema is not valid"):
        json_schema_match({"type": "no-such-type"})


# -- binding and results --------------------------------------------------------------------


def test_parameters_are_bound_by_name_and_unknown_ones_refused() -> None:
    seen: dict[str, Any] = {}

    @evalyard.evaluator
    def everything(metadata: Any, steps: Any, inputs: Any, ground_truth: Any, outputs: Any) -> int:
        seen.update(metadata=metadata, steps=steps, inputs=inputs, gt=ground_truth, out=outputs)
        return 1

    assert everything.parameters == ("metadata", "steps", "inputs", "ground_truth", "outputs")
    everything.score(
        {"outputs": "o", "inputs": "i", "ground_truth": "g", "metadata": "m", "steps": []}
    )
    assert seen == {"metadata": "m", "steps": [], "inputs": "i", "gt": "g", "out": "o"}

    with pytest.raises(InvalidInputError, match=r"parameter 'expected' that evalyard cannot fill"):
        evalyard.evaluator(lambda outputs, expected: outputs == expected)
    with pytest.raises(InvalidInputError, match="direction of evaluator 'x' must be"):
        evalyard.evaluator(name="x", direction="up")(lambda outputs: 1)  # type: ignore[arg-type]


def test_results_errors_and_directions_in_a_run(store: SQLStore) -> None:
    store.define_metric("default", MetricDefinition("latency_ms", Direction.HIGHER, 5.0))

    @evalyard.evaluator(name="length", direction="lower")
    def length(outputs: str) -> int:
        return len(outputs)

    @evalyard.evaluator(direction="none")
    async def several(outputs: str, ground_truth: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"same_start": outputs[:1] == ground_truth[:1], "label": outputs[:1], "skip": None}

    def crashes(outputs: str) -> float:
        if outputs == "bb":
            raise ZeroDivisionError("division by zero")
        return 1.0

    def not_a_number(outputs: str) -> float:
        return float("nan") if outputs == "aa" else 0.5

    def wrong_type(outputs: str) -> Any:
        return [outputs]

    def reserved() -> dict[str, float]:
        return {"latency_ms": 1.0}

    def app(inputs: str) -> str:
        return inputs * 2

    result = evalyard.evaluate(
        app,
        dataset=[{"id": "a", "inputs": "a", "ground_truth": "aa"}, {"id": "b", "inputs": "b"}],
        evaluators=[length, several, crashes, not_a_number, wrong_type, reserved],
        store=store,
        print_results=False,
    )
    by_id = {r.datapoint_id: r for r in store.get_results(result.run_id)}
    a, b = by_id["a"], by_id["b"]
    assert a.metrics["length"] == 2
    assert a.metrics["same_start"] is True
    assert a.metrics["label"] == "a"
    assert "skip" not in a.metrics
    # b has no ground truth: `several` fails on it (None[:1]) and is recorded, not raised
    assert "same_start" not in b.metrics
    errors_a = a.metadata["evaluator_errors"]
    errors_b = b.metadata["evaluator_errors"]
    assert set(errors_a) == {"not_a_number", "wrong_type", "reserved"}
    assert "is NaN" in errors_a["not_a_number"]
    assert "returned a list" in errors_a["wrong_type"]
    assert "evaluate records itself" in errors_a["reserved"]
    assert set(errors_b) == {"several", "crashes", "wrong_type", "reserved"}
    assert errors_b["crashes"] == "ZeroDivisionError: division by zero"
    assert result.evaluator_error_count == 7
    assert result.error_count == 0

    definitions = store.metric_definitions("default")
    assert definitions["length"].direction is Direction.LOWER
    assert definitions["same_start"].direction is Direction.NONE  # from a dict result
    assert definitions["error"].direction is Direction.LOWER
    # latency_ms is turned to lower, keeping the tolerance the project had set
    assert definitions["latency_ms"] == MetricDefinition("latency_ms", Direction.LOWER, 5.0)


def test_step_scoped_evaluators_score_each_step_of_their_name(store: SQLStore) -> None:
    @evalyard.evaluator(name="long_enough", step="answer")
    def long_enough(outputs: str, inputs: dict[str, int], ground_truth: str) -> bool:
        return len(outputs) >= inputs["min"] and ground_truth == "gt"

    def app(inputs: dict[str, int]) -> str:
        for size in (1, 3):
            with evalyard.step("answer", type="model", inputs={"min": 2}) as s:
                s.log(outputs="x" * size)
        return "done"

    result = evalyard.evaluate(
        app,
        dataset=[{"id": "d", "inputs": {}, "ground_truth": "gt"}],
        evaluators=[long_enough, exact_match],
        store=store,
        print_results=False,
    )
    steps = store.get_results(result.run_id)[0].steps
    assert [s["metrics"]["long_enough"] for s in steps] == [False, True]
    assert "long_enough" not in store.get_results(result.run_id)[0].metrics
    assert result.step_aggregates["answer"]["long_enough"] == 0.5  # the mean of the two steps
    assert result.aggregates["exact_match"] == 0.0


def test_a_factory_given_without_its_options_is_an_evaluator_error(store: SQLStore) -> None:
    result = evalyard.evaluate(
        lambda inputs: "x",
        dataset=[{"id": "d", "inputs": 1}],
        evaluators=[contains],
        store=store,
        print_results=False,
    )
    errors = store.get_results(result.run_id)[0].metadata["evaluator_errors"]
    assert "it is a factory, so call it, as in contains(...)" in errors["contains"]


# -- the LLM judge ----------------------------------------------------------------------------


@dataclass
class FakeJudge:
    """A fake OpenAI-compatible chat endpoint: replies and statuses are queued per test."""

    url: str = ""
    replies: list[tuple[int, str]] = field(default_factory=list)
    default: str = "Looks right.\nVerdict: PASS"
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    reply_for: Callable[[dict[str, Any]], str] | None = None


@pytest.fixture
def fake_judge() -> Iterator[FakeJudge]:
    judge = FakeJudge()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with judge.lock:
                judge.requests.append(body)
                judge.headers.append(dict(self.headers))
                status, content = judge.replies.pop(0) if judge.replies else (200, judge.default)
            if judge.reply_for is not None and status == 200:
                content = judge.reply_for(body)
            if judge.delay_s:
                time.sleep(judge.delay_s)  # the client has given up by then: do not answer
                return
            if status == 200 and self.path == "/v1/chat/completions":
                payload = {"choices": [{"message": {"role": "assistant", "content": content}}]}
            else:
                payload = {"error": {"message": content}}
                status = status if status != 200 else 404
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    judge.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield judge
    server.shutdown()
    server.server_close()
    thread.join()


def test_judge_pass_fail_and_scores_with_settings_from_the_environment(
    fake_judge: FakeJudge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALYARD_JUDGE_BASE_URL", fake_judge.url)
    monkeypatch.setenv("EVALYARD_JUDGE_MODEL", "judge-1")
    monkeypatch.setenv("EVALYARD_JUDGE_API_KEY", "sk-test-123")
    judge = llm_judge("Is it correct?")
    assert judge(outputs="Paris", inputs={"q": "capital?"}, ground_truth="Paris") is True
    request = fake_judge.requests[-1]
    assert request["model"] == "judge-1"
    assert request["temperature"] == 0.0
    prompt = request["messages"][-1]["content"]
    assert "Is it correct?" in prompt
    assert "Paris" in prompt
    assert '"q": "capital?"' in prompt
    assert fake_judge.headers[-1]["Authorization"] == "Bearer sk-test-123"

    fake_judge.replies.append((200, "The answer is wrong.\n\nVerdict: **FAIL**"))
    assert judge(outputs="Lyon", inputs="capital?", ground_truth="Paris") is False

    scored = llm_judge("Helpful?", scale=(1, 5), name="helpfulness", model="judge-2")
    fake_judge.replies.append((200, "Reasoning...\nScore: 4/5"))
    assert scored(outputs="x") == 4.0
    assert fake_judge.requests[-1]["model"] == "judge-2"
    fake_judge.replies.append((200, "Score: 9"))
    with pytest.raises(JudgeError, match="outside the scale 1 to 5"):
        scored(outputs="x")


def test_judge_custom_prompts_fill_their_placeholders(fake_judge: FakeJudge) -> None:
    judge = llm_judge(
        "be kind",
        prompt="Q={inputs} A={outputs} GT={ground_truth} C={criteria}",
        base_url=fake_judge.url,
        model="m",
        extra_body={"max_tokens": 50},
    )
    assert judge(outputs="yes", inputs="q?", ground_truth=None) is True
    request = fake_judge.requests[-1]
    assert request["max_tokens"] == 50
    content = request["messages"][-1]["content"]
    assert content.startswith("Q=q? A=yes GT=(none given) C=be kind")
    assert "Verdict: PASS" in content  # the instructions were appended


def test_judge_retries_429_and_5xx_then_gives_up_with_a_clear_error(
    fake_judge: FakeJudge,
) -> None:
    judge = llm_judge(base_url=fake_judge.url, model="m", retry_backoff=0.01, max_retries=3)
    fake_judge.replies.extend([(429, "slow down"), (503, "overloaded"), (200, "PASS")])
    assert judge(outputs="x") is True
    assert len(fake_judge.requests) == 3

    fake_judge.replies.extend([(500, "boom")] * 4)
    with pytest.raises(JudgeError, match=r"answered HTTP 500: .*boom"):
        judge(outputs="x")
    assert len(fake_judge.requests) == 7

    fake_judge.replies.append((401, "bad key"))
    with pytest.raises(JudgeError, match="HTTP 401"):
        judge(outputs="x")
    assert len(fake_judge.requests) == 8  # not retried

    wrong_path = llm_judge(base_url=fake_judge.url + "/nowhere", model="m", max_retries=0)
    with pytest.raises(JudgeError, match="HTTP 404"):
        wrong_path(outputs="x")


def test_judge_times_out_and_unreachable_servers_are_errors(fake_judge: FakeJudge) -> None:
    fake_judge.delay_s = 0.5
    slow = llm_judge(
        base_url=fake_judge.url, model="m", timeout=0.05, max_retries=1, retry_backoff=0
    )
    with pytest.raises(JudgeError, match=r"did not answer after 2 attempts \(ReadTimeout"):
        slow(outputs="x")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    nobody = llm_judge(
        base_url=f"http://127.0.0.1:{closed_port}/v1", model="m", max_retries=1, retry_backoff=0
    )
    with pytest.raises(JudgeError, match=r"did not answer after 2 attempts \(ConnectError"):
        nobody(outputs="x")


def test_judge_needs_a_base_url_and_a_model() -> None:
    with pytest.raises(InvalidInputError, match="EVALYARD_JUDGE_BASE_URL"):
        llm_judge(model="m")
    with pytest.raises(InvalidInputError, match="EVALYARD_JUDGE_MODEL"):
        llm_judge(base_url="http://127.0.0.1:9/v1")
    with pytest.raises(InvalidInputError, match="must start with http"):
        llm_judge(base_url="127.0.0.1:9", model="m")


def test_judge_in_async_and_sync_evaluations_records_its_failures(
    fake_judge: FakeJudge, store: SQLStore
) -> None:
    def reply(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        answer = re.search(r"Output to grade:\n(.*)\n", text)
        assert answer is not None
        return {"good": "Verdict: PASS", "bad": "Verdict: FAIL"}.get(answer.group(1), "hmm")

    fake_judge.reply_for = reply
    judge = llm_judge(base_url=fake_judge.url, model="m", name="judged")
    dataset = [{"id": word, "inputs": word} for word in ("good", "bad", "unclear")]

    async def async_app(inputs: str) -> str:
        return inputs

    for app in (async_app, lambda inputs: inputs):
        result = evalyard.evaluate(
            app, dataset=dataset, evaluators=[judge], store=store, print_results=False
        )
        by_id = {r.datapoint_id: r for r in store.get_results(result.run_id)}
        assert by_id["good"].metrics["judged"] is True
        assert by_id["bad"].metrics["judged"] is False
        assert "no clear PASS or FAIL" in by_id["unclear"].metadata["evaluator_errors"]["judged"]
        assert result.evaluator_error_count == 1


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("PASS", True),
        ("fail.", False),
        ("The output is correct.", True),
        ("The output is not correct.", False),
        ("It doesn't pass the bar.", False),
        ("Reasoning: it would pass elsewhere.\nVerdict: FAIL", False),
        ('{"verdict": "pass", "reason": "ok"}', True),
        ('```json\n{"passed": false}\n```', False),
        ("Final answer: **yes**", True),
    ],
)
def test_verdicts_are_read_leniently(reply: str, verdict: bool) -> None:
    assert parse_verdict(reply) is verdict


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("Score: 4", 4.0),
        ("I'd rate it: 3.5 out of 5. Score: **4**", 4.0),
        ('{"score": 2, "reason": "meh"}', 2.0),
        ("4/5", 4.0),
        ("Some thoughts about 12 facts.\n5", 5.0),
        ("Rating = 1", 1.0),
    ],
)
def test_scores_are_read_leniently(reply: str, score: float) -> None:
    assert parse_score(reply, (1.0, 5.0)) == score


@pytest.mark.parametrize("reply", ["no idea", "It passed one test and failed another."])
def test_replies_without_a_clear_verdict_are_errors(reply: str) -> None:
    with pytest.raises(JudgeError, match="no clear PASS or FAIL"):
        parse_verdict(reply)


def test_replies_without_a_clear_score_are_errors() -> None:
    with pytest.raises(JudgeError, match="states no score"):
        parse_score("somewhere between 2 and 3", (1.0, 5.0))
    with pytest.raises(JudgeError, match="scale is 1 to 5"):
        parse_score("Score: 8/10", (1.0, 5.0))
