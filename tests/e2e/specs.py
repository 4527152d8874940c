"""Task specs for the end-to-end tests: small sim tasks that finish in seconds."""

from __future__ import annotations

from typing import Any


def sim_spec(name: str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "task_name": name,
        "description": "end-to-end test on the simulator",
        "deployment_mode": "sim",
        "base_runtime": "vllm",
        "model": {"id_or_path": "sim-test"},
        "parameters": {"max-num-seqs": [4, 16], "gpu-memory-utilization": [0.9]},
        "optimization": {
            "strategy": "grid_search",
            "objective": "maximize_throughput",
            "max_iterations": 10,
            "timeout_per_iteration": 60,
        },
        "benchmark": {
            "traffic_scenarios": ["D(32,32)"],
            "num_concurrency": [4],
            "max_time_per_iteration": 3,
            "max_requests_per_iteration": 16,
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return spec
