"""Running the load generator against the stub server of known timing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from autotuner.bench import BenchmarkResult, run_benchmark
from autotuner.bench.saturation import LAG_P99_LIMIT_MS, TICK
from autotuner.domain import BenchmarkSpec
from autotuner.stats import percentile
from autotuner.testing.stub import StubConfig, StubServer


async def bench_stub(
    config: StubConfig, record: bool = False, **spec: Any
) -> tuple[BenchmarkResult, StubServer]:
    """Run a benchmark of ``spec`` against a fresh stub; the stub is stopped on return."""
    async with StubServer(config, record=record) as stub:
        result = await run_benchmark(stub.url, config.model, BenchmarkSpec(**spec))
    return result, stub


async def idle_lag_p99_ms(samples: int = 200) -> float:
    """The p99 lag of an idle event loop here: what the machine itself adds."""
    lags = []
    for _ in range(samples):
        before = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append((time.perf_counter() - before - TICK) * 1000)
    return percentile(sorted(lags), 99)


async def calm_reasons(reasons: list[str]) -> list[str]:
    """``reasons`` of a level that should be calm, less the loop-lag one when the machine
    itself lags that much (other work on a shared machine, not the load generator)."""
    lag = [r for r in reasons if "event loop lagged" in r]
    if lag and await idle_lag_p99_ms() > LAG_P99_LIMIT_MS * 0.6:
        return [r for r in reasons if r not in lag]
    return reasons
