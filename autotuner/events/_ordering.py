"""Per-topic ordering repair: each task's ids delivered in order, without gaps or duplicates.

Whatever the transport does (see ``_base``: events of different publishers may
arrive out of order, and any may be lost), the hub hands every task topic's
events to its clients as 1, 2, 3 ... The :class:`Sequencer` remembers the last
id delivered per topic and

- delivers the next id at once (the common case: no store read);
- holds back an id beyond the next one, fills the gap from the event log (a
  higher id is committed only after every lower one) and then goes on;
- drops an id at or below the last delivered one (a duplicate);
- catches a topic up from the log when the transport says it may have lost
  events (:meth:`Sequencer.catch_up`), and, for a transport that can lose them
  silently, polls the log's newest id from time to time (:meth:`Sequencer.sweep`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from autotuner.events._base import EventLog, StoredEvent
from autotuner.events.replay import read_page

log = logging.getLogger("autotuner.events.hub")


class OrderedTopic:
    """One task topic's position: what was delivered, what is held back, what runs."""

    __slots__ = ("task_id", "last_id", "pending", "catchup", "ready", "filler", "swept_id")

    def __init__(self, task_id: int) -> None:
        self.task_id = task_id
        #: The newest id delivered to the topic's clients.
        self.last_id = 0
        # None: live. A list: events held back while the topic starts or fills a gap.
        self.pending: list[StoredEvent] | None = []
        #: Read the log past ``last_id`` even with nothing pending (a possible loss).
        self.catchup = False
        #: Subscribing to the transport and reading the starting point.
        self.ready: asyncio.Task[None] | None = None
        self.filler: asyncio.Task[None] | None = None
        #: ``last_id`` as of the previous sweep (-1: not swept yet).
        self.swept_id = -1


T = TypeVar("T", bound=OrderedTopic)


def _by_id(event: StoredEvent) -> int:
    return event.id


class Sequencer(Generic[T]):
    """The ordering repair of one hub (see module doc).

    ``topics`` is the hub's registry (read, never changed here: a topic that left
    it is no longer worked on), ``deliver`` fans one in-order event out to a
    topic's clients, and ``spawn`` runs a background coroutine the hub owns.
    """

    def __init__(
        self,
        events: EventLog,
        topics: dict[int, T],
        deliver: Callable[[T, StoredEvent], None],
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
    ) -> None:
        self._events = events
        self._topics = topics
        self._deliver = deliver
        self._spawn = spawn

    def arrive(self, topic: T, event: StoredEvent) -> None:
        """An event of ``topic`` from the transport, in whatever order it came."""
        if topic.pending is not None:
            topic.pending.append(event)
            return
        last = topic.last_id
        if event.id == last + 1:
            topic.last_id = event.id
            self._deliver(topic, event)
        elif event.id > last:
            # A gap: an earlier event is late or lost. Fill it from the store first.
            topic.pending = [event]
            self.fill_soon(topic)

    def started(self, topic: T, newest: int | None) -> None:
        """``topic`` is subscribed and ``newest`` was its newest id after that: every
        later event is either delivered by the transport or found by a gap fill."""
        topic.last_id = newest or 0
        topic.swept_id = topic.last_id
        if topic.pending:
            self.fill_soon(topic)
        else:
            topic.pending = None

    def catch_up(self, topic: T) -> None:
        """The transport may have lost events of ``topic``: read the log past its last id."""
        if topic.ready is None or not topic.ready.done():
            return  # still starting: it reads the newest id after subscribing
        topic.catchup = True
        if topic.pending is None:
            topic.pending = []
        self.fill_soon(topic)

    def fill_soon(self, topic: T) -> None:
        if topic.filler is None or topic.filler.done():
            topic.filler = self._spawn(self._fill(topic))

    def _current(self, topic: T) -> bool:
        return self._topics.get(topic.task_id) is topic

    def _apply_pending(self, topic: T) -> None:
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
                self._deliver(topic, event)
            else:
                keep.append(event)
        topic.pending = keep

    async def _fill(self, topic: T) -> None:
        delay = 0.05
        empty_reads = 0
        while self._current(topic):
            self._apply_pending(topic)
            if not topic.pending and not topic.catchup:
                topic.pending = None
                return
            topic.catchup = False
            try:
                events, more = await read_page(self._events, topic.task_id, topic.last_id)
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
            if not self._current(topic):
                return
            for event in events:
                if event.id == topic.last_id + 1:
                    topic.last_id = event.id
                    self._deliver(topic, event)
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

    async def sweep(self, interval: float, running: Callable[[], bool]) -> None:
        """Every ``interval`` seconds while there are topics and ``running()``: catch up
        topics whose transport went quiet while the store moved on."""
        while self._topics and running():
            await asyncio.sleep(interval)
            for topic in list(self._topics.values()):
                if topic.pending is not None or topic.last_id != topic.swept_id:
                    topic.swept_id = topic.last_id
                    continue
                try:
                    newest = await self._events.last_event_id(topic.task_id)
                except Exception as exc:
                    log.debug("[EventBroadcaster] sweep of task %d failed: %s", topic.task_id, exc)
                    continue
                if (
                    newest
                    and newest > topic.last_id
                    and topic.pending is None
                    and self._current(topic)
                ):
                    log.info(
                        "[EventBroadcaster] Task %d: events up to %d missed by the "
                        "transport; catching up from the store",
                        topic.task_id,
                        newest,
                    )
                    topic.catchup = True
                    topic.pending = []
                    self.fill_soon(topic)
                topic.swept_id = topic.last_id
