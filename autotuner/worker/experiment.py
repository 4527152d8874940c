"""One experiment of a task: deploy the engine, benchmark it, score it, record it.

A failed experiment is data, not a crash: an engine that does not come up, a
timeout, an SLO hard fail or a bug in the benchmark end the experiment
``failed`` with its error message, and the task goes on with the next
configuration. Only a cancel (of the task, or of this process) goes through,
after the experiment is recorded ``cancelled``. The engine is torn down in
every case.

The events, in order (their payloads are built by ``autotuner.events.payloads``,
their schema is in ``docs/websocket.md``): ``experiment_started``,
``experiment_progress`` once the engine is up, ``benchmark_started``,
``benchmark_progress`` at most every :data:`PROGRESS_INTERVAL`, then
``experiment_completed`` or ``experiment_failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from autotuner.bench import BenchmarkProgress, BenchmarkResult, run_benchmark
from autotuner.config import Settings
from autotuner.domain import EventType, ExperimentPublic, ExperimentStatus, TaskPublic, TaskSpec
from autotuner.events.payloads import benchmark_progress_event, experiment_event
from autotuner.runtimes import (
    Deployment,
    DeploymentError,
    DeployRequest,
    Runtime,
    engine_extra,
)
from autotuner.store import Store, utcnow
from autotuner.tuning import goodput_thresholds, score_levels

if TYPE_CHECKING:
    from autotuner.events import EventBus

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.5  # seconds: benchmark_progress at most 2 a second per experiment


async def publish_experiment(
    bus: EventBus, event_type: EventType, exp: ExperimentPublic, message: str, **extra: Any
) -> None:
    """Publish an event about ``exp``, recorded under the experiment's database id."""
    await bus.publish(
        experiment_event(event_type, exp, message=message, **extra), experiment_pk=exp.id
    )


class ExperimentRun:
    """Runs one configuration of a task once.

    ``await ExperimentRun(...).run()`` returns the objective score, or ``None``
    when the experiment failed; it raises only ``CancelledError``.
    """

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        settings: Settings,
        *,
        task: TaskPublic,
        spec: TaskSpec,
        runtime: Runtime,
        number: int,
        parameters: dict[str, Any],
    ) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings
        self.task = task
        self.spec = spec
        self.runtime = runtime
        self.number = number
        self.parameters = parameters
        self._deployment: Deployment | None = None

    async def run(self) -> float | None:
        number = self.number
        started = time.monotonic()
        exp = await self.store.create_experiment(
            self.task.id,
            number,
            self.parameters,
            status=ExperimentStatus.DEPLOYING,
            started_at=utcnow(),
        )
        await self._publish(
            EventType.EXPERIMENT_STARTED,
            exp,
            f"Experiment {number} started",
            parameters=self.parameters,
            status=exp.status.value,
        )
        try:
            async with asyncio.timeout(self.spec.optimization.timeout_per_iteration):
                exp, deployment = await self._deploy(exp)
                result = await self._benchmark(exp, deployment)
            exp = await self._score(exp, result, started)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self._cancelled(exp, started)
            raise
        except TimeoutError:
            exp = await self._fail(
                exp,
                started,
                f"timed out after {self.spec.optimization.timeout_per_iteration:g} s "
                "(optimization.timeout_per_iteration)",
            )
        except DeploymentError as exc:
            message = str(exc)
            if exc.log_tail:
                message += "\n--- engine log (last lines) ---\n" + exc.log_tail
            exp = await self._fail(exp, started, message)
        except Exception as exc:
            log.exception("Experiment %d of task %d failed", number, self.task.id)
            exp = await self._fail(exp, started, f"{type(exc).__name__}: {exc}")
        finally:
            # After the outcome is recorded, so a slow teardown does not count
            # in the experiment's elapsed time.
            if self._deployment is not None:
                await self._deployment.stop()

        ok = exp.status == ExperimentStatus.SUCCESS
        await self._publish(
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

    # ------------------------------------------------------------------ steps

    async def _deploy(self, exp: ExperimentPublic) -> tuple[ExperimentPublic, Deployment]:
        spec = self.spec
        self._deployment = deployment = await self.runtime.deploy(
            DeployRequest(
                task_name=self.task.task_name,
                experiment_id=self.number,
                base_runtime=spec.base_runtime,
                model=spec.model.id_or_path,
                parameters=self.parameters,
                log_dir=self.settings.logs_dir / f"task-{self.task.id}" / f"exp-{self.number}",
                timeout=spec.optimization.timeout_per_iteration,
                extra=engine_extra(spec.engine, allow_custom=self.settings.allow_custom_engines),
            )
        )
        exp = await self.store.update_experiment(
            exp.id,
            status=ExperimentStatus.BENCHMARKING,
            engine_command=shlex.join(deployment.command),
        )
        await self._publish(
            EventType.EXPERIMENT_PROGRESS,
            exp,
            f"Experiment {self.number} deployed; benchmarking",
            status=exp.status.value,
        )
        return exp, deployment

    async def _benchmark(self, exp: ExperimentPublic, deployment: Deployment) -> BenchmarkResult:
        await self._publish(
            EventType.BENCHMARK_STARTED,
            exp,
            f"Benchmark of experiment {self.number} started",
            benchmark=self.spec.benchmark.model_dump(mode="json"),
        )
        async with self._progress_publisher(exp) as on_progress:
            return await run_benchmark(
                deployment.base_url,
                deployment.model_name,
                self.spec.benchmark,
                on_progress=on_progress,
                slo=self.spec.slo,
            )

    async def _score(
        self, exp: ExperimentPublic, result: BenchmarkResult, started: float
    ) -> ExperimentPublic:
        """Score per level (``tuning.score_levels``) and store what was scored:
        ``metrics`` = the scored figures, ``levels``, ``pooled_all``, ``scoring``."""
        spec = self.spec
        thresholds = goodput_thresholds(spec.slo, spec.benchmark.additional_params.get("goodput"))
        scored = score_levels(result.levels, spec.optimization.objective, spec.slo, thresholds)
        status = ExperimentStatus.FAILED if scored.hard_failed else ExperimentStatus.SUCCESS
        return await self.store.update_experiment(
            exp.id,
            status=status,
            metrics=scored.stored_metrics(),
            objective_score=None if scored.hard_failed else scored.objective_score,
            slo_violations=scored.slo_violations,
            error_message=scored.reason if scored.hard_failed else None,
            completed_at=utcnow(),
            elapsed_time=time.monotonic() - started,
        )

    async def _fail(self, exp: ExperimentPublic, started: float, message: str) -> ExperimentPublic:
        return await self.store.update_experiment(
            exp.id,
            status=ExperimentStatus.FAILED,
            error_message=message,
            completed_at=utcnow(),
            elapsed_time=time.monotonic() - started,
        )

    async def _cancelled(self, exp: ExperimentPublic, started: float) -> None:
        exp = await self.store.update_experiment(
            exp.id,
            status=ExperimentStatus.CANCELLED,
            error_message="cancelled",
            completed_at=utcnow(),
            elapsed_time=time.monotonic() - started,
        )
        await self._publish(
            EventType.EXPERIMENT_FAILED,
            exp,
            f"Experiment {self.number} cancelled",
            status=exp.status.value,
            error="cancelled",
        )

    @contextlib.asynccontextmanager
    async def _progress_publisher(
        self, exp: ExperimentPublic
    ) -> AsyncIterator[Callable[[BenchmarkProgress], None]]:
        """Yields the load generator's progress callback; publishes the newest
        progress at most every PROGRESS_INTERVAL while the block runs."""
        latest: list[BenchmarkProgress] = []
        changed = asyncio.Event()
        stopping = False

        def on_progress(progress: BenchmarkProgress) -> None:
            latest[:] = [progress]
            changed.set()

        async def pump() -> None:
            # Never interrupted mid-publish, so no recorded event misses its fan-out.
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
            yield on_progress
        finally:
            stopping = True
            changed.set()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(pumping)

    async def _publish(
        self, event_type: EventType, exp: ExperimentPublic, message: str, **extra: Any
    ) -> None:
        await publish_experiment(self.bus, event_type, exp, message, **extra)
