"""The simulator's speed follows its flags as a tuner expects, measured by the real benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autotuner.bench import run_benchmark
from autotuner.domain import BenchmarkSpec
from autotuner.runtimes import DeployRequest, SimRuntime


async def _measure(
    tmp_path: Path, parameters: dict[str, Any], engine: str = "vllm"
) -> dict[str, Any]:
    request = DeployRequest(
        task_name="perf",
        experiment_id=1,
        base_runtime=engine,
        model="sim-perf-1B",
        parameters={**parameters, "sim-time-scale": 0.25},
        log_dir=tmp_path,
        timeout=30,
    )
    deployment = await SimRuntime().deploy(request)
    try:
        spec = BenchmarkSpec(
            traffic_scenarios=["D(32,32)"],
            num_concurrency=[16],
            max_requests_per_iteration=32,
            max_time_per_iteration=20,
        )
        result = await run_benchmark(deployment.base_url, deployment.model_name, spec)
        return result.summary
    finally:
        await deployment.stop()


async def test_more_running_sequences_give_more_throughput_and_higher_tpot(
    tmp_path: Path,
) -> None:
    narrow = await _measure(tmp_path, {"max-num-seqs": 2})
    # The same knob under SGLang's name, on the simulator imitating SGLang.
    wide = await _measure(tmp_path, {"max-running-requests": 16}, engine="sglang")
    assert narrow["completed"] == wide["completed"] == 32
    assert wide["output_throughput"] > 2.5 * narrow["output_throughput"]
    # Queueing behind two slots shows in the time to first token ...
    assert narrow["mean_ttft_ms"] > 3 * wide["mean_ttft_ms"]
    # ... and a bigger batch makes each decode step slower.
    assert wide["mean_tpot_ms"] > narrow["mean_tpot_ms"]
