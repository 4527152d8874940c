"""The store contract, run over SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection

from autotuner.domain import EventType, ExperimentStatus, TaskSpec, TaskStatus, create_event
from autotuner.store import DuplicateTaskName, Store, StoreUnavailable, UnknownTask
from autotuner.store.store import _MIGRATIONS

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


async def test_ids_are_never_reused(store: Store) -> None:
    """After the newest task (and experiment) is deleted, the next one gets a new id."""
    first = await store.create_task(spec("ids-1"))
    exp = await store.create_experiment(first.id, 1, {})
    assert await store.delete_task(first.id)
    second = await store.create_task(spec("ids-2"))
    assert second.id > first.id
    assert (await store.create_experiment(second.id, 1, {})).id > exp.id


async def test_final_state_and_event_are_written_together_once(store: Store) -> None:
    task = await store.create_task(spec("finish"))
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
    assert [e.type for e in await store.read_events(task.id)] == ["task_started", "task_failed"]


async def test_finish_with_stale_before_spares_a_live_runner(store: Store) -> None:
    task = await store.create_task(spec("live"))
    await store.transition_task(
        task.id, [TaskStatus.PENDING], status=TaskStatus.RUNNING, heartbeat_at=time.time()
    )
    ev = create_event(EventType.TASK_CANCELLED, task.id)
    cutoff = time.time() - 30
    assert (
        await store.finish_task(ev, [TaskStatus.RUNNING], stale_before=cutoff, status="cancelled")
        is None
    )
    await store.update_task(task.id, heartbeat_at=time.time() - 60)
    done = await store.finish_task(
        ev, [TaskStatus.RUNNING], stale_before=cutoff, status="cancelled"
    )
    assert done is not None and done[0].status == TaskStatus.CANCELLED


async def test_events_that_json_cannot_hold_exactly_are_still_recorded(store: Store) -> None:
    """orjson refuses ints beyond 64 bits, nesting past 254 levels and lone
    surrogates; such an event is recorded readable, not lost."""
    task = await store.create_task(spec("odd"))
    deep: dict = {"leaf": 1}
    for _ in range(300):
        deep = {"x": deep}
    odd = {"big": 2**64, "small": -(2**63) - 1, "deep": deep, "text": "a\udc80b", "ok": 2**64 - 1}
    stored = await store.append_event(create_event(EventType.LOG_MESSAGE, task.id, data=odd))
    data = orjson.loads(stored.payload)["data"]
    assert data["big"] == str(2**64) and data["small"] == str(-(2**63) - 1)
    assert data["ok"] == 2**64 - 1
    assert data["text"].startswith("a") and data["text"].endswith("b")
    assert "nested too deep" in orjson.dumps(data["deep"]).decode()
    assert [e.id for e in await store.read_events(task.id)] == [stored.id]


async def test_a_cancelled_caller_never_leaves_the_database_locked(store: Store) -> None:
    """Cancelling a coroutine in the middle of a write (a cancelled task runner)
    used to leave SQLite's write lock held: every later write waited its busy
    timeout, then failed with 'database is locked'."""
    task = await store.create_task(spec("cancelled-writes"))
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


async def test_unwritable_database_raises_store_unavailable(tmp_path: Path) -> None:
    """A full database is StoreUnavailable (a 503 for the API), and nothing half-written."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'full.sqlite'}"
    s = Store(url)
    await s.init()
    task = await s.create_task(spec("full"))
    await s.close()

    full = Store(url)

    def cap(dbapi_conn: object, _record: object) -> None:
        cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count={pages}")
        cursor.close()

    event.listen(full.engine.sync_engine, "connect", cap)
    try:
        with pytest.raises(StoreUnavailable, match="full"):
            for n in range(200):
                await full.append_event(
                    create_event(EventType.LOG_MESSAGE, task.id, message="x" * 4000 + str(n))
                )
        # What was recorded before is intact, ids without gaps, and reads still work.
        ids = [e.id for e in await full.read_events(task.id, limit=1000)]
        assert ids == list(range(1, len(ids) + 1))
        assert (await full.get_task(task.id)).last_event_id == len(ids)  # type: ignore[union-attr]
    finally:
        await full.close()


async def test_migration_to_autoincrement_keeps_every_row(tmp_path: Path) -> None:
    """Upgrading a database made by migration 0001 (plain INTEGER ids) keeps tasks,
    experiments and events (no cascade from the table rebuild) and stops id reuse."""
    path = tmp_path / "old.sqlite"
    url = f"sqlite+aiosqlite:///{path}"
    old = Store(url)
    async with old.engine.connect() as conn:
        await conn.run_sync(_upgrade_to, "0001")
        await conn.commit()
    tasks = [await old.create_task(spec(f"old-{n}")) for n in range(3)]
    for task in tasks:
        exp = await old.create_experiment(task.id, 1, {"max-num-seqs": 8})
        await old.append_event(
            create_event(EventType.LOG_MESSAGE, task.id, data={"experiment": {"id": exp.id}}),
            experiment_pk=exp.id,
        )
    await old.close()

    new = Store(url)
    await new.init()
    try:
        assert sorted(t.id for t in await new.list_tasks()) == [t.id for t in tasks]
        for task in tasks:
            assert len(await new.list_experiments(task.id)) == 1
            assert [e.id for e in await new.read_events(task.id)] == [1]
        newest = max(t.id for t in tasks)
        assert await new.delete_task(newest)
        assert (await new.create_task(spec("after-upgrade"))).id > newest
    finally:
        await new.close()
    with sqlite3.connect(path) as conn:
        schema = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type='table'"))
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert "AUTOINCREMENT" in schema["tasks"] and "AUTOINCREMENT" in schema["experiments"]
    assert "REFERENCES tasks" in schema["events"]


def _upgrade_to(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
