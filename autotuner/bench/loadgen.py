"""Streaming load generator against an OpenAI-compatible endpoint.

:func:`run_benchmark` runs the levels :func:`autotuner.bench.levels.plan_levels`
plans (closed-loop concurrency levels, open-loop request-rate levels, a
GuideLLM-style sweep), each with :class:`autotuner.bench.executor.LevelRun`,
and returns one :class:`LevelResult` per level. Every level measures at most
``max_requests_per_iteration`` requests for at most ``max_time_per_iteration``
seconds (both bound one level, not the whole benchmark); warm-up and ramp-up
requests come on top and are not measured. Connections are opened before each
level's timing starts. A level where the load generator was the bottleneck
gets ``untrusted`` reasons (:mod:`autotuner.bench.saturation`).

Prompts come from ``spec.dataset`` / ``spec.dataset_url``
(:func:`autotuner.bench.dataset.load_dataset`, read once per benchmark) when
given, else synthetic text of the scenario's length.

``spec.additional_params`` understood here (others are ignored):

* ``endpoint``: ``"completions"`` (default, ``/v1/completions``) or ``"chat"``
* ``request_timeout``: seconds per request (default 3 x max_time_per_iteration, >= 60)
* ``seed``: seed of the prompts, token counts and arrival times (default 0)
* ``goodput``: ``{"ttft": ms, "tpot": ms, "e2el": ms}`` request SLO for goodput
* ``temperature`` (default 0), ``api_key``, ``extra_body`` (merged into each request)
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from autotuner.bench.client import open_session, warm_connections
from autotuner.bench.dataset import load_dataset
from autotuner.bench.executor import LevelRun, LevelSettings
from autotuner.bench.levels import LevelPlan, plan_levels, sweep_rates
from autotuner.bench.metrics import LevelResult, RequestResult, pool, run_metrics
from autotuner.bench.prompts import PromptSource
from autotuner.bench.saturation import untrusted_reasons
from autotuner.domain import BenchmarkSpec, SLOSpec

logger = logging.getLogger(__name__)

WARM_LIMIT = 1024
"""Most connections opened ahead of one level (uncapped open-loop levels may open more)."""


@dataclass
class BenchmarkProgress:
    """A live view of a running benchmark (figures of the current level)."""

    completed: int
    """Measured requests finished so far (successful or not), over all levels."""
    failed: int
    total: int
    """Planned requests: levels x max_requests_per_iteration (time limits may end levels sooner)."""
    elapsed: float
    fraction: float
    """0..1, from requests done and time spent in each level; never goes back."""
    scenario: str
    concurrency: int | None
    """Closed-loop workers, or the open-loop cap (``None``: none)."""
    run_index: int
    num_runs: int
    request_throughput: float | None = None
    output_throughput: float | None = None
    mean_ttft_ms: float | None = None
    mean_tpot_ms: float | None = None
    label: str = ""
    """The level's label, as :attr:`LevelResult.label` (``D(100,100) @ c=8``)."""
    kind: str = ""
    """``"concurrency"``, ``"rate"``, ``"synchronous"``, ``"throughput"`` or ``"sweep"``."""
    request_rate: float | None = None
    """Requests/s asked of an open-loop level (``math.inf``: as fast as possible)."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.request_rate is not None and math.isinf(self.request_rate):
            out["request_rate"] = "inf"
        return out


@dataclass
class BenchmarkResult:
    """``levels``: one :class:`LevelResult` per load level, in run order;
    ``summary``: metrics over the pooled requests of every level."""

    levels: list[LevelResult]
    duration: float

    @property
    def summary(self) -> dict[str, Any]:
        return pool(self.levels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "levels": [level.to_dict() for level in self.levels],
            "summary": self.summary,
            "duration": self.duration,
        }


def goodput_from_slo(slo: SLOSpec | None) -> dict[str, float] | None:
    """Per-request goodput thresholds (ms) from a task's SLOs.

    TTFT and TPOT thresholds apply per request; of the latency percentile
    thresholds the loosest (highest percentile) bounds each request's E2EL.
    """
    if slo is None:
        return None
    out: dict[str, float] = {}
    if slo.ttft is not None:
        out["ttft"] = slo.ttft.threshold * 1000.0
    if slo.tpot is not None:
        out["tpot"] = slo.tpot.threshold * 1000.0
    if slo.latency:
        key = max(slo.latency, key=lambda p: int(p[1:]))
        out["e2el"] = slo.latency[key].threshold * 1000.0
    return out or None


async def run_benchmark(
    base_url: str,
    model: str,
    spec: BenchmarkSpec,
    *,
    on_progress: Callable[[BenchmarkProgress], None] | None = None,
    slo: SLOSpec | None = None,
) -> BenchmarkResult:
    """Run every planned level against ``base_url`` (no ``/v1``).

    Goodput thresholds come from ``spec.additional_params["goodput"]``, else
    from ``slo``. Cancelling the awaiting task stops all requests promptly and
    closes the connections.
    """
    params = dict(spec.additional_params)
    plans = plan_levels(spec)
    chat = str(params.get("endpoint", "completions")).lower() in {"chat", "chat/completions"}
    url = base_url.rstrip("/") + ("/v1/chat/completions" if chat else "/v1/completions")
    goodput = params.get("goodput") or goodput_from_slo(slo)
    timeout = float(params.get("request_timeout") or max(60.0, 3 * spec.max_time_per_iteration))
    headers: dict[str, str] = {}
    if params.get("api_key"):
        headers["authorization"] = f"Bearer {params['api_key']}"
    seed = int(params.get("seed", 0))
    prompts = PromptSource(load_dataset(spec), seed)
    tracker = _Tracker(len(plans) * spec.max_requests_per_iteration, len(plans), on_progress)
    levels: list[LevelResult] = []
    async with open_session(timeout=timeout, headers=headers) as session:
        settings = LevelSettings(
            session=session,
            url=url,
            model=model,
            chat=chat,
            prompts=prompts,
            temperature=params.get("temperature", 0.0),
            extra_body=params.get("extra_body"),
            max_requests=spec.max_requests_per_iteration,
            max_time=float(spec.max_time_per_iteration),
            warmup=spec.warmup_requests,
            ramp_up=float(spec.ramp_up_time),
            burstiness=float(spec.burstiness),
        )
        sweep: dict[str, float] = {}
        for index, plan in enumerate(plans):
            rate = _level_rate(plan, sweep, spec)
            if plan.kind == "sweep" and rate is None:
                logger.warning("sweep of %s: no rate measured, level skipped", plan.scenario.text)
                tracker.skip(index)
                continue
            width = _width(plan, rate, spec)
            warmed = await warm_connections(session, base_url, width)
            level = LevelResult(
                scenario=plan.scenario.text,
                kind=plan.kind,
                concurrency=plan.concurrency,
                request_rate=rate,
                results=[],
                duration=0.0,
            )
            run = LevelRun(
                plan,
                rate,
                settings,
                random.Random(seed * 1000 + index),
                tracker.record,
            )
            tracker.begin(index, level, run)
            results, duration, client = await run.execute()
            client["connections_warmed"] = warmed
            level.results, level.duration, level.client = results, duration, client
            level.metrics = run_metrics(results, duration, goodput)
            level.errors = _sample_errors(results)
            level.untrusted = untrusted_reasons(client)
            if plan.kind in ("synchronous", "throughput"):
                sweep[f"{plan.scenario.text}/{plan.kind}"] = level.metrics["request_throughput"]
            levels.append(level)
            tracker.end(index)
            metrics = level.metrics
            logger.info(
                "benchmark %s: %d ok, %d failed, %.1f tok/s%s",
                level.label,
                metrics["completed"],
                metrics["failed"],
                metrics["output_throughput"],
                f" (untrusted: {'; '.join(level.untrusted)})" if level.untrusted else "",
            )
    return BenchmarkResult(levels=levels, duration=tracker.elapsed())


def _level_rate(plan: LevelPlan, sweep: dict[str, float], spec: BenchmarkSpec) -> float | None:
    """The plan's rate; for a sweep step, from the measured synchronous and throughput rates."""
    if plan.kind != "sweep":
        return plan.request_rate
    low = sweep.get(f"{plan.scenario.text}/synchronous")
    high = sweep.get(f"{plan.scenario.text}/throughput")
    if not low or not high or spec.sweep is None:
        return None
    return sweep_rates(low, high, spec.sweep.rates)[plan.sweep_step - 1]


def _width(plan: LevelPlan, rate: float | None, spec: BenchmarkSpec) -> int:
    """Connections to open before a level: its concurrency, cap, or expected need."""
    if plan.concurrency is not None:
        width = plan.concurrency
    elif rate is None or math.isinf(rate):
        width = spec.max_requests_per_iteration + spec.warmup_requests
    else:
        # An uncapped open loop needs about rate x latency connections; a second's worth
        # of arrivals (at least 8) covers engines answering within a second.
        width = max(8, math.ceil(rate))
    return min(width, WARM_LIMIT)


def _sample_errors(results: list[RequestResult], limit: int = 5) -> list[str]:
    seen: list[str] = []
    for r in results:
        if r.error and r.error not in seen:
            seen.append(r.error)
            if len(seen) >= limit:
                break
    return seen


class _Tracker:
    """Progress over the whole benchmark and live figures of the current level."""

    def __init__(
        self, total: int, num_runs: int, callback: Callable[[BenchmarkProgress], None] | None
    ) -> None:
        self.total = total
        self.num_runs = num_runs
        self.callback = callback
        self.started = time.monotonic()
        self.completed = 0
        self.failed = 0
        self.fraction = 0.0
        self._warned = False
        self.index = 0
        self.level: LevelResult | None = None
        self.run: LevelRun | None = None
        self._reset()

    def _reset(self) -> None:
        self.run_started = time.monotonic()
        self.run_done = 0
        self.run_ok = 0
        self.run_out = 0
        self.run_ttft = 0.0
        self.run_tpot = 0.0
        self.run_tpot_n = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def begin(self, index: int, level: LevelResult, run: LevelRun) -> None:
        self.index, self.level, self.run = index, level, run
        self._reset()
        self.emit()

    def end(self, index: int) -> None:
        self.fraction = max(self.fraction, (index + 1) / self.num_runs)
        self.emit(part=1.0)

    def skip(self, index: int) -> None:
        self.index = index
        self.end(index)

    def record(self, result: RequestResult) -> None:
        self.completed += 1
        self.run_done += 1
        if result.success:
            self.run_ok += 1
            self.run_out += result.output_tokens
            self.run_ttft += result.ttft
            if (tpot := result.tpot) is not None:
                self.run_tpot += tpot
                self.run_tpot_n += 1
        else:
            self.failed += 1
        self.emit()

    def emit(self, part: float | None = None) -> None:
        if self.callback is None:
            return
        run, level = self.run, self.level
        measured = run.measured_elapsed if run is not None else 0.0
        if part is None and run is not None:
            part = max(self.run_done / run.s.max_requests, measured / run.s.max_time)
        self.fraction = max(
            self.fraction, min(1.0, (self.index + min(part or 0.0, 1.0)) / self.num_runs)
        )
        rate_window = max(measured, 1e-9)
        progress = BenchmarkProgress(
            completed=self.completed,
            failed=self.failed,
            total=self.total,
            elapsed=self.elapsed(),
            fraction=self.fraction,
            scenario=level.scenario if level else "",
            concurrency=level.concurrency if level else None,
            run_index=self.index,
            num_runs=self.num_runs,
            request_throughput=self.run_ok / rate_window if self.run_done else None,
            output_throughput=self.run_out / rate_window if self.run_done else None,
            mean_ttft_ms=self.run_ttft / self.run_ok * 1000 if self.run_ok else None,
            mean_tpot_ms=self.run_tpot / self.run_tpot_n * 1000 if self.run_tpot_n else None,
            label=level.label if level else "",
            kind=level.kind if level else "",
            request_rate=level.request_rate if level else None,
        )
        try:
            self.callback(progress)
        except Exception:
            # A broken progress consumer must not fail the benchmark; say so once.
            if not self._warned:
                self._warned = True
                logger.exception("benchmark progress callback failed")
