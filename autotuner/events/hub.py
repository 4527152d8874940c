"""The fan-out hub: one per API process, between one transport and many WebSocket clients.

Per topic the hub holds one upstream subscription, however many clients watch
it, and takes it only while somebody does. Each event becomes one
:class:`~autotuner.events.subscriber.Outgoing` once (the stored payload, never
re-serialized) and the same object goes to every client: written straight to
the connection when it can take it, else appended to the client's bounded
buffer (``subscriber.py``). Per task the ids reach clients in order, without
gaps or duplicates, whatever the transport does (``_ordering.py``); a
reconnecting client is owed a replay from the event log (``replay.py``).

The hub reads only the event log (:class:`~autotuner.events._base.EventLog`),
never the rest of the store, and only a process that serves WebSocket clients
builds one: it binds itself to the process's transport (see :func:`create_hub`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Coroutine, Iterable
from typing import Any

from autotuner.config import Settings
from autotuner.events._base import ALL_TASKS, EventLog, StoredEvent, Transport
from autotuner.events._ordering import OrderedTopic, Sequencer
from autotuner.events.replay import Replay, plan_replay
from autotuner.events.subscriber import CLOSE_TOO_SLOW, SEND_BUFFER_BYTES, Outgoing, Subscriber
from autotuner.stats import percentile

log = logging.getLogger("autotuner.events.hub")


class _Topic(OrderedTopic):
    """A task topic: its clients (whole task, or per experiment) and its position."""

    __slots__ = ("subs", "by_experiment", "count")

    def __init__(self, task_id: int) -> None:
        super().__init__(task_id)
        self.subs: set[Subscriber] = set()
        self.by_experiment: dict[int, set[Subscriber]] = {}
        self.count = 0


class FanoutHub:
    """This process's fan-out of events to its WebSocket clients (see module doc)."""

    def __init__(
        self,
        events: EventLog,
        transport: Transport,
        *,
        send_buffer: int = 1024,
        send_buffer_bytes: int = SEND_BUFFER_BYTES,
        replay_cap: int = 10_000,
        sweep_interval: float = 5.0,
    ) -> None:
        self._events = events
        self._transport = transport
        self.send_buffer = send_buffer
        self.send_buffer_bytes = send_buffer_bytes
        self.replay_cap = replay_cap
        self.sweep_interval = sweep_interval
        self._topics: dict[int, _Topic] = {}
        self._order = Sequencer(events, self._topics, self._fanout, self._spawn)
        self._all: set[Subscriber] = set()
        self._all_ready: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False
        self.connections = 0
        self.deliveries = 0
        self.direct_deliveries = 0
        self.events_received = 0
        #: Seconds from each recent event's creation to its arrival here.
        self.latencies: deque[float] = deque(maxlen=1024)
        self._rate_at = time.monotonic()
        self._rate_mark = 0
        self._rate = 0.0
        transport.bind(self)

    # ------------------------------------------------------------ clients

    def new_subscriber(self, task_id: int | None, experiment_pk: int | None = None) -> Subscriber:
        return Subscriber(
            task_id, experiment_pk, limit=self.send_buffer, byte_limit=self.send_buffer_bytes
        )

    async def subscribe(self, sub: Subscriber) -> None:
        """Attach ``sub``; from return on, every event of its topic newer than the
        topic's last delivered id reaches its buffer, in order."""
        if self._closed:
            raise RuntimeError("the event hub is closed")
        sub.attached = True
        self.connections += 1
        if sub.task_id is None:
            self._all.add(sub)
            if self._all_ready is None:
                self._all_ready = self._spawn(self._transport.subscribe(ALL_TASKS))
            try:
                await asyncio.shield(self._all_ready)
            except Exception:
                self._all_ready = None
                raise
            log.info(
                "[EventBroadcaster] Subscribed to all tasks (total subscribers: %d)", len(self._all)
            )
            return
        topic = self._topics.get(sub.task_id)
        if topic is None:
            topic = self._topics[sub.task_id] = _Topic(sub.task_id)
            topic.ready = self._spawn(self._start_topic(topic))
            if self._transport.needs_sweep and self._sweeper is None:
                self._sweeper = self._spawn(self._sweep())
        if sub.experiment_pk is None:
            topic.subs.add(sub)
        else:
            topic.by_experiment.setdefault(sub.experiment_pk, set()).add(sub)
        topic.count += 1
        assert topic.ready is not None
        await asyncio.shield(topic.ready)
        await self._transport.change_subscribers(sub.task_id, +1, topic.count)
        log.info(
            "[EventBroadcaster] Subscribed to %s (total subscribers: %d)",
            sub.describe(),
            topic.count,
        )

    async def unsubscribe(self, sub: Subscriber) -> None:
        """Detach ``sub`` (idempotent); the last client of a topic ends its subscription."""
        self._detach(sub)

    def _detach(self, sub: Subscriber) -> None:
        if not sub.attached:
            return
        sub.attached = False
        self.connections -= 1
        if sub.task_id is None:
            self._all.discard(sub)
            remaining = len(self._all)
            if not remaining and not self._closed:
                self._all_ready = None
                self._spawn(self._transport.unsubscribe(ALL_TASKS))
            log.info("[EventBroadcaster] Unsubscribed from all tasks (remaining: %d)", remaining)
            return
        topic = self._topics.get(sub.task_id)
        if topic is None:
            return
        if sub.experiment_pk is None:
            topic.subs.discard(sub)
        else:
            group = topic.by_experiment.get(sub.experiment_pk)
            if group is not None:
                group.discard(sub)
                if not group:
                    del topic.by_experiment[sub.experiment_pk]
        topic.count -= 1
        if topic.count <= 0:
            del self._topics[sub.task_id]
            if topic.filler is not None:
                topic.filler.cancel()
            if not self._closed:
                self._spawn(self._transport.unsubscribe(sub.task_id))
        if not self._closed:
            self._spawn(self._transport.change_subscribers(sub.task_id, -1, max(topic.count, 0)))
        log.info(
            "[EventBroadcaster] Unsubscribed from %s (remaining: %d)",
            sub.describe(),
            max(topic.count, 0),
        )

    def local_count(self, task_id: int) -> int:
        topic = self._topics.get(task_id)
        return topic.count if topic is not None else 0

    @property
    def topics(self) -> int:
        return len(self._topics) + (1 if self._all else 0)

    async def replay(self, sub: Subscriber, last_event_id: int | None) -> Replay:
        """What ``sub`` (already subscribed) is owed; sets ``sub.last_id`` to where
        live delivery takes over, so nothing is sent twice or skipped."""
        return await plan_replay(self._events, sub, last_event_id, self.replay_cap)

    async def subscriber_count(self, task_id: int) -> int:
        """WebSocket clients of ``task_id``: every API process's in the Redis mode."""
        return await self._transport.subscriber_count(task_id, self.local_count(task_id))

    def stats(self) -> dict[str, Any]:
        """This process's fan-out figures (connections, deliveries, latency) for the stats."""
        now = time.monotonic()
        elapsed = now - self._rate_at
        if elapsed >= 1.0:
            self._rate = (self.deliveries - self._rate_mark) / elapsed
            self._rate_at = now
            self._rate_mark = self.deliveries
        return {
            "connections": self.connections,
            "topics": self.topics,
            "events_received": self.events_received,
            "deliveries": self.deliveries,
            "deliveries_per_second": round(self._rate, 2),
            "direct_deliveries": self.direct_deliveries,
            **_latency_ms(self.latencies),
        }

    # ------------------------------------------------------- from the transport

    def deliver_task(self, event: StoredEvent) -> None:
        topic = self._topics.get(event.task_id)
        if topic is None:
            return
        self.events_received += 1
        if event.timestamp:
            # Once per event, not per client: creation to arrival at this hub.
            self.latencies.append(time.time() - event.timestamp)
        self._order.arrive(topic, event)

    def deliver_all(self, event: StoredEvent) -> None:
        subs = self._all
        if subs:
            # No id on the item: ids are per task, and this stream interleaves tasks.
            self._push_all(subs, Outgoing(None, event.payload.decode()))

    def resync(self) -> None:
        for topic in self._topics.values():
            self._order.catch_up(topic)
        if self._all:
            note = Outgoing.control(
                {
                    "type": "resync_required",
                    "task_id": None,
                    "last_event_id": None,
                    "reason": "the event transport reconnected; events may have been "
                    "missed: refetch the task list",
                }
            )
            self._push_all(self._all, note)

    # ---------------------------------------------------------------- fan-out

    def _fanout(self, topic: _Topic, event: StoredEvent) -> None:
        item = Outgoing(event.id, event.payload.decode())
        n = self._push_all(topic.subs, item) if topic.subs else 0
        if topic.by_experiment and event.experiment_pk is not None:
            group = topic.by_experiment.get(event.experiment_pk)
            if group:
                n += self._push_all(group, item)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "[EventBroadcaster] Broadcast %s id=%d to task %d (%d subscribers)",
                event.type,
                event.id,
                event.task_id,
                n,
            )

    def _push_all(self, subs: Iterable[Subscriber], item: Outgoing) -> int:
        slow: list[Subscriber] | None = None
        n = 0
        event_id = item.id
        direct_n = 0
        for sub in subs:
            queue = sub.queue
            direct = sub.direct
            if direct is not None and not queue and not sub.inflight:
                # Fast path: nothing waits before this event, the socket can take it.
                if event_id is not None and event_id <= sub.last_id:
                    continue
                # (The writer builds the item's frame once and shares it: Outgoing.wire.)
                if direct(item):
                    if event_id is not None:
                        sub.last_id = event_id
                    n += 1
                    direct_n += 1
                    continue
            if not queue:
                if sub.closed:
                    continue
                sub.queue = deque((item,))
                sub.queued_bytes = item.size
                n += 1
                sub.wake()
                continue
            if sub.full(item):
                if slow is None:
                    slow = []
                slow.append(sub)
                continue
            queue.append(item)
            sub.queued_bytes += item.size
            n += 1
        self.deliveries += n
        self.direct_deliveries += direct_n
        if slow:
            for sub in slow:
                log.warning(
                    "[EventBroadcaster] Client of %s too slow (%d events, %d bytes unsent): "
                    "closing with %d, resume after id %d",
                    sub.describe(),
                    len(sub.queue),
                    sub.queued_bytes,
                    CLOSE_TOO_SLOW,
                    sub.last_id,
                )
                sub.overflow()
                self._detach(sub)
        return n

    # ------------------------------------------------------- topic life

    async def _start_topic(self, topic: _Topic) -> None:
        # Subscribe first, then read the newest id (see Sequencer.started).
        try:
            await self._transport.subscribe(topic.task_id)
            newest = await self._events.last_event_id(topic.task_id)
        except BaseException:
            if self._topics.get(topic.task_id) is topic:
                del self._topics[topic.task_id]
            raise
        self._order.started(topic, newest)

    async def _sweep(self) -> None:
        try:
            await self._order.sweep(self.sweep_interval, lambda: not self._closed)
        finally:
            self._sweeper = None

    # ------------------------------------------------------------------ life

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "[EventBroadcaster] background task failed: %r", task.exception(), exc_info=False
            )

    async def close(self) -> None:
        """Close every client (1001) and stop background work."""
        self._closed = True
        for topic in list(self._topics.values()):
            for sub in [*topic.subs, *(s for g in topic.by_experiment.values() for s in g)]:
                sub.close(1001, "server shutting down; reconnect with last_event_id")
        for sub in list(self._all):
            sub.close(1001, "server shutting down")
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


def create_hub(settings: Settings, events: EventLog, transport: Transport) -> FanoutHub:
    """The hub of an API process, bound to ``transport`` (the one of its
    :class:`~autotuner.events.EventBus`); build it before the bus starts."""
    return FanoutHub(
        events,
        transport,
        send_buffer=settings.ws_send_buffer,
        send_buffer_bytes=settings.ws_send_buffer_bytes,
    )


def _latency_ms(samples: Iterable[float]) -> dict[str, float | None]:
    """p50/p99 of recent events' creation-to-hub latency, in milliseconds."""
    ordered = sorted(samples)
    if not ordered:
        return {"event_latency_p50_ms": None, "event_latency_p99_ms": None}

    return {
        "event_latency_p50_ms": round(1000 * percentile(ordered, 50), 3),
        "event_latency_p99_ms": round(1000 * percentile(ordered, 99), 3),
    }
