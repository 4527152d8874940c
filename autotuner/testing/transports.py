"""The event transport contract (``autotuner/events/_base.py``) as a reusable test suite.

A test module runs :class:`TransportContract` over a backend by subclassing it
and providing the ``make_transports`` fixture: an async factory that returns a
:data:`TransportPair`, the publishing transport, the subscribing one (the same
instance for a backend that lives in one process, two instances, as two
processes would hold, for one shared between processes) and the
:class:`Recorder` the subscriber is bound to. The factory closes what it made
at the end of the test. Keyword arguments are backend options (e.g. Redis's
``heartbeat``); the contract tests pass none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from autotuner.events import ALL_TASKS, Transport
from autotuner.events._base import decode_wire, encode_wire
from autotuner.store import StoredEvent

__all__ = [
    "MakeTransports",
    "Recorder",
    "TransportContract",
    "TransportPair",
    "eventually",
    "stored_event",
]


class Recorder:
    """An ``EventSink`` that keeps what it is given."""

    def __init__(self) -> None:
        self.task: list[StoredEvent] = []
        self.all: list[StoredEvent] = []
        self.resyncs = 0

    def deliver_task(self, event: StoredEvent) -> None:
        self.task.append(event)

    def deliver_all(self, event: StoredEvent) -> None:
        self.all.append(event)

    def resync(self) -> None:
        self.resyncs += 1


TransportPair = tuple[Transport, Transport, Recorder]
MakeTransports = Callable[..., Awaitable[TransportPair]]


async def eventually(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until ``predicate()`` holds; AssertionError after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def stored_event(
    task_id: int, event_id: int, kind: str = "task_progress", pk: int | None = None
) -> StoredEvent:
    """A recorded event whose payload holds bytes a transport must carry unchanged."""
    payload = b'{"id":%d,"type":"%s","task_id":%d,"data":{"x":"\xc3\xa9\\n"}}' % (
        event_id,
        kind.encode(),
        task_id,
    )
    # The timestamp travels too: the hub measures latency with it.
    return StoredEvent(task_id, event_id, kind, pk, payload, 1_795_000_000.123456 + event_id)


class TransportContract:
    """What every ``Transport`` promises: topics, per-publisher order, subscriber counts.

    Needs the fixture ``make_transports`` (see the module doc).
    """

    def test_wire_format_round_trips(self) -> None:
        """What a transport sends decodes to the event it was given, field by field."""
        for event in (stored_event(1, 7), stored_event(12, 99, "experiment_started", pk=41)):
            assert decode_wire(encode_wire(event)) == event

    async def test_subscribed_task_receives_every_event_in_publish_order(
        self, make_transports: MakeTransports
    ) -> None:
        """One publisher's events of a subscribed task arrive in publish order, unchanged."""
        pub, sub, recorder = await make_transports()
        await sub.subscribe(7)
        sent = [stored_event(7, i, "experiment_progress", pk=3) for i in range(1, 201)]
        for event in sent:
            await pub.publish(event)
        await eventually(lambda: len(recorder.task) >= 200)
        assert [e for e in recorder.task if e.task_id == 7] == sent  # ids, types, pk, payload

    async def test_task_level_events_also_reach_the_all_tasks_topic(
        self, make_transports: MakeTransports
    ) -> None:
        """The all-tasks topic gets the ``task_*`` events of every task, and only those."""
        pub, sub, recorder = await make_transports()
        await sub.subscribe(ALL_TASKS)
        await pub.publish(stored_event(3, 1, "task_started"))
        await pub.publish(stored_event(3, 2, "experiment_started", pk=5))
        await pub.publish(stored_event(4, 1, "task_progress"))
        await eventually(lambda: len(recorder.all) >= 2)
        await asyncio.sleep(0.05)
        got = [(e.task_id, e.type) for e in recorder.all]
        assert got == [(3, "task_started"), (4, "task_progress")]

    async def test_subscriber_counts_add_up(self, make_transports: MakeTransports) -> None:
        """``subscriber_count`` adds the other processes' clients to the local count."""
        pub, sub, _ = await make_transports()
        await sub.change_subscribers(5, +1, 2)
        if pub is sub:  # one process: its local count is the total
            assert await sub.subscriber_count(5, 2) == 2
            return
        # Another process counts this one's clients, and its own local ones.
        assert await pub.subscriber_count(5, 1) == 3
        assert await pub.subscriber_count(6, 0) == 0
        await sub.change_subscribers(5, -2, 0)
        assert await pub.subscriber_count(5, 1) == 1
