"""The OpenTelemetry capture benchmark: what capturing a span costs, for the target in
benchmarks/README.md (< 0.2 ms per span).

Each datapoint makes the spans of a small agent: a chain span around tool spans and chat
spans that carry what an instrumented OpenAI call carries (model, parameters, token
usage). The same spans are made on two SDK tracer providers in the same process:

- **reference**: a provider whose only span processor does nothing;
- **captured**: a provider with ``EvalyardSpanProcessor``, inside a datapoint's collector
  as ``evaluate`` opens it, and the collector closed at the end, which turns the spans
  into steps with tokens and cost (``evalyard.runner.capture.finish``).

The overhead per span is (captured − reference) / spans. Every captured datapoint is
checked: as many steps as spans, and the tokens summed as they were given; a difference
stops the benchmark.

Usage:
    python benchmarks/bench_otel.py                          # 2,000 datapoints × 10 spans
    python benchmarks/bench_otel.py --datapoints 500 --repeat 3 --no-readme

The table is printed and written into this benchmark's block of ``benchmarks/README.md``
(``--readme PATH`` or ``--no-readme`` to change that).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import Tracer
from opentelemetry.version import __version__ as otel_version

import evalyard
from evalyard.core.steps import walk_steps
from evalyard.runner import capture
from evalyard.runner.otel import EvalyardSpanProcessor
from readme_blocks import write_block

SCRIPT = Path(__file__).resolve()
DEFAULT_README = SCRIPT.parent / "README.md"
TARGET_MS = 0.2
TOOLS = 3
CHATS = 6
SPANS = 1 + TOOLS + CHATS
INPUT_TOKENS = 120
OUTPUT_TOKENS = 30


class BenchmarkMismatchError(RuntimeError):
    """The captured steps are not the spans that were made."""


class _NoOp(SpanProcessor):
    def on_start(self, span: Span, parent_context: object = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        pass


def _datapoint(tracer: Tracer) -> None:
    """The spans of one datapoint."""
    with tracer.start_as_current_span("agent", attributes={"openinference.span.kind": "CHAIN"}):
        for number in range(TOOLS):
            with tracer.start_as_current_span(
                "search",
                attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
            ) as span:
                span.set_attribute("gen_ai.tool.call.arguments", f'{{"page": {number}}}')
        for _ in range(CHATS):
            with tracer.start_as_current_span(
                "chat gpt-4o-mini",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.request.temperature": 0.2,
                    "gen_ai.request.max_tokens": 256,
                },
            ) as span:
                span.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
                span.set_attribute("gen_ai.response.finish_reasons", ("stop",))
                span.set_attribute("gen_ai.usage.input_tokens", INPUT_TOKENS)
                span.set_attribute("gen_ai.usage.output_tokens", OUTPUT_TOKENS)


def _reference(datapoints: int) -> float:
    provider = TracerProvider()
    provider.add_span_processor(_NoOp())
    tracer = provider.get_tracer("bench")
    started = time.perf_counter()
    for _ in range(datapoints):
        _datapoint(tracer)
    return time.perf_counter() - started


def _captured(datapoints: int) -> float:
    provider = TracerProvider()
    provider.add_span_processor(EvalyardSpanProcessor())
    tracer = provider.get_tracer("bench")
    made: list[tuple[list[dict[str, object]], dict[str, float]]] = []
    started = time.perf_counter()
    for _ in range(datapoints):
        collector, token = capture.begin()
        _datapoint(tracer)
        made.append(capture.finish(collector, token, []))
    seconds = time.perf_counter() - started
    for steps, totals in made:
        _check(steps, totals)
    return seconds


def _check(steps: list[dict[str, object]], totals: dict[str, float]) -> None:
    count = sum(1 for _ in walk_steps(steps))
    if count != SPANS:
        raise BenchmarkMismatchError(f"{count} steps captured from {SPANS} spans")
    if totals.get("input_tokens") != CHATS * INPUT_TOKENS:
        raise BenchmarkMismatchError(f"input tokens summed to {totals.get('input_tokens')}")
    if totals.get("output_tokens") != CHATS * OUTPUT_TOKENS:
        raise BenchmarkMismatchError(f"output tokens summed to {totals.get('output_tokens')}")


def measure(args: argparse.Namespace) -> dict[str, float]:
    """Medians of ``args.repeat`` runs of each side (alternating), in seconds."""

    def median(run: Callable[[], float]) -> float:
        return statistics.median(run() for _ in range(args.repeat))

    _captured(min(args.datapoints, 50))  # warm both paths up
    _reference(min(args.datapoints, 50))
    return {
        "reference": median(lambda: _reference(args.datapoints)),
        "captured": median(lambda: _captured(args.datapoints)),
    }


def render(times: dict[str, float], args: argparse.Namespace) -> tuple[str, bool]:
    """The markdown block, and whether the target is met."""
    spans = args.datapoints * SPANS
    per_span = {side: seconds / spans * 1000 for side, seconds in times.items()}
    overhead = per_span["captured"] - per_span["reference"]
    met = overhead < TARGET_MS
    lines = [
        f"Measured {dt.date.today().isoformat()} with `{reproduce_command(args)}` "
        f"(median of {args.repeat}); Python {platform.python_version()}, "
        f"opentelemetry-sdk {otel_version}, evalyard {evalyard.__version__}.",
        "",
        "| side | datapoints | spans | wall (s) | per span (ms) | target | met |",
        "|---|---:|---:|---:|---:|---|---|",
        f"| reference (no-op processor) | {args.datapoints:,} | {spans:,} | "
        f"{times['reference']:.3f} | {per_span['reference']:.4f} | - | - |",
        f"| captured (EvalyardSpanProcessor + steps) | {args.datapoints:,} | {spans:,} | "
        f"{times['captured']:.3f} | {per_span['captured']:.4f} | - | - |",
        f"| **overhead of capture** | | | | {overhead:.4f} | < {TARGET_MS} ms/span | "
        f"{'yes' if met else '**no**'} |",
    ]
    return "\n".join(lines), met


def write_readme(path: Path, block: str) -> None:
    """Replace this benchmark's block in ``path`` (append it if absent)."""
    write_block(path, "bench_otel", block, script="bench_otel.py")


def reproduce_command(args: argparse.Namespace) -> str:
    """The command that reproduces these numbers."""
    parts = ["python", "benchmarks/bench_otel.py", "--datapoints", str(args.datapoints)]
    return shlex.join([*parts, "--repeat", str(args.repeat)])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Measure the overhead of capturing a span.")
    parser.add_argument("--datapoints", type=int, default=2_000, help="datapoints of 10 spans")
    parser.add_argument("--repeat", type=int, default=5, help="runs per side (median)")
    parser.add_argument("--readme", type=Path, default=DEFAULT_README, help="README to update")
    parser.add_argument("--no-readme", action="store_true", help="only print the table")
    args = parser.parse_args(argv)
    if args.datapoints < 1 or args.repeat < 1:
        parser.error("--datapoints and --repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the table, and write it into the README; 0 when the target is met."""
    args = parse_args(argv)
    block, met = render(measure(args), args)
    print(block)
    if not args.no_readme:
        write_readme(args.readme, block)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
