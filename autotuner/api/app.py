"""The application factory: REST, WebSockets and the built UI on one ASGI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from autotuner import __version__
from autotuner.api import ws
from autotuner.api.auth import AuthMiddleware
from autotuner.api.errors import error_responses, validation_errors
from autotuner.api.limits import BodyLimitMiddleware
from autotuner.api.origin import OriginMiddleware
from autotuner.api.routes import experiments, metrics, system, tasks
from autotuner.config import Settings
from autotuner.events import create_event_bus, create_hub
from autotuner.store import Store, StoreError, StoreUnavailable, UnknownTask
from autotuner.worker.queue import create_task_queue

log = logging.getLogger(__name__)

REPO_FRONTEND = Path(__file__).resolve().parents[2] / "frontend" / "dist"

_NO_UI = """<!doctype html><title>autotuner</title>
<h1>autotuner API is running</h1>
<p>The web UI has not been built. Run <code>make run</code> (or
<code>npm ci --prefix frontend && npm run build --prefix frontend</code>).</p>
<p>API docs: <a href="/docs">/docs</a></p>"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(settings.resolved_database_url)
        await store.init()
        bus = create_event_bus(settings, store)
        # The clients' side of the events lives here, beside the bus: a worker
        # process builds the bus alone.
        hub = create_hub(settings, store, bus.transport)
        await bus.start()
        queue = create_task_queue(settings, store, bus)
        app.state.settings = settings
        app.state.store = store
        app.state.bus = bus
        app.state.hub = hub
        app.state.queue = queue
        await queue.start()
        log.info(
            "autotuner %s serving (%s mode, database %s)",
            __version__,
            "distributed" if settings.distributed else "embedded",
            store.engine.url.render_as_string(hide_password=True),
        )
        try:
            yield
        finally:
            await queue.close()
            await hub.close()
            await bus.close()
            await store.close()

    app = FastAPI(
        title="autotuner",
        version=__version__,
        description="LLM inference autotuner with lossless live monitoring",
        lifespan=lifespan,
    )
    # Refusals are part of the schema (clients and schemathesis check them).
    guarded = (401, 403, 503)
    app.include_router(tasks.router, responses=error_responses(*guarded, 400, 404, 409, 413))
    app.include_router(experiments.router, responses=error_responses(*guarded, 404))
    app.include_router(system.router, responses=error_responses(*guarded))
    app.include_router(metrics.router)
    app.include_router(ws.router, responses=error_responses(*guarded, 404))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": validation_errors(exc.errors())})

    @app.exception_handler(UnknownTask)
    async def _unknown_task(_: Request, exc: UnknownTask) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(StoreUnavailable)
    async def _store_unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        # Not the request's fault (disk full, database down): a 503 says to retry.
        return JSONResponse(
            status_code=503,
            content={"detail": f"{exc}; try again once it is back"},
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(StoreError)
    async def _store_error(_: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    @app.api_route(
        "/api/{path:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def _api_not_found(path: str) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": f"no API endpoint /api/{path}"})

    if settings.auth_secret is not None:
        app.add_middleware(AuthMiddleware, secret=settings.auth_secret.get_secret_value())
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outermost: another site's request is refused before anything else looks at it.
    app.add_middleware(OriginMiddleware, **OriginMiddleware.options(settings))

    ui = settings.frontend_dir or REPO_FRONTEND
    if (ui / "index.html").is_file():
        app.mount("/", StaticFiles(directory=ui, html=True), name="ui")
    else:

        @app.get("/", include_in_schema=False)
        async def _no_ui() -> HTMLResponse:
            return HTMLResponse(_NO_UI)

    return app
