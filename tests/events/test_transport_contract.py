"""The Transport contract (``autotuner.testing.transports``), over memory and a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from autotuner.events import MemoryTransport, Transport
from autotuner.events._redis import RedisTransport
from autotuner.testing.transports import (
    MakeTransports,
    Recorder,
    TransportContract,
    TransportPair,
)
from tests.events.support import RedisTarget


async def transport_pairs(target: RedisTarget | None) -> AsyncIterator[MakeTransports]:
    """A factory of transport pairs: one instance in memory, two "processes" on Redis."""
    started: list[Transport] = []

    def new(**kwargs: float) -> Transport:
        if target is None:
            return MemoryTransport()
        return RedisTransport(target.url, namespace=target.namespace, **kwargs)

    async def make(**kwargs: float) -> TransportPair:
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
async def make_transports(
    transport_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[MakeTransports]:
    target = request.getfixturevalue("redis_target") if transport_kind == "redis" else None
    async for make in transport_pairs(target):
        yield make


class TestTransportContract(TransportContract):
    """Over every ``transport_kind`` (memory, redis)."""
