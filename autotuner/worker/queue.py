"""Task queues: how ``POST /start`` reaches a runner, in either mode.

* ``EmbeddedQueue`` runs the ``TaskRunner`` inside the API process (asyncio).
* ``ArqQueue`` only enqueues an ARQ job; ``autotuner worker`` processes run it.

Cancel works the same way in both: the API sets ``cancel_requested`` on the
task row; a task still waiting is cancelled on the spot, a running one is
stopped by its runner, which watches that flag, and a running one whose runner
is gone (none in this process in the embedded mode, a silent worker in the
distributed one) is cancelled on the spot too: cancel always ends a task.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
import uuid
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from autotuner.config import Settings
from autotuner.domain import TaskStatus
from autotuner.store import Store
from autotuner.worker.finish import finish_task
from autotuner.worker.presence import WorkerPresence
from autotuner.worker.runner import TaskRunner

if TYPE_CHECKING:
    from arq.connections import ArqRedis

    from autotuner.events import EventBus

log = logging.getLogger(__name__)

_WAITING = (TaskStatus.PENDING, TaskStatus.QUEUED)


SWEEP_INTERVAL = 5.0
ENQUEUE_TIMEOUT = 5.0


class QueueUnavailable(Exception):
    """The task could not be handed to a runner (Redis is unreachable)."""


class TaskQueue(abc.ABC):
    """How started tasks reach a runner (the contract suite: ``autotuner.testing.queues``).

    Delivery
        A submitted task is run to a final state (``completed``, ``failed`` or
        ``cancelled``) with its final event stored, by one runner at a time: a
        runner first claims the task in the store, so a task submitted twice
        runs once. A task whose runner disappears (a killed worker, a runner
        that gave up) is taken up again by a sweep once its heartbeat is older
        than ``worker_stale_seconds``, and resumes from its stored experiments.
    Ordering
        None promised between tasks (ARQ orders jobs by enqueue time only to
        the millisecond).
    Concurrency
        At most ``max_concurrent_tasks`` tasks run at once per runner process
        (the API process when embedded, each ``autotuner worker`` otherwise).
    Cancel
        Always ends a task: one still waiting, or one no runner runs (see
        :meth:`runs_here` and :meth:`orphaned_before`), at once; a running one
        by its runner, soon after.
    Close
        Stops what this process runs without ending any task: a task it was
        running is left to be taken up again.
    """

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
        """Hand a task (already ``queued``) to a runner; :class:`QueueUnavailable` if
        it cannot be handed over now (nothing was queued then)."""

    async def cancel(self, task_id: int) -> None:
        """Ask for a task to stop; a task nobody runs (yet, or any more) ends at once."""
        await self.store.update_task(task_id, cancel_requested=True)
        ended = await finish_task(
            self.store,
            self.bus,
            task_id,
            TaskStatus.CANCELLED,
            None,
            from_status=_WAITING,
            message=f"Task {task_id} cancelled before it started",
            retry=False,
        )
        if ended is None and not self.runs_here(task_id):
            await finish_task(
                self.store,
                self.bus,
                task_id,
                TaskStatus.CANCELLED,
                "cancelled while no runner was running it",
                from_status=(TaskStatus.RUNNING,),
                stale_before=self.orphaned_before(),
                retry=False,
            )

    def runs_here(self, task_id: int) -> bool:
        """Whether a runner of this process runs ``task_id`` now (and will see the cancel)."""
        return False

    def orphaned_before(self) -> float | None:
        """A running task whose runner has been silent since this time has no runner
        (``None``: any running task that :meth:`runs_here` denies has none)."""
        return time.time() - self.settings.worker_stale_seconds


class EmbeddedQueue(TaskQueue):
    """Runs tasks in this process, at most ``max_concurrent_tasks`` at a time."""

    def __init__(self, settings: Settings, store: Store, bus: EventBus) -> None:
        super().__init__(settings, store, bus)
        self.presence = WorkerPresence(store, settings, mode="embedded", stable=True)
        self.runner = TaskRunner(store, bus, settings, self.presence)
        self._running: dict[int, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(settings.max_concurrent_tasks)
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.presence.start()
        # A server killed mid-task left tasks queued or running: take them up again.
        for task in await self.store.list_tasks([TaskStatus.QUEUED, TaskStatus.RUNNING]):
            log.info("Resuming task %d (%s) left %s", task.id, task.task_name, task.status.value)
            await self.submit(task.id)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="autotuner-sweeper")

    async def sweep(self) -> list[int]:
        """Take up tasks this process should be running but is not: queued ones
        with no job, running ones whose heartbeat went stale (a runner that gave
        up on a database error, a job that died). Returns the ids submitted."""
        stale_before = time.time() - self.settings.worker_stale_seconds
        left = await self.store.stale_running_tasks(stale_before)
        left += await self.store.list_tasks([TaskStatus.QUEUED])
        taken = []
        for task in left:
            if not self.runs_here(task.id):
                log.warning(
                    "Task %d (%s) was left %s with no runner; taking it up again",
                    task.id,
                    task.task_name,
                    task.status.value,
                )
                await self.submit(task.id)
                taken.append(task.id)
        return taken

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                await self.sweep()
            except Exception:  # the database may be unavailable: try again next round
                log.warning("Stale-task sweep failed", exc_info=True)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
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

    def runs_here(self, task_id: int) -> bool:
        job = self._running.get(task_id)
        return job is not None and not job.done()

    def orphaned_before(self) -> float | None:
        # One process owns the SQLite database: a task it does not run has no runner.
        return None


class ArqQueue(TaskQueue):
    """Enqueues ARQ jobs on Redis for ``autotuner worker`` processes."""

    def __init__(self, settings: Settings, store: Store, bus: EventBus) -> None:
        super().__init__(settings, store, bus)
        self._pool: ArqRedis | None = None

    async def start(self) -> None:
        # Redis down when the API starts must not stop it from serving: reads,
        # sockets and creation work without Redis; `start` answers 503 until
        # the queue can be reached.
        try:
            await self._connect()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning(
                "Redis is unreachable (%s); tasks cannot be started until it is back",
                exc or type(exc).__name__,
            )

    async def _connect(self) -> ArqRedis:
        from arq import create_pool
        from arq.connections import RedisSettings

        if self._pool is None:
            assert self.settings.redis_url
            redis_settings = RedisSettings.from_dsn(self.settings.redis_url)
            redis_settings.conn_retries = 0
            redis_settings.conn_timeout = int(ENQUEUE_TIMEOUT)
            self._pool = await create_pool(
                redis_settings, default_queue_name=self.settings.queue_name
            )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def submit(self, task_id: int) -> None:
        try:
            async with asyncio.timeout(ENQUEUE_TIMEOUT):
                await enqueue(await self._connect(), self.settings, task_id)
        except (RedisError, OSError, TimeoutError) as exc:
            raise QueueUnavailable(
                f"cannot queue task {task_id}: Redis is unreachable ({exc or type(exc).__name__})"
            ) from exc


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
