"""The store contract, run over SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from autotuner.domain import EventType, ExperimentStatus, TaskSpec, TaskStatus, create_event
from autotuner.store import DuplicateTaskName, Store, UnknownTask

SPEC = {
    "task_name": "t",
    "deployment_mode": "sim",
    "model": {"id_or_path": "m", "namespace": "ns"},
    "parameters": {"max-num-seqs": [8, 16]},
    "runtime_image_tag": "v1",
}


def spec(name: str = "t") -> TaskSpec:
    return TaskSpec.model_validate({**SPEC, "task_name": name})


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = Store(store_url)
    await s.init()
    yield s
    # Leave the shared PostgreSQL test database clean for the next test.
    for task in await s.list_tasks():
        await s.delete_task(task.id)
    await s.close()


async def test_migrations_are_idempotent(store_url: str) -> None:
    for _ in range(2):
        s = Store(store_url)
        await s.init()
        await s.close()


async def test_task_round_trip_keeps_unknown_fields(store: Store) -> None:
    task = await store.create_task(spec("round-trip"))
    assert task.status == TaskStatus.PENDING
    assert task.spec["runtime_image_tag"] == "v1"
    assert task.spec["model"]["namespace"] == "ns"
    assert task.created_at.tzinfo is not None
    again = await store.get_task(task.id)
    assert again == task
    assert task.id in [t.id for t in await store.list_tasks()]


async def test_duplicate_task_name_is_refused(store: Store) -> None:
    await store.create_task(spec("dup"))
    with pytest.raises(DuplicateTaskName, match="dup"):
        await store.create_task(spec("dup"))
    assert [t.task_name for t in await store.list_tasks()].count("dup") == 1


async def test_transition_is_compare_and_set(store: Store) -> None:
    task = await store.create_task(spec("cas"))
    moved = await store.transition_task(task.id, [TaskStatus.PENDING], status=TaskStatus.QUEUED)
    assert moved is not None and moved.status == TaskStatus.QUEUED
    assert (
        await store.transition_task(task.id, [TaskStatus.PENDING], status=TaskStatus.RUNNING)
        is None
    )
    assert (await store.get_task(task.id)).status == TaskStatus.QUEUED  # type: ignore[union-attr]


async def test_experiments(store: Store) -> None:
    task = await store.create_task(spec("exp"))
    e1 = await store.create_experiment(task.id, 1, {"max-num-seqs": 8})
    e2 = await store.create_experiment(task.id, 2, {"max-num-seqs": 16})
    done = await store.update_experiment(
        e1.id, status=ExperimentStatus.SUCCESS, metrics={"x": 1.0}, objective_score=2.5
    )
    assert done.status == ExperimentStatus.SUCCESS and done.metrics == {"x": 1.0}
    listed = await store.list_experiments(task.id)
    assert [e.experiment_id for e in listed] == [1, 2]
    assert (await store.get_experiment(e2.id)).parameters == {"max-num-seqs": 16}  # type: ignore[union-attr]


async def test_event_ids_are_gap_free_under_concurrency(store: Store) -> None:
    task = await store.create_task(spec("events"))
    exp = await store.create_experiment(task.id, 1, {})
    recorded = await asyncio.gather(
        *[
            store.append_event(
                create_event(
                    EventType.EXPERIMENT_PROGRESS,
                    task.id,
                    experiment_id=1,
                    data={"experiment": exp.model_dump(mode="json"), "n": n},
                )
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
    assert (await store.get_task(task.id)).last_event_id == 50  # type: ignore[union-attr]


async def test_append_event_for_unknown_task(store: Store) -> None:
    with pytest.raises(UnknownTask):
        await store.append_event(create_event(EventType.LOG_MESSAGE, 999_999))
    assert await store.last_event_id(999_999) is None


async def test_delete_removes_experiments_and_events(store: Store) -> None:
    task = await store.create_task(spec("del"))
    await store.create_experiment(task.id, 1, {})
    await store.append_event(create_event(EventType.LOG_MESSAGE, task.id))
    assert await store.delete_task(task.id)
    assert await store.get_task(task.id) is None
    assert await store.read_events(task.id) == []
    assert not await store.delete_task(task.id)


def _append_many(url: str, task_id: int, count: int) -> None:
    async def go() -> None:
        s = Store(url)
        for _ in range(count):
            await s.append_event(create_event(EventType.LOG_MESSAGE, task_id))
        await s.close()

    asyncio.run(go())


async def test_two_processes_publishing_for_one_task(pg_url: str) -> None:
    """Ids stay 1..n without gaps when two processes append for one task at once."""
    s = Store(pg_url)
    await s.init()
    task = await s.create_task(spec("two-procs"))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(pg_url, task.id, 40)) for _ in range(2)]
    for p in procs:
        p.start()
    await asyncio.to_thread(lambda: [p.join(60) for p in procs])
    assert all(p.exitcode == 0 for p in procs)
    events = await s.read_events(task.id, limit=1000)
    assert [e.id for e in events] == list(range(1, 81))
    await s.delete_task(task.id)
    await s.close()
