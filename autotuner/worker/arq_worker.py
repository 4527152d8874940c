"""The distributed worker: an ARQ job that calls the same ``TaskRunner``.

Besides running jobs, every worker sweeps for tasks whose runner went silent
(a worker killed with SIGKILL, a lost host): such a task is put back in the
queue and resumed from its stored experiments by whichever worker takes it;
and for queued tasks whose job is gone (Redis restarted without its data, an
API process killed between marking a task queued and enqueueing it).

A Redis outage does not stop a worker: ARQ's poll loop would end the process
on the first Redis error; this one logs, keeps its running tasks going (they
need only the database) and polls again until Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix
from arq.worker import Worker
from redis.exceptions import RedisError

from autotuner.config import Settings
from autotuner.domain import EventType, TaskStatus
from autotuner.events import create_event_bus
from autotuner.events.payloads import task_event
from autotuner.store import Store
from autotuner.worker.presence import WorkerPresence
from autotuner.worker.queue import enqueue
from autotuner.worker.runner import TaskRunner

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 5.0
#: Backoff of the poll loop while Redis is unreachable (seconds).
OUTAGE_FIRST, OUTAGE_MAX = 0.5, 5.0
_REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


async def run_task(ctx: dict[str, Any], task_id: int) -> None:
    """ARQ job: run (or resume) one task."""
    await ctx["runner"].run(task_id)


async def sweep_stale_tasks(ctx: dict[str, Any]) -> int:
    """Re-queue running tasks whose owner stopped sending heartbeats."""
    settings: Settings = ctx["settings"]
    store: Store = ctx["store"]
    stale_before = time.time() - settings.worker_stale_seconds
    requeued = 0
    for task in await store.stale_running_tasks(stale_before):
        moved = await store.transition_task(
            task.id, (TaskStatus.RUNNING,), status=TaskStatus.QUEUED, worker_id=None
        )
        if moved is None:
            continue
        requeued += 1
        log.warning("Task %d lost its worker; re-queued", task.id)
        await ctx["bus"].publish(
            task_event(
                EventType.LOG_MESSAGE,
                moved,
                message=f"Task {task.task_name} lost its worker; re-queued to resume",
                level="warning",
            )
        )
        await enqueue(ctx["redis"], settings, task.id)
    return requeued + await _requeue_jobless(ctx)


async def _requeue_jobless(ctx: dict[str, Any]) -> int:
    """Enqueue queued tasks that no job waits for, seen so on two sweeps in a row
    (a task between ``start`` and its enqueue is not yet jobless). A second job
    for a task is harmless: only one runner can claim it."""
    settings: Settings = ctx["settings"]
    store: Store = ctx["store"]
    queued = {t.id for t in await store.list_tasks([TaskStatus.QUEUED])}
    if not queued:
        ctx["jobless"] = set()
        return 0
    waiting = await _tasks_with_waiting_jobs(ctx["redis"], settings)
    jobless = queued - waiting
    again = jobless & ctx.get("jobless", set())
    ctx["jobless"] = jobless - again
    for task_id in sorted(again):
        log.warning("Task %d is queued but no job waits for it; enqueued again", task_id)
        await enqueue(ctx["redis"], settings, task_id)
    return len(again)


async def _tasks_with_waiting_jobs(redis: ArqRedis, settings: Settings) -> set[int]:
    """Tasks with a job in the ARQ queue that no worker has started."""
    prefix = "autotuner-task-"
    job_ids = [j.decode() for j in await redis.zrange(settings.queue_name, 0, -1)]
    ours = [j for j in job_ids if j.startswith(prefix)]
    if not ours:
        return set()
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in ours:
            pipe.exists(in_progress_key_prefix + job_id)
        started = await pipe.execute()
    waiting = set()
    for job_id, in_progress in zip(ours, started, strict=True):
        with contextlib.suppress(ValueError):
            if not in_progress:
                waiting.add(int(job_id.removeprefix(prefix).split("-", 1)[0]))
    return waiting


async def _sweeper(ctx: dict[str, Any]) -> None:
    while True:
        try:
            await sweep_stale_tasks(ctx)
        except Exception:
            log.warning("Stale-task sweep failed", exc_info=True)
        await asyncio.sleep(SWEEP_INTERVAL)


class ResilientWorker(Worker):
    """ARQ's worker, riding out Redis outages (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outage_since: float | None = None
        self._outage_delay = OUTAGE_FIRST

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except _REDIS_ERRORS as exc:
            if self._outage_since is None:
                self._outage_since = time.monotonic()
                log.warning(
                    "Redis is unreachable (%s); running tasks go on, polling again until "
                    "it is back",
                    exc or type(exc).__name__,
                )
            else:
                log.debug("Redis still unreachable: %s", exc)
            await asyncio.sleep(self._outage_delay)
            self._outage_delay = min(self._outage_delay * 2, OUTAGE_MAX)
            return
        if self._outage_since is not None:
            log.warning(
                "Redis is back after %.1f s; polling the queue again",
                time.monotonic() - self._outage_since,
            )
            self._outage_since = None
            self._outage_delay = OUTAGE_FIRST

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        for job_id in job_ids:
            try:
                await super().start_jobs([job_id])
            except _REDIS_ERRORS:
                # ARQ took a job slot (semaphore + counter) before its Redis
                # calls and gives it back only on a conflict: give it back here,
                # or after an outage this worker would never start a job again.
                self.job_counter -= 1
                self.sem.release()
                raise

    async def close(self) -> None:
        try:
            await super().close()
        except _REDIS_ERRORS as exc:
            log.warning("Redis unreachable while stopping (%s)", exc or type(exc).__name__)
            if self.on_shutdown is not None:
                await self.on_shutdown(self.ctx)


def create_worker(settings: Settings) -> Worker:
    """An ARQ worker wired to this project's store, event bus and runner."""
    if not settings.redis_url:
        raise ValueError("the distributed worker needs AUTOTUNER_REDIS_URL")

    async def startup(ctx: dict[str, Any]) -> None:
        store = Store(settings.resolved_database_url)
        await store.init()
        bus = create_event_bus(settings, store)
        await bus.start()
        presence = WorkerPresence(store, settings, mode="distributed", stable=False)
        await presence.start()
        ctx.update(
            settings=settings,
            store=store,
            bus=bus,
            presence=presence,
            runner=TaskRunner(store, bus, settings, presence),
        )
        ctx["sweeper"] = asyncio.create_task(_sweeper(ctx))
        log.info("autotuner worker %s ready (queue %s)", presence.id, settings.queue_name)

    async def shutdown(ctx: dict[str, Any]) -> None:
        # Idempotent: ResilientWorker.close may call it again after a Redis error.
        if "sweeper" in ctx:
            sweeper = ctx.pop("sweeper")
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        if "presence" in ctx:
            await ctx.pop("presence").stop()
        if "bus" in ctx:
            await ctx.pop("bus").close()
        if "store" in ctx:
            await ctx.pop("store").close()

    redis_settings = RedisSettings.from_dsn(settings.redis_url)
    # Redis may be restarting when a worker starts, too: wait for it a while.
    redis_settings.conn_retries = 60
    return ResilientWorker(
        functions=[run_task],
        queue_name=settings.queue_name,
        redis_settings=redis_settings,
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=settings.max_concurrent_tasks,
        job_timeout=7 * 24 * 3600,
        keep_result=60,
        handle_signals=True,
    )
