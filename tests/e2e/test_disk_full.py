"""A full disk under a real embedded ``autotuner serve``.

The task used to be marked failed while ``task_failed`` was never stored (its
watchers waited for ever), and ``DELETE`` answered 500. Now: requests that need
to write answer 503 and change nothing, the runner retries the task's final
write until the disk has room again, and then the final event is stored and
delivered.

The disk is a small tmpfs (a real ENOSPC, SQLite's "database or disk is full")
where mounting is allowed; elsewhere the server's file-size limit is dropped
(RLIMIT_FSIZE: every write fails with EFBIG, SQLite's "disk I/O error").
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.e2e.specs import sim_spec
from tests.helpers import AutotunerProcess, WsCollector, wait_until

Spawn = Callable[..., AutotunerProcess]
FINAL = ("completed", "failed", "cancelled")


class Disk:
    """Where the server's data lives, and a way to make it refuse every write."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.mounted = False
        self._filler = root / "filler"
        self._pid: int | None = None

    def mount(self, size_mb: int = 48) -> None:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(self.root)],
            capture_output=True,
        )
        self.mounted = result.returncode == 0

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.root)], check=False)

    @property
    def data_dir(self) -> Path:
        path = self.root / "data"
        path.mkdir(exist_ok=True)
        return path

    def fill(self, server: AutotunerProcess) -> None:
        if self.mounted:
            chunk = b"\0" * (1 << 20)
            with self._filler.open("wb", buffering=0) as out:
                while chunk:
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        chunk = chunk[: len(chunk) // 2]
        else:
            assert server.proc is not None
            self._pid = server.proc.pid
            proc = psutil.Process(self._pid)
            _, hard = proc.rlimit(psutil.RLIMIT_FSIZE)
            proc.rlimit(psutil.RLIMIT_FSIZE, (1, hard))

    def free(self) -> None:
        if self.mounted:
            self._filler.unlink(missing_ok=True)
        elif self._pid is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc = psutil.Process(self._pid)
                _, hard = proc.rlimit(psutil.RLIMIT_FSIZE)
                proc.rlimit(psutil.RLIMIT_FSIZE, (hard, hard))

    def wait_until_the_runner_retries(self, server: AutotunerProcess, seconds: float) -> None:
        if self.mounted:
            wait_until(lambda: "cannot record its end yet" in server.tail(200), timeout=60)
        else:  # the server cannot write its log either: give it time
            time.sleep(seconds)

    @property
    def error(self) -> str:
        """What SQLite says about such a disk."""
        return "database or disk is full" if self.mounted else "disk I/O error"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    disk = Disk(tmp_path / "disk")
    if os.geteuid() == 0:
        disk.mount()
    try:
        yield disk
    finally:
        disk.free()


@pytest.fixture
def unmount_after(disk: Disk) -> Iterator[None]:
    yield
    disk.unmount()


def _task(api: httpx.Client, task_id: int) -> dict[str, Any]:
    task: dict[str, Any] = api.get(f"/api/tasks/{task_id}").json()
    return task


def test_full_disk_ends_the_task_with_its_event_once_there_is_room(
    unmount_after: None, disk: Disk, spawn: Spawn
) -> None:
    server = spawn("serve", {"AUTOTUNER_DATA_DIR": str(disk.data_dir)})
    api = httpx.Client(base_url=server.url, timeout=30)
    done = api.post("/api/tasks", json=sim_spec(f"before-{uuid.uuid4().hex[:6]}")).json()["id"]
    spec = sim_spec(
        "filled-up",
        parameters={"max-num-seqs": [4]},
        benchmark={"max_time_per_iteration": 4, "max_requests_per_iteration": 100000},
    )
    task_id = api.post("/api/tasks", json=spec).json()["id"]
    watcher = WsCollector(f"{server.ws_url}/api/ws/tasks/{task_id}", timeout=120).start()
    wait_until(
        lambda: api.get(f"/api/ws/tasks/{task_id}/subscribers").json()["subscriber_count"] == 1,
        timeout=15,
    )
    assert api.post(f"/api/tasks/{task_id}/start").status_code == 200
    wait_until(lambda: "benchmark_progress" in watcher.types, timeout=60)

    disk.fill(server)
    try:
        # The benchmark ends, its result cannot be stored: the runner retries.
        disk.wait_until_the_runner_retries(server, seconds=10)
        assert _task(api, task_id)["status"] == "running"  # reads still work
        # ... and health says writes fail, though a read-only ping succeeds.
        health = api.get("/api/health").json()
        assert health["status"] == "degraded", health
        assert health["database"] == "writes failing" and disk.error in health["database_error"]
        # Writes answer 503 with what to do, never 500, and change nothing.
        deleted = api.delete(f"/api/tasks/{done}")
        assert deleted.status_code in (204, 503), deleted.text
        if deleted.status_code == 503:
            assert disk.error in deleted.json()["detail"]
            assert "nothing was lost" in deleted.json()["detail"]
            assert api.get(f"/api/tasks/{done}").status_code == 200
        created = api.post("/api/tasks", json=sim_spec(f"while-full-{uuid.uuid4().hex[:6]}"))
        assert created.status_code in (201, 503), created.text
        if created.status_code == 503:
            assert disk.error in created.json()["detail"]
        assert watcher.types[-1] not in ("task_failed", "task_completed")
    finally:
        disk.free()

    watcher.join()
    assert watcher.types[-1] == "task_failed", watcher.types
    assert watcher.ids == list(range(1, len(watcher.ids) + 1))
    task = _task(api, task_id)
    assert task["status"] == "failed" and disk.error in task["error_message"]
    history = api.get(f"/api/tasks/{task_id}/events").json()
    assert history == watcher.events
    experiments = api.get(f"/api/experiments/task/{task_id}").json()
    assert [e["status"] for e in experiments] in (["failed"], ["cancelled"])

    # Room again: everything works, and the task can be started again (it resumes).
    assert api.delete(f"/api/tasks/{done}").status_code in (204, 404)
    assert api.post(f"/api/tasks/{task_id}/start").status_code == 200
    wait_until(lambda: _task(api, task_id)["status"] in FINAL, timeout=90, interval=0.5)
    assert _task(api, task_id)["status"] == "completed"
    assert api.get("/api/health").json()["status"] == "ok"
    api.close()
