"""Fixtures of the event-pipeline tests: stores on SQLite and PostgreSQL, Redis namespaces."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from autotuner.events import EventBus, MemoryTransport, Transport
from autotuner.events._redis import RedisTransport
from autotuner.store import Store
from tests.events.support import redis_target  # noqa: F401 - a fixture


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'events.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'events.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = Store(database_url)
    await store.init()
    yield store
    await store.close()


TransportFactory = Callable[[], Transport]


@pytest.fixture(params=["memory", "redis"])
def transport_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_bus(
    transport_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Awaitable[EventBus]]]:
    """Started buses over ``transport_kind``; with Redis, buses of one test share a namespace
    (as processes of one deployment do)."""
    buses: list[EventBus] = []
    target = request.getfixturevalue("redis_target") if transport_kind == "redis" else None

    async def make(store: Store, **kwargs: object) -> EventBus:
        transport: Transport
        if target is None:
            transport = MemoryTransport()
        else:
            transport = RedisTransport(
                target.url,
                namespace=target.namespace,
                heartbeat=float(kwargs.pop("heartbeat", 2.0)),  # type: ignore[arg-type]
                ttl=float(kwargs.pop("ttl", 6.0)),  # type: ignore[arg-type]
            )
        bus = EventBus(store, transport, **kwargs)  # type: ignore[arg-type]
        await bus.start()
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.close()
