"""A minimal ASGI app for the event pipeline: store, event bus, hub and the WebSocket routes.

Tests and benchmarks add their own publishing routes to it; the product app
(``autotuner.api.app.create_app``) never has such routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from autotuner.api import ws
from autotuner.config import Settings
from autotuner.events import create_event_bus, create_hub
from autotuner.store import Store


def events_app(settings: Settings, *, namespace: str | None = None) -> FastAPI:
    """``app.state`` holds ``settings``, ``store``, ``bus`` and ``hub`` while it runs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(settings.resolved_database_url)
        await store.init()
        bus = create_event_bus(settings, store, namespace=namespace)
        hub = create_hub(settings, store, bus.transport)
        await bus.start()
        app.state.settings, app.state.store, app.state.bus = settings, store, bus
        app.state.hub = hub
        try:
            yield
        finally:
            await hub.close()
            await bus.close()
            await store.close()

    app = FastAPI(lifespan=lifespan)
    app.include_router(ws.router)
    return app
