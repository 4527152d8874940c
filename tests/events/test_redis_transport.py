"""What the Redis transport does beyond the Transport contract: real subscriptions,
reconnects and the counts of a dead process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from autotuner.events._redis import RedisTransport
from autotuner.testing.transports import MakeTransports, eventually, stored_event
from tests.events.support import RedisTarget, kill_subscriptions
from tests.events.test_transport_contract import transport_pairs


@pytest.fixture
async def make_redis_pair(redis_target: RedisTarget) -> AsyncIterator[MakeTransports]:
    async for make in transport_pairs(redis_target):
        yield make


@pytest.mark.redis
async def test_redis_unsubscribe_stops_delivery_and_publishers_hold_no_subscription(
    make_redis_pair: MakeTransports, redis_target: RedisTarget
) -> None:
    pub, sub, recorder = await make_redis_pair()
    client = aioredis.Redis.from_url(redis_target.url)
    try:
        await pub.publish(stored_event(8, 1))
        assert await client.pubsub_channels(f"{redis_target.namespace}:*") == []
        await sub.subscribe(8)
        assert len(await client.pubsub_channels(f"{redis_target.namespace}:*")) == 1
        await sub.unsubscribe(8)
        await pub.publish(stored_event(8, 2))
        await asyncio.sleep(0.1)
        assert recorder.task == []
        # The last client leaves and a new one arrives at once (unsubscribe and
        # subscribe both in flight): the subscription holds.
        await sub.subscribe(8)
        unsub = asyncio.create_task(sub.unsubscribe(8))
        resub = asyncio.create_task(sub.subscribe(8))
        await asyncio.gather(unsub, resub)
        await pub.publish(stored_event(8, 3))
        await eventually(lambda: [e.id for e in recorder.task] == [3])
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_redis_reconnects_resubscribes_and_asks_for_resync(
    make_redis_pair: MakeTransports, redis_target: RedisTarget
) -> None:
    pub, sub, recorder = await make_redis_pair()
    await sub.subscribe(9)
    await asyncio.sleep(0.05)
    assert recorder.resyncs == 0  # a first clean connection has missed nothing
    assert isinstance(sub, RedisTransport)
    assert await kill_subscriptions(redis_target.url, sub.client_name) == 1
    await eventually(lambda: recorder.resyncs == 1)
    await pub.publish(stored_event(9, 1))
    await eventually(lambda: [e.id for e in recorder.task] == [1])


@pytest.mark.redis
async def test_redis_counts_of_a_dead_process_expire(make_redis_pair: MakeTransports) -> None:
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
