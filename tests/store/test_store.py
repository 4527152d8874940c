"""What the store does beyond its contract (``autotuner.testing.stores``, run in
test_store_contract.py): PostgreSQL across processes, SQLite's full disk and migrations."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection

from autotuner.domain import EventType, create_event
from autotuner.store import Store, StoreUnavailable
from autotuner.store._engine import MIGRATIONS as _MIGRATIONS
from autotuner.testing.stores import task_spec as spec


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

    def join_all() -> None:
        for p in procs:
            p.join(60)

    await asyncio.to_thread(join_all)
    assert all(p.exitcode == 0 for p in procs)
    events = await s.read_events(task.id, limit=1000)
    assert [e.id for e in events] == list(range(1, 81))
    await s.delete_task(task.id)
    await s.close()


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
