"""Open-loop arrivals, level planning, rate levels, the cap, ramp-up and the sweep."""

from __future__ import annotations

import math
import random

import pytest

from autotuner.bench import BenchmarkProgress
from autotuner.bench.arrivals import arrival_times, coefficient_of_variation
from autotuner.bench.levels import plan_levels, sweep_rates
from autotuner.domain import BenchmarkSpec
from autotuner.domain.spec import SweepSpec
from autotuner.testing.stub import StubConfig
from tests.bench.stub_helpers import bench_stub, calm_reasons


def draws(rate: float, burstiness: float, n: int, seed: int = 7, ramp: float = 0.0) -> list[float]:
    gen = arrival_times(rate, burstiness, random.Random(seed), ramp_up=ramp)
    return [next(gen) for _ in range(n)]


def test_poisson_at_50_per_second_has_cv_1() -> None:
    times = draws(50, 1.0, 20_000)
    assert coefficient_of_variation(times) == pytest.approx(1.0, abs=0.05)
    mean_gap = times[-1] / (len(times) - 1)
    assert mean_gap == pytest.approx(1 / 50, rel=0.03)


@pytest.mark.parametrize("burstiness", [0.25, 4.0])
def test_burstiness_sets_the_cv_as_gamma_says(burstiness: float) -> None:
    times = draws(50, burstiness, 20_000)
    expected = 1 / math.sqrt(burstiness)
    assert coefficient_of_variation(times) == pytest.approx(expected, rel=0.06)
    # The mean gap stays 1/rate whatever the shape.
    assert times[-1] / (len(times) - 1) == pytest.approx(1 / 50, rel=0.06)


def test_arrivals_are_seeded_and_inf_is_all_at_once() -> None:
    assert draws(10, 1.0, 50, seed=1) == draws(10, 1.0, 50, seed=1)
    assert draws(10, 1.0, 50, seed=1) != draws(10, 1.0, 50, seed=2)
    assert draws(math.inf, 1.0, 5) == [0.0] * 5


def test_ramp_up_climbs_linearly() -> None:
    # Rate climbs 0 -> 100/s over 4 s: 200 arrivals expected in it, a quarter in its first half.
    times = draws(100, 1.0, 5_000, ramp=4.0)
    in_ramp = sum(t < 4.0 for t in times)
    first_half = sum(t < 2.0 for t in times)
    assert in_ramp == pytest.approx(200, rel=0.15)
    assert first_half == pytest.approx(50, rel=0.3)
    steady = [t for t in times if t >= 4.0]
    assert (len(steady) - 1) / (steady[-1] - steady[0]) == pytest.approx(100, rel=0.05)


def test_level_plan_order() -> None:
    def kinds(spec: BenchmarkSpec) -> list[tuple[str, str, int | None, float | None]]:
        return [(p.scenario.text, p.kind, p.concurrency, p.request_rate) for p in plan_levels(spec)]

    assert kinds(BenchmarkSpec(num_concurrency=[1, 4])) == [
        ("D(100,100)", "concurrency", 1, None),
        ("D(100,100)", "concurrency", 4, None),
    ]
    # A request_rate alone: no closed-loop level for the default num_concurrency.
    spec = BenchmarkSpec(request_rate=[2, "inf"], max_concurrency=8)
    assert kinds(spec) == [
        ("D(100,100)", "rate", 8, 2.0),
        ("D(100,100)", "rate", 8, math.inf),
    ]
    spec = BenchmarkSpec(
        traffic_scenarios=["D(1,1)", "D(2,2)"],
        num_concurrency=[2],
        request_rate=[5],
        sweep=SweepSpec(rates=2),
    )
    assert [k[:2] for k in kinds(spec)] == [
        (s, kind)
        for s in ("D(1,1)", "D(2,2)")
        for kind in ("concurrency", "rate", "synchronous", "throughput", "sweep", "sweep")
    ]
    assert [p.sweep_step for p in plan_levels(spec)][4:6] == [1, 2]


def test_sweep_rates_are_evenly_spaced_strictly_between() -> None:
    assert sweep_rates(2.0, 10.0, 3) == [4.0, 6.0, 8.0]
    assert sweep_rates(10.0, 2.0, 1) == [6.0]


async def test_rate_level_keeps_its_schedule_when_the_client_is_calm() -> None:
    result, _ = await bench_stub(
        StubConfig(ttft=0.005, itl=0.002),
        traffic_scenarios=["D(5,3)"],
        request_rate=[40],
        max_requests_per_iteration=40,
        max_time_per_iteration=30,
        additional_params={"seed": 5},
    )
    level = result.levels[0]
    assert (level.kind, level.request_rate, level.concurrency) == ("rate", 40.0, None)
    assert level.label == "D(5,3) @ 40 req/s"
    assert level.metrics["completed"] == 40
    client = level.client
    assert client["asked_rate"] == 40 and client["cap_bound"] is False
    assert client["achieved_rate"] == pytest.approx(client["scheduled_rate"], rel=0.1)
    assert await calm_reasons(level.untrusted) == []


async def test_max_concurrency_caps_requests_in_flight() -> None:
    result, stub = await bench_stub(
        StubConfig(ttft=0.03),
        record=True,
        traffic_scenarios=["D(5,2)"],
        request_rate=["inf"],
        max_concurrency=3,
        max_requests_per_iteration=12,
    )
    level = result.levels[0]
    assert level.metrics["completed"] == 12 and level.request_rate == math.inf
    assert level.client["cap_bound"] is True
    events = sorted(
        [(r.received, 1) for r in stub.stats.records]
        + [(r.last_token or 0.0, -1) for r in stub.stats.records]
    )
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    assert most == 3
    assert result.to_dict()["levels"][0]["request_rate"] == "inf"


async def test_ramp_up_requests_are_not_measured() -> None:
    result, stub = await bench_stub(
        StubConfig(ttft=0.02),
        traffic_scenarios=["D(5,2)"],
        num_concurrency=[4],
        ramp_up_time=0.3,
        max_requests_per_iteration=10,
    )
    level = result.levels[0]
    ramp = level.client["ramp_up_requests"]
    assert ramp > 0
    assert stub.stats.requests == 10 + ramp and level.metrics["total_requests"] == 10


async def test_sweep_runs_synchronous_throughput_then_rates_between() -> None:
    seen: list[BenchmarkProgress] = []
    from autotuner.bench import run_benchmark
    from autotuner.testing.stub import StubServer

    spec = BenchmarkSpec(
        traffic_scenarios=["D(5,2)"],
        sweep=SweepSpec(rates=2),
        max_concurrency=4,
        max_requests_per_iteration=8,
    )
    async with StubServer(StubConfig(ttft=0.02)) as stub:
        result = await run_benchmark(stub.url, "stub-model", spec, on_progress=seen.append)
    kinds = [lv.kind for lv in result.levels]
    assert kinds == ["synchronous", "throughput", "sweep", "sweep"]
    sync, thr = (lv.metrics["request_throughput"] for lv in result.levels[:2])
    assert thr > sync
    rates = [lv.request_rate for lv in result.levels[2:]]
    assert rates == pytest.approx(sweep_rates(sync, thr, 2))
    assert all(lv.metrics["completed"] == 8 for lv in result.levels)
    # Progress names the level, never goes back and ends at 1.
    assert [p.fraction for p in seen] == sorted(p.fraction for p in seen)
    assert seen[-1].fraction == 1.0 and seen[-1].kind == "sweep"
    assert {p.kind for p in seen} == set(kinds)
    assert seen[-1].request_rate == pytest.approx(rates[-1])
    assert seen[-1].label == result.levels[-1].label
    throughput = next(p for p in seen if p.kind == "throughput")
    assert throughput.to_dict()["request_rate"] == "inf"
