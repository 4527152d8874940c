"""What the store hands out: its errors, and rows read as domain models and
:class:`~autotuner.domain.StoredEvent`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from autotuner.domain import ExperimentPublic, StoredEvent, TaskPublic
from autotuner.store._json import representable


class StoreError(Exception):
    """Base class of the errors the store raises on bad requests."""


class DuplicateTaskName(StoreError):
    def __init__(self, name: str) -> None:
        super().__init__(f"task_name {name!r} already exists; choose another task_name")
        self.name = name


class UnknownTask(StoreError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} not found")
        self.task_id = task_id


def utcnow() -> datetime:
    return datetime.now(UTC)


def task_of(row: Any) -> TaskPublic:
    task = TaskPublic.model_validate(row._mapping)
    try:
        orjson.dumps(task.spec)
    except TypeError:
        # A spec stored before today's validation (an integer beyond 64 bits,
        # nesting past the serializers' limits) is shown as far as JSON can hold it.
        task.spec = representable(task.spec)
    return task


def experiment_of(row: Any) -> ExperimentPublic:
    return ExperimentPublic.model_validate(row._mapping)


def stored_of(row: Any) -> StoredEvent:
    return StoredEvent(
        row.task_id, row.id, row.type, row.experiment_pk, bytes(row.payload), row.created_at
    )
