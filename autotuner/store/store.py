"""The store: tasks, experiments, the durable per-task event log, and workers.

One class over SQLAlchemy's async engine, for SQLite (embedded) and PostgreSQL
(distributed). Event ids are allocated by incrementing ``tasks.last_event_id``
inside the same transaction that inserts the event: the row lock taken by the
UPDATE serializes concurrent publishers (also across processes on PostgreSQL),
so ids are 1, 2, 3 ... without gaps, and id N is committed only after every
id below it is.

Every public method runs its transaction to the end even when its caller is
cancelled (a cancelled task, a timeout): a transaction cut between its UPDATE
and its COMMIT would keep SQLite's write lock and hang every later write. A
database that cannot be reached or written (disk full, I/O error, a lost
connection) raises :class:`StoreUnavailable`, never a driver error.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Select, Table, delete, event, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from autotuner.domain import (
    Event,
    ExperimentPublic,
    ExperimentStatus,
    StoredEvent,
    TaskPublic,
    TaskSpec,
    TaskStatus,
)
from autotuner.store._engine import sqlite_pragmas, upgrade
from autotuner.store._guard import guarded
from autotuner.store._json import dumps, json_snapshot
from autotuner.store._records import (
    DuplicateTaskName,
    UnknownTask,
    experiment_of,
    stored_of,
    task_of,
    utcnow,
)
from autotuner.store.tables import EventRow, ExperimentRow, TaskRow, WorkerRow

log = logging.getLogger(__name__)

_TASKS = cast(Table, TaskRow.__table__)
_EXPERIMENTS = cast(Table, ExperimentRow.__table__)
_EVENTS = cast(Table, EventRow.__table__)
_WORKERS = cast(Table, WorkerRow.__table__)


class Store:
    """Async access to everything the product persists."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", sqlite_pragmas)
        # SQLite allows one writer at a time; queue writers here instead of
        # letting them spin on "database is locked".
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    # ------------------------------------------------------------------ life

    async def init(self) -> None:
        """Create the database if needed and apply every migration."""
        if self.is_sqlite:
            path = self.url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                # A migration on SQLite rebuilds tables (copy, drop, rename): with
                # foreign keys enforced, dropping ``tasks`` would cascade-delete every
                # experiment and event. The pragma only works outside a transaction.
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            else:
                # Two API processes starting at once must not both migrate.
                await conn.execute(text("SELECT pg_advisory_xact_lock(724551)"))
            await conn.run_sync(upgrade)
            await conn.commit()
            if self.is_sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")

    async def close(self) -> None:
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        try:
            if self._write_lock is None:
                async with self.engine.begin() as conn:
                    yield conn
            else:
                async with self._write_lock, self.engine.begin() as conn:
                    yield conn
        except (OperationalError, InterfaceError, OSError) as exc:
            # A read-only ping cannot see a full disk: health reports this.
            self.write_error = (time.time(), f"{type(exc).__name__}: {exc}".splitlines()[0])
            raise
        self.write_error = None

    #: When the last write failed and why, until a write succeeds again.
    write_error: tuple[float, str] | None = None

    async def ping(self) -> bool:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    # ----------------------------------------------------------------- tasks

    async def create_task(self, spec: TaskSpec) -> TaskPublic:
        values = dict(
            task_name=spec.task_name,
            description=spec.description,
            status=TaskStatus.PENDING.value,
            spec=spec.model_dump(mode="json"),
            deployment_mode=spec.deployment_mode,
            base_runtime=spec.base_runtime,
            total_experiments=0,
            successful_experiments=0,
            failed_experiments=0,
            created_at=utcnow(),
            last_event_id=0,
            cancel_requested=False,
        )
        try:
            async with self._tx() as conn:
                row = (await conn.execute(insert(_TASKS).values(values).returning(_TASKS))).one()
        except IntegrityError as exc:
            raise DuplicateTaskName(spec.task_name) from exc
        return task_of(row)

    async def get_task(self, task_id: int) -> TaskPublic | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(_TASKS).where(_TASKS.c.id == task_id))).first()
        return task_of(row) if row else None

    async def task_spec(self, task_id: int) -> dict[str, Any] | None:
        """The spec exactly as stored (``TaskPublic.spec`` may be made representable)."""
        async with self.engine.connect() as conn:
            spec = (
                await conn.execute(select(_TASKS.c.spec).where(_TASKS.c.id == task_id))
            ).scalar_one_or_none()
        return cast(dict[str, Any] | None, spec)

    async def list_tasks(self, status: Sequence[TaskStatus] | None = None) -> list[TaskPublic]:
        query = select(_TASKS).order_by(_TASKS.c.id.desc())
        if status:
            query = query.where(_TASKS.c.status.in_([s.value for s in status]))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [task_of(r) for r in rows]

    async def update_task(self, task_id: int, **values: Any) -> TaskPublic:
        values = {k: (v.value if isinstance(v, TaskStatus) else v) for k, v in values.items()}
        async with self._tx() as conn:
            row = (
                await conn.execute(
                    update(_TASKS).where(_TASKS.c.id == task_id).values(values).returning(_TASKS)
                )
            ).first()
        if row is None:
            raise UnknownTask(task_id)
        return task_of(row)

    async def transition_task(
        self, task_id: int, from_status: Sequence[TaskStatus], **values: Any
    ) -> TaskPublic | None:
        """Update the task only if its status is one of ``from_status`` (compare-and-set)."""
        values = {k: (v.value if isinstance(v, TaskStatus) else v) for k, v in values.items()}
        async with self._tx() as conn:
            row = (
                await conn.execute(
                    update(_TASKS)
                    .where(_TASKS.c.id == task_id)
                    .where(_TASKS.c.status.in_([s.value for s in from_status]))
                    .values(values)
                    .returning(_TASKS)
                )
            ).first()
        return task_of(row) if row else None

    async def delete_task(self, task_id: int) -> bool:
        async with self._tx() as conn:
            # Children first: SQLite enforces ON DELETE CASCADE only with a pragma.
            await conn.execute(delete(_EVENTS).where(_EVENTS.c.task_id == task_id))
            await conn.execute(delete(_EXPERIMENTS).where(_EXPERIMENTS.c.task_id == task_id))
            result = await conn.execute(delete(_TASKS).where(_TASKS.c.id == task_id))
        return bool(result.rowcount)

    async def cancel_requested(self, task_id: int) -> bool:
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(select(_TASKS.c.cancel_requested).where(_TASKS.c.id == task_id))
            ).scalar_one_or_none()
        return bool(value)

    async def heartbeat_task(self, task_id: int, worker_id: str) -> None:
        async with self._tx() as conn:
            await conn.execute(
                update(_TASKS)
                .where(_TASKS.c.id == task_id)
                .values(worker_id=worker_id, heartbeat_at=time.time())
            )

    async def stale_running_tasks(self, older_than: float) -> list[TaskPublic]:
        """Tasks marked running whose runner has not said it is alive since ``older_than``."""
        query = (
            select(_TASKS)
            .where(_TASKS.c.status == TaskStatus.RUNNING.value)
            .where((_TASKS.c.heartbeat_at.is_(None)) | (_TASKS.c.heartbeat_at < older_than))
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [task_of(r) for r in rows]

    async def claim_task(self, task_id: int, worker_id: str, *, stale_before: float) -> bool:
        """Take ownership of a queued task, or of a running one whose owner went silent."""
        now = time.time()
        async with self._tx() as conn:
            result = await conn.execute(
                update(_TASKS)
                .where(_TASKS.c.id == task_id)
                .where(
                    (_TASKS.c.status.in_([TaskStatus.QUEUED.value, TaskStatus.PENDING.value]))
                    | (
                        (_TASKS.c.status == TaskStatus.RUNNING.value)
                        & (
                            _TASKS.c.heartbeat_at.is_(None)
                            | (_TASKS.c.heartbeat_at < stale_before)
                            | (_TASKS.c.worker_id == worker_id)
                        )
                    )
                )
                .values(worker_id=worker_id, heartbeat_at=now)
            )
        return bool(result.rowcount)

    # ------------------------------------------------------------ experiments

    async def create_experiment(
        self, task_id: int, experiment_id: int, parameters: dict[str, Any], **values: Any
    ) -> ExperimentPublic:
        row_values = dict(
            task_id=task_id,
            experiment_id=experiment_id,
            parameters=parameters,
            status=ExperimentStatus.PENDING.value,
            created_at=utcnow(),
        )
        row_values.update(_plain(values))
        async with self._tx() as conn:
            row = (
                await conn.execute(insert(_EXPERIMENTS).values(row_values).returning(_EXPERIMENTS))
            ).one()
        return experiment_of(row)

    async def update_experiment(self, pk: int, **values: Any) -> ExperimentPublic:
        async with self._tx() as conn:
            row = (
                await conn.execute(
                    update(_EXPERIMENTS)
                    .where(_EXPERIMENTS.c.id == pk)
                    .values(_plain(values))
                    .returning(_EXPERIMENTS)
                )
            ).one()
        return experiment_of(row)

    async def get_experiment(self, pk: int) -> ExperimentPublic | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(_EXPERIMENTS).where(_EXPERIMENTS.c.id == pk))).first()
        return experiment_of(row) if row else None

    async def list_experiments(self, task_id: int) -> list[ExperimentPublic]:
        query = (
            select(_EXPERIMENTS)
            .where(_EXPERIMENTS.c.task_id == task_id)
            .order_by(_EXPERIMENTS.c.experiment_id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [experiment_of(r) for r in rows]

    # ---------------------------------------------------------------- events

    async def append_event(self, ev: Event, *, experiment_pk: int | None = None) -> StoredEvent:
        """Record ``ev`` durably with the task's next id; returns what clients will see.

        ``experiment_pk`` is the database id of the experiment the event is about
        (``None`` for a task-level event): the per-experiment stream filters on it.
        """
        async with self._tx() as conn:
            new_id = (
                await conn.execute(
                    update(_TASKS)
                    .where(_TASKS.c.id == ev.task_id)
                    .values(last_event_id=_TASKS.c.last_event_id + 1)
                    .returning(_TASKS.c.last_event_id)
                )
            ).scalar_one_or_none()
            if new_id is None:
                raise UnknownTask(ev.task_id)
            data = ev.data
            if isinstance(data.get("task"), dict):
                # The snapshot is the task "as GET /api/tasks/{id} returns it then",
                # and then its newest event is this one.
                data = {**data, "task": {**data["task"], "last_event_id": new_id}}
            return await _insert_event(conn, ev, new_id, data, experiment_pk)

    async def finish_task(
        self,
        ev: Event,
        from_status: Sequence[TaskStatus],
        *,
        stale_before: float | None = None,
        interrupted: str = "interrupted",
        **values: Any,
    ) -> tuple[TaskPublic, StoredEvent] | None:
        """Move a task to its final state and record its final event ``ev``, atomically.

        Only a task whose status is one of ``from_status`` moves (compare-and-set),
        and if ``stale_before`` is given, a running one only when its runner has
        been silent since then; otherwise nothing is written and ``None`` returned,
        so a task never gets two final events. The task's experiments still in
        progress end ``cancelled`` with ``interrupted`` as their error.
        ``ev.data["task"]`` becomes the task as it is after the move.
        """
        values = {k: (v.value if isinstance(v, TaskStatus) else v) for k, v in values.items()}
        query = (
            update(_TASKS)
            .where(_TASKS.c.id == ev.task_id)
            .where(_TASKS.c.status.in_([s.value for s in from_status]))
        )
        if stale_before is not None:
            query = query.where(
                (_TASKS.c.status != TaskStatus.RUNNING.value)
                | _TASKS.c.heartbeat_at.is_(None)
                | (_TASKS.c.heartbeat_at < stale_before)
            )
        async with self._tx() as conn:
            row = (
                await conn.execute(
                    query.values({**values, "last_event_id": _TASKS.c.last_event_id + 1}).returning(
                        _TASKS
                    )
                )
            ).first()
            if row is None:
                return None
            await conn.execute(
                update(_EXPERIMENTS)
                .where(_EXPERIMENTS.c.task_id == ev.task_id)
                .where(_EXPERIMENTS.c.status.in_([s.value for s in _UNFINISHED_EXPERIMENTS]))
                .values(
                    status=ExperimentStatus.CANCELLED.value,
                    error_message=interrupted,
                    completed_at=utcnow(),
                )
            )
            task = task_of(row)
            data = {**ev.data, "task": json_snapshot(task)}
            return task, await _insert_event(conn, ev, task.last_event_id, data, None)

    async def read_events(
        self,
        task_id: int,
        after: int = 0,
        limit: int = 1000,
        *,
        experiment_pk: int | None = None,
    ) -> list[StoredEvent]:
        """Events of a task with id > ``after``, oldest first, at most ``limit``."""
        query = _events_after(select(_EVENTS), task_id, after, limit, experiment_pk)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [stored_of(r) for r in rows]

    async def event_sizes(
        self,
        task_id: int,
        after: int = 0,
        limit: int = 1000,
        *,
        experiment_pk: int | None = None,
    ) -> list[tuple[int, int]]:
        """``(id, payload bytes)`` of the events ``read_events`` would return, without
        loading payloads: lets a reader cut pages by size before reading them."""
        query = _events_after(
            select(_EVENTS.c.id, func.length(_EVENTS.c.payload)),
            task_id,
            after,
            limit,
            experiment_pk,
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(int(i), int(n or 0)) for i, n in rows]

    async def last_event_id(self, task_id: int) -> int | None:
        """The newest event id of a task (0 if none yet), ``None`` for an unknown task."""
        async with self.engine.connect() as conn:
            return (
                await conn.execute(select(_TASKS.c.last_event_id).where(_TASKS.c.id == task_id))
            ).scalar_one_or_none()

    async def count_tasks_by_status(self) -> dict[str, int]:
        query = select(_TASKS.c.status, func.count()).group_by(_TASKS.c.status)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {status: int(count) for status, count in rows}

    async def count_events(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(_EVENTS))).scalar_one())

    # --------------------------------------------------------------- workers

    async def upsert_worker(self, **values: Any) -> None:
        async with self._tx() as conn:
            updated = await conn.execute(
                update(_WORKERS).where(_WORKERS.c.id == values["id"]).values(values)
            )
            if not updated.rowcount:
                await conn.execute(insert(_WORKERS).values(values))

    async def remove_worker(self, worker_id: str) -> None:
        async with self._tx() as conn:
            await conn.execute(delete(_WORKERS).where(_WORKERS.c.id == worker_id))

    async def list_workers(self, seen_after: float) -> list[dict[str, Any]]:
        query = select(_WORKERS).where(_WORKERS.c.last_seen >= seen_after).order_by(_WORKERS.c.id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [dict(r._mapping) for r in rows]


for _name, _method in list(vars(Store).items()):
    public = not _name.startswith("_") and _name not in ("init", "close")
    if public and inspect.iscoroutinefunction(_method):
        setattr(Store, _name, guarded(_method))


_UNFINISHED_EXPERIMENTS = (
    ExperimentStatus.PENDING,
    ExperimentStatus.DEPLOYING,
    ExperimentStatus.BENCHMARKING,
)


async def _insert_event(
    conn: AsyncConnection,
    ev: Event,
    event_id: int,
    data: dict[str, Any],
    experiment_pk: int | None,
) -> StoredEvent:
    payload = dumps(json_snapshot(ev.model_copy(update={"id": event_id, "data": data})))
    await conn.execute(
        insert(_EVENTS).values(
            task_id=ev.task_id,
            id=event_id,
            type=ev.type.value,
            experiment_pk=experiment_pk,
            payload=payload,
            created_at=ev.timestamp,
        )
    )
    return StoredEvent(ev.task_id, event_id, ev.type.value, experiment_pk, payload, ev.timestamp)


def _events_after(
    query: Select[Any], task_id: int, after: int, limit: int, experiment_pk: int | None
) -> Select[Any]:
    """``query`` narrowed to a task's events with id > ``after``, oldest first."""
    query = (
        query.where(_EVENTS.c.task_id == task_id)
        .where(_EVENTS.c.id > after)
        .order_by(_EVENTS.c.id)
        .limit(limit)
    )
    if experiment_pk is not None:
        query = query.where(_EVENTS.c.experiment_pk == experiment_pk)
    return query


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, ExperimentStatus) else v) for k, v in values.items()}
