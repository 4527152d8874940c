"""The task runner: one code path for the embedded and the distributed mode.

It claims a task, rebuilds the strategy from the experiments already stored (so
a restarted task resumes where it stopped), then for each configuration:
deploys the engine, benchmarks it, scores it, records it, and publishes the
seed's events at the seed's points, each carrying the entity snapshot the UI
needs. The engine of the running experiment is always torn down: on success,
failure, timeout, cancel and shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from autotuner.bench import BenchmarkProgress, BenchmarkResult, run_benchmark
from autotuner.config import Settings
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
    task_event,
    task_progress_event,
)
from autotuner.runtimes import DeploymentError, DeployRequest, get_runtime, reap_orphans
from autotuner.runtimes._base import Deployment, Runtime
from autotuner.store import Store, StoreUnavailable, utcnow
from autotuner.tuning import get_strategy, is_better, score_experiment
from autotuner.worker.finish import finish_task, retry_while_unavailable
from autotuner.worker.presence import WorkerPresence

if TYPE_CHECKING:
    from autotuner.events import EventBus

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.5  # seconds: benchmark_progress at most 2 a second per experiment
CANCEL_POLL_INTERVAL = 0.5


class TaskRunner:
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
        stale_before = time.time() - self.settings.worker_stale_seconds
        claimed = await retry_while_unavailable(
            lambda: self.store.claim_task(task_id, self.presence.id, stale_before=stale_before),
            f"Task {task_id}: cannot claim it yet",
        )
        if not claimed:
            log.info("Task %d is owned by another worker or not runnable; skipping", task_id)
            return
        cancel = self._cancel[task_id] = asyncio.Event()
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
        # Engines of a process killed mid-task (no teardown ran) would still hold
        # their port and GPU memory.
        reaped = await asyncio.to_thread(reap_orphans, self.settings.logs_dir / f"task-{task.id}")
        if reaped:
            log.warning(
                "Task %d: terminated engines orphaned by a killed process: %s", task.id, reaped
            )
        try:
            # The spec as stored, not the task's display copy of it.
            spec = TaskSpec.model_validate(await self.store.task_spec(task.id))
        except ValidationError as exc:
            # Stored before today's validation refused such specs: end it clearly.
            await self._finish(
                task.id,
                TaskStatus.FAILED,
                f"the stored task spec is not valid: {_problems(exc)}; create the task "
                "again from a corrected task file",
            )
            return
        try:
            runtime = get_runtime(spec.deployment_mode, spec.base_runtime)
        except ValueError as exc:
            await self._finish(task.id, TaskStatus.FAILED, str(exc))
            return
        # The strategy's work (Optuna's TPE over a large space, a restore of many
        # trials) runs in a thread: it must not stall the event loop's sockets.
        strategy = await asyncio.to_thread(get_strategy, spec.optimization, spec.parameters)
        experiments = await self.store.list_experiments(task.id)
        for exp in experiments:
            if not exp.status.finished:
                exp = await self.store.update_experiment(
                    exp.id,
                    status=ExperimentStatus.CANCELLED,
                    error_message="interrupted when its worker stopped; "
                    "the configuration is run again",
                    completed_at=utcnow(),
                )
                await self._publish_experiment(
                    EventType.EXPERIMENT_FAILED, exp, f"Experiment {exp.experiment_id} interrupted"
                )
        done = [e for e in experiments if e.status in _COUNTED]
        await asyncio.to_thread(
            strategy.restore,
            [
                (e.parameters, e.objective_score if e.status == ExperimentStatus.SUCCESS else None)
                for e in done
            ],
        )
        next_number = max((e.experiment_id for e in experiments), default=0) + 1
        count = len(done)
        while count < spec.optimization.max_iterations:
            params = await asyncio.to_thread(strategy.suggest)
            if params is None:
                break
            score = await self._run_experiment(task, spec, runtime, params, next_number)
            await asyncio.to_thread(strategy.tell, params, score)
            count += 1
            next_number += 1
            task = await self._record_progress(task.id, spec, strategy.total)
        await self._complete(task.id, spec)

    async def _run_experiment(
        self,
        task: TaskPublic,
        spec: TaskSpec,
        runtime: Runtime,
        params: dict[str, Any],
        number: int,
    ) -> float | None:
        started = time.monotonic()
        exp = await self.store.create_experiment(
            task.id, number, params, status=ExperimentStatus.DEPLOYING, started_at=utcnow()
        )
        await self._publish_experiment(
            EventType.EXPERIMENT_STARTED,
            exp,
            f"Experiment {number} started",
            parameters=params,
            status=exp.status.value,
        )
        deployment: Deployment | None = None
        try:
            async with asyncio.timeout(spec.optimization.timeout_per_iteration):
                deployment = await runtime.deploy(
                    DeployRequest(
                        task_name=task.task_name,
                        experiment_id=number,
                        base_runtime=spec.base_runtime,
                        model=spec.model.id_or_path,
                        parameters=params,
                        log_dir=self.settings.logs_dir / f"task-{task.id}" / f"exp-{number}",
                        timeout=spec.optimization.timeout_per_iteration,
                    )
                )
                exp = await self.store.update_experiment(
                    exp.id,
                    status=ExperimentStatus.BENCHMARKING,
                    engine_command=shlex.join(deployment.command),
                )
                await self._publish_experiment(
                    EventType.EXPERIMENT_PROGRESS,
                    exp,
                    f"Experiment {number} deployed; benchmarking",
                    status=exp.status.value,
                )
                await self._publish_experiment(
                    EventType.BENCHMARK_STARTED,
                    exp,
                    f"Benchmark of experiment {number} started",
                    benchmark=spec.benchmark.model_dump(mode="json"),
                )
                result = await self._benchmark(exp, deployment, spec)
            scored = score_experiment(result.summary, spec.optimization.objective, spec.slo)
            status = ExperimentStatus.FAILED if scored.hard_failed else ExperimentStatus.SUCCESS
            exp = await self.store.update_experiment(
                exp.id,
                status=status,
                metrics={**result.summary, "runs": result.runs},
                objective_score=None if scored.hard_failed else scored.objective_score,
                slo_violations=scored.slo_violations,
                error_message=scored.reason if scored.hard_failed else None,
                completed_at=utcnow(),
                elapsed_time=time.monotonic() - started,
            )
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                exp = await self.store.update_experiment(
                    exp.id,
                    status=ExperimentStatus.CANCELLED,
                    error_message="cancelled",
                    completed_at=utcnow(),
                    elapsed_time=time.monotonic() - started,
                )
                await self._publish_experiment(
                    EventType.EXPERIMENT_FAILED,
                    exp,
                    f"Experiment {number} cancelled",
                    status=exp.status.value,
                    error="cancelled",
                )
            raise
        except TimeoutError:
            exp = await self._fail_experiment(
                exp,
                started,
                f"timed out after {spec.optimization.timeout_per_iteration:g} s "
                "(optimization.timeout_per_iteration)",
            )
        except DeploymentError as exc:
            message = str(exc)
            if exc.log_tail:
                message += "\n--- engine log (last lines) ---\n" + exc.log_tail
            exp = await self._fail_experiment(exp, started, message)
        except Exception as exc:
            log.exception("Experiment %d of task %d failed", number, task.id)
            exp = await self._fail_experiment(exp, started, f"{type(exc).__name__}: {exc}")
        finally:
            if deployment is not None:
                await deployment.stop()

        ok = exp.status == ExperimentStatus.SUCCESS
        await self._publish_experiment(
            EventType.EXPERIMENT_COMPLETED if ok else EventType.EXPERIMENT_FAILED,
            exp,
            f"Experiment {number} {exp.status.value}",
            status=exp.status.value,
            metrics=exp.metrics,
            objective_score=exp.objective_score,
            elapsed_time=exp.elapsed_time,
            error=exp.error_message,
        )
        return exp.objective_score if ok else None

    async def _fail_experiment(
        self, exp: ExperimentPublic, started: float, message: str
    ) -> ExperimentPublic:
        return await self.store.update_experiment(
            exp.id,
            status=ExperimentStatus.FAILED,
            error_message=message,
            completed_at=utcnow(),
            elapsed_time=time.monotonic() - started,
        )

    async def _benchmark(
        self, exp: ExperimentPublic, deployment: Deployment, spec: TaskSpec
    ) -> BenchmarkResult:
        latest: list[BenchmarkProgress] = []
        changed = asyncio.Event()
        stopping = False

        def on_progress(progress: BenchmarkProgress) -> None:
            latest[:] = [progress]
            changed.set()

        async def pump() -> None:
            # Publish the newest progress at most every PROGRESS_INTERVAL; never
            # interrupted mid-publish, so no recorded event misses its fan-out.
            while True:
                await changed.wait()
                if stopping:
                    return
                changed.clear()
                await self.bus.publish(
                    benchmark_progress_event(exp, latest[0]), experiment_pk=exp.id
                )
                await asyncio.sleep(PROGRESS_INTERVAL)

        pumping = asyncio.create_task(pump())
        try:
            return await run_benchmark(
                deployment.base_url,
                deployment.model_name,
                spec.benchmark,
                on_progress=on_progress,
                slo=spec.slo,
            )
        finally:
            stopping = True
            changed.set()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(pumping)

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

    # ---------------------------------------------------------------- events

    async def _publish_experiment(
        self, event_type: EventType, exp: ExperimentPublic, message: str, **data: Any
    ) -> None:
        await self.bus.publish(
            experiment_event(event_type, exp, message=message, **data), experiment_pk=exp.id
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
