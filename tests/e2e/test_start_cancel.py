"""Start followed at once by cancel, over and over, on a real embedded ``autotuner serve``.

It used to lock the SQLite database (2 of 6 tries): a write transaction cut by
the cancel kept SQLite's write lock, every later write waited the 30 s busy
timeout and failed with ``database is locked`` (500). Now every request
answers well before that timeout and every task ends with its final event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.specs import sim_spec
from tests.helpers import AutotunerProcess, wait_until

Spawn = Callable[..., AutotunerProcess]
#: Below SQLite's busy timeout (30 s): a locked database cannot answer in time.
REQUEST_TIMEOUT = 25.0
FINAL = {"completed": "task_completed", "failed": "task_failed", "cancelled": "task_cancelled"}


def test_start_then_cancel_never_locks_the_database(spawn: Spawn, data_dir: Path) -> None:
    server = spawn("serve", {"AUTOTUNER_DATA_DIR": str(data_dir)})
    task_ids = []
    with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT) as api:
        for n, pause in enumerate([0.0, 0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8]):
            created = api.post("/api/tasks", json=_busy_spec(f"start-cancel-{n}"))
            assert created.status_code == 201, created.text
            task_id = created.json()["id"]
            task_ids.append(task_id)
            assert api.post(f"/api/tasks/{task_id}/start").status_code == 200
            time.sleep(pause)
            cancelled = api.post(f"/api/tasks/{task_id}/cancel")
            assert cancelled.status_code == 200, cancelled.text

            def final(task_id: int = task_id) -> str | None:
                status = api.get(f"/api/tasks/{task_id}").json()["status"]
                return status if status in FINAL else None

            assert wait_until(final, timeout=REQUEST_TIMEOUT) == "cancelled", n

        errors: set[str] = set()
        for task_id in task_ids:
            task = api.get(f"/api/tasks/{task_id}").json()
            events = api.get(f"/api/tasks/{task_id}/events").json()
            assert [e["id"] for e in events] == list(range(1, len(events) + 1))
            assert events[-1]["type"] == FINAL[task["status"]], (task_id, events[-1]["type"])
            assert events[-1]["data"]["task"]["status"] == task["status"]
            experiments = api.get(f"/api/experiments/task/{task_id}").json()
            assert all(e["status"] in ("failed", "cancelled") for e in experiments)
            errors.update(e["error_message"].split(":")[0] for e in experiments)
        # The premise: experiments failed at once, their engine not being installed.
        assert "could not start 'vllm'" in errors, errors
    assert "database is locked" not in server.tail(2000)


def _busy_spec(name: str) -> dict[str, Any]:
    """A task that writes to the database all the time: 300 experiments whose
    engine is not installed fail one after the other within milliseconds, so a
    cancel lands inside one of the runner's transactions."""
    return sim_spec(
        name,
        deployment_mode="local",
        base_runtime="vllm",
        parameters={"max-num-seqs": list(range(1, 301))},
        optimization={"max_iterations": 300},
    )


def test_task_ids_are_never_reused(spawn: Spawn, data_dir: Path) -> None:
    """After the newest task is deleted, the next one gets a new id (old URLs and
    ``autotuner watch N`` must not show another task), also after a restart."""
    server = spawn("serve", {"AUTOTUNER_DATA_DIR": str(data_dir)})
    with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT) as api:
        first = api.post("/api/tasks", json=sim_spec("reuse-1")).json()["id"]
        assert api.delete(f"/api/tasks/{first}").status_code == 204
        second = api.post("/api/tasks", json=sim_spec("reuse-2")).json()["id"]
        assert second > first
        assert api.get(f"/api/tasks/{first}").status_code == 404
        assert api.delete(f"/api/tasks/{second}").status_code == 204
    server.stop()
    again = spawn("serve", {"AUTOTUNER_DATA_DIR": str(data_dir)}, port=server.port)
    third = httpx.post(f"{again.url}/api/tasks", json=sim_spec("reuse-3"), timeout=30)
    assert third.status_code == 201 and third.json()["id"] > second
