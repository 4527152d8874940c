"""Helpers of the event-pipeline tests: tasks, Redis namespaces, killed subscriptions.

The server processes and WebSocket clients these tests use are the harness's
(``tests.helpers``: ``EventsServer``, ``Client``, ``close_code``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
import redis as sync_redis

from autotuner.domain import ModelSpec, TaskSpec
from autotuner.events import EventBus, FanoutHub
from autotuner.store import Store

# The types of the ``make_bus`` and ``make_api`` fixtures (tests/events/conftest.py):
# ``make_bus(store, **transport)`` and ``make_api(store, **hub_options)``.
MakeBus = Callable[..., Awaitable[EventBus]]
MakeApi = Callable[..., Awaitable[tuple[EventBus, FanoutHub]]]


@dataclass(frozen=True)
class RedisTarget:
    """A Redis URL and a key/channel namespace of this test's own (pub/sub ignores db numbers)."""

    url: str
    namespace: str


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def new_task(store: Store) -> int:
    spec = TaskSpec(
        task_name=unique("task"), model=ModelSpec(id_or_path="m"), parameters={"a": [1]}
    )
    return (await store.create_task(spec)).id


async def kill_subscriptions(url: str, client_name: str | None = None) -> int:
    """Kill pub/sub connections (of ``client_name`` only, or of names in this test's
    namespace) as a network failure would; the number killed."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    killed = 0
    try:
        for info in await client.client_list():
            if int(info.get("sub", 0) or 0) == 0:
                continue
            name = info.get("name", "")
            if (client_name is None and name) or name == client_name:
                await client.client_kill_filter(_id=info["id"])
                killed += 1
    finally:
        await client.aclose()
    return killed


def rss(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def pg_env_ok() -> bool:
    return os.environ.get("AUTOTUNER_SKIP_PG") != "1"


@pytest.fixture
def redis_target(redis_server_url: str) -> Iterator[RedisTarget]:
    """A namespace of this test's own on the test Redis; its keys are deleted afterwards."""
    target = RedisTarget(f"{redis_server_url}/0", unique("autotuner-test"))
    yield target
    client = sync_redis.Redis.from_url(target.url)
    keys = list(client.scan_iter(match=f"{target.namespace}:*"))
    if keys:
        client.delete(*keys)
    client.close()
