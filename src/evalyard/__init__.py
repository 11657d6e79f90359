"""evalyard: an experiment tracker for LLM applications whose heart is comparing runs.

Example:
    >>> import evalyard
    >>> from evalyard.evaluators import exact_match
    >>> result = evalyard.evaluate(  # doctest: +SKIP
    ...     my_app, dataset=records, evaluators=[exact_match], name="candidate"
    ... )
    >>> with evalyard.start_run("baseline") as run:  # doctest: +SKIP
    ...     run.log("q1", outputs="4", metrics={"correct": True})
    >>> evalyard.compare_runs("candidate", "baseline").list_degraded_metrics()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from evalyard import evaluators
from evalyard.core.aggregate import AGGREGATE_FUNCTIONS
from evalyard.core.compare import MetricDelta, RunComparisonResult
from evalyard.core.grid import DatapointGrid
from evalyard.core.leaderboard import Leaderboard, Standing
from evalyard.core.many import MultiComparison
from evalyard.core.matrix import VerdictMatrix
from evalyard.core.model import (
    Direction,
    MetricDefinition,
    MetricKind,
    Result,
    RunInfo,
    RunStatus,
)
from evalyard.core.otel import ModelPrice, PriceTable
from evalyard.core.steps import Step, StepType
from evalyard.core.summary import MetricSummary
from evalyard.errors import (
    AmbiguousRunError,
    ComparisonWarning,
    EvalyardError,
    EvalyardWarning,
    ImportFileError,
    InvalidInputError,
    InvalidMetricError,
    InvalidRecordError,
    InvalidReferenceError,
    MissingDependencyError,
    RunExistsError,
    RunNameTakenError,
    RunNotFoundError,
    StoreError,
    UnknownAggregateError,
    UnknownMetricError,
)
from evalyard.many import compare_many
from evalyard.runner.datasets import Dataset
from evalyard.runner.evaluate import EvaluationResult, evaluate
from evalyard.runner.evaluator import evaluator
from evalyard.runner.logging import Run, define_metric, start_run
from evalyard.runner.tracing import step, trace
from evalyard.runs import (
    RunSummary,
    compare_runs,
    get_results,
    get_run,
    list_runs,
    summarise_run,
)
from evalyard.version import __version__

__all__ = [
    "AGGREGATE_FUNCTIONS",
    "AmbiguousRunError",
    "ComparisonWarning",
    "DatapointGrid",
    "Dataset",
    "Direction",
    "EvaluationResult",
    "EvalyardError",
    "EvalyardSpanProcessor",
    "EvalyardWarning",
    "ImportFileError",
    "InvalidInputError",
    "InvalidMetricError",
    "InvalidRecordError",
    "InvalidReferenceError",
    "Leaderboard",
    "MetricDefinition",
    "MetricDelta",
    "MetricKind",
    "MetricSummary",
    "MissingDependencyError",
    "ModelPrice",
    "MultiComparison",
    "PriceTable",
    "Result",
    "Run",
    "RunComparisonResult",
    "RunExistsError",
    "RunInfo",
    "RunNameTakenError",
    "RunNotFoundError",
    "RunStatus",
    "RunSummary",
    "Standing",
    "Step",
    "StepType",
    "StoreError",
    "UnknownAggregateError",
    "UnknownMetricError",
    "VerdictMatrix",
    "__version__",
    "compare_many",
    "compare_runs",
    "define_metric",
    "evaluate",
    "evaluator",
    "evaluators",
    "get_results",
    "get_run",
    "list_runs",
    "start_run",
    "step",
    "summarise_run",
    "trace",
]

if _TYPE_CHECKING:
    from evalyard.runner.otel import EvalyardSpanProcessor


def __getattr__(name: str) -> _Any:
    # The span processor needs the OpenTelemetry SDK: imported when first asked for.
    if name == "EvalyardSpanProcessor":
        try:
            from evalyard.runner.otel import EvalyardSpanProcessor
        except ImportError as exc:
            raise MissingDependencyError(
                "opentelemetry-sdk", "evalyard.EvalyardSpanProcessor"
            ) from exc
        return EvalyardSpanProcessor
    raise AttributeError(f"module 'evalyard' has no attribute {name!r}")
