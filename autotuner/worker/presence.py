"""A worker's presence: its row in the workers table, refreshed by a heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid

from autotuner.config import Settings
from autotuner.runtimes import reap_orphans
from autotuner.store import Store

log = logging.getLogger(__name__)


class WorkerPresence:
    """Registers this worker and keeps ``last_seen`` (and its tasks' heartbeats) fresh.

    ``stable=True`` gives the same id across restarts (the embedded worker), so
    a restarted server may take back the tasks it was running.
    """

    def __init__(self, store: Store, settings: Settings, *, mode: str, stable: bool) -> None:
        self.store = store
        self.settings = settings
        self.mode = mode
        host = socket.gethostname()
        self.id = (
            f"embedded@{host}" if stable else f"worker@{host}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        )
        self.hostname = host
        self.started_at = time.time()
        self.current: set[int] = set()
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Engines left by a launcher on this host that was killed (no teardown ran)
        # still hold their port and GPU memory; end them before taking work.
        reaped = await asyncio.to_thread(reap_orphans, self.settings.logs_dir)
        if reaped:
            log.warning("Terminated engines orphaned by a killed process: %s", reaped)
        await self.beat()
        self._loop_task = asyncio.create_task(self._loop(), name="autotuner-presence")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        with contextlib.suppress(Exception):
            await self.store.remove_worker(self.id)

    async def beat(self) -> None:
        now = time.time()
        await self.store.upsert_worker(
            id=self.id,
            hostname=self.hostname,
            pid=os.getpid(),
            mode=self.mode,
            status="busy" if self.current else "idle",
            current_task_id=min(self.current) if self.current else None,
            started_at=self.started_at,
            last_seen=now,
        )
        for task_id in list(self.current):
            await self.store.heartbeat_task(task_id, self.id)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.worker_heartbeat_seconds)
            try:
                await self.beat()
            except Exception:  # the database may be restarting; try again next beat
                log.warning("Worker heartbeat failed", exc_info=True)
