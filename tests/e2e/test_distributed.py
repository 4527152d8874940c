"""The distributed mode end to end: API processes, ARQ workers, real Redis and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.specs import sim_spec
from tests.helpers import AutotunerProcess, WsCollector, wait_until

Spawn = Callable[..., AutotunerProcess]


@pytest.fixture
def env(redis_url: str, pg_url: str, data_dir: Path) -> dict[str, str]:
    return {
        "AUTOTUNER_REDIS_URL": redis_url,
        "AUTOTUNER_DATABASE_URL": pg_url,
        "AUTOTUNER_DATA_DIR": str(data_dir),
        "AUTOTUNER_REDIS_NAMESPACE": f"autotuner-test-{uuid.uuid4().hex[:8]}",
        "AUTOTUNER_WORKER_HEARTBEAT_SECONDS": "1",
        "AUTOTUNER_WORKER_STALE_SECONDS": "5",
    }


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _create_and_watch(
    api: AutotunerProcess, spec: dict[str, Any], watchers: list[AutotunerProcess]
) -> tuple[dict[str, Any], list[WsCollector]]:
    response = httpx.post(f"{api.url}/api/tasks", json=spec)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    clients = [WsCollector(f"{w.ws_url}/api/ws/tasks/{task['id']}").start() for w in watchers]
    wait_until(lambda: _subscribers(api, task["id"]) == len(watchers), timeout=15)
    return task, clients


def _subscribers(api: AutotunerProcess, task_id: int) -> int:
    return int(
        httpx.get(f"{api.url}/api/ws/tasks/{task_id}/subscribers").json()["subscriber_count"]
    )


def _start(api: AutotunerProcess, task_id: int) -> None:
    response = httpx.post(f"{api.url}/api/tasks/{task_id}/start")
    assert response.status_code == 200, response.text


def test_every_api_process_delivers_every_event(spawn: Spawn, env: dict[str, str]) -> None:
    api1 = spawn("serve", env, name="api1")
    api2 = spawn("serve", env, name="api2")
    spawn("worker", env, name="worker", wait=False)
    task, (on1, on2) = _create_and_watch(api1, sim_spec(_name("dist")), [api1, api2])
    # Both processes count both subscribers.
    assert _subscribers(api2, task["id"]) == 2
    body = httpx.get(f"{api2.url}/api/ws/tasks/{task['id']}/subscribers").json()
    assert body == {"task_id": task["id"], "subscriber_count": 2, "status": "active"}
    _start(api2, task["id"])
    on1.join()
    on2.join()
    assert on1.ids == list(range(1, len(on1.ids) + 1))
    assert on1.events == on2.events
    assert on1.types[0] == "task_started" and on1.types[-1] == "task_completed"
    assert on1.types.count("experiment_completed") == 2
    workers = httpx.get(f"{api1.url}/api/system/workers").json()
    assert workers["mode"] == "distributed" and len(workers["workers"]) == 1


def test_api_killed_mid_task_loses_no_event(spawn: Spawn, env: dict[str, str]) -> None:
    api1 = spawn("serve", env, name="api1")
    api2 = spawn("serve", env, name="api2")
    spawn("worker", env, name="worker", wait=False)
    spec = sim_spec(_name("kill-api"), parameters={"max-num-seqs": [4, 8, 16]})
    task, (steady, victim) = _create_and_watch(api1, spec, [api1, api2])
    _start(api1, task["id"])
    wait_until(lambda: "experiment_completed" in victim.types, timeout=60)
    api2.kill()
    victim.join(timeout=10)
    assert victim.types[-1] != "task_completed"
    seen = victim.ids[-1]

    restarted = spawn("serve", env, name="api2-again", port=api2.port)
    resumed = WsCollector(f"{restarted.ws_url}/api/ws/tasks/{task['id']}?last_event_id={seen}")
    resumed.start().join()
    steady.join()
    assert victim.events + resumed.events == steady.events
    assert steady.ids == list(range(1, len(steady.ids) + 1))
    assert steady.types[-1] == "task_completed"


def test_worker_killed_mid_task_is_resumed_by_another(spawn: Spawn, env: dict[str, str]) -> None:
    api = spawn("serve", env, name="api")
    first = spawn("worker", env, name="worker1", wait=False)
    spec = sim_spec(_name("kill-worker"), parameters={"max-num-seqs": [4, 8, 16]})
    task, (client,) = _create_and_watch(api, spec, [api])
    _start(api, task["id"])
    wait_until(lambda: client.types.count("experiment_started") == 2, timeout=60)
    first.kill()
    spawn("worker", env, name="worker2", wait=False)
    client.join(timeout=120)
    assert client.ids == list(range(1, len(client.ids) + 1))
    assert client.types[-1] == "task_completed"
    assert "log_message" in client.types  # "lost its worker; re-queued"
    experiments = httpx.get(f"{api.url}/api/experiments/task/{task['id']}").json()
    statuses = sorted(e["status"] for e in experiments)
    assert statuses == ["cancelled", "success", "success", "success"]


def test_cancel_reaches_the_worker(spawn: Spawn, env: dict[str, str]) -> None:
    api = spawn("serve", env, name="api")
    spawn("worker", env, name="worker", wait=False)
    spec = sim_spec(
        _name("cancel"),
        benchmark={"max_time_per_iteration": 120, "max_requests_per_iteration": 100000},
    )
    task, (client,) = _create_and_watch(api, spec, [api])
    _start(api, task["id"])
    wait_until(lambda: "benchmark_progress" in client.types, timeout=60)
    assert httpx.post(f"{api.url}/api/tasks/{task['id']}/cancel").status_code == 200
    client.join(timeout=10)
    assert client.types[-1] == "task_cancelled"
    experiments = httpx.get(f"{api.url}/api/experiments/task/{task['id']}").json()
    assert [e["status"] for e in experiments] == ["cancelled"]
