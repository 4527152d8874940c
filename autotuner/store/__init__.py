"""Persistence: tasks, experiments, the durable event log, workers."""

from autotuner.store._guard import StoreUnavailable
from autotuner.store._json import json_snapshot
from autotuner.store.store import (
    DuplicateTaskName,
    Store,
    StoredEvent,
    StoreError,
    UnknownTask,
    utcnow,
)

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
