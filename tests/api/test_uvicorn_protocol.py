"""What the direct write path (``autotuner/api/_uvicorn.py``) relies on in uvicorn.

The product falls back to the ASGI path without a word when it cannot find or
use uvicorn's ``websockets-sansio`` protocol; these tests run a real uvicorn
server and fail, naming the installed uvicorn version and what changed, so an
upgrade cannot silently cost the fan-out its fast path.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
import websockets
from fastapi import FastAPI, WebSocket
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from autotuner.events import Outgoing

UVICORN = f"uvicorn {uvicorn.__version__}"
SANSIO = "uvicorn.protocols.websockets.websockets_sansio_impl"


def _uvicorn_module() -> Any:
    try:
        return importlib.import_module("autotuner.api._uvicorn")
    except (ImportError, AttributeError) as exc:
        pytest.fail(
            f"{UVICORN}: autotuner/api/_uvicorn.py no longer imports ({exc}); it needs "
            f"{SANSIO}.WebSocketsSansIOProtocol"
        )


class _Wrapping:
    """A pure ASGI middleware whose ``send`` is a closure, as real middleware stacks are."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def wrapped(message: Any) -> None:
            await send(message)

        await self.app(scope, receive, wrapped)


@contextlib.asynccontextmanager
async def _server(app: ASGIApp) -> AsyncIterator[int]:
    """A real uvicorn on ``websockets-sansio`` (the product's ``--ws``) on a free port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app, ws="websockets-sansio", lifespan="off", log_config=None, log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not serving.done(), f"{UVICORN} did not start: {serving.exception()!r}"
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def test_direct_writes_reach_the_client_and_stop_when_the_transport_is_full() -> None:
    mod = _uvicorn_module()
    seen: dict[str, Any] = {}
    frame = Outgoing(None, '{"type": "direct", "pad": "' + "x" * 16_000 + '"}')

    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        proto = mod.protocol_of(websocket._send)
        seen["proto"] = proto
        if proto is None or mod.missing(proto):
            await websocket.send_text('{"type": "done"}')  # let the assertions below say why
            await websocket.close()
            return
        seen["types"] = {
            "transport": isinstance(proto.transport, asyncio.Transport),
            "writable": isinstance(proto.writable, asyncio.Event),
            "close_sent": isinstance(proto.close_sent, bool),
            "disconnected": isinstance(proto.disconnected, bool),
        }
        proto.transport.set_write_buffer_limits(high=64 << 10)
        writer = mod.direct_writer(websocket)
        # The client cannot read while this loop runs (same event loop): the socket
        # and then the transport fill up, and the writer must say so.
        sent = 0
        while sent < 4096 and writer(frame):
            sent += 1
        seen["sent"] = sent
        seen["paused"] = not proto.writable.is_set()
        await websocket.send_text('{"type": "done"}')  # ASGI: waits until writable
        seen["resumed"] = proto.writable.is_set()
        message = await websocket.receive()
        seen["close"] = message["type"]
        for _ in range(500):  # the connection is lost a moment after the close frame
            if proto.disconnected:
                break
            await asyncio.sleep(0.01)
        seen["after_close"] = writer(frame)

    app = FastAPI()
    app.router.routes += [WebSocketRoute("/ws", handler)]
    texts = []
    async with (
        _server(_Wrapping(app)) as port,
        websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None, max_size=None) as client,
    ):
        while True:
            text = await asyncio.wait_for(client.recv(), 30)
            texts.append(text)
            if text == '{"type": "done"}':
                break

    proto = seen.get("proto")
    assert proto is not None, (
        f"{UVICORN}: no {SANSIO}.WebSocketsSansIOProtocol behind the ASGI send of a "
        "websocket (protocol_of looks for a bound method of it through middleware "
        "closures); direct writes would silently be off"
    )
    assert not mod.missing(proto), (
        f"{UVICORN}: WebSocketsSansIOProtocol lacks {mod.missing(proto)}, which "
        "api/_uvicorn.py uses"
    )
    wrong = [name for name, ok in seen["types"].items() if not ok]
    assert not wrong, f"{UVICORN}: WebSocketsSansIOProtocol attributes changed type: {wrong}"
    assert seen["paused"] and seen["sent"] < 4096, (
        f"{UVICORN}: the protocol's `writable` event was not cleared when its transport "
        f"passed the high-water mark ({seen['sent']} frames of 16 kB written): direct "
        "writes would buffer without bound for a client that does not read"
    )
    assert seen["resumed"], f"{UVICORN}: `writable` was not set again once the client read"
    assert texts[:-1] == [frame.text] * seen["sent"], (
        f"{UVICORN}: the client did not receive the directly written frames intact"
    )
    assert seen["close"] == "websocket.disconnect"
    assert seen["after_close"] is False, (
        f"{UVICORN}: once the client's connection was lost, neither `close_sent` nor "
        "`disconnected` was set, so direct writes would go to a closed connection"
    )


async def test_abort_drops_the_connection_without_a_close_frame() -> None:
    mod = _uvicorn_module()

    async def aborting(websocket: WebSocket) -> None:
        await websocket.accept()
        if mod.protocol_of(websocket._send) is None:
            await websocket.close(1000, "no protocol found")
            return
        mod.abort(websocket)
        with contextlib.suppress(Exception):
            await websocket.receive()

    app = FastAPI()
    app.router.routes += [WebSocketRoute("/abort", aborting)]
    async with (
        _server(_Wrapping(app)) as port,
        websockets.connect(f"ws://127.0.0.1:{port}/abort") as client,
    ):
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(client.recv(), 30)
    assert client.close_reason != "no protocol found", (
        f"{UVICORN}: no {SANSIO}.WebSocketsSansIOProtocol behind the ASGI send, so "
        "abort() cannot drop a client that reads nothing"
    )
    assert client.close_code == 1006, (
        f"{UVICORN}: abort() should drop the connection without a close frame (the "
        f"transport's abort()); the client got close code {client.close_code}"
    )
