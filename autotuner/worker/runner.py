"""The task runner: a task's lifecycle, one code path for the embedded and the
distributed mode.

It claims a task, rebuilds the strategy from the experiments already stored (so
a restarted task resumes where it stopped), watches for a cancel, then runs one
experiment per suggested configuration (``autotuner.worker.experiment``: deploy,
benchmark, score, record), publishes the task's progress after each, and ends
the task with its final state and final event written together. The events and
their payloads are those of ``docs/websocket.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from pydantic import ValidationError

from autotuner.config import Settings
from autotuner.domain import (
    EventType,
    ExperimentPublic,
    ExperimentStatus,
    TaskPublic,
    TaskSpec,
    TaskStatus,
)
from autotuner.events.payloads import task_event, task_progress_event
from autotuner.runtimes import Runtime, get_runtime, reap_orphans
from autotuner.store import Store, StoreUnavailable, utcnow
from autotuner.tuning import Strategy, get_strategy, is_better
from autotuner.worker.experiment import ExperimentRun, publish_experiment
from autotuner.worker.finish import finish_task, retry_while_unavailable
from autotuner.worker.presence import WorkerPresence

if TYPE_CHECKING:
    from autotuner.events import EventBus

log = logging.getLogger(__name__)

CANCEL_POLL_INTERVAL = 0.5


class TaskRunner:
    """Runs tasks to their end; one per process, any number of tasks at once."""

    def __init__(
        self, store: Store, bus: EventBus, settings: Settings, presence: WorkerPresence
    ) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings
        self.presence = presence
        self._cancel: dict[int, asyncio.Event] = {}

    def request_cancel(self, task_id: int) -> None:
        """Stop a task this runner is running now (the stored flag does it too, a bit later)."""
        if task_id in self._cancel:
            self._cancel[task_id].set()

    # ------------------------------------------------------------------ run

    async def run(self, task_id: int) -> None:
        """Run (or resume) one task to its end.

        Once this runner owns the task, every step is inside the error handling:
        whatever fails (an odd stored spec, a lost database, a bug), the task ends
        ``failed`` with its ``task_failed`` event stored, never stays running.
        """
        if task_id in self._cancel:
            # A second job for a task this process already runs (submitted twice,
            # or re-enqueued by a sweep): the claim below would succeed again for
            # the same worker id, so it is refused here, before any await.
            log.info("Task %d is already running in this worker; skipping", task_id)
            return
        cancel = self._cancel[task_id] = asyncio.Event()
        try:
            stale_before = time.time() - self.settings.worker_stale_seconds
            claimed = await retry_while_unavailable(
                lambda: self.store.claim_task(task_id, self.presence.id, stale_before=stale_before),
                f"Task {task_id}: cannot claim it yet",
            )
        except BaseException:
            self._cancel.pop(task_id, None)
            raise
        if not claimed:
            self._cancel.pop(task_id, None)
            log.info("Task %d is owned by another worker or not runnable; skipping", task_id)
            return
        self.presence.current.add(task_id)
        try:
            await self._run_owned(task_id, cancel)
        except asyncio.CancelledError:
            # This process is stopping (not a user's cancel): leave the task
            # running with a stale heartbeat so a worker takes it up again.
            with contextlib.suppress(Exception):
                await self.store.update_task(task_id, heartbeat_at=None)
            raise
        except Exception as exc:  # a bug, a lost database: the task must not stay running
            log.exception("Task %d failed", task_id)
            await self._finish(task_id, TaskStatus.FAILED, _describe(exc))
        finally:
            self._cancel.pop(task_id, None)
            self.presence.current.discard(task_id)

    async def _run_owned(self, task_id: int, cancel: asyncio.Event) -> None:
        current = await self.store.get_task(task_id)
        if current is None or current.status.finished or current.status == TaskStatus.PENDING:
            return
        if await self.store.cancel_requested(task_id):
            await self._finish(task_id, TaskStatus.CANCELLED, "Task cancelled before it started")
            return
        resumed = current.status == TaskStatus.RUNNING or current.total_experiments > 0
        task = await self.store.transition_task(
            task_id,
            (TaskStatus.QUEUED, TaskStatus.RUNNING),
            status=TaskStatus.RUNNING,
            started_at=current.started_at or utcnow(),
            error_message=None,
            worker_id=self.presence.id,
            heartbeat_at=time.time(),
        )
        if task is None:
            return
        log.info(
            "%s task %d (%s) on %s",
            "Resuming" if resumed else "Starting",
            task_id,
            task.task_name,
            self.presence.id,
        )
        work = asyncio.create_task(
            self._start_and_execute(task, resumed), name=f"autotuner-run-{task_id}"
        )
        watcher = asyncio.create_task(self._watch_cancel(task_id, cancel))
        try:
            await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                log.info("Cancelling task %d", task_id)
                work.cancel()
                # The user asked for it to stop: it ends cancelled, whatever
                # its clean-up ran into.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
                await self._finish(task_id, TaskStatus.CANCELLED, "Task cancelled")
            else:
                work.result()
        except BaseException:
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            raise
        finally:
            watcher.cancel()

    async def _start_and_execute(self, task: TaskPublic, resumed: bool) -> None:
        await self.bus.publish(
            task_event(
                EventType.TASK_STARTED,
                task,
                message=f"Task {task.task_name} {'resumed' if resumed else 'started'}",
                resumed=resumed,
            )
        )
        await self._execute(task)

    async def _watch_cancel(self, task_id: int, cancel: asyncio.Event) -> None:
        while not cancel.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cancel.wait(), CANCEL_POLL_INTERVAL)
            if not cancel.is_set():
                with contextlib.suppress(Exception):
                    if await self.store.cancel_requested(task_id):
                        cancel.set()

    # -------------------------------------------------------------- execute

    async def _execute(self, task: TaskPublic) -> None:
        await self._reap_orphans(task.id)
        loaded = await self._load(task.id)
        if loaded is None:
            return
        spec, runtime = loaded
        # The strategy's work (Optuna's TPE over a large space, a restore of many
        # trials) runs in a thread: it must not stall the event loop's sockets.
        strategy = await asyncio.to_thread(get_strategy, spec.optimization, spec.parameters)
        count, next_number = await self._resume(task.id, strategy)
        # One experiment at a time: running several at once is a change of this loop.
        while count < spec.optimization.max_iterations:
            params = await asyncio.to_thread(strategy.suggest)
            if params is None:
                break
            score = await ExperimentRun(
                self.store,
                self.bus,
                self.settings,
                task=task,
                spec=spec,
                runtime=runtime,
                number=next_number,
                parameters=params,
            ).run()
            await asyncio.to_thread(strategy.tell, params, score)
            count += 1
            next_number += 1
            task = await self._record_progress(task.id, spec, strategy.total)
        await self._complete(task.id, spec)

    async def _reap_orphans(self, task_id: int) -> None:
        # Engines of a process killed mid-task (no teardown ran) would still hold
        # their port and GPU memory.
        reaped = await asyncio.to_thread(reap_orphans, self.settings.logs_dir / f"task-{task_id}")
        if reaped:
            log.warning(
                "Task %d: terminated engines orphaned by a killed process: %s", task_id, reaped
            )

    async def _load(self, task_id: int) -> tuple[TaskSpec, Runtime] | None:
        """The task's spec and runtime; ``None`` once the task has ended ``failed``
        because either cannot be had."""
        try:
            # The spec as stored, not the task's display copy of it.
            spec = TaskSpec.model_validate(await self.store.task_spec(task_id))
        except ValidationError as exc:
            # Stored before today's validation refused such specs: end it clearly.
            await self._finish(
                task_id,
                TaskStatus.FAILED,
                f"the stored task spec is not valid: {_problems(exc)}; create the task "
                "again from a corrected task file",
            )
            return None
        try:
            runtime = get_runtime(spec.deployment_mode, spec.base_runtime)
        except ValueError as exc:
            await self._finish(task_id, TaskStatus.FAILED, str(exc))
            return None
        return spec, runtime

    async def _resume(self, task_id: int, strategy: Strategy) -> tuple[int, int]:
        """Tell ``strategy`` the experiments already done and end those a stopped
        worker left unfinished; returns how many count and the next number."""
        experiments = await self.store.list_experiments(task_id)
        for exp in experiments:
            if not exp.status.finished:
                exp = await self.store.update_experiment(
                    exp.id,
                    status=ExperimentStatus.CANCELLED,
                    error_message="interrupted when its worker stopped; "
                    "the configuration is run again",
                    completed_at=utcnow(),
                )
                await publish_experiment(
                    self.bus,
                    EventType.EXPERIMENT_FAILED,
                    exp,
                    f"Experiment {exp.experiment_id} interrupted",
                )
        done = [e for e in experiments if e.status in _COUNTED]
        await asyncio.to_thread(
            strategy.restore,
            [
                (e.parameters, e.objective_score if e.status == ExperimentStatus.SUCCESS else None)
                for e in done
            ],
        )
        return len(done), max((e.experiment_id for e in experiments), default=0) + 1

    # -------------------------------------------------------------- progress

    async def _record_progress(self, task_id: int, spec: TaskSpec, planned: int) -> TaskPublic:
        experiments = await self.store.list_experiments(task_id)
        counted = [e for e in experiments if e.status in _COUNTED]
        best = _best(counted, spec)
        task = await self.store.update_task(
            task_id,
            total_experiments=len(counted),
            successful_experiments=sum(e.status == ExperimentStatus.SUCCESS for e in counted),
            failed_experiments=sum(e.status == ExperimentStatus.FAILED for e in counted),
            best_experiment_id=best.id if best else None,
            best_score=best.objective_score if best else None,
        )
        total = max(planned, len(counted))
        await self.bus.publish(task_progress_event(task, completed=len(counted), total=total))
        return task

    async def _complete(self, task_id: int, spec: TaskSpec) -> None:
        task = await self.store.get_task(task_id)
        assert task is not None
        if task.total_experiments and not task.successful_experiments:
            first_error = next(
                (
                    e.error_message
                    for e in await self.store.list_experiments(task_id)
                    if e.error_message
                ),
                "",
            )
            await self._finish(
                task_id,
                TaskStatus.FAILED,
                f"all {task.total_experiments} experiments failed; first error: "
                f"{first_error.splitlines()[0] if first_error else 'unknown'}",
            )
            return
        await self._finish(task_id, TaskStatus.COMPLETED, None)

    async def _finish(self, task_id: int, status: TaskStatus, reason: str | None) -> None:
        # Retried until the store is back: the final event must be stored.
        await finish_task(
            self.store,
            self.bus,
            task_id,
            status,
            reason,
            from_status=(TaskStatus.QUEUED, TaskStatus.RUNNING),
        )


_COUNTED = (ExperimentStatus.SUCCESS, ExperimentStatus.FAILED)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, StoreUnavailable):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _problems(exc: ValidationError, most: int = 5) -> str:
    errors = exc.errors()
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: "
        f"{str(err['msg']).removeprefix('Value error, ')}"
        for err in errors[:most]
    ]
    if len(errors) > most:
        parts.append(f"and {len(errors) - most} more")
    return "; ".join(parts)


def _best(experiments: list[ExperimentPublic], spec: TaskSpec) -> ExperimentPublic | None:
    best = None
    for exp in experiments:
        if exp.status != ExperimentStatus.SUCCESS or exp.objective_score is None:
            continue
        if best is None or is_better(
            exp.objective_score, best.objective_score, spec.optimization.objective
        ):
            best = exp
    return best
