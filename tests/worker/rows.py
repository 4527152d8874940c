"""Rows written straight into a server's SQLite database, bypassing the API.

Tasks stored before today's validation (or by another version) can hold specs
the API now refuses, or be left in states no request makes: the runner, the
queues and the sweeper must still end them.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _stamp(when: datetime | None = None) -> str:
    # SQLAlchemy's DateTime on SQLite: naive ISO text (read back as UTC).
    return (when or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S.%f")


def insert_task(
    db: Path,
    name: str,
    spec: dict[str, Any],
    *,
    status: str = "pending",
    heartbeat_age: float | None = None,
    worker_id: str | None = None,
) -> int:
    """Insert a task row as a past version could have stored it; returns its id."""
    now = _stamp()
    with sqlite3.connect(db, timeout=30) as conn:
        cursor = conn.execute(
            "INSERT INTO tasks (task_name, description, status, spec, deployment_mode, "
            "base_runtime, total_experiments, successful_experiments, failed_experiments, "
            "created_at, started_at, last_event_id, worker_id, heartbeat_at, cancel_requested) "
            "VALUES (?, '', ?, ?, ?, ?, 0, 0, 0, ?, ?, 0, ?, ?, 0)",
            (
                name,
                status,
                json.dumps(spec),
                str(spec.get("deployment_mode", "sim")),
                str(spec.get("base_runtime", "vllm")),
                now,
                now if status == "running" else None,
                worker_id,
                None if heartbeat_age is None else time.time() - heartbeat_age,
            ),
        )
        task_id = cursor.lastrowid
    assert task_id is not None
    return task_id


def embedded_worker_id() -> str:
    """The id of the embedded worker of a server on this host."""
    return f"embedded@{socket.gethostname()}"
