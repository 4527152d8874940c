"""FastAPI dependencies: the process-wide services live on ``app.state``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request

from autotuner.config import Settings
from autotuner.domain import MAX_ID, ExperimentPublic, TaskPublic
from autotuner.store import Store
from autotuner.worker.queue import TaskQueue


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_queue(request: Request) -> TaskQueue:
    return request.app.state.queue


def get_bus(request: Request) -> Any:
    return request.app.state.bus


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
QueueDep = Annotated[TaskQueue, Depends(get_queue)]
BusDep = Annotated[Any, Depends(get_bus)]

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
