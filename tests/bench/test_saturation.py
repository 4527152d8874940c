"""The load generator says when it was the bottleneck, and only then."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from autotuner.bench import run_benchmark
from autotuner.bench.saturation import untrusted_reasons
from autotuner.domain import BenchmarkSpec
from autotuner.testing.stub import StubConfig, StubServer
from tests.bench.stub_helpers import bench_stub, calm_reasons


def test_each_rule_names_its_figures() -> None:
    calm = {
        "cpu_percent": 30.0,
        "loop_lag_p99_ms": 1.0,
        "asked_concurrency": 8,
        "achieved_concurrency": 7.9,
    }
    assert untrusted_reasons(calm) == []
    assert untrusted_reasons({**calm, "cpu_percent": 97.0}) == [
        "the load generator's event loop used 97 % of a core (>= 90 %): "
        "it was saturated, its latencies include its own queueing"
    ]
    assert "lagged 12.5 ms at p99" in untrusted_reasons({**calm, "loop_lag_p99_ms": 12.5})[0]
    assert (
        "4.0 requests in flight on average of the 8 asked"
        in untrusted_reasons({**calm, "achieved_concurrency": 4.0})[0]
    )
    rate = {"asked_rate": 100.0, "scheduled_rate": 101.0, "achieved_rate": 60.0}
    assert (
        "sent 60.0 requests/s of the 101.0 scheduled"
        in untrusted_reasons({**rate, "cap_bound": False})[0]
    )
    # Held back by max_concurrency: the engine's doing, not the generator's.
    assert untrusted_reasons({**rate, "cap_bound": True}) == []
    late = untrusted_reasons({"asked_rate": 10.0, "send_late_mean_ms": 8.0})
    assert late == [
        "requests were sent 8.0 ms late on average (> 5 ms): the arrival schedule was not kept"
    ]


@contextlib.asynccontextmanager
async def cpu_burner(slice_s: float = 0.015) -> AsyncIterator[None]:
    """A task in the same loop that keeps it busy: runs ``slice_s`` at a time, yields, again."""

    async def burn() -> None:
        while True:
            until = time.perf_counter() + slice_s
            while time.perf_counter() < until:
                pass
            await asyncio.sleep(0)

    task = asyncio.create_task(burn())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_saturated_client_flags_its_level() -> None:
    # Many streams of instant tokens from a stub in the same loop, plus a CPU burner.
    spec = BenchmarkSpec(
        traffic_scenarios=["D(5,100)"],
        num_concurrency=[32],
        max_requests_per_iteration=200,
        max_time_per_iteration=5,
    )
    async with StubServer(StubConfig()) as stub, cpu_burner():
        result = await run_benchmark(stub.url, "stub-model", spec)
    level = result.levels[0]
    assert level.untrusted, level.client
    assert any("event loop lagged" in r for r in level.untrusted)
    assert level.client["loop_lag_p99_ms"] > 10
    stored = level.to_dict()
    assert stored["untrusted"] is True and stored["untrusted_reasons"] == level.untrusted


async def test_a_calm_level_is_not_flagged() -> None:
    result, _ = await bench_stub(
        StubConfig(ttft=0.02, itl=0.01),
        traffic_scenarios=["D(5,5)"],
        num_concurrency=[2],
        max_requests_per_iteration=10,
    )
    level = result.levels[0]
    assert level.client["cpu_percent"] < 50
    assert level.client["achieved_concurrency"] > 1.8
    assert await calm_reasons(level.untrusted) == []
