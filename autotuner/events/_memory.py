"""The in-process transport: the embedded mode, where publishers and the hub share a loop."""

from __future__ import annotations

from autotuner.events._base import StoredEvent, Topic, Transport


class MemoryTransport(Transport):
    """Hands each published event straight to this process's hub.

    Nothing is lost in transit and nothing crosses a process boundary, so the
    subscription calls are no-ops: the hub itself ignores tasks nobody watches.
    Events of concurrent publishers may still arrive out of id order (their
    store transactions finish in one order and their coroutines resume in
    another); the hub reorders them.
    """

    name = "memory"

    async def publish(self, event: StoredEvent) -> None:
        sink = self._sink
        sink.deliver_task(event)
        if event.type.startswith("task_"):
            sink.deliver_all(event)

    async def subscribe(self, topic: Topic) -> None:
        return None

    async def unsubscribe(self, topic: Topic) -> None:
        return None
