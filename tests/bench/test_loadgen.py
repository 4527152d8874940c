"""The load generator against a real simulator process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from autotuner.bench import BenchmarkProgress, goodput_from_slo, run_benchmark
from autotuner.domain import BenchmarkSpec, SLOSpec
from tests.sim.server import sim_server

MODEL = "sim-bench-1B"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with sim_server("--max-num-seqs", "8", "--max-model-len", "256", model=MODEL) as base:
        yield base


async def test_metrics_are_consistent(url: str) -> None:
    spec = BenchmarkSpec(
        traffic_scenarios=["D(20,16)", "U(5,30)/(4,12)"],
        num_concurrency=[1, 4],
        max_requests_per_iteration=8,
        max_time_per_iteration=20,
    )
    seen: list[BenchmarkProgress] = []
    result = await run_benchmark(url, MODEL, spec, on_progress=seen.append)
    assert [(r["scenario"], r["concurrency"]) for r in result.to_dict()["levels"]] == [
        ("D(20,16)", 1),
        ("D(20,16)", 4),
        ("U(5,30)/(4,12)", 1),
        ("U(5,30)/(4,12)", 4),
    ]
    for run in result.to_dict()["levels"]:
        assert run["completed"] == 8 and run["failed"] == 0 and run["errors"] == []
        assert 0 < run["mean_ttft_ms"] < run["mean_e2el_ms"]
        assert run["p99_ttft_ms"] <= run["p99_e2el_ms"]
        for name in ("ttft", "tpot", "itl", "e2el"):
            ps = [run[f"p{p}_{name}_ms"] for p in (50, 90, 95, 99)]
            assert ps == sorted(ps) and ps[0] > 0
        assert run["output_throughput"] > run["request_throughput"] > 0
    deterministic = result.to_dict()["levels"][:2]
    assert all(r["total_output_tokens"] == 8 * 16 for r in deterministic)
    assert all(r["total_input_tokens"] == 8 * 20 for r in deterministic)
    s = result.summary
    assert s["completed"] == 32 and s["error_rate"] == 0.0 and s["num_levels"] == 4
    assert s["request_goodput"] is None
    # Progress: after every request, monotonic, ending at 100 %.
    assert len(seen) >= 32
    assert [p.completed for p in seen] == sorted(p.completed for p in seen)
    assert [p.fraction for p in seen] == sorted(p.fraction for p in seen)
    assert seen[-1].completed == 32 and seen[-1].fraction == 1.0 and seen[-1].total == 32
    assert result.to_dict()["summary"] == s


async def test_chat_endpoint_and_goodput_from_slo(url: str) -> None:
    spec = BenchmarkSpec(
        traffic_scenarios=["D(10,8)"],
        num_concurrency=[2],
        max_requests_per_iteration=4,
        additional_params={"endpoint": "chat"},
    )
    slo = SLOSpec.model_validate({"ttft": {"threshold": 10}, "latency": {"p90": {"threshold": 10}}})
    assert goodput_from_slo(slo) == {"ttft": 10_000, "e2el": 10_000}
    result = await run_benchmark(url, MODEL, spec, slo=slo)
    run = result.to_dict()["levels"][0]
    assert run["completed"] == 4 and run["total_output_tokens"] == 32
    assert run["request_goodput"] == pytest.approx(run["request_throughput"])


async def test_failed_requests_are_counted_with_their_error(url: str) -> None:
    spec = BenchmarkSpec(
        traffic_scenarios=["D(300,10)"], num_concurrency=[2], max_requests_per_iteration=3
    )
    result = await run_benchmark(url, MODEL, spec)
    run = result.to_dict()["levels"][0]
    assert run["completed"] == 0 and run["failed"] == 3 and run["error_rate"] == 1.0
    assert "maximum context length" in run["errors"][0]
    assert result.summary["mean_e2el_ms"] is None


async def test_time_limit_ends_a_run_early(url: str) -> None:
    spec = BenchmarkSpec(
        traffic_scenarios=["D(10,40)"],
        num_concurrency=[2],
        max_requests_per_iteration=1000,
        max_time_per_iteration=0.5,
    )
    started = time.monotonic()
    result = await run_benchmark(url, MODEL, spec)
    assert time.monotonic() - started < 3
    run = result.to_dict()["levels"][0]
    assert 0 < run["completed"] < 1000 and run["failed"] == 0


async def test_cancellation_stops_promptly_and_closes_connections(url: str) -> None:
    spec = BenchmarkSpec(
        traffic_scenarios=["D(10,200)"],
        num_concurrency=[6],
        max_requests_per_iteration=1000,
        max_time_per_iteration=60,
    )
    task = asyncio.create_task(run_benchmark(url, MODEL, spec))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1.0
    # The engine sees the connections go and frees its slots.
    async with httpx.AsyncClient() as client:
        for _ in range(50):
            stats = (await client.get(url + "/sim/info")).json()["scheduler"]
            if stats["running"] == 0 and stats["waiting"] == 0:
                break
            await asyncio.sleep(0.05)
    assert stats["running"] == 0 and stats["waiting"] == 0
