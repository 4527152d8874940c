"""Prometheus metrics: live connections, event and delivery counters, tasks by status."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from autotuner.api.deps import EventStats, StoreDep
from autotuner.domain import TaskStatus

router = APIRouter(tags=["system"])

# name -> (stats key, type, help)
_FROM_STATS = {
    "autotuner_ws_connections": ("connections", "gauge", "Open WebSocket connections"),
    "autotuner_ws_topics": ("topics", "gauge", "Topics with at least one WebSocket client"),
    "autotuner_events_published_total": (
        "events_published",
        "counter",
        "Events this process recorded and published",
    ),
    "autotuner_events_received_total": (
        "events_received",
        "counter",
        "Events this process's hub received for its clients",
    ),
    "autotuner_ws_deliveries_total": (
        "deliveries",
        "counter",
        "Event frames handed to WebSocket clients",
    ),
    "autotuner_ws_direct_deliveries_total": (
        "direct_deliveries",
        "counter",
        "Deliveries written straight to the connection",
    ),
    "autotuner_event_latency_p50_ms": (
        "event_latency_p50_ms",
        "gauge",
        "Median creation-to-hub latency of recent events",
    ),
    "autotuner_event_latency_p99_ms": (
        "event_latency_p99_ms",
        "gauge",
        "p99 creation-to-hub latency of recent events",
    ),
}


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(stats: EventStats, store: StoreDep) -> str:
    """This API process's figures in the Prometheus text format."""
    lines: list[str] = []
    for name, (key, kind, help_text) in _FROM_STATS.items():
        if stats.get(key) is None:
            continue
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {stats[key]}"]
    counts = await store.count_tasks_by_status()
    lines += ["# HELP autotuner_tasks Tasks by status", "# TYPE autotuner_tasks gauge"]
    lines += [
        f'autotuner_tasks{{status="{status.value}"}} {counts.get(status.value, 0)}'
        for status in TaskStatus
    ]
    return "\n".join(lines) + "\n"
