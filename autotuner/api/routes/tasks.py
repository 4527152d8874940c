"""Tasks: create, list, read, delete, start, cancel, and the event history."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.exceptions import RequestValidationError

from autotuner.api.deps import QueueDep, SettingsDep, StoreDep, TaskId, task_or_404
from autotuner.domain import MAX_ID, TaskCreated, TaskPublic, TaskSpec, TaskStatus
from autotuner.runtimes import UnknownEngineError, engine_arg_problems, parameter_problems
from autotuner.store import DuplicateTaskName, StoreUnavailable
from autotuner.worker.queue import QueueUnavailable

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

# A finished or cancelled task may be started again: it resumes from its stored experiments.
_STARTABLE = (TaskStatus.PENDING, TaskStatus.FAILED, TaskStatus.CANCELLED)
_ACTIVE = (TaskStatus.QUEUED, TaskStatus.RUNNING)


@router.post("", status_code=201, response_model=TaskCreated)
async def create_task(spec: TaskSpec, store: StoreDep, settings: SettingsDep) -> TaskCreated:
    """Create a task from a task file (JSON; the format is described in the README).

    A spec that cannot run is refused (422, each error naming its field); one that
    runs but holds fields without effect (``burstiness`` with closed-loop levels
    only, say) is created, and ``warnings`` names them.
    """
    _check_allowed(spec, allow_custom_engines=settings.allow_custom_engines)
    _check_runnable(spec)
    try:
        task = await store.create_task(spec)
    except DuplicateTaskName as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    warnings = spec.warnings()
    log.info(
        "Created task %d %r%s",
        task.id,
        task.task_name,
        "".join(f"; warning: {w.field}: {w.message}" for w in warnings),
    )
    return TaskCreated(**task.model_dump(), warnings=warnings)


def _check_allowed(spec: TaskSpec, *, allow_custom_engines: bool) -> None:
    """Refuse (403) what would make a worker run code of the task's choosing, unless
    the operator allows custom engines: anyone with a write token could otherwise
    run any command on every worker."""
    if allow_custom_engines:
        return
    what = []
    if spec.engine.command is not None:
        what.append("engine.command (a command template of its own)")
    code_env = spec.engine.code_env()
    if code_env:
        what.append(
            f"engine.env {', '.join(code_env)} (makes the engine load code of its choosing)"
        )
    if what:
        raise HTTPException(
            status_code=403,
            detail=f"this task gives {' and '.join(what)}, which would let it run any "
            "command on the workers; this server does not allow custom engines. Use an "
            "engine preset (base_runtime) without them, or have the operator set "
            "AUTOTUNER_ALLOW_CUSTOM_ENGINES=true on the server and the workers",
        )


def _check_runnable(spec: TaskSpec) -> None:
    """Refuse (422) what the engine would refuse or what would override the product's
    own flags: the parameters and engine.args become the engine's command line."""
    custom = spec.engine.command is not None
    try:
        problems = parameter_problems(
            spec.deployment_mode, spec.base_runtime, spec.parameters, custom_command=custom
        )
        arg_problems = engine_arg_problems(
            spec.deployment_mode,
            spec.base_runtime,
            spec.engine.args,
            spec.parameters,
            custom_command=custom,
        )
    except UnknownEngineError as exc:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "base_runtime"), "msg": str(exc)}]
        ) from None
    errors: list[dict[str, Any]] = [
        {"type": "value_error", "loc": ("body", "parameters", name), "msg": msg}
        for name, msg in problems.items()
    ]
    errors += [
        {"type": "value_error", "loc": ("body", "engine", "args", i), "msg": msg}
        for i, msg in arg_problems.items()
    ]
    if errors:
        raise RequestValidationError(errors)


@router.get("", response_model=list[TaskPublic])
async def list_tasks(
    store: StoreDep,
    status: Annotated[list[TaskStatus] | None, Query(description="filter by status")] = None,
) -> list[TaskPublic]:
    return await store.list_tasks(status)


@router.get("/{task_id}", response_model=TaskPublic)
async def get_task(task_id: TaskId, store: StoreDep) -> TaskPublic:
    return await task_or_404(store, task_id)


@router.delete("/{task_id}", status_code=204)
async def delete_task(task_id: TaskId, store: StoreDep) -> Response:
    task = await task_or_404(store, task_id)
    if task.status in _ACTIVE:
        raise HTTPException(
            status_code=409,
            detail=f"task {task_id} is {task.status.value}; cancel it before deleting it",
        )
    try:
        await store.delete_task(task_id)
    except StoreUnavailable as exc:
        # A delete needs room in SQLite's journal too; it rolled back whole.
        raise HTTPException(
            status_code=503,
            detail=f"task {task_id} was not deleted, nothing was lost: {exc}. Free disk "
            "space or bring the database back, then delete it again",
        ) from exc
    return Response(status_code=204)


@router.post("/{task_id}/start", response_model=TaskPublic)
async def start_task(task_id: TaskId, store: StoreDep, queue: QueueDep) -> TaskPublic:
    task = await task_or_404(store, task_id)
    queued = await store.transition_task(
        task_id,
        _STARTABLE,
        status=TaskStatus.QUEUED,
        cancel_requested=False,
        error_message=None,
        completed_at=None,
    )
    if queued is None:
        raise HTTPException(
            status_code=409,
            detail=f"task {task_id} is {task.status.value}; only pending, failed or "
            "cancelled tasks can be started",
        )
    try:
        await queue.submit(task_id)
    except QueueUnavailable as exc:
        # Nothing was queued: put the task back as it was, so it is not left
        # "queued" with no job (and can be started again).
        await store.transition_task(
            task_id,
            (TaskStatus.QUEUED,),
            status=task.status,
            error_message=task.error_message,
            completed_at=task.completed_at,
        )
        raise HTTPException(
            status_code=503,
            detail=f"{exc}; task {task_id} stays {task.status.value}: start it again once "
            "Redis is back",
        ) from exc
    return await task_or_404(store, task_id)


@router.post("/{task_id}/cancel", response_model=TaskPublic)
async def cancel_task(task_id: TaskId, store: StoreDep, queue: QueueDep) -> TaskPublic:
    task = await task_or_404(store, task_id)
    if task.status.finished:
        raise HTTPException(
            status_code=409, detail=f"task {task_id} is already {task.status.value}"
        )
    await queue.cancel(task_id)
    return await task_or_404(store, task_id)


@router.get("/{task_id}/events")
async def list_events(
    task_id: TaskId,
    store: StoreDep,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="return events with id > after")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    """The task's recorded events, oldest first: the same JSON the WebSockets send."""
    await task_or_404(store, task_id)
    events = await store.read_events(task_id, after=after, limit=limit)
    body = b"[" + b",".join(e.payload for e in events) + b"]"
    return Response(content=body, media_type="application/json")
