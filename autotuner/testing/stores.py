"""The store contract (``autotuner/store/store.py``) as a reusable test suite.

A test module runs :class:`StoreContract` over a database by subclassing it and
providing the ``store_url`` fixture: the SQLAlchemy URL of a database the test
may use (it may be shared by the tests of a session: every test names its
tasks apart and deletes them afterwards). The suite's own ``store`` fixture
opens and initialises a :class:`~autotuner.store.Store` on it.

The contract: migrations run again harmlessly; a task keeps its spec as
given (unknown fields too) and its name is unique; status changes are
compare-and-set; event ids of a task are 1, 2, 3 ... without gaps however
many writers append at once, and are committed with the task's
``last_event_id``; a final state and its event are written together, once;
ids of deleted rows are never reused; an event JSON cannot hold exactly is
still recorded; a caller cancelled mid-write never leaves the database locked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from autotuner.domain import EventType, ExperimentStatus, TaskSpec, TaskStatus, create_event
from autotuner.store import DuplicateTaskName, Store, UnknownTask

__all__ = ["SPEC", "StoreContract", "task_spec"]

SPEC: dict[str, Any] = {
    "task_name": "t",
    "deployment_mode": "sim",
    "model": {"id_or_path": "m", "namespace": "ns"},
    "parameters": {"max-num-seqs": [8, 16]},
    "runtime_image_tag": "v1",
}


def task_spec(name: str = "t") -> TaskSpec:
    """A small task spec named ``name``, with a field the schema does not know."""
    return TaskSpec.model_validate({**SPEC, "task_name": name})


class StoreContract:
    """What ``Store`` promises on every database. Needs the fixture ``store_url``."""

    @pytest.fixture
    async def store(self, store_url: str) -> AsyncIterator[Store]:
        s = Store(store_url)
        await s.init()
        yield s
        # Leave a shared database clean for the next test.
        for task in await s.list_tasks():
            await s.delete_task(task.id)
        await s.close()

    async def test_migrations_are_idempotent(self, store_url: str) -> None:
        for _ in range(2):
            s = Store(store_url)
            await s.init()
            await s.close()

    async def test_task_round_trip_keeps_unknown_fields(self, store: Store) -> None:
        task = await store.create_task(task_spec("round-trip"))
        assert task.status == TaskStatus.PENDING
        assert task.spec["runtime_image_tag"] == "v1"
        assert task.spec["model"]["namespace"] == "ns"
        assert task.created_at.tzinfo is not None
        again = await store.get_task(task.id)
        assert again == task
        assert task.id in [t.id for t in await store.list_tasks()]

    async def test_duplicate_task_name_is_refused(self, store: Store) -> None:
        await store.create_task(task_spec("dup"))
        with pytest.raises(DuplicateTaskName, match="dup"):
            await store.create_task(task_spec("dup"))
        assert [t.task_name for t in await store.list_tasks()].count("dup") == 1

    async def test_transition_is_compare_and_set(self, store: Store) -> None:
        task = await store.create_task(task_spec("cas"))
        moved = await store.transition_task(task.id, [TaskStatus.PENDING], status=TaskStatus.QUEUED)
        assert moved is not None and moved.status == TaskStatus.QUEUED
        assert (
            await store.transition_task(task.id, [TaskStatus.PENDING], status=TaskStatus.RUNNING)
            is None
        )
        current = await store.get_task(task.id)
        assert current is not None and current.status == TaskStatus.QUEUED

    async def test_experiments(self, store: Store) -> None:
        task = await store.create_task(task_spec("exp"))
        e1 = await store.create_experiment(task.id, 1, {"max-num-seqs": 8})
        e2 = await store.create_experiment(task.id, 2, {"max-num-seqs": 16})
        done = await store.update_experiment(
            e1.id, status=ExperimentStatus.SUCCESS, metrics={"x": 1.0}, objective_score=2.5
        )
        assert done.status == ExperimentStatus.SUCCESS and done.metrics == {"x": 1.0}
        listed = await store.list_experiments(task.id)
        assert [e.experiment_id for e in listed] == [1, 2]
        second = await store.get_experiment(e2.id)
        assert second is not None and second.parameters == {"max-num-seqs": 16}

    async def test_event_ids_are_gap_free_under_concurrency(self, store: Store) -> None:
        task = await store.create_task(task_spec("events"))
        exp = await store.create_experiment(task.id, 1, {})
        recorded = await asyncio.gather(
            *[
                store.append_event(
                    create_event(
                        EventType.EXPERIMENT_PROGRESS,
                        task.id,
                        experiment_id=1,
                        data={"experiment": exp.model_dump(mode="json"), "n": n},
                    ),
                    experiment_pk=exp.id,
                )
                for n in range(50)
            ]
        )
        assert sorted(e.id for e in recorded) == list(range(1, 51))
        assert all(e.experiment_pk == exp.id for e in recorded)
        stored = await store.read_events(task.id, after=10, limit=5)
        assert [e.id for e in stored] == [11, 12, 13, 14, 15]
        assert b'"id":11' in stored[0].payload
        assert await store.last_event_id(task.id) == 50
        current = await store.get_task(task.id)
        assert current is not None and current.last_event_id == 50

    async def test_append_event_for_unknown_task(self, store: Store) -> None:
        with pytest.raises(UnknownTask):
            await store.append_event(create_event(EventType.LOG_MESSAGE, 999_999))
        assert await store.last_event_id(999_999) is None

    async def test_delete_removes_experiments_and_events(self, store: Store) -> None:
        task = await store.create_task(task_spec("del"))
        await store.create_experiment(task.id, 1, {})
        await store.append_event(create_event(EventType.LOG_MESSAGE, task.id))
        assert await store.delete_task(task.id)
        assert await store.get_task(task.id) is None
        assert await store.read_events(task.id) == []
        assert not await store.delete_task(task.id)

    async def test_ids_are_never_reused(self, store: Store) -> None:
        """After the newest task (and experiment) is deleted, the next one gets a new id."""
        first = await store.create_task(task_spec("ids-1"))
        exp = await store.create_experiment(first.id, 1, {})
        assert await store.delete_task(first.id)
        second = await store.create_task(task_spec("ids-2"))
        assert second.id > first.id
        assert (await store.create_experiment(second.id, 1, {})).id > exp.id

    async def test_final_state_and_event_are_written_together_once(self, store: Store) -> None:
        task = await store.create_task(task_spec("finish"))
        await store.transition_task(task.id, [TaskStatus.PENDING], status=TaskStatus.RUNNING)
        exp = await store.create_experiment(task.id, 1, {}, status=ExperimentStatus.BENCHMARKING)
        await store.append_event(create_event(EventType.TASK_STARTED, task.id))
        ev = create_event(EventType.TASK_FAILED, task.id, data={"error": "boom"})
        done = await store.finish_task(
            ev, [TaskStatus.RUNNING], status=TaskStatus.FAILED, error_message="boom"
        )
        assert done is not None
        finished, stored = done
        assert finished.status == TaskStatus.FAILED and finished.last_event_id == 2
        assert stored.id == 2 and stored.type == "task_failed"
        payload = orjson.loads(stored.payload)
        assert payload["data"]["task"]["status"] == "failed"
        assert payload["data"]["task"]["last_event_id"] == 2
        assert payload["data"]["error"] == "boom"
        # Its experiment in progress ended with it.
        left = await store.get_experiment(exp.id)
        assert left is not None and left.status == ExperimentStatus.CANCELLED
        # A second final event is refused: the task has already moved on.
        again = create_event(EventType.TASK_CANCELLED, task.id)
        assert await store.finish_task(again, [TaskStatus.RUNNING], status="cancelled") is None
        types = [e.type for e in await store.read_events(task.id)]
        assert types == ["task_started", "task_failed"]

    async def test_finish_with_stale_before_spares_a_live_runner(self, store: Store) -> None:
        task = await store.create_task(task_spec("live"))
        await store.transition_task(
            task.id, [TaskStatus.PENDING], status=TaskStatus.RUNNING, heartbeat_at=time.time()
        )
        ev = create_event(EventType.TASK_CANCELLED, task.id)
        cutoff = time.time() - 30
        assert (
            await store.finish_task(
                ev, [TaskStatus.RUNNING], stale_before=cutoff, status="cancelled"
            )
            is None
        )
        await store.update_task(task.id, heartbeat_at=time.time() - 60)
        done = await store.finish_task(
            ev, [TaskStatus.RUNNING], stale_before=cutoff, status="cancelled"
        )
        assert done is not None and done[0].status == TaskStatus.CANCELLED

    async def test_events_that_json_cannot_hold_exactly_are_still_recorded(
        self, store: Store
    ) -> None:
        """orjson refuses ints beyond 64 bits, nesting past 254 levels and lone
        surrogates; such an event is recorded readable, not lost."""
        task = await store.create_task(task_spec("odd"))
        deep: dict[str, Any] = {"leaf": 1}
        for _ in range(300):
            deep = {"x": deep}
        odd = {
            "big": 2**64,
            "small": -(2**63) - 1,
            "deep": deep,
            "text": "a\udc80b",
            "ok": 2**64 - 1,
        }
        stored = await store.append_event(create_event(EventType.LOG_MESSAGE, task.id, data=odd))
        data = orjson.loads(stored.payload)["data"]
        assert data["big"] == str(2**64) and data["small"] == str(-(2**63) - 1)
        assert data["ok"] == 2**64 - 1
        assert data["text"].startswith("a") and data["text"].endswith("b")
        assert "nested too deep" in orjson.dumps(data["deep"]).decode()
        assert [e.id for e in await store.read_events(task.id)] == [stored.id]

    async def test_a_cancelled_caller_never_leaves_the_database_locked(self, store: Store) -> None:
        """Cancelling a coroutine in the middle of a write (a cancelled task runner)
        used to leave SQLite's write lock held: every later write waited its busy
        timeout, then failed with 'database is locked'."""
        task = await store.create_task(task_spec("cancelled-writes"))
        delays = [i * 0.0002 for i in range(40)]
        for n, delay in enumerate(delays):
            write = asyncio.create_task(store.update_task(task.id, description=f"try {n}"))
            await asyncio.sleep(delay)
            write.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await write
            # Raises StoreUnavailable('database is locked') after the busy timeout if locked.
            again = await asyncio.wait_for(store.update_task(task.id, elapsed_time=float(n)), 60)
            assert again.elapsed_time == float(n)
        final = await store.get_task(task.id)
        assert final is not None and final.description.startswith("try ")
