"""The Transport contract (``autotuner/events/_base.py``), over memory and a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from autotuner.events import ALL_TASKS, MemoryTransport, Transport
from autotuner.events._base import decode_wire, encode_wire
from autotuner.events._redis import RedisTransport
from autotuner.store import StoredEvent
from tests.events.support import RedisTarget, kill_subscriptions


class Recorder:
    """An EventSink that keeps what it is given."""

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


async def eventually(predicate: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def stored(task_id: int, event_id: int, kind: str = "task_progress", pk: int | None = None):
    payload = b'{"id":%d,"type":"%s","task_id":%d,"data":{"x":"\xc3\xa9\\n"}}' % (
        event_id,
        kind.encode(),
        task_id,
    )
    # The timestamp travels too: the hub measures latency with it.
    return StoredEvent(task_id, event_id, kind, pk, payload, 1_795_000_000.123456 + event_id)


Pair = tuple[Transport, Transport, Recorder]


async def _pairs(target: RedisTarget | None) -> AsyncIterator[Callable[..., Awaitable[Pair]]]:
    started: list[Transport] = []

    def new(**kwargs: float) -> Transport:
        if target is None:
            return MemoryTransport()
        return RedisTransport(target.url, namespace=target.namespace, **kwargs)

    async def make(**kwargs: float) -> Pair:
        sub = new(**kwargs)
        recorder = Recorder()
        sub.bind(recorder)
        await sub.start()
        started.append(sub)
        if target is None:
            return sub, sub, recorder
        pub = new(**kwargs)
        pub.bind(Recorder())
        await pub.start()
        started.append(pub)
        return pub, sub, recorder

    yield make
    for transport in started:
        await transport.close()


@pytest.fixture
async def make_pair(
    transport_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Awaitable[Pair]]]:
    """A publishing transport and a subscribing one (one instance in memory, two
    "processes" on Redis), the subscriber bound to a Recorder."""
    target = request.getfixturevalue("redis_target") if transport_kind == "redis" else None
    async for make in _pairs(target):
        yield make


@pytest.fixture
async def make_redis_pair(
    redis_target: RedisTarget,
) -> AsyncIterator[Callable[..., Awaitable[Pair]]]:
    async for make in _pairs(redis_target):
        yield make


def test_wire_format_round_trips() -> None:
    for event in (stored(1, 7), stored(12, 99, "experiment_started", pk=41)):
        assert decode_wire(encode_wire(event)) == event


async def test_subscribed_task_receives_every_event_in_publish_order(make_pair) -> None:
    pub, sub, recorder = await make_pair()
    await sub.subscribe(7)
    sent = [stored(7, i, "experiment_progress", pk=3) for i in range(1, 201)]
    for event in sent:
        await pub.publish(event)
    await eventually(lambda: len(recorder.task) >= 200)
    assert [e for e in recorder.task if e.task_id == 7] == sent  # ids, types, pk, payload bytes


async def test_task_level_events_also_reach_the_all_tasks_topic(make_pair) -> None:
    pub, sub, recorder = await make_pair()
    await sub.subscribe(ALL_TASKS)
    await pub.publish(stored(3, 1, "task_started"))
    await pub.publish(stored(3, 2, "experiment_started", pk=5))
    await pub.publish(stored(4, 1, "task_progress"))
    await eventually(lambda: len(recorder.all) >= 2)
    await asyncio.sleep(0.05)
    got = [(e.task_id, e.type) for e in recorder.all]
    assert got == [(3, "task_started"), (4, "task_progress")]


async def test_subscriber_counts_add_up(make_pair, transport_kind: str) -> None:
    pub, sub, _ = await make_pair()
    await sub.change_subscribers(5, +1, 2)
    if transport_kind == "memory":
        assert await sub.subscriber_count(5, 2) == 2
        return
    # Another process counts this one's clients, and its own local ones.
    assert await pub.subscriber_count(5, 1) == 3
    assert await pub.subscriber_count(6, 0) == 0
    await sub.change_subscribers(5, -2, 0)
    assert await pub.subscriber_count(5, 1) == 1


@pytest.mark.redis
async def test_redis_unsubscribe_stops_delivery_and_publishers_hold_no_subscription(
    make_redis_pair, redis_target: RedisTarget
) -> None:
    pub, sub, recorder = await make_redis_pair()
    client = aioredis.Redis.from_url(redis_target.url)
    try:
        await pub.publish(stored(8, 1))
        assert await client.pubsub_channels(f"{redis_target.namespace}:*") == []
        await sub.subscribe(8)
        assert len(await client.pubsub_channels(f"{redis_target.namespace}:*")) == 1
        await sub.unsubscribe(8)
        await pub.publish(stored(8, 2))
        await asyncio.sleep(0.1)
        assert recorder.task == []
        # The last client leaves and a new one arrives at once (unsubscribe and
        # subscribe both in flight): the subscription holds.
        await sub.subscribe(8)
        unsub = asyncio.create_task(sub.unsubscribe(8))
        resub = asyncio.create_task(sub.subscribe(8))
        await asyncio.gather(unsub, resub)
        await pub.publish(stored(8, 3))
        await eventually(lambda: [e.id for e in recorder.task] == [3])
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_redis_reconnects_resubscribes_and_asks_for_resync(
    make_redis_pair, redis_target: RedisTarget
) -> None:
    pub, sub, recorder = await make_redis_pair()
    await sub.subscribe(9)
    await asyncio.sleep(0.05)
    assert recorder.resyncs == 0  # a first clean connection has missed nothing
    assert isinstance(sub, RedisTransport)
    assert await kill_subscriptions(redis_target.url, sub.client_name) == 1
    await eventually(lambda: recorder.resyncs == 1)
    await pub.publish(stored(9, 1))
    await eventually(lambda: [e.id for e in recorder.task] == [1])


@pytest.mark.redis
async def test_redis_counts_of_a_dead_process_expire(
    make_redis_pair,
) -> None:
    pub, sub, _ = await make_redis_pair(heartbeat=0.2, ttl=1.0)
    await sub.change_subscribers(5, +1, 1)
    assert await pub.subscriber_count(5, 0) == 1
    # Die without cleaning up: the heartbeat stops, nothing is deleted.
    assert isinstance(sub, RedisTransport)
    sub._closing = True
    for task in (sub._heartbeat, sub._flusher, sub._reader):
        if task is not None:
            task.cancel()
    started = time.monotonic()
    while await pub.subscriber_count(5, 0) != 0:
        assert time.monotonic() - started < 3, "a dead process's count did not expire"
        await asyncio.sleep(0.1)
