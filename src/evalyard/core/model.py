"""The domain values shared by every layer: runs, metric definitions, statuses.

The concepts are those of docs/comparison.md §1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from evalyard.core.steps import Step, steps_from_dicts

__all__ = [
    "Direction",
    "MetricDefinition",
    "MetricKind",
    "Result",
    "RunInfo",
    "RunStatus",
    "default_direction",
]


class RunStatus(StrEnum):
    """Where a run is in its life."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Direction(StrEnum):
    """Which way a metric gets better."""

    HIGHER = "higher"
    LOWER = "lower"
    NONE = "none"


class MetricKind(StrEnum):
    """What a metric's values are. A run mixing bools and numbers holds numbers."""

    NUMBER = "number"
    BOOL = "bool"
    STRING = "string"


def default_direction(kind: MetricKind) -> Direction:
    """The direction of a metric nobody declared: numbers and bools ``higher``, strings ``none``."""
    return Direction.NONE if kind is MetricKind.STRING else Direction.HIGHER


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    """How a project reads one metric (docs/comparison.md §1)."""

    name: str
    """The metric's name."""
    direction: Direction = Direction.HIGHER
    """Which way is better; ``none`` means changes are reported but never judged."""
    tolerance: float = 0.0
    """Absolute change that still counts as the same (0 by default)."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One run, as the store describes it."""

    run_id: str
    """The run's generated (or caller-given) id."""
    name: str
    """The run's name, unique within its project (a store from before evalyard made names
    unique may hold several runs of one name)."""
    project: str
    """The project the run belongs to."""
    status: RunStatus
    """running, completed, failed or cancelled."""
    created_at: float
    """When the run started, in seconds since the Unix epoch."""
    finished_at: float | None = None
    """When the run got its final status, or None while it is running."""
    dataset: str | None = None
    """The name of the dataset the run used, if any."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Free-form facts about the run: model, prompt, parameters, git commit..."""
    result_count: int = 0
    """How many results (datapoint × epoch) the run holds."""
    datapoint_count: int = 0
    """How many distinct datapoints the run holds."""

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-serialisable data."""
        return {
            "run_id": self.run_id,
            "name": self.name,
            "project": self.project,
            "status": self.status.value,
            "dataset": self.dataset,
            "metadata": self.metadata,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "result_count": self.result_count,
            "datapoint_count": self.datapoint_count,
        }


@dataclass(frozen=True, slots=True)
class Result:
    """What a run produced for one datapoint and epoch, as logged (docs/comparison.md §1)."""

    datapoint_id: str
    """The datapoint's id."""
    epoch: int
    """Which repeat of the datapoint this is, from 0."""
    inputs: Any = None
    """The datapoint's inputs."""
    outputs: Any = None
    """What the application produced."""
    ground_truth: Any = None
    """The expected output, if the datapoint has one."""
    metadata: Any = None
    """The datapoint's metadata."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """The result-level metrics, by name."""
    steps: list[dict[str, Any]] = field(default_factory=list)
    """The trace as stored: nested step dicts (name, type, inputs, outputs, metrics, error,
    duration_ms, children); :meth:`step_tree` reads it as :class:`Step` values."""
    error: str | None = None
    """The error the application raised, if it did."""
    duration_ms: float | None = None
    """How long the application took, in milliseconds, when known."""

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-serialisable data."""
        return {
            "datapoint_id": self.datapoint_id,
            "epoch": self.epoch,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "ground_truth": self.ground_truth,
            "metadata": self.metadata,
            "metrics": self.metrics,
            "steps": self.steps,
            "error": self.error,
            "duration_ms": self.duration_ms,
        }

    def step_tree(self) -> tuple[Step, ...]:
        """The trace as :class:`Step` values, read leniently from :attr:`steps`.

        Example:
            >>> result = Result("q1", 0, steps=[{"name": "retrieve", "type": "tool"}])
            >>> [(step.name, step.type.value) for step in result.step_tree()]
            [('retrieve', 'tool')]
        """
        return steps_from_dicts(self.steps)
