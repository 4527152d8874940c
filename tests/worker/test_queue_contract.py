"""The task queue contract (``autotuner.testing.queues``) over both modes: the embedded
queue on SQLite, and ARQ on a real Redis with an ``autotuner worker`` process on a
fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from autotuner.config import Settings
from autotuner.events import EventBus, create_event_bus
from autotuner.store import Store
from autotuner.testing.queues import QueueBackend, QueueContract, queue_settings, wait_for
from autotuner.worker.queue import ArqQueue, EmbeddedQueue, TaskQueue
from tests.conftest import fresh_pg_database
from tests.helpers import AutotunerProcess

Spawn = Callable[..., AutotunerProcess]

# Every test runs sim tasks of a few seconds; the suite's own deadlines come first.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


class _Backend(QueueBackend):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.resolved_database_url)
        self.queues: list[TaskQueue] = []
        self.closed: list[TaskQueue] = []
        self.bus: EventBus | None = None

    async def start(self) -> None:
        await self.store.init()
        self.bus = create_event_bus(self.settings, self.store)
        await self.bus.start()

    def new_queue(self) -> TaskQueue:
        raise NotImplementedError

    async def open(self) -> TaskQueue:
        queue = self.new_queue()
        await queue.start()
        self.queues.append(queue)
        return queue

    async def close(self, queue: TaskQueue) -> None:
        self.closed.append(queue)
        await queue.close()

    async def stop(self) -> None:
        for queue in self.queues:
            if queue not in self.closed:
                await queue.close()
        if self.bus is not None:
            await self.bus.close()
        await self.store.close()


class EmbeddedBackend(_Backend):
    """``EmbeddedQueue``: the runner in this process, SQLite."""

    def new_queue(self) -> TaskQueue:
        assert self.bus is not None
        return EmbeddedQueue(self.settings, self.store, self.bus)


class ArqBackend(_Backend):
    """``ArqQueue`` in this process, one ``autotuner worker`` process running the jobs."""

    def __init__(self, settings: Settings, spawn: Spawn) -> None:
        super().__init__(settings)
        self.spawn = spawn
        self.worker: AutotunerProcess | None = None

    def new_queue(self) -> TaskQueue:
        assert self.bus is not None
        return ArqQueue(self.settings, self.store, self.bus)

    async def start(self) -> None:
        await super().start()
        s = self.settings
        env = {
            "AUTOTUNER_DATA_DIR": str(s.data_dir),
            "AUTOTUNER_DATABASE_URL": str(s.database_url),
            "AUTOTUNER_REDIS_URL": str(s.redis_url),
            "AUTOTUNER_REDIS_NAMESPACE": s.redis_namespace,
            "AUTOTUNER_WORKER_HEARTBEAT_SECONDS": str(s.worker_heartbeat_seconds),
            "AUTOTUNER_WORKER_STALE_SECONDS": str(s.worker_stale_seconds),
            "AUTOTUNER_MAX_CONCURRENT_TASKS": str(s.max_concurrent_tasks),
        }
        self.worker = self.spawn("worker", env, name="worker")

        async def registered() -> bool:
            assert self.worker is not None and self.worker.proc is not None
            assert self.worker.proc.poll() is None, f"worker exited:\n{self.worker.tail()}"
            workers = await self.store.list_workers(time.time() - 60)
            return any(w["mode"] == "distributed" for w in workers)

        await wait_for("the worker registered", registered, within=60)


@asynccontextmanager
async def _open_backend(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, spawn: Spawn, **settings: Any
) -> AsyncIterator[QueueBackend]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    backend: _Backend
    if kind == "embedded":
        backend = EmbeddedBackend(queue_settings(data_dir, **settings))
        await backend.start()
        try:
            yield backend
        finally:
            await backend.stop()
        return
    redis_server_url = request.getfixturevalue("redis_server_url")
    # fresh_pg_database runs its own event loop: in a thread, beside this one.
    database = fresh_pg_database("autotuner_queue")
    database_url = await asyncio.to_thread(database.__enter__)
    try:
        arq_settings = queue_settings(
            data_dir,
            database_url=database_url,
            redis_url=f"{redis_server_url}/0",
            redis_namespace=f"queue-{uuid.uuid4().hex[:8]}",
            **settings,
        )
        backend = ArqBackend(arq_settings, spawn)
        try:
            await backend.start()
            yield backend
        finally:
            await backend.stop()
            if backend.worker is not None:  # before its database is dropped
                await asyncio.to_thread(backend.worker.stop)
    finally:
        await asyncio.to_thread(database.__exit__, None, None, None)


@pytest.fixture(params=["embedded", "arq"])
async def queue_backend(
    request: pytest.FixtureRequest, tmp_path: Path, spawn: Spawn
) -> AsyncIterator[QueueBackend]:
    async with _open_backend(request.param, request, tmp_path, spawn) as backend:
        yield backend


class TestQueueContract(QueueContract):
    """Over both modes (embedded, arq)."""


@pytest.mark.parametrize("kind", ["embedded", "arq"])
async def test_a_task_submitted_twice_runs_once_with_free_slots(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, spawn: Spawn
) -> None:
    """With two slots both jobs of a task submitted twice may start at once in one
    worker; the claim alone does not stop the second (same worker id), so the
    runner must (it once ran the task twice and failed it on a duplicate key)."""
    async with _open_backend(kind, request, tmp_path, spawn, max_concurrent_tasks=2) as backend:
        await QueueContract().test_a_task_submitted_twice_runs_once(backend)
