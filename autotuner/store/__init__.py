"""Persistence: tasks, experiments, the durable event log, workers."""

from autotuner.domain import StoredEvent
from autotuner.store._guard import StoreUnavailable
from autotuner.store._json import json_snapshot
from autotuner.store._records import (
    DuplicateTaskName,
    StoreError,
    UnknownTask,
    utcnow,
)
from autotuner.store.store import Store

__all__ = [
    "DuplicateTaskName",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoredEvent",
    "UnknownTask",
    "json_snapshot",
    "utcnow",
]
