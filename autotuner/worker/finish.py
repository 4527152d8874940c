"""How a task ends: its final state and final event, written together, once.

Used by the runner (completed, failed, cancelled), by the queues (a task
cancelled before it started, or whose runner is gone) and by the sweepers.
Every task reaches one of the final states with its ``task_*`` event stored,
so no watching client waits for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from autotuner.domain import TaskPublic, TaskStatus
from autotuner.events.payloads import final_task_event
from autotuner.store import Store, StoreUnavailable, utcnow

if TYPE_CHECKING:
    from autotuner.events import EventBus

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Statuses a task can end from.
UNFINISHED = (TaskStatus.PENDING, TaskStatus.QUEUED, TaskStatus.RUNNING)

#: Backoff of a write retried while the database is unavailable (seconds).
RETRY_FIRST = 0.5
RETRY_MAX = 10.0


async def retry_while_unavailable(
    call: Callable[[], Awaitable[T]], what: str, *, first: float = RETRY_FIRST
) -> T:
    """``await call()`` until the store answers: a full disk or a lost database
    delays what must be written (a task's final state) instead of dropping it.

    The delay doubles up to ``RETRY_MAX``; every failed attempt is logged.
    Cancelling the caller (the process stopping) ends the retries.
    """
    delay = first
    attempt = 1
    while True:
        try:
            return await call()
        except StoreUnavailable as exc:
            log.warning("%s: %s (attempt %d); retrying in %.1f s", what, exc, attempt, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX)
        attempt += 1


async def finish_task(
    store: Store,
    bus: EventBus,
    task_id: int,
    status: TaskStatus,
    reason: str | None,
    *,
    from_status: Sequence[TaskStatus] = UNFINISHED,
    stale_before: float | None = None,
    message: str | None = None,
    retry: bool = True,
) -> TaskPublic | None:
    """End a task with ``status`` and record its final event, atomically.

    Only from ``from_status`` (and, with ``stale_before``, a running task only if
    its runner has been silent since then); returns ``None`` when the task had
    already moved on, which is never an error: some other path ended it.
    With ``retry``, waits for an unavailable store to come back (runners);
    without, raises :class:`StoreUnavailable` (API requests answer 503).
    """

    async def once() -> TaskPublic | None:
        current = await store.get_task(task_id)
        if current is None or current.status not in from_status:
            return None
        now = utcnow()
        elapsed = (now - current.started_at).total_seconds() if current.started_at else None
        best_params = None
        if current.best_experiment_id is not None:
            best = await store.get_experiment(current.best_experiment_id)
            best_params = best.parameters if best else None
        summary = {
            "total_experiments": current.total_experiments,
            "successful_experiments": current.successful_experiments,
            "failed_experiments": current.failed_experiments,
            "best_experiment_id": current.best_experiment_id,
            "best_score": current.best_score,
            "best_parameters": best_params,
            "elapsed_time": elapsed,
        }
        text = message or f"Task {current.task_name} {status.value}" + (
            f": {reason}" if reason else ""
        )
        event = final_task_event(status, task_id, message=text, summary=summary, error=reason)
        done = await bus.finish_task(
            event,
            from_status,
            stale_before=stale_before,
            interrupted=f"interrupted: task {status.value}",
            status=status,
            completed_at=now,
            elapsed_time=elapsed,
            error_message=reason if status != TaskStatus.COMPLETED else None,
            worker_id=None,
        )
        if done is None:
            return None
        log.info("%s", text)
        return done[0]

    if not retry:
        return await once()
    return await retry_while_unavailable(once, f"Task {task_id}: cannot record its end yet")
