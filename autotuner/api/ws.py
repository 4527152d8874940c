"""WebSocket routes: live task and experiment events, resumable by ``last_event_id``.

Protocol (``docs/websocket.md``): the first message is ``connection_established``; then,
for a resuming client, every event after its ``last_event_id`` once and in
order, then live events. A client that cannot be given a gap-free stream gets
``resync_required`` and continues live from the newest id. ``{"type": "ping"}``
is answered with ``{"type": "pong"}``; anything else gets an ``error`` reply and
the socket stays open. Close codes: 4404 unknown task or experiment, 4400 bad
query, 4429 too slow (the reason says which ``last_event_id`` to resume with),
1011 event pipeline unavailable.

Memory per connection is bounded whatever the client does: the replay is read
from the store a page at a time (at most ``PAGE`` events and about
``PAGE_BYTES``) and each frame is written only once the transport is below its
high-water mark, so a client that does not read holds one page and one frame.
A send (replay or live) that cannot be written within ``ws_send_timeout``
seconds cuts the client off with 4429; a close frame that cannot be written
within ``ABORT_AFTER`` seconds drops the connection.

Browsers authenticate by offering two subprotocols, ``autotuner`` and
``autotuner.bearer.<token>`` (``api/auth.py``); the server then accepts with
``autotuner``, never with the one holding the token.

Per connection, the request's own coroutine sends the replay and then reads
client frames. Live events need no coroutine of the connection: the hub hands
each event straight to the socket, which writes its prebuilt frame
(``_uvicorn.DirectWriter``, unless ``Settings.ws_direct_writes`` is off). Only
when that cannot be done (the socket is not writable, or events are queued
before this one) does the event go to the subscriber's bounded queue, and a
writer task is started to drain it through ASGI; it ends when the queue is
empty. An idle or keeping-up connection thus holds one task and no queue.

The routes are plain Starlette routes (no dependency injection): a WebSocket
lives long and should hold nothing it does not use. They find the process's
hub with :func:`~autotuner.api.deps.hub_of`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, WebSocket
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from autotuner.api._uvicorn import DirectWriter, abort, protocol_of
from autotuner.api.auth import SUBPROTOCOL
from autotuner.api.deps import Hub, TaskId, hub_of
from autotuner.api.frames import frame_of, frame_text, text_frame
from autotuner.config import Settings
from autotuner.domain import MAX_ID  # ids are INTEGER (32-bit on PostgreSQL)
from autotuner.events import FanoutHub, Outgoing, Replay, Subscriber
from autotuner.store import Store

log = logging.getLogger("autotuner.events.ws")

router = APIRouter(tags=["websocket"])

CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAVAILABLE = 1011
#: How long closing may wait for a client that reads nothing.
CLOSE_TIMEOUT = 5.0
#: How long a cut-off client that reads nothing keeps its connection.
ABORT_AFTER = 30.0

_PONG = Outgoing.control({"type": "pong"})
_Send = Callable[[Any], Awaitable[None]]
_GONE = (WebSocketDisconnect, OSError, RuntimeError)


async def task_events(websocket: WebSocket) -> None:
    """Every event of one task."""
    await _serve(websocket, task_id=websocket.path_params["task_id"], experiment_pk=None)


async def experiment_events(websocket: WebSocket) -> None:
    """The events of one experiment (its database id); resume ids are the task's."""
    await _serve(websocket, task_id=None, experiment_pk=websocket.path_params["experiment_id"])


async def all_task_events(websocket: WebSocket) -> None:
    """The task-level (``task_*``) events of every task, live (no resume)."""
    hub = hub_of(websocket)
    await _accept(websocket)
    sub = hub.new_subscriber(None)
    try:
        await hub.subscribe(sub)
        await _send_json(
            websocket,
            {
                "type": "connection_established",
                "task_id": None,
                "last_event_id": None,
                "replayed": 0,
            },
        )
        await _Connection(websocket, sub, hub).run()
    except _GONE:
        pass
    finally:
        await hub.unsubscribe(sub)


class _Endpoint:
    """A handler as a bare ASGI app, so Starlette adds no per-connection wrappers."""

    def __init__(self, handler: Callable[[WebSocket], Awaitable[None]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.handler(WebSocket(scope, receive=receive, send=send))


router.routes += [
    WebSocketRoute("/api/ws/tasks/{task_id:int}", _Endpoint(task_events), name="task_events"),
    WebSocketRoute(
        "/api/ws/experiments/{experiment_id:int}",
        _Endpoint(experiment_events),
        name="experiment_events",
    ),
    WebSocketRoute("/api/ws/tasks", _Endpoint(all_task_events), name="all_task_events"),
]


@router.get("/api/ws/tasks/{task_id}/subscribers")
async def subscribers(task_id: TaskId, request: Request, hub: Hub) -> dict[str, Any]:
    """Open WebSocket connections to a task (over every API process)."""
    store: Store = request.app.state.store
    if not 0 < task_id <= MAX_ID or await store.last_event_id(task_id) is None:
        raise HTTPException(status_code=404, detail=f"task {task_id} not found")
    count = await hub.subscriber_count(task_id)
    return {
        "task_id": task_id,
        "subscriber_count": count,
        "status": "active" if count > 0 else "inactive",
    }


async def _serve(websocket: WebSocket, *, task_id: int | None, experiment_pk: int | None) -> None:
    hub = hub_of(websocket)
    sub = await _open(websocket, hub, task_id, experiment_pk)
    if sub is None:
        return
    try:
        await _Connection(websocket, sub, hub).run()
    except _GONE:
        pass
    finally:
        await hub.unsubscribe(sub)


def _subprotocol(websocket: WebSocket) -> str | None:
    """``autotuner`` when the client offered it: a browser that offered protocols
    fails a handshake that picks none, and the token protocol is never echoed."""
    offered = websocket.scope.get("subprotocols") or ()
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


async def _accept(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol=_subprotocol(websocket))


async def _open(
    websocket: WebSocket, hub: FanoutHub, task_id: int | None, experiment_pk: int | None
) -> Subscriber | None:
    """Accept, check, subscribe and replay; the subscriber, or None once closed.

    Its own coroutine, so nothing it needed stays referenced for the connection's life.
    """
    store: Store = websocket.app.state.store
    await _accept(websocket)

    raw = websocket.query_params.get("last_event_id")
    last_event_id: int | None = None
    if raw not in (None, ""):
        try:
            last_event_id = int(raw)
            if not 0 <= last_event_id <= MAX_ID:
                raise ValueError
        except ValueError:
            await _close(
                websocket, CLOSE_BAD_REQUEST, f"last_event_id must be an integer 0 to {MAX_ID}"
            )
            return None

    if experiment_pk is not None:
        experiment = await store.get_experiment(experiment_pk) if experiment_pk <= MAX_ID else None
        if experiment is None:
            await _close(websocket, CLOSE_NOT_FOUND, f"experiment {experiment_pk} not found")
            return None
        task_id = experiment.task_id
    assert task_id is not None
    if task_id > MAX_ID or await store.last_event_id(task_id) is None:
        await _close(websocket, CLOSE_NOT_FOUND, f"task {task_id} not found")
        return None

    sub = hub.new_subscriber(task_id, experiment_pk)
    try:
        try:
            await hub.subscribe(sub)
            replay = await hub.replay(sub, last_event_id)
        except LookupError:
            await _close(websocket, CLOSE_NOT_FOUND, f"task {task_id} not found")
            raise
        except Exception:
            log.exception("[EventBroadcaster] Cannot subscribe to task %d", task_id)
            await hub.unsubscribe(sub)
            await _close(websocket, CLOSE_UNAVAILABLE, "event pipeline unavailable; retry")
            return None
        hello: dict[str, Any] = {
            "type": "connection_established",
            "task_id": task_id,
            "last_event_id": replay.newest,
            "replayed": replay.count,
        }
        if experiment_pk is not None:
            hello["experiment_id"] = experiment_pk
        await _send_json(websocket, hello)
        if replay.resync_reason is not None:
            await _send_json(
                websocket,
                {
                    "type": "resync_required",
                    "task_id": task_id,
                    "last_event_id": replay.newest,
                    "reason": replay.resync_reason,
                },
            )
        elif replay.count:
            settings: Settings = websocket.app.state.settings
            if not await _replay(_Sender(websocket, settings), sub, replay):
                log.warning(
                    "[EventBroadcaster] Client of %s did not read its replay for %.0f s: "
                    "closing with %d, resume after id %d",
                    sub.describe(),
                    settings.ws_send_timeout,
                    sub.close_code,
                    sub.last_id,
                )
                await hub.unsubscribe(sub)
                await _close(websocket, sub.close_code or 1011, sub.final_reason(), ABORT_AFTER)
                return None
            if replay.count > 100:
                log.info(
                    "[EventBroadcaster] Replayed %d events of %s", replay.count, sub.describe()
                )
    except Exception as exc:
        # Client gone, task deleted (closed above), or the store failed mid-replay.
        await hub.unsubscribe(sub)
        if not isinstance(exc, (*_GONE, LookupError)):
            log.warning("[EventBroadcaster] Replay of %s failed: %s", sub.describe(), exc)
            await _close(websocket, CLOSE_UNAVAILABLE, "event pipeline unavailable; retry")
        return None
    except BaseException:
        await hub.unsubscribe(sub)
        raise
    return sub


async def _replay(sender: _Sender, sub: Subscriber, replay: Replay) -> bool:
    """Send the replay; False (and ``sub`` cut off) when the client did not take it.

    Live events meanwhile wait in the subscriber's queue; the writer skips those at
    or below ``sub.last_id``, which follows the replay and ends at ``replay.newest``.
    Its own coroutine, so no page outlives it.
    """
    sub.last_id = replay.after
    try:
        async with contextlib.aclosing(replay.events()) as events:
            async for event in events:
                if sub.closed:
                    return True  # its live buffer overflowed meanwhile: the writer closes
                await sender.send_frame(text_frame(event.payload))
                sub.last_id = event.id
    except TimeoutError:
        sub.cut_off(f"replay not read for {sender.timeout:.0f} s")
        return False
    if not sub.closed:
        sub.last_id = max(sub.last_id, replay.newest)
    return True


class _Sender:
    """Writes one connection's frames, waiting at most ``timeout`` seconds for the
    client to make room; raises ``TimeoutError`` when it does not.

    On uvicorn's ``websockets-sansio`` protocol a frame is written to the transport
    only while it is below its high-water mark, so a client that does not read
    makes the server hold at most one frame beyond that mark. Elsewhere the frame
    goes through ASGI (whose servers apply their own flow control).
    """

    __slots__ = ("websocket", "timeout", "proto")

    def __init__(self, websocket: WebSocket, settings: Settings) -> None:
        self.websocket = websocket
        self.timeout = settings.ws_send_timeout
        self.proto = protocol_of(websocket._send) if settings.ws_direct_writes else None

    async def send_frame(self, frame: bytes, text: str | None = None) -> None:
        """Send a complete text frame (``text``: its content, if already decoded)."""
        proto = self.proto
        if proto is None:
            if text is None:
                text = frame_text(frame)
            await asyncio.wait_for(
                self.websocket.send({"type": "websocket.send", "text": text}), self.timeout
            )
            return
        writable = proto.writable
        if not writable.is_set():
            await asyncio.wait_for(writable.wait(), self.timeout)
        if proto.close_sent or proto.disconnected:
            raise WebSocketDisconnect(1006)
        proto.transport.write(frame)

    async def send(self, item: Outgoing) -> None:
        if self.proto is None:
            message = {"type": "websocket.send", "text": item.text}
            await asyncio.wait_for(self.websocket.send(message), self.timeout)
        else:
            await self.send_frame(frame_of(item))


class _Connection:
    """Live delivery to one client after the replay: reads client frames, and starts
    a writer task only while something is queued."""

    __slots__ = ("websocket", "sub", "hub", "sender", "writer")

    def __init__(self, websocket: WebSocket, sub: Subscriber, hub: FanoutHub) -> None:
        self.websocket = websocket
        self.sub = sub
        self.hub = hub
        self.sender = _Sender(websocket, websocket.app.state.settings)
        self.writer: asyncio.Task[None] | None = None

    def kick(self) -> None:
        writer = self.writer
        if writer is None or writer.done():
            self.writer = asyncio.get_running_loop().create_task(self.drain())

    async def drain(self) -> None:
        """Send the queued items in order, then end; close the socket if cut off.

        A send that waits longer than the send timeout cuts the client off (4429);
        one that is stuck when the hub cut it off ends within that timeout too.
        """
        sub = self.sub
        try:
            while not sub.closed:
                item = sub.pop()
                if item is None:
                    return
                event_id = item.id
                if event_id is not None and event_id <= sub.last_id:
                    continue  # already replayed, or before this client's starting point
                sub.inflight = True
                try:
                    await self.sender.send(item)
                finally:
                    sub.inflight = False
                if event_id is not None:
                    sub.last_id = event_id
        except TimeoutError:
            if not sub.closed:
                log.warning(
                    "[EventBroadcaster] Client of %s read nothing for %.0f s: closing with "
                    "4429, resume after id %d",
                    sub.describe(),
                    self.sender.timeout,
                    sub.last_id,
                )
                sub.cut_off(f"nothing read for {self.sender.timeout:.0f} s")
            await self.hub.unsubscribe(sub)
        except _GONE:
            sub.close()
            return
        if sub.close_code is not None:
            await _close(self.websocket, sub.close_code, sub.final_reason(), ABORT_AFTER)

    async def run(self) -> None:
        websocket, sub = self.websocket, self.sub
        sub.kick = self.kick
        if self.sender.proto is not None:
            sub.direct = DirectWriter(self.sender.proto)
        if sub.queue or sub.closed:
            self.kick()  # events that arrived during the replay
        try:
            while not sub.closed:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                reply = _answer(message)
                if reply is not None:
                    sub.push(reply)
        finally:
            sub.kick = None
            if sub.close_code is None:
                sub.close()  # the client left
            writer = self.writer
            if writer is not None and not writer.done():
                if sub.close_code is None:
                    writer.cancel()  # nothing left to say to a client that is gone
                with contextlib.suppress(BaseException):
                    await writer


def _answer(message: Any) -> Outgoing | None:
    text = message.get("text")
    if text is None:
        return _error('binary frames are not understood; send JSON text like {"type": "ping"}')
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return _error(f'malformed JSON ({exc}); send {{"type": "ping"}}')
    if not isinstance(body, dict):
        return _error('expected a JSON object like {"type": "ping"}')
    kind = body.get("type")
    if kind == "ping":
        return _PONG
    return _error(f'unknown message type {kind!r}; the server understands {{"type": "ping"}}')


def _error(message: str) -> Outgoing:
    return Outgoing.control({"type": "error", "message": message})


async def _send_json(websocket: WebSocket, body: dict[str, Any]) -> None:
    await websocket.send({"type": "websocket.send", "text": orjson.dumps(body).decode()})


async def _close(
    websocket: WebSocket, code: int, reason: str, within: float = CLOSE_TIMEOUT
) -> None:
    """Send a close frame; drop the connection if it cannot be written ``within`` s."""
    # A close frame's reason holds at most 123 bytes.
    reason = reason.encode()[:123].decode(errors="ignore")
    try:
        await asyncio.wait_for(websocket.close(code=code, reason=reason), within)
    except TimeoutError:
        abort(websocket)
    except _GONE:
        pass
