"""The event bus: every process publishes through it, durably and across processes.

``publish`` records the event in the store first (which gives it its id and
makes it survive anything that follows), then hands it to the transport, which
carries it to the fan-out hub of every API process. The bus owns no hub: a
process that serves WebSocket clients builds one beside it (``hub.py``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from autotuner.config import Settings
from autotuner.domain import Event, TaskPublic, TaskStatus
from autotuner.events._base import Transport
from autotuner.events._memory import MemoryTransport
from autotuner.logs import RateLimitedLog
from autotuner.store import Store, StoredEvent

log = logging.getLogger("autotuner.events.bus")


class EventBus:
    """Records and publishes the events of any process (fan-out is the hub's)."""

    def __init__(self, store: Store, transport: Transport) -> None:
        self.store = store
        self.transport = transport
        self.events_published = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._publish_log = RateLimitedLog(log)
        self._rate_at = time.monotonic()
        self._rate_mark = 0
        self._rate = 0.0

    @property
    def mode(self) -> str:
        return self.transport.name

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        await self.transport.start()

    async def close(self) -> None:
        """Close the transport (close a hub bound to it first: ``FanoutHub.close``)."""
        await self.transport.close()

    async def publish(self, event: Event, *, experiment_pk: int | None = None) -> StoredEvent:
        """Record ``event`` (durably, with the task's next id), then fan it out.

        ``experiment_pk``: the database id of the experiment an experiment event
        is about (see ``autotuner.events.payloads``). Returns the recorded event.
        A transport failure is logged, not raised: the event is recorded, and
        every hub catches up from the store.
        """
        stored = await self.store.append_event(event, experiment_pk=experiment_pk)
        await self._send(stored)
        return stored

    async def finish_task(
        self,
        event: Event,
        from_status: Sequence[TaskStatus],
        *,
        stale_before: float | None = None,
        interrupted: str = "interrupted",
        **values: Any,
    ) -> tuple[TaskPublic, StoredEvent] | None:
        """Move a task to its final state and record its final ``event`` in one
        transaction (see :meth:`Store.finish_task`), then fan the event out.

        A task is never left final without its final event, nor gets two.
        ``None`` when the task was not in ``from_status`` (nothing written).
        """
        done = await self.store.finish_task(
            event, from_status, stale_before=stale_before, interrupted=interrupted, **values
        )
        if done is not None:
            await self._send(done[1])
        return done

    async def _send(self, stored: StoredEvent) -> None:
        self.events_published += 1
        try:
            await self.transport.publish(stored)
        except Exception as exc:
            log.warning(
                "[EventBroadcaster] Event %s id=%d of task %d recorded but not sent (%s); "
                "clients catch up from the store",
                stored.type,
                stored.id,
                stored.task_id,
                exc,
            )
        else:
            self._publish_log(
                stored.task_id,
                "[EventBroadcaster] Published %s id=%d for task %d",
                stored.type,
                stored.id,
                stored.task_id,
            )

    def publish_sync(
        self, event: Event, timeout: float | None = 30.0, *, experiment_pk: int | None = None
    ) -> StoredEvent:
        """Publish from synchronous code in another thread.

        Runs :meth:`publish` on the bus's event loop and waits for it. Calling it
        on that loop's own thread would deadlock, so it raises ``RuntimeError``
        there: ``await bus.publish(event)`` instead.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError(
                "EventBus.publish_sync: the bus is not running; await bus.start() on an "
                "event loop (in another thread) first"
            )
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError(
                "EventBus.publish_sync was called on the bus's own event-loop thread, where "
                "blocking would deadlock; use `await bus.publish(event)` there"
            )
        future = asyncio.run_coroutine_threadsafe(
            self.publish(event, experiment_pk=experiment_pk), loop
        )
        return future.result(timeout)

    def stats(self) -> dict[str, Any]:
        """Publishing figures; the API's ``GET /api/system/stats`` adds its hub's."""
        now = time.monotonic()
        elapsed = now - self._rate_at
        if elapsed >= 1.0:
            self._rate = (self.events_published - self._rate_mark) / elapsed
            self._rate_at = now
            self._rate_mark = self.events_published
        return {
            "events_published": self.events_published,
            "events_per_second": round(self._rate, 2),
            "mode": self.mode,
        }


def create_event_bus(settings: Settings, store: Store, *, namespace: str | None = None) -> EventBus:
    """The bus for ``settings``: in-process without ``redis_url``, Redis with it.

    ``namespace`` prefixes every Redis key and channel (default ``autotuner``),
    so several deployments or test runs can share one Redis.
    """
    transport: Transport
    if settings.redis_url:
        from autotuner.events._redis import RedisTransport

        ns = namespace or settings.redis_namespace
        transport = RedisTransport(settings.redis_url, namespace=ns)
    else:
        transport = MemoryTransport()
    return EventBus(store, transport)
