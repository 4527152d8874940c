"""Events: durable publishing and live fan-out to WebSocket clients.

``create_event_bus(settings, store)`` gives the process's :class:`EventBus`:
in-process transport in the embedded mode, Redis when ``redis_url`` is set.
"""

from autotuner.events._base import ALL_TASKS, EventSink, Transport
from autotuner.events._memory import MemoryTransport
from autotuner.events.bus import EventBus, create_event_bus
from autotuner.events.hub import CLOSE_TOO_SLOW, FanoutHub, Outgoing, Replay, Subscriber

__all__ = [
    "ALL_TASKS",
    "CLOSE_TOO_SLOW",
    "EventBus",
    "EventSink",
    "FanoutHub",
    "MemoryTransport",
    "Outgoing",
    "Replay",
    "Subscriber",
    "Transport",
    "create_event_bus",
]
