"""Task queues: how ``POST /start`` reaches a runner, in either mode.

* ``EmbeddedQueue`` runs the ``TaskRunner`` inside the API process (asyncio).
* ``ArqQueue`` only enqueues an ARQ job; ``autotuner worker`` processes run it.

Cancel works the same way in both: the API sets ``cancel_requested`` on the
task row; a task still waiting is cancelled on the spot, a running one is
stopped by its runner, which watches that flag.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING

from autotuner.config import Settings
from autotuner.domain import EventType, TaskStatus, create_event
from autotuner.store import Store, utcnow
from autotuner.worker.presence import WorkerPresence
from autotuner.worker.runner import TaskRunner

if TYPE_CHECKING:
    from arq.connections import ArqRedis

    from autotuner.events import EventBus

log = logging.getLogger(__name__)

_WAITING = (TaskStatus.PENDING, TaskStatus.QUEUED)


class TaskQueue(abc.ABC):
    def __init__(self, settings: Settings, store: Store, bus: EventBus) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Called once when the API process starts."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Called once when the API process stops."""

    @abc.abstractmethod
    async def submit(self, task_id: int) -> None:
        """Hand a task (already ``queued``) to a runner."""

    async def cancel(self, task_id: int) -> None:
        """Ask for a task to stop; a task nobody runs yet is cancelled at once."""
        await self.store.update_task(task_id, cancel_requested=True)
        task = await self.store.transition_task(
            task_id, _WAITING, status=TaskStatus.CANCELLED, completed_at=utcnow()
        )
        if task is not None:
            await self.bus.publish(
                create_event(
                    EventType.TASK_CANCELLED,
                    task_id,
                    message=f"Task {task_id} cancelled before it started",
                    data={"task": task.model_dump(mode="json"), "summary": None},
                )
            )


class EmbeddedQueue(TaskQueue):
    """Runs tasks in this process, at most ``max_concurrent_tasks`` at a time."""

    def __init__(self, settings: Settings, store: Store, bus: EventBus) -> None:
        super().__init__(settings, store, bus)
        self.presence = WorkerPresence(store, settings, mode="embedded", stable=True)
        self.runner = TaskRunner(store, bus, settings, self.presence)
        self._running: dict[int, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(settings.max_concurrent_tasks)

    async def start(self) -> None:
        await self.presence.start()
        # A server killed mid-task left tasks queued or running: take them up again.
        for task in await self.store.list_tasks([TaskStatus.QUEUED, TaskStatus.RUNNING]):
            log.info("Resuming task %d (%s) left %s", task.id, task.task_name, task.status.value)
            await self.submit(task.id)

    async def close(self) -> None:
        for job in list(self._running.values()):
            job.cancel()
        for job in list(self._running.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job
        await self.presence.stop()

    async def submit(self, task_id: int) -> None:
        if task_id in self._running and not self._running[task_id].done():
            return
        job = asyncio.create_task(self._run(task_id), name=f"autotuner-task-{task_id}")
        self._running[task_id] = job

    async def _run(self, task_id: int) -> None:
        try:
            async with self._slots:
                await self.runner.run(task_id)
        finally:
            self._running.pop(task_id, None)

    async def cancel(self, task_id: int) -> None:
        await super().cancel(task_id)
        self.runner.request_cancel(task_id)


class ArqQueue(TaskQueue):
    """Enqueues ARQ jobs on Redis for ``autotuner worker`` processes."""

    def __init__(self, settings: Settings, store: Store, bus: EventBus) -> None:
        super().__init__(settings, store, bus)
        self._pool: ArqRedis | None = None

    async def start(self) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        assert self.settings.redis_url
        self._pool = await create_pool(
            RedisSettings.from_dsn(self.settings.redis_url),
            default_queue_name=self.settings.queue_name,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def submit(self, task_id: int) -> None:
        await enqueue(self._pool, self.settings, task_id)


async def enqueue(pool: ArqRedis | None, settings: Settings, task_id: int) -> None:
    """Enqueue one attempt at running a task (each attempt has its own job id)."""
    if pool is None:
        raise RuntimeError("the task queue is not started")
    job = await pool.enqueue_job(
        "run_task",
        task_id,
        _job_id=f"autotuner-task-{task_id}-{uuid.uuid4().hex[:12]}",
        _queue_name=settings.queue_name,
    )
    log.info("Enqueued task %d as ARQ job %s", task_id, job.job_id if job else "?")


def create_task_queue(settings: Settings, store: Store, bus: EventBus) -> TaskQueue:
    """The queue for this mode: ARQ when Redis is configured, in-process otherwise."""
    if settings.distributed:
        return ArqQueue(settings, store, bus)
    return EmbeddedQueue(settings, store, bus)
