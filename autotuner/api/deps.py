"""FastAPI dependencies: the process-wide services live on ``app.state``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from starlette.requests import HTTPConnection

from autotuner.config import Settings
from autotuner.domain import MAX_ID, ExperimentPublic, TaskPublic
from autotuner.events import EventBus, FanoutHub
from autotuner.store import Store
from autotuner.worker.queue import TaskQueue


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_queue(request: Request) -> TaskQueue:
    queue: TaskQueue = request.app.state.queue
    return queue


def get_bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.bus
    return bus


def hub_of(connection: HTTPConnection) -> FanoutHub:
    """This API process's fan-out hub (built beside the bus by the app's lifespan);
    also for the raw WebSocket endpoints, which take no dependencies."""
    hub: FanoutHub = connection.app.state.hub
    return hub


def get_hub(request: Request) -> FanoutHub:
    return hub_of(request)


def event_stats(bus: EventBus, hub: FanoutHub) -> dict[str, Any]:
    """The event figures of this API process: its bus's publishing and its hub's fan-out."""
    return {**hub.stats(), **bus.stats()}


def get_event_stats(request: Request) -> dict[str, Any]:
    return event_stats(request.app.state.bus, hub_of(request))


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
QueueDep = Annotated[TaskQueue, Depends(get_queue)]
BusDep = Annotated[EventBus, Depends(get_bus)]
Hub = Annotated[FanoutHub, Depends(get_hub)]
#: The figures of ``GET /api/system/stats`` and ``/metrics``.
EventStats = Annotated[dict[str, Any], Depends(get_event_stats)]

# Ids in paths: a number no row can have is a 422 naming the bound, never a
# database error (ids are 32-bit INTEGER columns on PostgreSQL).
TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="task id")]
ExperimentId = Annotated[int, Path(ge=1, le=MAX_ID, description="experiment id")]


async def task_or_404(store: Store, task_id: int) -> TaskPublic:
    task = await store.get_task(task_id)
    if task is None:
        raise HTTPException(status_code=404, detail=f"task {task_id} not found")
    return task


async def experiment_or_404(store: Store, experiment_id: int) -> ExperimentPublic:
    experiment = await store.get_experiment(experiment_id)
    if experiment is None:
        raise HTTPException(status_code=404, detail=f"experiment {experiment_id} not found")
    return experiment
