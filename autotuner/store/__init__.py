"""Persistence: tasks, experiments, the durable event log, workers."""

from autotuner.store.store import (
    DuplicateTaskName,
    Store,
    StoredEvent,
    StoreError,
    StoreUnavailable,
    UnknownTask,
    json_snapshot,
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
