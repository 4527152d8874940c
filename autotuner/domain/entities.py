"""Tasks, experiments and events as the REST API and the WebSockets carry them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    field_validator,
)

from autotuner.domain.spec import SpecWarning

# Ids are INTEGER columns (32-bit on PostgreSQL): a larger one names nothing.
MAX_ID = 2**31 - 1


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


class TaskCreated(TaskPublic):
    """The answer to ``POST /api/tasks``: the new task, and what its spec holds that
    was accepted but will have no effect (see :meth:`TaskSpec.warnings`)."""

    warnings: list[SpecWarning] = Field(
        default_factory=list,
        description="Fields that were accepted but will have no effect as written, or may "
        "not fit the experiment's time limit; empty when there is nothing to say",
    )


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


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as recorded: ``payload`` is the exact JSON clients receive."""

    task_id: int
    id: int
    type: str
    experiment_pk: int | None
    payload: bytes
    #: When the event was created (wall clock), to measure how late it arrives.
    timestamp: float = 0.0


def create_event(
    event_type: EventType,
    task_id: int,
    *,
    experiment_id: int | None = None,
    message: str = "",
    data: dict[str, Any] | None = None,
) -> Event:
    """An event of ``event_type`` for ``task_id``, stamped now (see ``events/payloads.py``
    for the payloads of task and experiment events)."""
    return Event(
        type=event_type,
        task_id=task_id,
        experiment_id=experiment_id,
        message=message,
        data=data or {},
    )
