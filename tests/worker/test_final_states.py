"""Every task reaches a final state with its final event stored, in the embedded mode.

Against a real ``autotuner serve``: tasks whose stored spec cannot be run (or
even read), a running task nobody runs, and one left running with a stale
heartbeat.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.specs import sim_spec
from tests.helpers import AutotunerProcess, WsCollector, wait_until
from tests.worker.rows import embedded_worker_id, insert_task

Spawn = Callable[..., AutotunerProcess]
FINAL = ("completed", "failed", "cancelled")


def _serve(spawn: Spawn, data_dir: Path, **env: str) -> AutotunerProcess:
    return spawn("serve", {"AUTOTUNER_DATA_DIR": str(data_dir), **env})


def _task(server: AutotunerProcess, task_id: int) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/tasks/{task_id}", timeout=30)
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


def _events(server: AutotunerProcess, task_id: int) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.url}/api/tasks/{task_id}/events", timeout=30)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


def _wait_final(server: AutotunerProcess, task_id: int, timeout: float = 60) -> dict[str, Any]:
    task: dict[str, Any] = wait_until(
        lambda: (t := _task(server, task_id))["status"] in FINAL and t, timeout=timeout
    )
    return task


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth):
        value = {"deeper": value}
    return value


def _odd_specs() -> dict[str, dict[str, Any]]:
    big = sim_spec("big-int", parameters={"max-num-seqs": [2**64]})
    deep = sim_spec("deep")
    deep["model"] = {**deep["model"], "extra": _nested(300)}
    return {
        "big-int": big,  # orjson refuses it: the first event used to fail outside the try
        "deep": deep,  # deeper than pydantic's and orjson's serializers go
        "not-a-spec": {"task_name": "not-a-spec", "deployment_mode": "sim"},
    }


@pytest.mark.parametrize("case", sorted(_odd_specs()))
def test_a_stored_spec_that_cannot_run_ends_the_task_failed(
    spawn: Spawn, data_dir: Path, case: str
) -> None:
    server = _serve(spawn, data_dir)
    spec = copy.deepcopy(_odd_specs()[case])
    task_id = insert_task(data_dir / "autotuner.db", case, spec)
    watcher = WsCollector(f"{server.ws_url}/api/ws/tasks/{task_id}", timeout=60).start()
    wait_until(
        lambda: (
            httpx.get(f"{server.url}/api/ws/tasks/{task_id}/subscribers").json()["subscriber_count"]
            == 1
        ),
        timeout=15,
    )

    assert httpx.post(f"{server.url}/api/tasks/{task_id}/start", timeout=30).status_code == 200
    task = _wait_final(server, task_id)
    assert task["status"] == "failed"
    assert "stored task spec is not valid" in task["error_message"], task["error_message"]

    watcher.join()
    assert watcher.types[-1] == "task_failed"
    events = _events(server, task_id)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "task_failed"
    assert events[-1] == watcher.events[-1]
    assert events[-1]["data"]["task"]["status"] == "failed"
    assert events[-1]["data"]["error"] == task["error_message"]

    # Ended for good: a restart does not run it again (it used to stick again).
    server.stop()
    again = _serve(spawn, data_dir)
    assert _task(again, task_id)["status"] == "failed"
    assert _events(again, task_id) == events
    # And it can be deleted.
    assert httpx.delete(f"{again.url}/api/tasks/{task_id}", timeout=30).status_code == 204


def test_cancel_ends_a_running_task_no_runner_runs(spawn: Spawn, data_dir: Path) -> None:
    """A task marked running that no runner of this process runs (its heartbeat is
    fresh, so no sweeper would take it yet): cancel ends it at once."""
    server = _serve(spawn, data_dir)
    task_id = insert_task(
        data_dir / "autotuner.db",
        "orphan",
        sim_spec("orphan"),
        status="running",
        heartbeat_age=0,
        worker_id=embedded_worker_id(),
    )
    # "cancel it first" was the only answer to delete, and cancel did nothing.
    assert httpx.delete(f"{server.url}/api/tasks/{task_id}", timeout=30).status_code == 409

    response = httpx.post(f"{server.url}/api/tasks/{task_id}/cancel", timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    events = _events(server, task_id)
    assert [(e["id"], e["type"]) for e in events] == [(1, "task_cancelled")]
    assert events[0]["data"]["task"]["status"] == "cancelled"
    assert events[0]["data"]["task"]["last_event_id"] == 1

    again = httpx.post(f"{server.url}/api/tasks/{task_id}/cancel", timeout=30)
    assert again.status_code == 409
    assert httpx.delete(f"{server.url}/api/tasks/{task_id}", timeout=30).status_code == 204


def test_sweeper_takes_up_a_task_left_running(spawn: Spawn, data_dir: Path) -> None:
    """A task left running with a stale heartbeat and no runner (a runner that gave
    up on a transient I/O error, say) is taken up and run to its end."""
    server = _serve(spawn, data_dir, AUTOTUNER_WORKER_STALE_SECONDS="2")
    spec = sim_spec("left-running", parameters={"max-num-seqs": [4]})
    task_id = insert_task(
        data_dir / "autotuner.db",
        "left-running",
        spec,
        status="running",
        heartbeat_age=60,
        worker_id=embedded_worker_id(),
    )
    task = _wait_final(server, task_id, timeout=90)
    assert task["status"] == "completed", task
    events = _events(server, task_id)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "task_started" and events[0]["data"]["resumed"] is True
    assert events[-1]["type"] == "task_completed"
    assert f"Task {task_id} (left-running) was left running with no runner" in server.tail(400)
