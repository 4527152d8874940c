from __future__ import annotations

import numpy as np
import pytest

from autotuner.bench import LevelResult, RequestResult, pool, run_metrics
from autotuner.stats import percentile


def _ok(ttft: float, e2el: float, out: int, prompt: int = 10) -> RequestResult:
    step = (e2el - ttft) / (out - 1)
    return RequestResult(
        success=True,
        prompt_tokens=prompt,
        output_tokens=out,
        ttft=ttft,
        e2el=e2el,
        itls=[step] * (out - 1),
    )


def test_percentile_interpolates_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 90) == pytest.approx(3.7)
    assert percentile([5.0], 99) == 5.0


def test_run_metrics_follow_vllm_bench_definitions() -> None:
    results = [
        _ok(0.1, 1.1, 11),  # tpot 0.1 s
        _ok(0.3, 0.7, 5),  # tpot 0.1 s
        RequestResult(success=False, error="HTTP 500: boom", prompt_tokens=10),
    ]
    m = run_metrics(results, duration=2.0, goodput_ms={"ttft": 200})
    assert (m["completed"], m["failed"], m["total_requests"]) == (2, 1, 3)
    assert m["error_rate"] == pytest.approx(1 / 3)
    assert m["total_input_tokens"] == 20 and m["total_output_tokens"] == 16
    assert m["request_throughput"] == 1.0
    assert m["output_throughput"] == 8.0
    assert m["total_token_throughput"] == 18.0
    assert m["request_goodput"] == 0.5  # only the first request has TTFT <= 200 ms
    assert m["mean_ttft_ms"] == pytest.approx(200)
    assert m["median_ttft_ms"] == pytest.approx(200)
    assert m["std_ttft_ms"] == pytest.approx(100)
    assert m["mean_tpot_ms"] == pytest.approx(100)
    assert m["mean_itl_ms"] == pytest.approx(100)
    assert m["mean_e2el_ms"] == pytest.approx(900)
    assert m["p99_e2el_ms"] == pytest.approx(700 + 400 * 0.99)
    for name in ("ttft", "tpot", "itl", "e2el"):
        ps = [m[f"p{p}_{name}_ms"] for p in (50, 90, 95, 99)]
        assert ps == sorted(ps)


def test_single_token_requests_have_no_tpot_and_empty_runs_have_no_latency() -> None:
    m = run_metrics([RequestResult(success=True, output_tokens=1, ttft=0.1, e2el=0.1)], 1.0)
    assert m["mean_tpot_ms"] is None and m["request_goodput"] is None
    empty = run_metrics([RequestResult(error="x")], 1.0)
    assert empty["completed"] == 0 and empty["error_rate"] == 1.0
    assert empty["mean_e2el_ms"] is None


def test_pool_recomputes_every_figure_over_the_pooled_requests() -> None:
    # Two levels of 100 requests at 1 s and 10 s: the pooled p99 is 10 s, not
    # the 5.5 s an average of the two levels' p99 would give.
    fast = LevelResult("D(1,1)", "concurrency", 1, None, [_ok(0.1, 1.0, 11)] * 100, 100.0)
    slow = LevelResult("D(1,1)", "concurrency", 4, None, [_ok(0.3, 10.0, 11)] * 100, 250.0)
    s = pool([fast, slow])
    assert s["completed"] == 200 and s["total_output_tokens"] == 2200
    assert s["duration"] == 350.0 and s["num_levels"] == 2
    assert s["p99_e2el_ms"] == pytest.approx(10_000)
    assert s["mean_e2el_ms"] == pytest.approx(5_500)
    assert s["request_throughput"] == pytest.approx(200 / 350)
    samples = [r.e2el * 1000 for r in fast.results + slow.results]
    for p in (50, 90, 95, 99):
        assert s[f"p{p}_e2el_ms"] == pytest.approx(float(np.percentile(samples, p)))


def test_requests_cut_off_at_the_time_limit_are_aborted_not_failed() -> None:
    cut = RequestResult(error="aborted: iteration time limit reached", aborted=True, e2el=9.0)
    broken = RequestResult(error="HTTP 500: boom", e2el=0.1)
    m = run_metrics([_ok(0.1, 1.0, 11)] * 3 + [cut, broken], 10.0)
    assert (m["completed"], m["failed"], m["aborted"], m["total_requests"]) == (3, 1, 1, 5)
    assert m["error_rate"] == pytest.approx(1 / 4)  # of the requests that ended
    assert m["mean_e2el_ms"] == pytest.approx(1000)  # only completed requests count
