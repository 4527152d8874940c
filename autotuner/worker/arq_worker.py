"""The distributed worker: an ARQ job that calls the same ``TaskRunner``.

Besides running jobs, every worker sweeps for tasks whose runner went silent
(a worker killed with SIGKILL, a lost host): such a task is put back in the
queue and resumed from its stored experiments by whichever worker takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker

from autotuner.config import Settings
from autotuner.domain import EventType, TaskStatus, create_event
from autotuner.events import create_event_bus
from autotuner.store import Store
from autotuner.worker.presence import WorkerPresence
from autotuner.worker.queue import enqueue
from autotuner.worker.runner import TaskRunner

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 5.0


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
            create_event(
                EventType.LOG_MESSAGE,
                task.id,
                message=f"Task {task.task_name} lost its worker; re-queued to resume",
                data={"level": "warning", "task": moved.model_dump(mode="json")},
            )
        )
        await enqueue(ctx["redis"], settings, task.id)
    return requeued


async def _sweeper(ctx: dict[str, Any]) -> None:
    while True:
        try:
            await sweep_stale_tasks(ctx)
        except Exception:
            log.warning("Stale-task sweep failed", exc_info=True)
        await asyncio.sleep(SWEEP_INTERVAL)


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
        if "sweeper" in ctx:
            ctx["sweeper"].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ctx["sweeper"]
        if "presence" in ctx:
            await ctx["presence"].stop()
        if "bus" in ctx:
            await ctx["bus"].close()
        if "store" in ctx:
            await ctx["store"].close()

    return Worker(
        functions=[run_task],
        queue_name=settings.queue_name,
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=settings.max_concurrent_tasks,
        job_timeout=7 * 24 * 3600,
        keep_result=60,
        handle_signals=True,
    )
