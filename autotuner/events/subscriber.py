"""One WebSocket client's side of the hub: its filter, its bounded send buffer, its close.

Each event becomes one :class:`Outgoing` once (its text is the stored payload,
never re-serialized), and that same object goes to every subscriber it is for.
A subscriber's buffer is a ``deque`` (none while nothing is pending) and at most
one waiting future, drained in batches by the connection's writer. A client
whose buffer holds ``limit`` unsent events, or ``byte_limit`` bytes of them, is
cut off with :data:`CLOSE_TOO_SLOW` instead of growing memory or slowing anybody
else; the close reason says where to resume.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

#: Close code for a client that could not keep up; it can resume with last_event_id.
CLOSE_TOO_SLOW = 4429
#: Default byte bound of one client's send buffer.
SEND_BUFFER_BYTES = 16 << 20


class Outgoing:
    """One message for the wire, shared by every client it goes to."""

    __slots__ = ("id", "text", "size", "wire")

    def __init__(self, event_id: int | None, text: str) -> None:
        self.id = event_id
        #: The JSON text clients receive, decoded once per event.
        self.text = text
        #: What it weighs in a send buffer (characters: bytes for ASCII JSON).
        self.size = len(text)
        #: Its encoded form, built on first use by whoever writes it to a socket
        #: (``api/frames.py``: the WebSocket frame) and then shared by every client.
        self.wire: bytes | None = None

    @classmethod
    def control(cls, body: dict[str, Any]) -> Outgoing:
        """A message of the protocol itself (pong, error, resync notice): no event id."""
        return cls(None, orjson.dumps(body).decode())


#: The queue of a subscriber with nothing pending: idle connections hold no deque.
_EMPTY: Any = ()


class Subscriber:
    """One WebSocket client's view of the hub: its filter and its send buffer.

    Delivery to a subscriber takes one of two paths. When nothing is queued and
    ``direct`` is set, the hub hands the event straight to the connection
    (``api/ws.py``), which writes its frame. Otherwise it appends to ``queue``
    and, when the queue was empty, wakes the consumer: ``kick()`` (which starts
    a writer task for the connection) or a coroutine blocked in :meth:`wait`.
    The writer pops, skips ids at or below ``last_id`` and sends.
    """

    __slots__ = (
        "task_id",
        "experiment_pk",
        "limit",
        "byte_limit",
        "queue",
        "queued_bytes",
        "waiter",
        "kick",
        "closed",
        "close_code",
        "close_reason",
        "cut_off_why",
        "last_id",
        "attached",
        "direct",
        "inflight",
    )

    def __init__(
        self,
        task_id: int | None,
        experiment_pk: int | None = None,
        *,
        limit: int = 1024,
        byte_limit: int = SEND_BUFFER_BYTES,
    ) -> None:
        #: ``None`` for the all-tasks topic.
        self.task_id = task_id
        self.experiment_pk = experiment_pk
        self.limit = limit
        #: Bytes the queue may hold; one item always fits, however large.
        self.byte_limit = byte_limit
        #: A deque while something is pending; an empty tuple otherwise.
        self.queue: deque[Outgoing] = _EMPTY
        #: The sizes of the queued items (reset whenever the queue is found empty).
        self.queued_bytes = 0
        self.waiter: asyncio.Future[None] | None = None
        #: Called when the queue becomes non-empty or the subscriber is closed.
        self.kick: Callable[[], None] | None = None
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.cut_off_why: str | None = None
        #: The newest event id handed to the client (or the point it starts after).
        self.last_id = 0
        self.attached = False
        #: Writes an item straight to the connection, or returns False when it
        #: cannot right now (see ``api/ws.py``); None: always go through the queue.
        self.direct: Callable[[Outgoing], bool] | None = None
        #: True while the writer is inside a send: direct writes would overtake it.
        self.inflight = False

    def push(self, item: Outgoing) -> bool:
        """Queue ``item``; False (and the subscriber closed) when the buffer is full."""
        if self.closed:
            return False
        queue = self.queue
        if not queue:
            self.queued_bytes = 0
        elif self.full(item):
            self.overflow()
            return False
        if queue is _EMPTY:
            queue = self.queue = deque()
        queue.append(item)
        self.queued_bytes += item.size
        if len(queue) == 1:
            self.wake()
        return True

    def full(self, item: Outgoing) -> bool:
        """Whether ``item`` does not fit behind what is queued (count or bytes)."""
        return len(self.queue) >= self.limit or self.queued_bytes + item.size > self.byte_limit

    def overflow(self) -> None:
        self.cut_off("send buffer overflow")

    def cut_off(self, why: str) -> None:
        """Close with 4429 and a reason saying where to resume (``last_id``)."""
        if not self.closed:
            self.cut_off_why = why
            self.close(CLOSE_TOO_SLOW, self.final_reason())

    def final_reason(self) -> str:
        """The close reason, as of now: a send under way when the client was cut off
        may still complete, and the resume point then moves with it."""
        why = self.cut_off_why
        if why is None:
            return self.close_reason
        if self.task_id is None:
            return f"{why}: too slow; reconnect and refetch the task list"
        return f"{why}: too slow; resume with last_event_id={self.last_id}"

    def close(self, code: int | None = None, reason: str = "") -> None:
        """Stop delivering: drop what is buffered and wake the writer so it can close."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        self.queue = _EMPTY
        self.queued_bytes = 0
        self.direct = None
        self.wake()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)
        elif self.kick is not None:
            self.kick()

    def pop(self) -> Outgoing | None:
        """The next queued item, or None (and the deque released) when nothing is left."""
        queue = self.queue
        if not queue:
            return None
        item = queue.popleft()
        if queue:
            self.queued_bytes -= item.size
        else:
            self.queue = _EMPTY
            self.queued_bytes = 0
        return item

    async def wait(self) -> None:
        """Return when something is queued or the subscriber is closed."""
        if self.queue or self.closed:
            return
        waiter = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        try:
            await waiter
        finally:
            if self.waiter is waiter:
                self.waiter = None

    def describe(self) -> str:
        if self.task_id is None:
            return "all tasks"
        if self.experiment_pk is not None:
            return f"experiment {self.experiment_pk} of task {self.task_id}"
        return f"task {self.task_id}"
