"""Cancel in the distributed mode ends a running task whose worker is gone.

Real ``autotuner serve`` on PostgreSQL and Redis, no worker: a task left
``running`` by a worker that died (its heartbeat stale) is cancelled at once,
with its ``task_cancelled`` event, and can then be deleted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from autotuner.domain import TaskSpec, TaskStatus
from autotuner.store import Store
from tests.e2e.specs import sim_spec
from tests.helpers import AutotunerProcess

Spawn = Callable[..., AutotunerProcess]


async def _left_running(pg_url: str, name: str, heartbeat_age: float) -> int:
    store = Store(pg_url)
    await store.init()
    try:
        task = await store.create_task(TaskSpec.model_validate(sim_spec(name)))
        await store.update_task(
            task.id,
            status=TaskStatus.RUNNING,
            worker_id="worker@gone:1:dead",
            heartbeat_at=time.time() - heartbeat_age,
        )
        return task.id
    finally:
        await store.close()


def test_cancel_ends_a_task_whose_worker_is_gone(
    spawn: Spawn, redis_url: str, pg_url: str, data_dir: Path
) -> None:
    env = {
        "AUTOTUNER_REDIS_URL": redis_url,
        "AUTOTUNER_DATABASE_URL": pg_url,
        "AUTOTUNER_DATA_DIR": str(data_dir),
        "AUTOTUNER_REDIS_NAMESPACE": f"cancel-{uuid.uuid4().hex[:8]}",
        "AUTOTUNER_WORKER_STALE_SECONDS": "30",
    }
    api = spawn("serve", env, name="api")
    gone = asyncio.run(_left_running(pg_url, f"gone-{uuid.uuid4().hex[:6]}", heartbeat_age=300))
    alive = asyncio.run(_left_running(pg_url, f"alive-{uuid.uuid4().hex[:6]}", heartbeat_age=0))
    with httpx.Client(base_url=api.url, timeout=30) as client:
        response = client.post(f"/api/tasks/{gone}/cancel")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        events = client.get(f"/api/tasks/{gone}/events").json()
        assert [(e["id"], e["type"]) for e in events] == [(1, "task_cancelled")]
        assert client.delete(f"/api/tasks/{gone}").status_code == 204

        try:
            # A task whose worker still beats is left to that worker (it sees the flag).
            response = client.post(f"/api/tasks/{alive}/cancel")
            assert response.status_code == 200 and response.json()["status"] == "running"
            assert client.get(f"/api/tasks/{alive}/events").json() == []
        finally:  # no worker of a later test on this database may take it up
            asyncio.run(_remove(pg_url, alive))


async def _remove(pg_url: str, task_id: int) -> None:
    store = Store(pg_url)
    try:
        await store.delete_task(task_id)
    finally:
        await store.close()
