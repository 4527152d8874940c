"""The fan-out hub: one per process, between one transport and many WebSocket clients.

Per topic the hub holds one upstream subscription, however many clients watch
it, and takes it only while somebody does. Each event is turned into one
ASGI message once (the stored payload, never re-serialized) and the same
object is appended to the send buffer of every client: a ``deque`` and at most
one waiting future per connection, drained in batches by the connection's
writer. A client whose buffer holds ``send_buffer`` unsent events, or
``send_buffer_bytes`` of them, is cut off (close code 4429) instead of growing
memory or slowing anybody else. Reads from the store (replays, gap fills) come
in pages of at most ``PAGE`` events and about ``PAGE_BYTES`` bytes.

Per task the hub delivers ids in order, without gaps or duplicates, whatever
the transport does (see ``_base``): it remembers the last id it delivered,
fills a gap from the store before going on, drops what it has already
delivered, and catches every topic up from the store when the transport says
it may have lost events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from autotuner.events._base import ALL_TASKS, Transport
from autotuner.store import Store, StoredEvent

log = logging.getLogger("autotuner.events.hub")

#: Close code for a client that could not keep up; it can resume with last_event_id.
CLOSE_TOO_SLOW = 4429
#: Events read from the store per query when filling a gap or replaying ...
PAGE = 500
#: ... and at most about this many bytes of them (a page holds at least one event).
PAGE_BYTES = 512 << 10
#: Default byte bound of one client's send buffer.
SEND_BUFFER_BYTES = 16 << 20


class Outgoing:
    """One message for the wire, shared by every client it goes to."""

    __slots__ = ("id", "message", "size", "_frame")

    def __init__(self, event_id: int | None, text: str) -> None:
        self.id = event_id
        #: The ASGI ``websocket.send`` message, built once per event.
        self.message = {"type": "websocket.send", "text": text}
        #: What it weighs in a send buffer (characters: bytes for ASCII JSON).
        self.size = len(text)
        self._frame: bytes | None = None

    @classmethod
    def control(cls, body: dict[str, Any]) -> Outgoing:
        return cls(None, orjson.dumps(body).decode())

    @property
    def frame(self) -> bytes:
        """The complete WebSocket text frame (server frames are unmasked, so one
        frame serves every uncompressed connection), built on first use."""
        frame = self._frame
        if frame is None:
            frame = self._frame = text_frame(self.message["text"].encode())
        return frame


def text_frame(data: bytes) -> bytes:
    """An unmasked, unfragmented WebSocket text frame holding ``data`` (UTF-8)."""
    size = len(data)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 65536:
        head = b"\x81\x7e" + size.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + size.to_bytes(8, "big")
    return head + data


#: The queue of a subscriber with nothing pending: idle connections hold no deque.
_EMPTY: Any = ()


class Subscriber:
    """One WebSocket client's view of the hub: its filter and its send buffer.

    Delivery to a subscriber takes one of two paths. When nothing is queued and
    ``direct`` is set, the hub writes the event's frame straight to the
    connection (``api/ws.py``). Otherwise it appends to ``queue`` and, when the
    queue was empty, wakes the consumer: ``kick()`` (which starts a writer task
    for the connection) or a coroutine blocked in :meth:`wait`. The writer pops,
    skips ids at or below ``last_id`` and sends.
    """

    __slots__ = (
        "task_id",
        "experiment_pk",
        "limit",
        "byte_limit",
        "queue",
        "queued_bytes",
        "waiter",
        "kick",
        "closed",
        "close_code",
        "close_reason",
        "cut_off_why",
        "last_id",
        "attached",
        "direct",
        "inflight",
    )

    def __init__(
        self,
        task_id: int | None,
        experiment_pk: int | None = None,
        *,
        limit: int = 1024,
        byte_limit: int = SEND_BUFFER_BYTES,
    ) -> None:
        #: ``None`` for the all-tasks topic.
        self.task_id = task_id
        self.experiment_pk = experiment_pk
        self.limit = limit
        #: Bytes the queue may hold; one item always fits, however large.
        self.byte_limit = byte_limit
        #: A deque while something is pending; an empty tuple otherwise.
        self.queue: deque[Outgoing] = _EMPTY
        #: The sizes of the queued items (reset whenever the queue is found empty).
        self.queued_bytes = 0
        self.waiter: asyncio.Future[None] | None = None
        #: Called when the queue becomes non-empty or the subscriber is closed.
        self.kick: Callable[[], None] | None = None
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.cut_off_why: str | None = None
        #: The newest event id handed to the client (or the point it starts after).
        self.last_id = 0
        self.attached = False
        #: Writes a complete frame straight to the connection, or returns False when
        #: it cannot right now (see ``api/ws.py``); None: always go through the queue.
        self.direct: Callable[[bytes], bool] | None = None
        #: True while the writer is inside a send: direct writes would overtake it.
        self.inflight = False

    def push(self, item: Outgoing) -> bool:
        """Queue ``item``; False (and the subscriber closed) when the buffer is full."""
        if self.closed:
            return False
        queue = self.queue
        if not queue:
            self.queued_bytes = 0
        elif self.full(item):
            self.overflow()
            return False
        if queue is _EMPTY:
            queue = self.queue = deque()
        queue.append(item)
        self.queued_bytes += item.size
        if len(queue) == 1:
            self.wake()
        return True

    def full(self, item: Outgoing) -> bool:
        """Whether ``item`` does not fit behind what is queued (count or bytes)."""
        return len(self.queue) >= self.limit or self.queued_bytes + item.size > self.byte_limit

    def overflow(self) -> None:
        self.cut_off("send buffer overflow")

    def cut_off(self, why: str) -> None:
        """Close with 4429 and a reason saying where to resume (``last_id``)."""
        if not self.closed:
            self.cut_off_why = why
            self.close(CLOSE_TOO_SLOW, self.final_reason())

    def final_reason(self) -> str:
        """The close reason, as of now: a send under way when the client was cut off
        may still complete, and the resume point then moves with it."""
        why = self.cut_off_why
        if why is None:
            return self.close_reason
        if self.task_id is None:
            return f"{why}: too slow; reconnect and refetch the task list"
        return f"{why}: too slow; resume with last_event_id={self.last_id}"

    def close(self, code: int | None = None, reason: str = "") -> None:
        """Stop delivering: drop what is buffered and wake the writer so it can close."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        self.queue = _EMPTY
        self.queued_bytes = 0
        self.direct = None
        self.wake()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)
        elif self.kick is not None:
            self.kick()

    def pop(self) -> Outgoing | None:
        """The next queued item, or None (and the deque released) when nothing is left."""
        queue = self.queue
        if not queue:
            return None
        item = queue.popleft()
        if queue:
            self.queued_bytes -= item.size
        else:
            self.queue = _EMPTY
            self.queued_bytes = 0
        return item

    async def wait(self) -> None:
        """Return when something is queued or the subscriber is closed."""
        if self.queue or self.closed:
            return
        waiter = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        try:
            await waiter
        finally:
            if self.waiter is waiter:
                self.waiter = None

    def describe(self) -> str:
        if self.task_id is None:
            return "all tasks"
        if self.experiment_pk is not None:
            return f"experiment {self.experiment_pk} of task {self.task_id}"
        return f"task {self.task_id}"


async def read_page(
    store: Store,
    task_id: int,
    after: int,
    *,
    upto: int | None = None,
    experiment_pk: int | None = None,
    limit: int = PAGE,
    max_bytes: int = PAGE_BYTES,
) -> tuple[list[StoredEvent], bool]:
    """The events of a task after ``after`` (up to ``upto``), oldest first: at most
    ``limit`` and ``max_bytes`` of them (but at least one), and whether more may follow.

    The sizes are read first, without the payloads, so a page of large events
    never costs more than ``max_bytes`` to hold.
    """
    sizes = await store.event_sizes(task_id, after=after, limit=limit, experiment_pk=experiment_pk)
    more = len(sizes) == limit
    if upto is not None and sizes and sizes[-1][0] > upto:
        sizes = [s for s in sizes if s[0] <= upto]
        more = False
    if not sizes:
        return [], False
    total = n = 0
    for _, size in sizes:
        if n and total + size > max_bytes:
            more = True
            break
        total += size
        n += 1
    cut = sizes[n - 1][0]
    events = await store.read_events(task_id, after=after, limit=n, experiment_pk=experiment_pk)
    return [e for e in events if e.id <= cut], more


@dataclass
class Replay:
    """What a (re)connecting client is owed: events after ``after`` up to ``newest``."""

    newest: int
    count: int = 0
    resync_reason: str | None = None
    #: The client's ``last_event_id``: the replay starts after it.
    after: int = 0
    _task_id: int = 0
    _experiment_pk: int | None = None
    _store: Store | None = field(default=None, repr=False)

    async def events(self) -> AsyncGenerator[StoredEvent, None]:
        """The replayed events, oldest first, read a page at a time (see
        :func:`read_page`). Each event is let go of as it is handed out, so a
        consumer that sends one before taking the next holds at most one page."""
        if self.count == 0 or self._store is None:
            return
        after = self.after
        while after < self.newest:
            page, more = await read_page(
                self._store,
                self._task_id,
                after,
                upto=self.newest,
                experiment_pk=self._experiment_pk,
            )
            if not page:
                return
            after = page[-1].id
            page.reverse()
            while page:
                yield page.pop()
            if not more:
                return


class _Topic:
    __slots__ = (
        "task_id",
        "subs",
        "by_experiment",
        "count",
        "last_id",
        "pending",
        "catchup",
        "ready",
        "filler",
        "swept_id",
    )

    def __init__(self, task_id: int) -> None:
        self.task_id = task_id
        self.subs: set[Subscriber] = set()
        self.by_experiment: dict[int, set[Subscriber]] = {}
        self.count = 0
        self.last_id = 0
        # None: live. A list: events held back while the topic starts or fills a gap.
        self.pending: list[StoredEvent] | None = []
        self.catchup = False
        self.ready: asyncio.Task[None] | None = None
        self.filler: asyncio.Task[None] | None = None
        self.swept_id = -1


def _by_id(event: StoredEvent) -> int:
    return event.id


class FanoutHub:
    """This process's fan-out of events to its WebSocket clients (see module doc)."""

    def __init__(
        self,
        store: Store,
        transport: Transport,
        *,
        send_buffer: int = 1024,
        send_buffer_bytes: int = SEND_BUFFER_BYTES,
        replay_cap: int = 10_000,
        sweep_interval: float = 5.0,
    ) -> None:
        self._store = store
        self._transport = transport
        self.send_buffer = send_buffer
        self.send_buffer_bytes = send_buffer_bytes
        self.replay_cap = replay_cap
        self.sweep_interval = sweep_interval
        self._topics: dict[int, _Topic] = {}
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
        assert sub.task_id is not None
        newest = await self._store.last_event_id(sub.task_id)
        if newest is None:
            raise LookupError(f"task {sub.task_id} not found")
        sub.last_id = newest
        if last_event_id is None or last_event_id == newest:
            return Replay(newest)
        if last_event_id > newest:
            return Replay(
                newest,
                resync_reason=f"last_event_id {last_event_id} is ahead of the newest event "
                f"{newest} of task {sub.task_id} (was the database reset?); refetch",
            )
        if sub.experiment_pk is None:
            count = newest - last_event_id
        else:
            # Count the experiment's events without loading them (ids and sizes only).
            count = 0
            after = last_event_id
            while after < newest and count <= self.replay_cap:
                sizes = await self._store.event_sizes(
                    sub.task_id, after=after, limit=PAGE, experiment_pk=sub.experiment_pk
                )
                count += sum(1 for i, _ in sizes if i <= newest)
                if len(sizes) < PAGE:
                    break
                after = sizes[-1][0]
        if count > self.replay_cap:
            return Replay(newest, resync_reason=self._too_far(count))
        return Replay(
            newest,
            count=count,
            after=last_event_id,
            _task_id=sub.task_id,
            _experiment_pk=sub.experiment_pk,
            _store=self._store,
        )

    def _too_far(self, missed: int) -> str:
        return (
            f"{missed} events missed, more than the {self.replay_cap} a reconnect replays; "
            "refetch and continue live"
        )

    # ------------------------------------------------------- from the transport

    def deliver_task(self, event: StoredEvent) -> None:
        topic = self._topics.get(event.task_id)
        if topic is None:
            return
        self.events_received += 1
        if event.timestamp:
            # Once per event, not per client: creation to arrival at this hub.
            self.latencies.append(time.time() - event.timestamp)
        if topic.pending is not None:
            topic.pending.append(event)
            return
        last = topic.last_id
        if event.id == last + 1:
            topic.last_id = event.id
            self._fanout(topic, event)
        elif event.id > last:
            # A gap: an earlier event is late or lost. Fill it from the store first.
            topic.pending = [event]
            self._fill_soon(topic)

    def deliver_all(self, event: StoredEvent) -> None:
        subs = self._all
        if subs:
            # No id on the item: ids are per task, and this stream interleaves tasks.
            self._push_all(subs, Outgoing(None, event.payload.decode()))

    def resync(self) -> None:
        for topic in self._topics.values():
            if topic.ready is None or not topic.ready.done():
                continue  # still starting: it reads the newest id after subscribing
            topic.catchup = True
            if topic.pending is None:
                topic.pending = []
            self._fill_soon(topic)
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
        frame: bytes | None = None
        direct_n = 0
        for sub in subs:
            queue = sub.queue
            direct = sub.direct
            if direct is not None and not queue and not sub.inflight:
                # Fast path: nothing waits before this event, the socket can take it.
                if event_id is not None and event_id <= sub.last_id:
                    continue
                if frame is None:
                    frame = item.frame
                if direct(frame):
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

    # ------------------------------------------------------- ordering repair

    async def _start_topic(self, topic: _Topic) -> None:
        # Subscribe first, then read the newest id: every later event is then
        # either delivered by the transport or found by a gap fill.
        try:
            await self._transport.subscribe(topic.task_id)
            newest = await self._store.last_event_id(topic.task_id)
        except BaseException:
            if self._topics.get(topic.task_id) is topic:
                del self._topics[topic.task_id]
            raise
        topic.last_id = newest or 0
        topic.swept_id = topic.last_id
        if topic.pending:
            self._fill_soon(topic)
        else:
            topic.pending = None

    def _fill_soon(self, topic: _Topic) -> None:
        if topic.filler is None or topic.filler.done():
            topic.filler = self._spawn(self._fill(topic))

    def _apply_pending(self, topic: _Topic) -> None:
        pending = topic.pending
        if not pending:
            return
        pending.sort(key=_by_id)
        keep: list[StoredEvent] = []
        for event in pending:
            if event.id <= topic.last_id:
                continue
            if not keep and event.id == topic.last_id + 1:
                topic.last_id = event.id
                self._fanout(topic, event)
            else:
                keep.append(event)
        topic.pending = keep

    async def _fill(self, topic: _Topic) -> None:
        delay = 0.05
        empty_reads = 0
        while self._topics.get(topic.task_id) is topic:
            self._apply_pending(topic)
            if not topic.pending and not topic.catchup:
                topic.pending = None
                return
            topic.catchup = False
            try:
                events, more = await read_page(self._store, topic.task_id, topic.last_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "[EventBroadcaster] Cannot read task %d's events to fill a gap (%s); retrying",
                    topic.task_id,
                    exc,
                )
                topic.catchup = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.05
            if self._topics.get(topic.task_id) is not topic:
                return
            for event in events:
                if event.id == topic.last_id + 1:
                    topic.last_id = event.id
                    self._fanout(topic, event)
            if more:
                topic.catchup = True
            elif not events and topic.pending:
                # A newer id was announced but the store does not show it (yet):
                # wait a little; give up on ids the store never shows (task deleted).
                empty_reads += 1
                if empty_reads > 50:
                    skipped = topic.pending[-1].id
                    log.warning(
                        "[EventBroadcaster] Task %d: ids up to %d never appeared in the "
                        "store; skipping",
                        topic.task_id,
                        skipped,
                    )
                    topic.last_id = max(topic.last_id, skipped)
                    topic.pending = []
                else:
                    await asyncio.sleep(0.02)
            else:
                empty_reads = 0

    async def _sweep(self) -> None:
        """Catch up topics whose transport went quiet while the store moved on."""
        try:
            while self._topics and not self._closed:
                await asyncio.sleep(self.sweep_interval)
                for topic in list(self._topics.values()):
                    if topic.pending is not None or topic.last_id != topic.swept_id:
                        topic.swept_id = topic.last_id
                        continue
                    try:
                        newest = await self._store.last_event_id(topic.task_id)
                    except Exception as exc:
                        log.debug(
                            "[EventBroadcaster] sweep of task %d failed: %s", topic.task_id, exc
                        )
                        continue
                    if (
                        newest
                        and newest > topic.last_id
                        and topic.pending is None
                        and self._topics.get(topic.task_id) is topic
                    ):
                        log.info(
                            "[EventBroadcaster] Task %d: events up to %d missed by the "
                            "transport; catching up from the store",
                            topic.task_id,
                            newest,
                        )
                        topic.catchup = True
                        topic.pending = []
                        self._fill_soon(topic)
                    topic.swept_id = topic.last_id
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


class RateLimitedLog:
    """INFO at most once per ``interval`` per key, DEBUG otherwise: greppable, cheap at scale."""

    def __init__(self, logger: logging.Logger, interval: float = 1.0) -> None:
        self._log = logger
        self._interval = interval
        self._last: dict[Any, tuple[float, int]] = {}

    def __call__(self, key: Any, msg: str, *args: Any) -> None:
        now = time.monotonic()
        last, skipped = self._last.get(key, (0.0, 0))
        if now - last >= self._interval:
            if skipped:
                msg += f" (+{skipped} more since the last line)"
            self._log.info(msg, *args)
            self._last[key] = (now, 0)
            if len(self._last) > 10_000:
                self._last.clear()
        else:
            self._last[key] = (last, skipped + 1)
            if self._log.isEnabledFor(logging.DEBUG):
                self._log.debug(msg, *args)
