"""Redis outages in the distributed mode: real ``autotuner serve`` and ``worker``
processes, PostgreSQL, and a throwaway ``redis-server`` stopped and restarted.

An idle worker used to exit after a 5 s outage (a busy one after its task), and
``start`` during an outage answered 500 and left the task ``queued`` with no job
(starting again said 409).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.specs import sim_spec
from tests.helpers import AutotunerProcess, RedisServer, wait_until

Spawn = Callable[..., AutotunerProcess]
FINAL = ("completed", "failed", "cancelled")
OUTAGE = 8.0  # seconds: longer than the 5 s that used to end an idle worker


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    try:
        server = RedisServer(tmp_path)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def env(redis_server: RedisServer, pg_url: str, data_dir: Path) -> dict[str, str]:
    return {
        "AUTOTUNER_REDIS_URL": redis_server.url,
        "AUTOTUNER_DATABASE_URL": pg_url,
        "AUTOTUNER_DATA_DIR": str(data_dir),
        "AUTOTUNER_REDIS_NAMESPACE": f"outage-{uuid.uuid4().hex[:8]}",
        "AUTOTUNER_WORKER_HEARTBEAT_SECONDS": "1",
        "AUTOTUNER_WORKER_STALE_SECONDS": "5",
    }


def _create(api: AutotunerProcess, spec: dict[str, Any]) -> int:
    response = httpx.post(f"{api.url}/api/tasks", json=spec, timeout=30)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _task(api: AutotunerProcess, task_id: int) -> dict[str, Any]:
    task: dict[str, Any] = httpx.get(f"{api.url}/api/tasks/{task_id}", timeout=30).json()
    return task


def _wait_final(api: AutotunerProcess, task_id: int, timeout: float = 120) -> dict[str, Any]:
    task: dict[str, Any] = wait_until(
        lambda: (t := _task(api, task_id))["status"] in FINAL and t, timeout=timeout, interval=0.5
    )
    return task


def _start_once_redis_is_back(api: AutotunerProcess, task_id: int) -> None:
    """``start`` answers 503 until the API's queue reaches Redis; then the task
    runs to ``completed`` with every event."""
    wait_until(
        lambda: httpx.post(f"{api.url}/api/tasks/{task_id}/start", timeout=30).status_code == 200,
        timeout=30,
        interval=0.5,
    )
    assert _wait_final(api, task_id)["status"] == "completed"
    _assert_ended_with_every_event(api, task_id)


def _workers(api: AutotunerProcess) -> list[dict[str, Any]]:
    response = httpx.get(f"{api.url}/api/system/workers", timeout=30)
    workers: list[dict[str, Any]] = response.json()["workers"]
    return workers


def _assert_ended_with_every_event(api: AutotunerProcess, task_id: int) -> None:
    events = httpx.get(f"{api.url}/api/tasks/{task_id}/events", timeout=30).json()
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "task_completed", [e["type"] for e in events]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_idle_worker_and_start_ride_out_an_outage(
    spawn: Spawn, env: dict[str, str], redis_server: RedisServer
) -> None:
    api = spawn("serve", env, name="api")
    worker = spawn("worker", env, name="worker", wait=False)
    wait_until(lambda: len(_workers(api)) == 1, timeout=30)
    task_id = _create(api, sim_spec(_name("outage-start"), parameters={"max-num-seqs": [4]}))

    redis_server.stop()
    time.sleep(OUTAGE)
    assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
    for _ in range(2):  # and again: never "409 queued"
        response = httpx.post(f"{api.url}/api/tasks/{task_id}/start", timeout=30)
        assert response.status_code == 503, response.text
        detail = response.json()["detail"]
        assert "Redis is unreachable" in detail and "stays pending" in detail, detail
        assert _task(api, task_id)["status"] == "pending"

    redis_server.start()
    # The API's pool reconnects by itself; the worker polls the queue again.
    _start_once_redis_is_back(api, task_id)
    assert worker.proc.poll() is None
    assert "Redis is unreachable" in worker.tail(400)
    assert "Redis is back after" in worker.tail(400)


def test_busy_worker_rides_out_an_outage_and_takes_jobs_after(
    spawn: Spawn, env: dict[str, str], redis_server: RedisServer
) -> None:
    """Redis goes away mid-task and stays away past the task's end: the task ends
    (it needs only the database), the worker stays, and takes jobs once Redis is back."""
    api = spawn("serve", env, name="api")
    worker = spawn("worker", env, name="worker", wait=False)
    wait_until(lambda: len(_workers(api)) == 1, timeout=30)
    long = sim_spec(
        _name("outage-busy"),
        benchmark={"max_time_per_iteration": 3, "max_requests_per_iteration": 100000},
    )
    task_id = _create(api, long)
    assert httpx.post(f"{api.url}/api/tasks/{task_id}/start", timeout=30).status_code == 200
    wait_until(lambda: _task(api, task_id)["status"] == "running", timeout=60, interval=0.2)

    redis_server.stop()
    assert _wait_final(api, task_id)["status"] == "completed"
    _assert_ended_with_every_event(api, task_id)
    time.sleep(OUTAGE)  # the worker's polls fail for a while after its task
    assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
    redis_server.start()

    # Still a worker that takes jobs (ARQ's job slot was not lost in the outage).
    after = _create(api, sim_spec(_name("after-outage"), parameters={"max-num-seqs": [4]}))
    _start_once_redis_is_back(api, after)
    assert worker.proc.poll() is None


def test_a_queued_task_whose_job_redis_lost_still_runs(
    spawn: Spawn, env: dict[str, str], redis_server: RedisServer
) -> None:
    """Redis restarted without its data while a task waited in the queue: a
    worker's sweep enqueues it again."""
    api = spawn("serve", env, name="api")
    task_id = _create(api, sim_spec(_name("lost-job"), parameters={"max-num-seqs": [4]}))
    assert httpx.post(f"{api.url}/api/tasks/{task_id}/start", timeout=30).status_code == 200
    assert _task(api, task_id)["status"] == "queued"
    redis_server.stop()
    redis_server.start()  # empty: the job is gone

    worker = spawn("worker", env, name="worker", wait=False)
    assert _wait_final(api, task_id)["status"] == "completed"
    _assert_ended_with_every_event(api, task_id)
    assert f"Task {task_id} is queued but no job waits for it" in worker.tail(400)


def test_the_api_starts_while_redis_is_down_and_queues_once_it_is_back(
    spawn: Spawn, env: dict[str, str], redis_server: RedisServer
) -> None:
    """Redis down when ``autotuner serve`` starts: it serves reads, sockets and
    creation; ``start`` answers 503 until Redis is back, then the task runs."""
    redis_server.stop()
    api = spawn("serve", env, name="api")  # waits until it answers
    assert httpx.get(f"{api.url}/api/health", timeout=30).status_code == 200
    task_id = _create(api, sim_spec(_name("down-at-start"), parameters={"max-num-seqs": [4]}))
    response = httpx.post(f"{api.url}/api/tasks/{task_id}/start", timeout=30)
    assert response.status_code == 503, response.text
    assert "Redis is unreachable" in response.json()["detail"]
    assert _task(api, task_id)["status"] == "pending"
    assert "tasks cannot be started until it is back" in api.tail(400)

    redis_server.start()
    worker = spawn("worker", env, name="worker", wait=False)
    _start_once_redis_is_back(api, task_id)
    assert worker.proc is not None and worker.proc.poll() is None
