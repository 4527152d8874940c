"""A minimal real server for the event-pipeline tests: Store + EventBus + hub + the ws router.

Run as ``python -m tests.events.server --port P --database-url URL [--redis-url URL
--namespace NS] [--send-buffer N] [--product]``. It also mounts ``POST /test/publish``
(test only, never in the product app) so a test can publish inside the server
process, as the embedded mode's runner does. ``--product`` serves the product's
``create_app`` (with its middleware, queue and UI) plus those test routes.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from fastapi import FastAPI, Request

from autotuner.api.deps import EventStats
from autotuner.config import Settings
from autotuner.domain import EventType, create_event
from autotuner.testing import events_app


def build_app(settings: Settings, *, namespace: str | None = None) -> FastAPI:
    app = events_app(settings, namespace=namespace)
    add_test_routes(app)
    return app


def build_product_app(settings: Settings) -> FastAPI:
    from autotuner.api.app import create_app

    app = create_app(settings)
    add_test_routes(app)
    # Ahead of the product's catch-alls (the UI mount at "/").
    test_routes = [r for r in app.router.routes if getattr(r, "path", "").startswith("/test/")]
    others = [r for r in app.router.routes if r not in test_routes]
    app.router.routes[:] = test_routes + others
    return app


def add_test_routes(app: FastAPI) -> None:
    @app.post("/test/publish")
    async def publish(request: Request) -> dict[str, Any]:
        body = await request.json()
        bus = request.app.state.bus
        last = 0
        for _ in range(int(body.get("count", 1))):
            stored = await bus.publish(
                create_event(
                    EventType(body.get("type", "task_progress")),
                    int(body["task_id"]),
                    message=body.get("message", ""),
                    data=body.get("data") or {},
                ),
                experiment_pk=body.get("experiment_pk"),
            )
            last = stored.id
        return {"last_id": last}

    @app.get("/test/stats")
    async def stats(figures: EventStats) -> dict[str, Any]:
        return figures


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url")
    parser.add_argument("--namespace")
    parser.add_argument("--send-buffer", type=int, default=1024)
    parser.add_argument("--ws", default="websockets-sansio")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--product", action="store_true", help="serve autotuner's create_app")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level, format="%(name)s %(levelname)s %(message)s")
    settings = Settings(
        database_url=args.database_url,
        redis_url=args.redis_url,
        ws_send_buffer=args.send_buffer,
        **({"data_dir": args.data_dir} if args.data_dir else {}),
    )
    app = (
        build_product_app(settings)
        if args.product
        else build_app(settings, namespace=args.namespace)
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        ws=args.ws,
        ws_per_message_deflate=False,
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
