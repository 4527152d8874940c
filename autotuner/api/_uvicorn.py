"""Direct writes: reaching past ASGI into uvicorn's ``websockets-sansio`` protocol.

The ASGI path costs, per client and per event, a task wake-up, the framework's
send wrappers, a UTF-8 encode and the frame serialization. Fan-out to
thousands of clients needs none of it: the frame of an event is the same bytes
for every uncompressed connection (``frames.py``), so the hub can hand it to
the connection's transport directly. This module is the only code that knows
uvicorn's internals; what it relies on, in the installed uvicorn:

- ``uvicorn.protocols.websockets.websockets_sansio_impl.WebSocketsSansIOProtocol``
  is the protocol of ``--ws websockets-sansio``;
- the ASGI ``send`` it hands the app is one of its bound methods, reached
  through the closures of any middleware wrapping it;
- the protocol has the attributes named in :data:`RELIED_ON`.

``tests/api/test_uvicorn_protocol.py`` runs a real uvicorn server and fails,
naming the uvicorn version and what is missing, when an upgrade changes any of
that; at run time the connection then quietly takes the ASGI path.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import (
    WebSocketsSansIOProtocol as SansIOProtocol,
)

from autotuner.api.frames import frame_of
from autotuner.events import Outgoing

log = logging.getLogger("autotuner.events.ws")

#: The protocol's attributes used here: its ``asyncio.Transport``, an
#: ``asyncio.Event`` set while the transport is below its high-water mark, and
#: two booleans (a close frame was sent; the connection is lost).
RELIED_ON = ("transport", "writable", "close_sent", "disconnected")


def protocol_of(send: Any, depth: int = 0) -> SansIOProtocol | None:
    """uvicorn's protocol object behind an ASGI ``send`` (through middleware closures),
    or None when the server is not uvicorn's ``websockets-sansio`` implementation."""
    if depth > 12:
        return None
    owner = getattr(send, "__self__", None)
    if isinstance(owner, SansIOProtocol):
        return owner
    for cell in getattr(send, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if callable(value):
            found = protocol_of(value, depth + 1)
            if found is not None:
                return found
    return None


def missing(proto: Any) -> list[str]:
    """The names of :data:`RELIED_ON` that ``proto`` lacks."""
    return [name for name in RELIED_ON if not hasattr(proto, name)]


class DirectWriter:
    """Writes an item's frame straight to one connection's transport (see module doc).

    It writes only while uvicorn's protocol has not sent a close frame, is
    connected and its transport is below the high-water mark; otherwise it
    returns False and the event goes through the subscriber's buffer and ASGI,
    with the same flow control and 4429 policy.
    """

    __slots__ = ("proto", "transport", "writable")

    def __init__(self, proto: Any) -> None:
        self.proto = proto
        self.transport = proto.transport
        self.writable = proto.writable

    def __call__(self, item: Outgoing) -> bool:
        proto = self.proto
        if proto.close_sent or proto.disconnected or not self.writable.is_set():
            return False
        frame = item.wire
        if frame is None:
            frame = frame_of(item)
        self.transport.write(frame)
        return True


def direct_writer(websocket: WebSocket) -> DirectWriter | None:
    """A :class:`DirectWriter` for this connection, or None when the server is not
    uvicorn's ``websockets-sansio`` implementation."""
    proto = protocol_of(websocket._send)
    return None if proto is None else DirectWriter(proto)


def abort(websocket: WebSocket) -> None:
    """Drop the connection at once (a client that reads nothing cannot be closed)."""
    proto = protocol_of(websocket._send)
    if proto is not None and not proto.disconnected:
        log.warning("[EventBroadcaster] Dropping a client that reads nothing")
        proto.transport.abort()
