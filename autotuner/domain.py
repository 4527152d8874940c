"""Domain schemas shared by every layer: task spec, task, experiment, event.

This module imports nothing of ours. Wire names follow ``DESIGN.md`` and the
seed project's task files, which are accepted as they are.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Scalar = str | int | float | bool


class TaskStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


class ExperimentStatus(StrEnum):
    PENDING = "pending"
    DEPLOYING = "deploying"
    BENCHMARKING = "benchmarking"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (
            ExperimentStatus.SUCCESS,
            ExperimentStatus.FAILED,
            ExperimentStatus.CANCELLED,
        )


class EventType(StrEnum):
    TASK_STARTED = "task_started"
    TASK_PROGRESS = "task_progress"
    TASK_COMPLETED = "task_completed"
    TASK_FAILED = "task_failed"
    TASK_CANCELLED = "task_cancelled"
    EXPERIMENT_STARTED = "experiment_started"
    EXPERIMENT_PROGRESS = "experiment_progress"
    EXPERIMENT_COMPLETED = "experiment_completed"
    EXPERIMENT_FAILED = "experiment_failed"
    BENCHMARK_STARTED = "benchmark_started"
    BENCHMARK_PROGRESS = "benchmark_progress"
    LOG_MESSAGE = "log_message"

    @property
    def is_task_level(self) -> bool:
        return self.value.startswith("task_")


# --------------------------------------------------------------------------- spec

Objective = Literal["minimize_latency", "maximize_throughput", "minimize_ttft", "minimize_tpot"]
StrategyName = Literal["grid_search", "random", "bayesian"]
DeploymentMode = Literal["sim", "local", "docker", "ome"]

_SCENARIO = re.compile(r"^\s*(D|N|U)\(\s*\d+(\s*,\s*\d+)*\s*\)(/\(\s*\d+(\s*,\s*\d+)*\s*\))?\s*$")


class _Spec(BaseModel):
    # The seed's files carry fields we do not use (namespace, runtime_image_tag, ...):
    # keep them so a task round-trips unchanged.
    model_config = ConfigDict(extra="allow")


class ModelSpec(_Spec):
    id_or_path: str = Field(min_length=1)
    namespace: str | None = None


class OptimizationSpec(_Spec):
    strategy: StrategyName = "grid_search"
    objective: Objective = "minimize_latency"
    max_iterations: int = Field(default=10, ge=1, le=10_000)
    timeout_per_iteration: float = Field(default=600, gt=0)


class SLOThreshold(_Spec):
    threshold: float = Field(gt=0)
    weight: float = Field(default=1.0, ge=0)
    hard_fail: bool = False
    fail_ratio: float = Field(default=0.0, ge=0)


class SLOSpec(_Spec):
    latency: dict[Literal["p50", "p90", "p95", "p99"], SLOThreshold] | None = None
    ttft: SLOThreshold | None = None
    tpot: SLOThreshold | None = None
    steepness: float = Field(default=0.1, gt=0)


class BenchmarkSpec(_Spec):
    task: str = "text-to-text"
    model_name: str | None = None
    model_tokenizer: str | None = None
    traffic_scenarios: list[str] = Field(default_factory=lambda: ["D(100,100)"], min_length=1)
    num_concurrency: list[int] = Field(default_factory=lambda: [1], min_length=1)
    max_time_per_iteration: float = Field(default=10, gt=0)
    max_requests_per_iteration: int = Field(default=50, ge=1)
    additional_params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("traffic_scenarios")
    @classmethod
    def _scenarios(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _SCENARIO.match(item):
                raise ValueError(
                    f"traffic scenario {item!r} is not of the form D(input,output), "
                    "N(mean_in,sd_in)/(mean_out,sd_out) or U(min_in,max_in)/(min_out,max_out)"
                )
        return value

    @field_validator("num_concurrency")
    @classmethod
    def _concurrency(cls, value: list[int]) -> list[int]:
        if any(v < 1 for v in value):
            raise ValueError("every concurrency level must be at least 1")
        return value


class TaskSpec(_Spec):
    """A task file as the seed project writes it (JSON or YAML)."""

    task_name: str = Field(min_length=1, max_length=200)
    description: str = ""
    deployment_mode: DeploymentMode = "docker"
    model: ModelSpec
    base_runtime: str = Field(default="sglang", min_length=1)
    parameters: dict[str, list[Scalar]] = Field(min_length=1)
    optimization: OptimizationSpec = Field(default_factory=OptimizationSpec)
    slo: SLOSpec | None = None
    benchmark: BenchmarkSpec = Field(default_factory=BenchmarkSpec)

    @field_validator("task_name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("task_name must not be blank")
        return value.strip()

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, value: dict[str, list[Scalar]]) -> dict[str, list[Scalar]]:
        for name, values in value.items():
            if not name.strip():
                raise ValueError("parameter names must not be blank")
            if not values:
                raise ValueError(f"parameter {name!r} needs at least one value")
        return value

    @model_validator(mode="after")
    def _fill_benchmark_model(self) -> TaskSpec:
        if self.benchmark.model_name is None:
            self.benchmark.model_name = self.model.id_or_path
        return self


# ----------------------------------------------------------------------- entities


class _Entity(BaseModel):
    """Timestamps are UTC; a naive one (SQLite keeps no zone) is read as UTC."""

    @field_validator("created_at", "started_at", "completed_at", mode="after", check_fields=False)
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class TaskPublic(_Entity):
    id: int
    task_name: str
    description: str
    status: TaskStatus
    spec: dict[str, Any]
    deployment_mode: str
    base_runtime: str
    total_experiments: int
    successful_experiments: int
    failed_experiments: int
    best_experiment_id: int | None
    best_score: float | None
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    elapsed_time: float | None
    last_event_id: int


class ExperimentPublic(_Entity):
    id: int
    task_id: int
    experiment_id: int
    parameters: dict[str, Any]
    status: ExperimentStatus
    metrics: dict[str, Any] | None
    objective_score: float | None
    slo_violations: list[dict[str, Any]] | None
    error_message: str | None
    engine_command: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    elapsed_time: float | None


class Event(BaseModel):
    """One event as clients receive it; ``id`` is per task, 1, 2, 3 ... without gaps."""

    id: int | None = None
    type: EventType
    task_id: int
    experiment_id: int | None = None
    timestamp: float = Field(default_factory=time.time)
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


def create_event(
    event_type: EventType,
    task_id: int,
    *,
    experiment_id: int | None = None,
    message: str = "",
    data: dict[str, Any] | None = None,
) -> Event:
    """The seed's ``create_event`` helper."""
    return Event(
        type=event_type,
        task_id=task_id,
        experiment_id=experiment_id,
        message=message,
        data=data or {},
    )
