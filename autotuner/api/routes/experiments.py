"""Experiments of a task."""

from __future__ import annotations

from fastapi import APIRouter

from autotuner.api.deps import ExperimentId, StoreDep, TaskId, experiment_or_404, task_or_404
from autotuner.domain import ExperimentPublic

router = APIRouter(prefix="/api/experiments", tags=["experiments"])


@router.get("/task/{task_id}", response_model=list[ExperimentPublic])
async def list_experiments(task_id: TaskId, store: StoreDep) -> list[ExperimentPublic]:
    await task_or_404(store, task_id)
    return await store.list_experiments(task_id)


@router.get("/{experiment_id}", response_model=ExperimentPublic)
async def get_experiment(experiment_id: ExperimentId, store: StoreDep) -> ExperimentPublic:
    return await experiment_or_404(store, experiment_id)
