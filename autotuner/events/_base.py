"""The event transport contract: how recorded events travel between processes.

An event is first recorded durably by :meth:`Store.append_event`, which gives it
the task's next id (1, 2, 3 ... without gaps; id N is committed only after every
id below it). Only then does a transport carry the recorded event
(:class:`~autotuner.domain.StoredEvent`, whose ``payload`` is the exact JSON
clients receive) to the fan-out hub of every process that subscribed to its
topic. Because the store is the source of truth, a transport may be lossy; the
hub repairs what it loses.

Topics
    ``subscribe(task_id)`` for one task's events; ``subscribe(ALL_TASKS)`` for
    the task-level (``task_*``) events of every task. A hub subscribes to a
    topic when its first local client arrives and unsubscribes when the last
    one leaves, so a process without clients costs nothing. A process that only
    publishes (a worker) builds no hub at all: its transport delivers nowhere.

Ordering
    Events of one publisher reach a subscriber in the order it published them.
    Events of *different* publishers for the same task (two workers, or two
    coroutines) may arrive in any order: publisher B may publish id 6 before
    publisher A publishes id 5.

Delivery
    At most once per subscription. An event may be lost: the publisher died
    between commit and publish, the transport was disconnected (Redis restart,
    network failure), or the subscription was not yet active when the event
    was published.

How the hub recovers
    Per task topic the hub knows the last id it delivered. An arriving id
    greater than the next expected one means a gap: the hub reads the missing
    events from the store (they are committed, since a higher id is) and
    delivers them in order first. An id at or below the last delivered one is a
    duplicate and dropped. After a reconnect the transport calls
    :meth:`EventSink.resync`, and the hub catches every active topic up from the
    store. A transport that can lose events silently (Redis pub/sub) also lets
    the hub poll the store's newest id from time to time (``needs_sweep``), so
    an event whose publisher died before publishing is delivered within seconds
    even if no later event follows it.

Concurrency
    Every method runs on the event loop the transport was started on. The sink
    methods are called on that loop, synchronously, and must not block.

Subscriber counts
    ``change_subscribers`` and ``subscriber_count`` let the hubs of several
    processes answer one total per task; a backend keeps the counts of a
    process that died without cleaning up for a few seconds at most.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Final, Protocol

# The store's record type; re-exported here because it is the unit every
# contract of this package speaks in (the store is the layer below events).
from autotuner.domain import StoredEvent as StoredEvent  # re-exported beside EventLog

#: The topic of the task-level events of all tasks (``/api/ws/tasks``).
ALL_TASKS: Final = None

Topic = int | None


class EventSink(Protocol):
    """What a transport delivers to: the fan-out hub of its process."""

    def deliver_task(self, event: StoredEvent) -> None:
        """An event of a task topic this process subscribed to."""

    def deliver_all(self, event: StoredEvent) -> None:
        """A task-level event, for the all-tasks topic."""

    def resync(self) -> None:
        """The transport may have lost events (e.g. it reconnected): catch up from the store."""


class EventLog(Protocol):
    """What the hub reads from the store: the durable, per-task numbered event log.

    :class:`~autotuner.store.Store` is one; the hub needs nothing else of it.
    """

    async def last_event_id(self, task_id: int) -> int | None:
        """The newest id of the task's events (0 if none); None for an unknown task."""

    async def event_sizes(
        self, task_id: int, *, after: int = 0, limit: int = 1000, experiment_pk: int | None = None
    ) -> list[tuple[int, int]]:
        """``(id, payload bytes)`` of the task's events after ``after``, oldest first."""

    async def read_events(
        self,
        task_id: int,
        *,
        after: int = 0,
        limit: int = 1000,
        experiment_pk: int | None = None,
    ) -> list[StoredEvent]:
        """The task's events after ``after``, oldest first, at most ``limit``."""


class _NoSink:
    """Where a transport delivers in a process without a hub: nowhere."""

    def deliver_task(self, event: StoredEvent) -> None:
        pass

    def deliver_all(self, event: StoredEvent) -> None:
        pass

    def resync(self) -> None:
        pass


class Transport(ABC):
    """Carries recorded events from publishers to the hubs that subscribed (see module doc)."""

    #: ``"memory"`` or ``"redis"``, shown in the stats.
    name: str = "?"
    #: True when events can be lost silently, so the hub should poll the store.
    needs_sweep: bool = False
    #: Where subscribed events go: the hub of this process, once one is bound.
    _sink: EventSink = _NoSink()

    def bind(self, sink: EventSink) -> None:
        """Set where subscribed events go; called once, by the hub, before :meth:`start`.
        Without it (a publishing-only process) events of the process go nowhere."""
        self._sink = sink

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Prepare to publish; must not open subscriptions (those are lazy)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and background tasks; idempotent."""

    @abstractmethod
    async def publish(self, event: StoredEvent) -> None:
        """Send a recorded event to every process subscribed to its task (and to
        the all-tasks topic when it is a ``task_*`` event). May raise when the
        backend is unreachable; the event is recorded anyway."""

    @abstractmethod
    async def subscribe(self, topic: Topic) -> None:
        """Start receiving ``topic``. Returns once the subscription is active, or
        after a bounded wait when the backend is down (the subscription is then
        made on reconnect, followed by :meth:`EventSink.resync`)."""

    @abstractmethod
    async def unsubscribe(self, topic: Topic) -> None:
        """Stop receiving ``topic``."""

    async def change_subscribers(self, task_id: int, delta: int, local: int) -> None:  # noqa: B027
        """This process's count of WebSocket clients of ``task_id`` changed by ``delta``
        (to ``local``)."""

    async def subscriber_count(self, task_id: int, local: int) -> int:
        """Clients of ``task_id`` over every process; ``local`` is this process's count."""
        return local


def encode_wire(event: StoredEvent) -> bytes:
    """One recorded event as a transport message: a header line, then the payload."""
    pk = b"-" if event.experiment_pk is None else str(event.experiment_pk).encode()
    return b"%d %d %s %s %r\n%s" % (
        event.task_id,
        event.id,
        event.type.encode(),
        pk,
        event.timestamp,
        event.payload,
    )


def decode_wire(data: bytes) -> StoredEvent:
    """The inverse of :func:`encode_wire`."""
    head, _, payload = data.partition(b"\n")
    task_id, event_id, event_type, pk, *stamp = head.split(b" ")
    return StoredEvent(
        int(task_id),
        int(event_id),
        event_type.decode(),
        None if pk == b"-" else int(pk),
        payload,
        float(stamp[0]) if stamp else 0.0,
    )
