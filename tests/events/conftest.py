"""Fixtures of the event-pipeline tests: stores on SQLite and PostgreSQL, Redis namespaces."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from autotuner.events import EventBus, FanoutHub, MemoryTransport, Transport
from autotuner.events._redis import RedisTransport
from autotuner.store import Store
from tests.events.support import (  # noqa: F401 - redis_target is a fixture
    MakeApi,
    MakeBus,
    RedisTarget,
    redis_target,
)


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


class Processes:
    """The event side of the processes of one test: started buses, and the hubs of
    the API processes among them; with Redis, they share a namespace (as processes
    of one deployment do)."""

    def __init__(self, target: RedisTarget | None) -> None:
        self.target = target
        self.buses: list[EventBus] = []
        self.hubs: list[FanoutHub] = []

    def transport(self, heartbeat: float = 2.0, ttl: float = 6.0) -> Transport:
        if self.target is None:
            return MemoryTransport()
        return RedisTransport(
            self.target.url, namespace=self.target.namespace, heartbeat=heartbeat, ttl=ttl
        )

    async def worker(self, store: Store, **transport: float) -> EventBus:
        """A process that only publishes: a bus and no hub."""
        bus = EventBus(store, self.transport(**transport))
        await bus.start()
        self.buses.append(bus)
        return bus

    async def api(self, store: Store, **hub_options: Any) -> tuple[EventBus, FanoutHub]:
        """An API process: a bus and the hub built beside it on its transport
        (``hub_options``: send_buffer, send_buffer_bytes, replay_cap, sweep_interval)."""
        transport = self.transport()
        hub = FanoutHub(store, transport, **hub_options)
        self.hubs.append(hub)
        bus = EventBus(store, transport)
        await bus.start()
        self.buses.append(bus)
        return bus, hub

    async def close(self) -> None:
        for hub in self.hubs:
            await hub.close()
        for bus in self.buses:
            await bus.close()


@pytest.fixture
async def processes(
    transport_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[Processes]:
    target = request.getfixturevalue("redis_target") if transport_kind == "redis" else None
    procs = Processes(target)
    yield procs
    await procs.close()


@pytest.fixture
def make_bus(processes: Processes) -> MakeBus:
    """Started buses over ``transport_kind``, each as in a worker (no hub)."""
    return processes.worker


@pytest.fixture
def make_api(processes: Processes) -> MakeApi:
    """``(bus, hub)`` pairs over ``transport_kind``, each as in an API process."""
    return processes.api
