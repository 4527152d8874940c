"""Benchmark: a streaming OpenAI-compatible load generator with ``vllm bench serve`` metrics.

Bench knows no runtime: it is given a base URL and a model name.
"""

from __future__ import annotations

from autotuner.bench.loadgen import (
    BenchmarkProgress,
    BenchmarkResult,
    goodput_from_slo,
    run_benchmark,
)
from autotuner.bench.metrics import (
    LATENCY_METRICS,
    LevelResult,
    RequestResult,
    pool,
    run_metrics,
)
from autotuner.bench.scenarios import Scenario, parse_scenario, synthetic_prompt

__all__ = [
    "LATENCY_METRICS",
    "BenchmarkProgress",
    "BenchmarkResult",
    "LevelResult",
    "RequestResult",
    "Scenario",
    "goodput_from_slo",
    "parse_scenario",
    "pool",
    "run_benchmark",
    "run_metrics",
    "synthetic_prompt",
]
