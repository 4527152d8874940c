"""The fan-out hub and the bus, in process: ordering repair, catch-up, slow clients, counts.

Runs over the in-process transport and a real Redis, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from autotuner.domain import Event, EventType, create_event
from autotuner.events import CLOSE_TOO_SLOW, EventBus, Outgoing, Replay, Subscriber
from autotuner.events._base import _NoSink
from autotuner.events._redis import RedisTransport
from autotuner.events.replay import read_page
from autotuner.store import Store
from tests.events.support import MakeApi, MakeBus, RedisTarget, kill_subscriptions, new_task


async def received(sub: Subscriber, last_id: int, within: float = 10.0) -> list[dict[str, Any]]:
    """Drain ``sub`` as a connection's writer would, until event ``last_id``."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while not out or out[-1].get("id") != last_id:
        if not sub.queue:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"event {last_id} not received; got {[m.get('id') for m in out]}"
            try:
                await asyncio.wait_for(sub.wait(), remaining)
            except TimeoutError:
                continue
            assert not sub.closed, f"closed with {sub.close_code}: {sub.close_reason}"
            continue
        out.append(json.loads(sub.queue.popleft().text))
    return out


def progress(task_id: int, n: int = 0, **data: Any) -> Event:
    return create_event(EventType.TASK_PROGRESS, task_id, message=f"p{n}", data={"n": n, **data})


async def test_publish_records_first_then_delivers_in_order(
    store: Store, make_api: MakeApi
) -> None:
    bus, hub = await make_api(store)
    task = await new_task(store)
    sub = hub.new_subscriber(task)
    await hub.subscribe(sub)
    for n in range(1, 31):
        recorded = await bus.publish(progress(task, n))
        assert recorded.id == n
    events = await received(sub, 30)
    assert [e["id"] for e in events] == list(range(1, 31))
    # What clients receive is byte for byte what the store recorded.
    stored = await store.read_events(task)
    assert [json.loads(s.payload) for s in stored] == events
    assert bus.stats()["events_published"] == 30
    assert hub.stats()["deliveries"] >= 30


async def test_out_of_order_and_duplicate_arrivals_are_repaired(
    store: Store, make_api: MakeApi
) -> None:
    bus, hub = await make_api(store)
    task = await new_task(store)
    sub = hub.new_subscriber(task)
    await hub.subscribe(sub)
    recorded = [await store.append_event(progress(task, n)) for n in range(1, 7)]
    # As from two publishers racing, with a duplicate: 3 arrives first (gap: 1, 2
    # come from the store), then 1, 2, 5 (gap: 4), 6, 3 again, 4.
    for i in (2, 0, 1, 4, 5, 2, 3):
        hub.deliver_task(recorded[i])
    events = await received(sub, 6)
    assert [e["id"] for e in events] == [1, 2, 3, 4, 5, 6]
    await asyncio.sleep(0.05)
    assert not sub.queue


async def test_event_missed_by_the_transport_is_filled_from_the_store(
    store: Store, make_api: MakeApi
) -> None:
    bus, hub = await make_api(store)
    task = await new_task(store)
    sub = hub.new_subscriber(task)
    await hub.subscribe(sub)
    await bus.publish(progress(task, 1))
    await store.append_event(progress(task, 2))  # recorded, never published (publisher died)
    await bus.publish(progress(task, 3))
    assert [e["id"] for e in await received(sub, 3)] == [1, 2, 3]


@pytest.mark.parametrize("transport_kind", ["redis"], indirect=True)
async def test_lost_last_event_arrives_by_the_sweep(store: Store, make_api: MakeApi) -> None:
    bus, hub = await make_api(store, sweep_interval=0.2)
    task = await new_task(store)
    sub = hub.new_subscriber(task)
    await hub.subscribe(sub)
    await bus.publish(progress(task, 1))
    await store.append_event(progress(task, 2))  # no later event will reveal the gap
    assert [e["id"] for e in await received(sub, 2, within=5)] == [1, 2]


@pytest.mark.parametrize("transport_kind", ["redis"], indirect=True)
async def test_hub_catches_up_after_redis_reconnect(
    store: Store, make_bus: MakeBus, make_api: MakeApi, redis_target: RedisTarget
) -> None:
    publisher: EventBus = await make_bus(store)  # a worker process
    api, hub = await make_api(store, sweep_interval=60)  # an API process
    task = await new_task(store)
    sub = hub.new_subscriber(task)
    await hub.subscribe(sub)
    await publisher.publish(progress(task, 1))
    assert [e["id"] for e in await received(sub, 1)] == [1]
    transport = api.transport
    assert isinstance(transport, RedisTransport)
    assert await kill_subscriptions(redis_target.url, transport.client_name) == 1
    # Published while the API process is cut off from Redis pub/sub: lost in transit.
    for n in range(2, 12):
        await publisher.publish(progress(task, n))
    events = await received(sub, 11)
    assert [e["id"] for e in events] == list(range(2, 12))
    assert transport.reconnects >= 1
    assert hub.events_received < 11, "nothing was lost in transit: the test proves nothing"


async def test_slow_subscriber_is_cut_off_without_slowing_others(
    store: Store, make_api: MakeApi
) -> None:
    bus, hub = await make_api(store, send_buffer=5)
    task = await new_task(store)
    slow = hub.new_subscriber(task)
    fast = hub.new_subscriber(task)
    await hub.subscribe(slow)
    await hub.subscribe(fast)
    got: list[dict[str, Any]] = []
    for n in range(1, 21):
        await bus.publish(progress(task, n))
        got += await received(fast, n)
    assert [e["id"] for e in got] == list(range(1, 21))
    assert slow.closed and slow.close_code == CLOSE_TOO_SLOW
    assert "resume with last_event_id=0" in slow.close_reason
    assert not slow.queue  # its buffer was released
    assert hub.local_count(task) == 1


async def test_subscriber_counts_span_processes(
    store: Store, make_api: MakeApi, transport_kind: str
) -> None:
    _, a = await make_api(store)
    _, b = await make_api(store) if transport_kind == "redis" else (None, a)
    task = await new_task(store)
    subs = [a.new_subscriber(task), a.new_subscriber(task), b.new_subscriber(task)]
    for sub, hub in zip(subs, (a, a, b), strict=True):
        await hub.subscribe(sub)
    assert await a.subscriber_count(task) == 3
    assert await b.subscriber_count(task) == 3
    await b.unsubscribe(subs[2])
    await asyncio.sleep(0.1)
    assert await a.subscriber_count(task) == 2
    assert await a.subscriber_count(task + 1000) == 0


async def test_resume_plans(store: Store, make_api: MakeApi) -> None:
    bus, hub = await make_api(store, replay_cap=5)
    task = await new_task(store)
    for n in range(1, 9):
        await bus.publish(progress(task, n))

    async def plan(last: int | None, pk: int | None = None) -> tuple[Replay, list[int], int]:
        sub = hub.new_subscriber(task, pk)
        await hub.subscribe(sub)
        try:
            replay = await hub.replay(sub, last)
            ids = [e.id async for e in replay.events()]
            return replay, ids, sub.last_id
        finally:
            await hub.unsubscribe(sub)

    replay, ids, start = await plan(5)
    assert (replay.newest, replay.count, ids, start) == (8, 3, [6, 7, 8], 8)
    assert replay.resync_reason is None
    replay, ids, start = await plan(None)
    assert (replay.count, ids, start) == (0, [], 8)
    replay, ids, start = await plan(50)  # ahead of the newest: a stale client
    assert replay.resync_reason and "ahead" in replay.resync_reason and ids == [] and start == 8
    replay, ids, start = await plan(1)  # 7 to replay > cap 5
    assert replay.resync_reason and "more than the 5" in replay.resync_reason and ids == []


async def test_publish_sync_from_a_thread(store: Store, make_bus: MakeBus) -> None:
    bus: EventBus = await make_bus(store)
    task = await new_task(store)
    with pytest.raises(RuntimeError, match="own event-loop thread"):
        bus.publish_sync(progress(task))
    results: list[Any] = []

    def blocking_benchmark() -> None:
        for n in range(3):
            results.append(bus.publish_sync(progress(task, n)).id)

    thread = threading.Thread(target=blocking_benchmark)
    thread.start()
    await asyncio.to_thread(thread.join)
    assert results == [1, 2, 3]


@pytest.mark.parametrize("transport_kind", ["redis"], indirect=True)
async def test_a_publishing_only_process_subscribes_to_nothing(
    store: Store, make_bus: MakeBus
) -> None:
    worker: EventBus = await make_bus(store)
    task = await new_task(store)
    for n in range(3):
        await worker.publish(progress(task, n))
    transport = worker.transport
    assert isinstance(transport, RedisTransport)
    assert transport._pubsub is None and transport._reader is None
    # ... and builds no hub: nothing of fan-out exists in it.
    assert not hasattr(worker, "hub") and "topics" not in worker.stats()
    assert isinstance(transport._sink, _NoSink)


@pytest.mark.parametrize("transport_kind", ["memory"], indirect=True)
async def test_an_embedded_bus_without_a_hub_publishes(store: Store, make_bus: MakeBus) -> None:
    bus: EventBus = await make_bus(store)  # e.g. ``autotuner run``: no clients, no hub
    task = await new_task(store)
    assert [(await bus.publish(progress(task, n))).id for n in range(3)] == [1, 2, 3]
    assert [e.id for e in await store.read_events(task)] == [1, 2, 3]


async def test_large_events_cut_off_a_slow_subscriber_by_bytes(
    store: Store, make_api: MakeApi
) -> None:
    bus, hub = await make_api(store, send_buffer=1000, send_buffer_bytes=300_000)
    task = await new_task(store)
    slow = hub.new_subscriber(task)
    fast = hub.new_subscriber(task)
    await hub.subscribe(slow)
    await hub.subscribe(fast)
    blob = "x" * 100_000
    for n in range(1, 6):
        await bus.publish(progress(task, n, blob=blob))
        await received(fast, n)
    # 5 events are far below the count limit: the bytes cut it off, after 2 fitted.
    assert slow.closed and slow.close_code == CLOSE_TOO_SLOW
    assert "resume with last_event_id=0" in slow.close_reason
    assert not slow.queue and slow.queued_bytes == 0
    assert hub.local_count(task) == 1


def test_one_item_always_fits_and_sizes_follow_the_queue() -> None:
    sub = Subscriber(1, limit=100, byte_limit=1000)
    assert sub.push(Outgoing(1, "x" * 5000))  # larger than the limit, but alone: sent
    assert sub.queued_bytes == 5000
    assert sub.pop() is not None and sub.queued_bytes == 0
    assert sub.push(Outgoing(2, "y" * 600)) and sub.push(Outgoing(3, "z" * 300))
    assert sub.queued_bytes == 900
    assert not sub.push(Outgoing(4, "w" * 200))
    assert sub.close_code == CLOSE_TOO_SLOW and sub.queued_bytes == 0


async def test_pages_are_bounded_by_bytes(store: Store, make_api: MakeApi) -> None:
    bus, hub = await make_api(store)
    task = await new_task(store)
    blob = "x" * 100_000
    for n in range(1, 26):
        await bus.publish(progress(task, n, blob=blob))
    page, more = await read_page(store, task, 0, max_bytes=300_000)
    assert [e.id for e in page] == [1, 2] and more
    page, more = await read_page(store, task, 2, max_bytes=10)  # one event always comes
    assert [e.id for e in page] == [3] and more
    page, more = await read_page(store, task, 20, upto=23)
    assert [e.id for e in page] == [21, 22, 23] and not more
    page, more = await read_page(store, task, 20)
    assert [e.id for e in page] == [21, 22, 23, 24, 25] and not more

    # A replay of 2.5 MB comes in pages of about PAGE_BYTES, every event once.
    sub = hub.new_subscriber(task)
    await hub.subscribe(sub)
    try:
        replay = await hub.replay(sub, 0)
        assert replay.count == 25
        assert [e.id async for e in replay.events()] == list(range(1, 26))
    finally:
        await hub.unsubscribe(sub)
