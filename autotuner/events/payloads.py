"""The payloads of task and experiment events: the one place that knows their shape.

Every producer (the task runner, the queues, the sweepers, the code that ends
a task) builds its events here, so what a client finds in ``data`` is decided
once. The schema clients rely on is documented in ``docs/websocket.md``
("Messages"):

* ``task_*`` events (and a task's ``log_message``) carry ``data.task``, the task
  as ``GET /api/tasks/{id}`` returns it. Its ``last_event_id`` is this event's
  id: the store sets it when it records the event, since only the store knows
  the id (:meth:`~autotuner.store.Store.append_event`); for a task's final event
  the store adds ``data.task`` itself, as the task is after it ended
  (:meth:`~autotuner.store.Store.finish_task`).
* experiment and benchmark events carry ``data.experiment``, the experiment as
  ``GET /api/experiments/{id}`` returns it, and ``experiment_id``, the
  experiment's number within its task. They are recorded with the
  experiment's database id (``ExperimentPublic.id``) as ``experiment_pk``,
  which the per-experiment WebSocket filters on; pass it to
  :meth:`~autotuner.events.EventBus.publish`, it is not part of the payload.

Extra fields come first in ``data`` and the snapshot last, except in
``benchmark_progress`` (``experiment``, then ``progress``): clients parse JSON
and do not care, but the recorded bytes stay what they always were.

The builders only build: they do no I/O and publish nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

from autotuner.domain import Event, EventType, ExperimentPublic, TaskPublic, TaskStatus
from autotuner.store import json_snapshot

#: The event that ends a task in each final state.
FINAL_EVENT = {
    TaskStatus.COMPLETED: EventType.TASK_COMPLETED,
    TaskStatus.FAILED: EventType.TASK_FAILED,
    TaskStatus.CANCELLED: EventType.TASK_CANCELLED,
}


class BenchmarkProgressLike(Protocol):
    """What :func:`benchmark_progress_event` reads of a load generator's progress
    (``autotuner.bench.BenchmarkProgress``; events do not import the benchmark)."""

    @property
    def completed(self) -> int: ...

    @property
    def total(self) -> int: ...

    def to_dict(self) -> dict[str, Any]: ...


def task_event(event_type: EventType, task: TaskPublic, *, message: str, **extra: Any) -> Event:
    """An event about a task: ``data = {**extra, "task": <snapshot of task>}``.

    For ``task_started`` (``resumed``), ``task_progress`` (see
    :func:`task_progress_event`) and a task's ``log_message`` (``level``).
    The store stamps ``data.task.last_event_id`` with the event's id.
    """
    return Event(
        type=event_type,
        task_id=task.id,
        message=message,
        data={**extra, "task": json_snapshot(task)},
    )


def task_progress_event(task: TaskPublic, *, completed: int, total: int) -> Event:
    """``task_progress`` after an experiment: ``data`` holds ``progress`` (percent
    of ``total``, 100 when there is nothing to run), ``completed``, ``total``,
    ``best_score``, ``best_experiment_id`` and ``task``."""
    return task_event(
        EventType.TASK_PROGRESS,
        task,
        message=f"Task {task.task_name}: {completed}/{total} experiments",
        progress=round(100.0 * completed / total, 2) if total else 100.0,
        completed=completed,
        total=total,
        best_score=task.best_score,
        best_experiment_id=task.best_experiment_id,
    )


def final_task_event(
    status: TaskStatus,
    task_id: int,
    *,
    message: str,
    summary: dict[str, Any],
    error: str | None,
) -> Event:
    """The event that ends a task in ``status`` (``task_completed``, ``task_failed``
    or ``task_cancelled``): ``data = {"summary": ..., "error": ...}``, to which
    :meth:`Store.finish_task` adds ``task``, the task as it is once ended.

    ``summary`` holds ``total_experiments``, ``successful_experiments``,
    ``failed_experiments``, ``best_experiment_id``, ``best_score``,
    ``best_parameters`` and ``elapsed_time``; ``error`` is why it did not
    complete (``None`` when it did, or was cancelled without a reason).
    """
    return Event(
        type=FINAL_EVENT[status],
        task_id=task_id,
        message=message,
        data={"summary": summary, "error": error},
    )


def experiment_event(
    event_type: EventType, experiment: ExperimentPublic, *, message: str, **extra: Any
) -> Event:
    """An event about one experiment: ``data = {**extra, "experiment": <snapshot>}``.

    The extras by type: ``experiment_started`` ``parameters``, ``status``;
    ``experiment_progress`` ``status``; ``benchmark_started`` ``benchmark`` (the
    task's benchmark spec); ``experiment_completed`` / ``experiment_failed``
    ``status``, ``metrics``, ``objective_score``, ``elapsed_time``, ``error``
    (a cancelled one ``status`` and ``error``; one interrupted by a stopped
    worker none).
    """
    return Event(
        type=event_type,
        task_id=experiment.task_id,
        experiment_id=experiment.experiment_id,
        message=message,
        data={**extra, "experiment": json_snapshot(experiment)},
    )


def benchmark_progress_event(
    experiment: ExperimentPublic, progress: BenchmarkProgressLike
) -> Event:
    """``benchmark_progress``: ``data = {"experiment": ..., "progress": ...}``, the
    progress being the load generator's (completed and total requests, live
    throughput and latency). Producers send at most two a second per experiment.
    """
    return Event(
        type=EventType.BENCHMARK_PROGRESS,
        task_id=experiment.task_id,
        experiment_id=experiment.experiment_id,
        message=f"Experiment {experiment.experiment_id}: "
        f"{progress.completed}/{progress.total} requests",
        data={"experiment": json_snapshot(experiment), "progress": progress.to_dict()},
    )
