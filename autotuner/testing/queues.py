"""The task queue contract (``TaskQueue`` in ``autotuner/worker/queue.py``) as a test suite.

A test module runs :class:`QueueContract` over a mode by subclassing it and
providing the ``queue_backend`` fixture: a started :class:`QueueBackend`, whose
``open()`` starts a queue as the API process does, with runners behind it
(the queue itself when embedded, an ``autotuner worker`` for ARQ). Runners use
``backend.settings``: one task at a time, heartbeats every second and a
runner silent for 10 s taken for gone (:func:`queue_settings`).

Tasks run on the simulator with a tiny search space, so each takes seconds;
every deadline leaves real processes on a loaded machine plenty of room, and
no test asserts how fast anything is.
"""

from __future__ import annotations

import abc
import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autotuner.config import Settings
from autotuner.domain import TaskPublic, TaskSpec, TaskStatus
from autotuner.store import Store, StoredEvent
from autotuner.worker.queue import TaskQueue

__all__ = [
    "QueueBackend",
    "QueueContract",
    "queue_settings",
    "sim_task",
    "wait_for",
]

#: How long a task of the suite may take to reach a state (seconds).
DEADLINE = 180.0
FINAL = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


def queue_settings(data_dir: Path, **values: Any) -> Settings:
    """Settings for the queue and its runners: fast heartbeats, a short stale limit."""
    values = {
        "data_dir": data_dir,
        "worker_heartbeat_seconds": 1.0,
        "worker_stale_seconds": 10.0,
        "max_concurrent_tasks": 1,
        **values,
    }
    return Settings(**values)


def sim_task(name: str, values: int = 2, seconds: int = 2) -> TaskSpec:
    """A grid task on the simulator: ``values`` experiments of ``seconds`` of benchmark."""
    return TaskSpec.model_validate(
        {
            "task_name": f"{name}-{uuid.uuid4().hex[:8]}",
            "deployment_mode": "sim",
            "base_runtime": "vllm",
            "model": {"id_or_path": "sim-queue"},
            "parameters": {"max-num-seqs": [4 * (n + 1) for n in range(values)]},
            "optimization": {
                "strategy": "grid_search",
                "objective": "maximize_throughput",
                "max_iterations": values,
                "timeout_per_iteration": 120,
            },
            "benchmark": {
                "traffic_scenarios": ["D(32,32)"],
                "num_concurrency": [2],
                "max_time_per_iteration": seconds,
                "max_requests_per_iteration": 1000,
            },
        }
    )


async def wait_for(
    what: str, check: Callable[[], Any], within: float = DEADLINE, interval: float = 0.2
) -> Any:
    """Poll the coroutine function ``check`` until it returns something true; return it."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {within:g} s"
        await asyncio.sleep(interval)


class QueueBackend(abc.ABC):
    """One mode's queue, its runners and its store, for the suite."""

    settings: Settings
    store: Store

    @abc.abstractmethod
    async def open(self) -> TaskQueue:
        """A started queue, as an API process starts it, with runners behind it.

        May be called again after :meth:`close` (a restarted API process)."""

    @abc.abstractmethod
    async def close(self, queue: TaskQueue) -> None:
        """``queue.close()``, as an API process stopping does (runners elsewhere go on)."""

    async def queued(self, spec: TaskSpec) -> int:
        """A new task moved to ``queued``, as ``POST /start`` does before ``submit``."""
        task = await self.store.create_task(spec)
        moved = await self.store.transition_task(
            task.id, [TaskStatus.PENDING], status=TaskStatus.QUEUED
        )
        assert moved is not None
        return task.id

    async def left_running(self, spec: TaskSpec, heartbeat_age: float) -> int:
        """A task left ``running`` by a worker that is gone, its last heartbeat that old."""
        task = await self.store.create_task(spec)
        await self.store.update_task(
            task.id,
            status=TaskStatus.RUNNING,
            worker_id="worker@gone:1:dead",
            heartbeat_at=time.time() - heartbeat_age,
        )
        return task.id

    async def task(self, task_id: int) -> TaskPublic:
        task = await self.store.get_task(task_id)
        assert task is not None, f"task {task_id} is gone"
        return task

    async def events(self, task_id: int) -> list[StoredEvent]:
        return await self.store.read_events(task_id, limit=100_000)

    async def final(self, task_id: int, within: float = DEADLINE) -> TaskPublic:
        """The task once it reached a final state."""

        async def done() -> TaskPublic | None:
            task = await self.task(task_id)
            return task if task.status in FINAL else None

        found: TaskPublic = await wait_for(f"task {task_id} final", done, within)
        return found

    async def running(self, task_id: int) -> None:
        """Wait until a runner ran the task's first experiment."""

        async def started() -> bool:
            task = await self.task(task_id)
            assert task.status not in FINAL, f"task {task_id} ended {task.status} early"
            return task.status == TaskStatus.RUNNING and bool(
                await self.store.list_experiments(task_id)
            )

        await wait_for(f"task {task_id} running", started)


def _types(events: list[StoredEvent]) -> list[str]:
    return [e.type for e in events]


class QueueContract:
    """What every ``TaskQueue`` promises (see its docstring). Needs ``queue_backend``."""

    async def test_a_submitted_task_runs_to_completion(self, queue_backend: QueueBackend) -> None:
        queue = await queue_backend.open()
        task_id = await queue_backend.queued(sim_task("completes"))
        await queue.submit(task_id)
        task = await queue_backend.final(task_id)
        assert task.status == TaskStatus.COMPLETED, task.error_message
        assert task.successful_experiments == 2
        events = await queue_backend.events(task_id)
        assert [e.id for e in events] == list(range(1, len(events) + 1))
        types = _types(events)
        assert types[0] == "task_started" and types[-1] == "task_completed"
        assert types.count("experiment_completed") == 2
        assert not queue.runs_here(task_id)

    async def test_a_task_submitted_twice_runs_once(self, queue_backend: QueueBackend) -> None:
        queue = await queue_backend.open()
        task_id = await queue_backend.queued(sim_task("twice"))
        await queue.submit(task_id)
        await queue.submit(task_id)
        task = await queue_backend.final(task_id)
        assert task.status == TaskStatus.COMPLETED, task.error_message
        # Give a second run every chance to show itself.
        await asyncio.sleep(3 * queue_backend.settings.worker_heartbeat_seconds)
        types = _types(await queue_backend.events(task_id))
        assert types.count("task_started") == 1 and types.count("task_completed") == 1
        assert types.count("experiment_started") == 2
        assert len(await queue_backend.store.list_experiments(task_id)) == 2

    async def test_one_slot_runs_one_task_at_a_time(self, queue_backend: QueueBackend) -> None:
        queue = await queue_backend.open()
        first = await queue_backend.queued(sim_task("slot-a"))
        second = await queue_backend.queued(sim_task("slot-b"))
        await queue.submit(first)
        await queue.submit(second)
        a, b = [await queue_backend.final(t) for t in (first, second)]
        assert a.status == b.status == TaskStatus.COMPLETED
        earlier, later = sorted((a, b), key=lambda t: t.started_at or t.created_at)
        assert earlier.completed_at is not None and later.started_at is not None
        assert later.started_at >= earlier.completed_at

    async def test_cancel_ends_a_queued_task_at_once(self, queue_backend: QueueBackend) -> None:
        queue = await queue_backend.open()
        busy = await queue_backend.queued(sim_task("busy", values=6))
        waiting = await queue_backend.queued(sim_task("waiting"))
        await queue.submit(busy)
        await queue_backend.running(busy)
        await queue.submit(waiting)  # the only slot is taken: it waits
        await queue.cancel(waiting)
        task = await queue_backend.task(waiting)
        assert task.status == TaskStatus.CANCELLED
        await queue.cancel(busy)
        assert (await queue_backend.final(busy)).status == TaskStatus.CANCELLED
        # Its turn came once the slot was free: it did not run.
        await asyncio.sleep(3 * queue_backend.settings.worker_heartbeat_seconds)
        assert _types(await queue_backend.events(waiting)) == ["task_cancelled"]
        assert await queue_backend.store.list_experiments(waiting) == []

    async def test_cancel_ends_a_running_task(self, queue_backend: QueueBackend) -> None:
        queue = await queue_backend.open()
        task_id = await queue_backend.queued(sim_task("running", values=6))
        await queue.submit(task_id)
        await queue_backend.running(task_id)
        await queue.cancel(task_id)
        task = await queue_backend.final(task_id)
        assert task.status == TaskStatus.CANCELLED
        types = _types(await queue_backend.events(task_id))
        assert types[0] == "task_started" and types[-1] == "task_cancelled"
        assert types.count("task_cancelled") == 1
        assert task.total_experiments < 6

    async def test_cancel_ends_a_task_no_runner_runs_at_once(
        self, queue_backend: QueueBackend
    ) -> None:
        queue = await queue_backend.open()
        stale = 3 * queue_backend.settings.worker_stale_seconds
        task_id = await queue_backend.left_running(sim_task("orphan"), heartbeat_age=stale)
        await queue.cancel(task_id)
        task = await queue_backend.task(task_id)
        assert task.status == TaskStatus.CANCELLED
        assert _types(await queue_backend.events(task_id)) == ["task_cancelled"]

    async def test_a_live_runner_is_never_taken_for_gone(self, queue_backend: QueueBackend) -> None:
        """While a runner runs a task, the queue either runs it here or sees it
        heartbeating since :meth:`TaskQueue.orphaned_before`."""
        queue = await queue_backend.open()
        task_id = await queue_backend.queued(sim_task("alive", values=3))
        await queue.submit(task_id)
        await queue_backend.running(task_id)
        samples = 0
        while (await queue_backend.task(task_id)).status == TaskStatus.RUNNING:
            before = queue.orphaned_before()
            if before is not None:
                assert before <= time.time()
            if not queue.runs_here(task_id):
                assert before is not None, "a task nobody here runs would be taken for gone"
                stale = {t.id for t in await queue_backend.store.stale_running_tasks(before)}
                assert task_id not in stale
            samples += 1
            await asyncio.sleep(0.5)
        assert samples > 0
        assert (await queue_backend.final(task_id)).status == TaskStatus.COMPLETED
        assert not queue.runs_here(task_id)

    async def test_a_task_whose_runner_is_gone_is_taken_up_again(
        self, queue_backend: QueueBackend
    ) -> None:
        await queue_backend.open()
        stale = 3 * queue_backend.settings.worker_stale_seconds
        task_id = await queue_backend.left_running(sim_task("left"), heartbeat_age=stale)
        task = await queue_backend.final(task_id)
        assert task.status == TaskStatus.COMPLETED, task.error_message
        events = await queue_backend.events(task_id)
        assert [e.id for e in events] == list(range(1, len(events) + 1))
        types = _types(events)
        assert types.count("task_started") == 1 and types[-1] == "task_completed"

    async def test_close_stops_without_losing_a_task(self, queue_backend: QueueBackend) -> None:
        """A task running when its queue closes is not ended by it: it completes
        under the runners of a queue opened later (a restarted API process)."""
        queue = await queue_backend.open()
        task_id = await queue_backend.queued(sim_task("restarted", values=3))
        await queue.submit(task_id)
        await queue_backend.running(task_id)
        await queue_backend.close(queue)
        assert not queue.runs_here(task_id)
        assert (await queue_backend.task(task_id)).status not in FINAL
        await queue_backend.open()
        task = await queue_backend.final(task_id)
        assert task.status == TaskStatus.COMPLETED, task.error_message
        types = _types(await queue_backend.events(task_id))
        assert types[-1] == "task_completed" and types.count("task_completed") == 1
        assert "task_failed" not in types and "task_cancelled" not in types
