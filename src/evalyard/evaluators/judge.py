"""An LLM as judge: any OpenAI-compatible chat completions endpoint grades the outputs.

Example:
    >>> from evalyard.evaluators import llm_judge
    >>> judge = llm_judge(  # doctest: +SKIP
    ...     "Does the answer address the question, without made-up facts?",
    ...     base_url="http://127.0.0.1:8080/v1", model="judge-model",
    ... )
    >>> judge(outputs="Paris", inputs="Capital of France?", ground_truth="Paris")  # doctest: +SKIP
    True

The base URL, model and API key come from the arguments, else ``EVALYARD_JUDGE_BASE_URL``,
``EVALYARD_JUDGE_MODEL`` and ``EVALYARD_JUDGE_API_KEY`` (see :mod:`evalyard.config`). The
judge is asked to end its reply with ``Verdict: PASS``/``FAIL`` (a bool metric) or, given a
``scale``, ``Score: N`` (a number); the reply is read leniently (a JSON object, ``8/10``,
markdown emphasis, a bare word or number), and a reply that gives no clear answer is an
evaluator error on that datapoint. Requests time out, and are retried with exponential
backoff on 429, 5xx and network errors (honouring ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evalyard.config import judge_api_key, judge_base_url, judge_model
from evalyard.errors import InvalidInputError
from evalyard.evaluators.replies import JudgeError, number_text, parse_score, parse_verdict
from evalyard.runner.evaluator import Evaluator, make_evaluator

__all__ = ["JudgeError", "llm_judge"]

DEFAULT_CRITERIA = (
    "Is the output a correct, relevant and complete response to the input"
    " (and consistent with the expected output, when one is given)?"
)
_SYSTEM = (
    "You are a strict, impartial grader of the outputs of an AI application. "
    "Follow the grading instructions exactly."
)
_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
_MAX_DELAY_S = 30.0


@dataclass(frozen=True, slots=True)
class _Judge:
    url: str
    model: str
    api_key: str | None = field(repr=False)
    criteria: str
    scale: tuple[float, float] | None
    prompt: str | None
    temperature: float
    timeout: float
    max_retries: int
    retry_backoff: float
    extra_body: dict[str, Any]

    # -- the request and the reply ---------------------------------------------------------

    def payload(self, outputs: Any, inputs: Any, ground_truth: Any) -> dict[str, Any]:
        if self.scale is None:
            instructions = (
                "Think briefly, then end your reply with one line: `Verdict: PASS` if the "
                "output meets the criteria, or `Verdict: FAIL` if it does not."
            )
        else:
            low, high = self.scale
            instructions = (
                f"Think briefly, then end your reply with one line `Score: N`, where N is a "
                f"number from {number_text(low)} (worst) to {number_text(high)} (best)."
            )
        parts = {
            "{criteria}": self.criteria,
            "{inputs}": _show(inputs),
            "{outputs}": _show(outputs),
            "{ground_truth}": "(none given)" if ground_truth is None else _show(ground_truth),
            "{instructions}": instructions,
        }
        if self.prompt is not None:
            text = self.prompt
            for placeholder, value in parts.items():
                text = text.replace(placeholder, value)
            if "{instructions}" not in self.prompt:
                text = f"{text}\n\n{instructions}"
        else:
            text = (
                f"Grade the output below.\n\nCriteria: {self.criteria}\n\n"
                f"Input:\n{_show(inputs)}\n\n"
            )
            if ground_truth is not None:
                text += f"Expected output:\n{_show(ground_truth)}\n\n"
            text += f"Output to grade:\n{_show(outputs)}\n\n{instructions}"
        return {
            **self.extra_body,
            "model": self.model,
            "temperature": self.temperature,
            "messages": [
                {"role": "system", "content": _SYSTEM},
                {"role": "user", "content": text},
            ],
        }

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def read(self, status: int, body: bytes) -> bool | float:
        if status >= 400:
            raise JudgeError(f"the judge at {self.url} answered HTTP {status}: {_excerpt(body)}")
        try:
            data = json.loads(body)
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise JudgeError(
                f"the judge at {self.url} sent no chat completion: {_excerpt(body)}"
            ) from None
        if isinstance(content, list):  # content parts
            content = "".join(
                str(part.get("text", "")) for part in content if isinstance(part, dict)
            )
        if not isinstance(content, str) or not content.strip():
            raise JudgeError(f"the judge at {self.url} sent an empty reply")
        if self.scale is None:
            return parse_verdict(content)
        return parse_score(content, self.scale)

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), _MAX_DELAY_S)
            except ValueError:
                pass  # an HTTP date: back off as usual
        delay = self.retry_backoff * (2**attempt)
        return float(min(delay + random.uniform(0, delay / 10), _MAX_DELAY_S))

    # -- calling it ------------------------------------------------------------------------

    def score(self, outputs: Any, inputs: Any = None, ground_truth: Any = None) -> bool | float:
        import httpx

        payload = self.payload(outputs, inputs, ground_truth)
        with httpx.Client(timeout=self.timeout, verify=_ssl_context()) as client:
            for attempt in range(self.max_retries + 1):
                last = attempt == self.max_retries
                try:
                    response = client.post(self.url, json=payload, headers=self.headers())
                except httpx.TransportError as exc:
                    if last:
                        raise self._unreachable(exc) from None
                    time.sleep(self.delay(attempt, None))
                    continue
                if response.status_code in _RETRY_STATUSES and not last:
                    time.sleep(self.delay(attempt, response.headers.get("retry-after")))
                    continue
                return self.read(response.status_code, response.content)
        raise AssertionError("unreachable")  # pragma: no cover

    async def score_async(
        self, outputs: Any, inputs: Any = None, ground_truth: Any = None
    ) -> bool | float:
        import httpx

        payload = self.payload(outputs, inputs, ground_truth)
        async with httpx.AsyncClient(timeout=self.timeout, verify=_ssl_context()) as client:
            for attempt in range(self.max_retries + 1):
                last = attempt == self.max_retries
                try:
                    response = await client.post(self.url, json=payload, headers=self.headers())
                except httpx.TransportError as exc:
                    if last:
                        raise self._unreachable(exc) from None
                    await asyncio.sleep(self.delay(attempt, None))
                    continue
                if response.status_code in _RETRY_STATUSES and not last:
                    await asyncio.sleep(self.delay(attempt, response.headers.get("retry-after")))
                    continue
                return self.read(response.status_code, response.content)
        raise AssertionError("unreachable")  # pragma: no cover

    def _unreachable(self, error: Exception) -> JudgeError:
        kind = type(error).__name__
        return JudgeError(
            f"the judge at {self.url} did not answer after {self.max_retries + 1} attempts "
            f"({kind}: {error}); check EVALYARD_JUDGE_BASE_URL and the timeout"
        )


def llm_judge(
    criteria: str = DEFAULT_CRITERIA,
    *,
    scale: tuple[float, float] | None = None,
    name: str = "llm_judge",
    prompt: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    temperature: float = 0.0,
    timeout: float = 60.0,
    max_retries: int = 3,
    retry_backoff: float = 1.0,
    extra_body: Mapping[str, Any] | None = None,
    step: str | None = None,
) -> Evaluator:
    """An evaluator that asks an LLM, through an OpenAI-compatible chat API, to grade.

    Example:
        >>> from evalyard.evaluators import llm_judge
        >>> helpful = llm_judge(  # doctest: +SKIP
        ...     "How helpful is the answer?", scale=(1, 5), name="helpfulness",
        ...     base_url="http://127.0.0.1:8080/v1", model="judge-model",
        ... )

    Args:
        criteria: what the judge grades the output on.
        scale: ``(worst, best)`` for a numeric score; None (the default) for pass/fail,
            a bool metric.
        name: the metric's name.
        prompt: a user message of your own; ``{criteria}``, ``{inputs}``, ``{outputs}``,
            ``{ground_truth}`` and ``{instructions}`` in it are filled in (the instructions
            on how to answer are appended when it lacks them).
        model: the model; else ``EVALYARD_JUDGE_MODEL``.
        base_url: the API's base URL, up to ``/v1``; else ``EVALYARD_JUDGE_BASE_URL``.
        api_key: sent as a bearer token; else ``EVALYARD_JUDGE_API_KEY``; else none.
        temperature: the sampling temperature (0 for the most repeatable grades).
        timeout: seconds to wait for each request.
        max_retries: how many times to retry on 429, 5xx and network errors.
        retry_backoff: the first wait between retries, in seconds, doubled each time.
        extra_body: more fields for the request body (``max_tokens``, ``seed``...).
        step: grade the steps of this name instead of the datapoint.

    Raises:
        InvalidInputError: without a base URL or model, or with a bad option.
    """
    url = judge_base_url(base_url)
    chosen_model = judge_model(model)
    if not url:
        raise InvalidInputError(
            "llm_judge needs the base URL of an OpenAI-compatible API: pass base_url=... or "
            "set EVALYARD_JUDGE_BASE_URL"
        )
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError(f"llm_judge base URL {url!r} must start with http:// or https://")
    if not chosen_model:
        raise InvalidInputError(
            "llm_judge needs a model name: pass model=... or set EVALYARD_JUDGE_MODEL"
        )
    if scale is not None:
        low, high = scale
        if not float(low) < float(high):
            raise InvalidInputError(
                f"llm_judge scale {scale!r} must be (worst, best), worst < best"
            )
        scale = (float(low), float(high))
    if not (timeout > 0 and max_retries >= 0 and retry_backoff >= 0):
        raise InvalidInputError("llm_judge needs timeout > 0, max_retries >= 0, retry_backoff >= 0")
    url = url.rstrip("/")
    if not url.endswith("/chat/completions"):
        url += "/chat/completions"
    judge = _Judge(
        url=url,
        model=chosen_model,
        api_key=judge_api_key(api_key),
        criteria=criteria,
        scale=scale,
        prompt=prompt,
        temperature=temperature,
        timeout=timeout,
        max_retries=max_retries,
        retry_backoff=retry_backoff,
        extra_body=dict(extra_body or {}),
    )
    return make_evaluator(
        judge.score, name=name, direction="higher", step=step, async_function=judge.score_async
    )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Made once: loading the CA bundle costs more than a request to a local server. Each
    # call opens its own client, so no connection outlives the evaluator call (nor its
    # event loop).
    import httpx

    return httpx.create_ssl_context()


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return repr(text[:300] + ("..." if len(text) > 300 else ""))
