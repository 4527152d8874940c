"""Metric definitions of ``vllm bench serve``, checked against a stub of known timing.

Timings are generous (100 ms TTFT, 30 ms between tokens) so that a loaded
machine still measures them. The true figures are what the stub recorded it
did (its timers fire up to about a millisecond late, so the nominal figures
hold within 5 ms); the client's medians and means must be within 2 ms of
the true ones.
"""

from __future__ import annotations

import statistics

import pytest

from autotuner.testing.stub import StubConfig, StubServer
from tests.bench.stub_helpers import bench_stub

TTFT, ITL, TOKENS = 0.100, 0.030, 5
TOLERANCE_MS = 2.0


def close(measured_ms: float, true_s: float, tolerance_ms: float = 5.0) -> bool:
    return abs(measured_ms - true_s * 1000) <= tolerance_ms


def true_figures(stub: StubServer) -> dict[str, float]:
    """Median TTFT and E2EL, mean TPOT (s) of what the stub actually wrote."""
    recs = [r for r in stub.stats.records if r.first_token and r.last_token]
    assert recs
    return {
        "ttft": statistics.median(r.first_token - r.received for r in recs),  # type: ignore[operator]
        "e2el": statistics.median(r.last_token - r.received for r in recs),  # type: ignore[operator]
        "tpot": statistics.mean(
            (r.last_token - r.first_token) / (r.tokens - 1)  # type: ignore[operator]
            for r in recs
        ),
    }


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
async def test_each_metric_within_2_ms_and_the_usage_gap_does_not_count(endpoint: str) -> None:
    # A 50 ms gap before the usage chunk and [DONE]: E2EL ends at the last token chunk.
    config = StubConfig(ttft=TTFT, itl=ITL, usage_gap=0.050)
    result, stub = await bench_stub(
        config,
        record=True,
        traffic_scenarios=[f"D(10,{TOKENS})"],
        num_concurrency=[4],
        max_requests_per_iteration=12,
        additional_params={"endpoint": endpoint},
    )
    m = result.levels[0].metrics
    assert m["completed"] == 12 and m["failed"] == 0
    assert m["total_output_tokens"] == 12 * TOKENS
    assert close(m["median_ttft_ms"], TTFT), m["median_ttft_ms"]
    assert close(m["mean_ttft_ms"], TTFT), m["mean_ttft_ms"]
    assert close(m["median_itl_ms"], ITL), m["median_itl_ms"]
    assert close(m["mean_tpot_ms"], ITL), m["mean_tpot_ms"]
    assert close(m["median_e2el_ms"], TTFT + (TOKENS - 1) * ITL), m["median_e2el_ms"]
    true = true_figures(stub)
    assert close(m["median_ttft_ms"], true["ttft"], TOLERANCE_MS), (m["median_ttft_ms"], true)
    assert close(m["median_e2el_ms"], true["e2el"], TOLERANCE_MS), (m["median_e2el_ms"], true)
    assert close(m["mean_tpot_ms"], true["tpot"], TOLERANCE_MS), (m["mean_tpot_ms"], true)
    # One token per chunk: the mean ITL is the mean TPOT.
    assert close(m["mean_itl_ms"], true["tpot"], TOLERANCE_MS), (m["mean_itl_ms"], true)


async def test_without_a_gap_the_figures_are_the_same() -> None:
    config = StubConfig(ttft=TTFT, itl=ITL, usage_gap=0.0)
    result, stub = await bench_stub(
        config,
        record=True,
        traffic_scenarios=[f"D(10,{TOKENS})"],
        num_concurrency=[2],
        max_requests_per_iteration=6,
    )
    m, true = result.levels[0].metrics, true_figures(stub)
    assert close(m["median_e2el_ms"], true["e2el"], TOLERANCE_MS)
    assert close(m["mean_tpot_ms"], true["tpot"], TOLERANCE_MS)


async def test_an_empty_first_chunk_is_not_the_first_token() -> None:
    config = StubConfig(ttft=TTFT, itl=ITL, empty_first_chunk=True)
    result, stub = await bench_stub(
        config,
        record=True,
        traffic_scenarios=["D(10,3)"],
        num_concurrency=[4],
        # A median over 12 requests, as the test above: 4 let one late wake-up of a
        # loaded machine decide it.
        max_requests_per_iteration=12,
        additional_params={"endpoint": "chat"},
    )
    m = result.levels[0].metrics
    true = true_figures(stub)
    assert close(m["median_ttft_ms"], true["ttft"], TOLERANCE_MS), (m["median_ttft_ms"], true)
    assert m["total_output_tokens"] == 12 * 3


async def test_warmup_requests_are_sent_first_and_left_out() -> None:
    result, stub = await bench_stub(
        StubConfig(ttft=0.01),
        traffic_scenarios=["D(5,2)"],
        num_concurrency=[1],
        warmup_requests=3,
        max_requests_per_iteration=5,
    )
    level = result.levels[0]
    assert stub.stats.requests == 8
    assert level.metrics["total_requests"] == 5 and len(level.results) == 5
    assert level.client["warmup_requests"] == 3
    assert result.summary["total_requests"] == 5


async def test_connect_time_is_not_inside_the_first_ttft() -> None:
    # Every new connection's first request is read 300 ms late; warmed ones are not.
    config = StubConfig(ttft=0.05, connect_delay=0.3)
    result, stub = await bench_stub(
        config, traffic_scenarios=["D(5,2)"], num_concurrency=[4], max_requests_per_iteration=8
    )
    level = result.levels[0]
    ttfts = [r.ttft for r in level.results]
    assert len(ttfts) == 8 and max(ttfts) < 0.05 + 0.1, ttfts
    assert level.client["connections_warmed"] == 4
    assert stub.stats.connections == 4


async def test_server_errors_are_failures_with_their_message() -> None:
    result, _ = await bench_stub(
        StubConfig(error_rate=0.5, seed=3),
        traffic_scenarios=["D(5,2)"],
        num_concurrency=[2],
        max_requests_per_iteration=20,
    )
    m = result.levels[0].metrics
    assert 0 < m["failed"] < 20 and m["completed"] + m["failed"] == 20
    assert m["error_rate"] == m["failed"] / 20
    assert result.levels[0].errors == ["HTTP 500: stub: injected error"]
