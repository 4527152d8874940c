"""Persistence: tasks, experiments, the durable event log, workers."""

from autotuner.store.store import (
    DuplicateTaskName,
    Store,
    StoredEvent,
    StoreError,
    UnknownTask,
    utcnow,
)

__all__ = ["DuplicateTaskName", "Store", "StoreError", "StoredEvent", "UnknownTask", "utcnow"]
