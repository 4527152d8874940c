"""The event payload builders give the shapes the runner has always emitted.

The expected ``data`` dicts are written out as the runner, the queues and the
sweeper built them before the builders existed, key order included: the
recorded bytes (and so every replayed frame) stay the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from autotuner.bench import BenchmarkProgress
from autotuner.domain import (
    EventType,
    ExperimentPublic,
    ExperimentStatus,
    TaskPublic,
    TaskSpec,
    TaskStatus,
)
from autotuner.events.payloads import (
    benchmark_progress_event,
    experiment_event,
    final_task_event,
    task_event,
    task_progress_event,
)
from autotuner.store import Store, json_snapshot
from tests.e2e.specs import sim_spec

WIRE_KEYS = ["id", "type", "task_id", "experiment_id", "timestamp", "message", "data"]


def a_task(**values: Any) -> TaskPublic:
    spec = TaskSpec.model_validate(sim_spec("payloads"))
    return TaskPublic.model_validate(
        {
            "id": 7,
            "task_name": "payloads",
            "description": spec.description,
            "status": TaskStatus.RUNNING,
            "spec": spec.model_dump(mode="json"),
            "deployment_mode": "sim",
            "base_runtime": "vllm",
            "total_experiments": 2,
            "successful_experiments": 1,
            "failed_experiments": 1,
            "best_experiment_id": 31,
            "best_score": 12.5,
            "error_message": None,
            "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            "started_at": datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC),
            "completed_at": None,
            "elapsed_time": None,
            "last_event_id": 4,
            **values,
        }
    )


def an_experiment(**values: Any) -> ExperimentPublic:
    return ExperimentPublic.model_validate(
        {
            "id": 31,  # the database id: not the number clients see as experiment_id
            "task_id": 7,
            "experiment_id": 3,
            "parameters": {"max-num-seqs": 16},
            "status": ExperimentStatus.BENCHMARKING,
            "metrics": None,
            "objective_score": None,
            "slo_violations": None,
            "error_message": None,
            "engine_command": "python -m autotuner.sim --max-num-seqs 16",
            "created_at": datetime(2026, 1, 2, 3, 5, tzinfo=UTC),
            "started_at": datetime(2026, 1, 2, 3, 5, tzinfo=UTC),
            "completed_at": None,
            "elapsed_time": None,
            **values,
        }
    )


def test_task_events_carry_their_extras_then_the_task() -> None:
    task = a_task()
    started = task_event(
        EventType.TASK_STARTED, task, message="Task payloads resumed", resumed=True
    )
    assert (started.type, started.task_id, started.experiment_id) == (
        EventType.TASK_STARTED,
        7,
        None,
    )
    assert started.message == "Task payloads resumed"
    assert started.data == {"resumed": True, "task": json_snapshot(task)}
    assert list(started.data) == ["resumed", "task"]

    # The sweeper's note on a task whose worker went silent.
    requeued = task_event(EventType.LOG_MESSAGE, task, message="re-queued", level="warning")
    assert list(requeued.data) == ["level", "task"]
    assert requeued.data == {"level": "warning", "task": json_snapshot(task)}


@pytest.mark.parametrize(
    ("completed", "total", "percent"),
    [(2, 4, 50.0), (1, 3, 33.33), (0, 0, 100.0), (5, 5, 100.0)],
)
def test_task_progress(completed: int, total: int, percent: float) -> None:
    task = a_task()
    event = task_progress_event(task, completed=completed, total=total)
    assert event.type == EventType.TASK_PROGRESS and event.task_id == task.id
    assert event.message == f"Task payloads: {completed}/{total} experiments"
    assert list(event.data) == [
        "progress",
        "completed",
        "total",
        "best_score",
        "best_experiment_id",
        "task",
    ]
    assert event.data == {
        "progress": percent,
        "completed": completed,
        "total": total,
        "best_score": 12.5,
        "best_experiment_id": 31,
        "task": json_snapshot(task),
    }


@pytest.mark.parametrize(
    ("status", "event_type"),
    [
        (TaskStatus.COMPLETED, EventType.TASK_COMPLETED),
        (TaskStatus.FAILED, EventType.TASK_FAILED),
        (TaskStatus.CANCELLED, EventType.TASK_CANCELLED),
    ],
)
def test_final_events_hold_summary_and_error(status: TaskStatus, event_type: EventType) -> None:
    summary = {"total_experiments": 2, "best_score": 1.5}
    event = final_task_event(status, 7, message="Task x ended", summary=summary, error="why")
    assert (event.type, event.task_id, event.experiment_id) == (event_type, 7, None)
    # No "task" yet: the store adds the task as it is once ended.
    assert list(event.data) == ["summary", "error"]
    assert event.data == {"summary": summary, "error": "why"}


def test_experiment_events_carry_the_number_and_the_snapshot_last() -> None:
    exp = an_experiment()
    event = experiment_event(
        EventType.EXPERIMENT_STARTED,
        exp,
        message="Experiment 3 started",
        parameters=exp.parameters,
        status="deploying",
    )
    assert (event.type, event.task_id, event.experiment_id) == (
        EventType.EXPERIMENT_STARTED,
        7,
        3,
    )
    assert list(event.data) == ["parameters", "status", "experiment"]
    assert event.data == {
        "parameters": {"max-num-seqs": 16},
        "status": "deploying",
        "experiment": json_snapshot(exp),
    }
    interrupted = experiment_event(EventType.EXPERIMENT_FAILED, exp, message="interrupted")
    assert interrupted.data == {"experiment": json_snapshot(exp)}


def test_benchmark_progress_puts_the_experiment_first() -> None:
    exp = an_experiment()
    progress = BenchmarkProgress(
        completed=5,
        failed=0,
        total=40,
        elapsed=1.25,
        fraction=0.125,
        scenario="D(32,32)",
        concurrency=4,
        run_index=0,
        num_runs=1,
        request_throughput=4.0,
    )
    event = benchmark_progress_event(exp, progress)
    assert (event.type, event.task_id, event.experiment_id) == (
        EventType.BENCHMARK_PROGRESS,
        7,
        3,
    )
    assert event.message == "Experiment 3: 5/40 requests"
    assert list(event.data) == ["experiment", "progress"]
    assert event.data == {"experiment": json_snapshot(exp), "progress": progress.to_dict()}


async def test_recorded_payloads(tmp_path: Path) -> None:
    """What the store records of built events: the task stamped with the event's id,
    experiment events filed under the experiment's database id, the final event
    with the task as it ended."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'payloads.db'}")
    await store.init()
    try:
        task = await store.create_task(TaskSpec.model_validate(sim_spec("recorded")))
        task = await store.update_task(task.id, status=TaskStatus.RUNNING)
        exp = await store.create_experiment(task.id, 1, {"max-num-seqs": 4})

        started = await store.append_event(
            task_event(EventType.TASK_STARTED, task, message="started", resumed=False)
        )
        frame = orjson.loads(started.payload)
        assert list(frame) == WIRE_KEYS
        assert frame["data"]["task"]["last_event_id"] == started.id == 1
        assert started.experiment_pk is None

        about_exp = await store.append_event(
            experiment_event(EventType.EXPERIMENT_STARTED, exp, message="go", status="deploying"),
            experiment_pk=exp.id,
        )
        assert about_exp.experiment_pk == exp.id
        frame = orjson.loads(about_exp.payload)
        assert list(frame) == WIRE_KEYS
        assert (frame["experiment_id"], frame["data"]["experiment"]["id"]) == (1, exp.id)
        assert [e.id for e in await store.read_events(task.id, experiment_pk=exp.id)] == [2]

        ended = await store.finish_task(
            final_task_event(TaskStatus.FAILED, task.id, message="x", summary={}, error="boom"),
            (TaskStatus.RUNNING,),
            status=TaskStatus.FAILED,
        )
        assert ended is not None
        final, stored = ended
        frame = orjson.loads(stored.payload)
        assert list(frame["data"]) == ["summary", "error", "task"]
        assert frame["data"]["task"] == json_snapshot(final)
        assert frame["data"]["task"]["status"] == "failed"
        assert frame["data"]["task"]["last_event_id"] == stored.id == 3
        assert stored.experiment_pk is None
    finally:
        await store.close()
