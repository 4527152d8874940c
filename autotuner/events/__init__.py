"""Events: durable publishing and live fan-out to WebSocket clients.

``create_event_bus(settings, store)`` gives the process's :class:`EventBus`:
in-process transport in the embedded mode, Redis when ``redis_url`` is set.
A process that serves WebSocket clients also builds a :class:`FanoutHub` on
the bus's transport (``create_hub(settings, store, bus.transport)``); one that
only publishes (a worker) builds none.
"""

from autotuner.events._base import ALL_TASKS, EventLog, EventSink, StoredEvent, Transport
from autotuner.events._memory import MemoryTransport
from autotuner.events.bus import EventBus, create_event_bus
from autotuner.events.hub import FanoutHub, create_hub
from autotuner.events.replay import Replay
from autotuner.events.subscriber import CLOSE_TOO_SLOW, Outgoing, Subscriber

__all__ = [
    "ALL_TASKS",
    "CLOSE_TOO_SLOW",
    "EventBus",
    "EventLog",
    "EventSink",
    "FanoutHub",
    "MemoryTransport",
    "Outgoing",
    "Replay",
    "StoredEvent",
    "Subscriber",
    "Transport",
    "create_event_bus",
    "create_hub",
]
