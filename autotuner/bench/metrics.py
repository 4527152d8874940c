"""Benchmark metrics with the definitions of ``vllm bench serve``.

Per request: TTFT (request sent -> first token), ITLs (gaps between
successive token chunks), end-to-end latency (E2EL), TPOT = (E2EL - TTFT) /
(output tokens - 1) for requests with more than one output token.

Per run (one scenario x concurrency), in :func:`run_metrics`:

* ``completed``, ``failed``, ``aborted``, ``total_requests``, ``error_rate``, ``duration`` (s):
  ``aborted`` requests were still running when the level's time limit (and its
  grace) ran out and were cut off by the load generator, as GuideLLM's
  "incomplete" requests: they are neither completed nor failed, and
  ``error_rate`` is ``failed / (total_requests - aborted)``, the share of the
  requests that ended which ended in an error
* ``total_input_tokens``, ``total_output_tokens`` (successful requests only)
* ``request_throughput`` (req/s), ``output_throughput`` and
  ``total_token_throughput`` (tok/s), ``request_goodput`` (req/s meeting
  every goodput threshold; ``None`` without thresholds)
* for ``ttft``, ``tpot``, ``itl``, ``e2el``: ``mean_X_ms``, ``median_X_ms``,
  ``std_X_ms``, ``p50_X_ms``, ``p90_X_ms``, ``p95_X_ms``, ``p99_X_ms``
  (``None`` when no request completed)

Percentiles follow :func:`autotuner.stats.percentile` (numpy's linear rule, as
``vllm bench serve``).

:func:`pool` combines levels: every figure is computed again over the pooled
requests of those levels (never averaged), with ``duration`` the sum of their
durations, so throughputs are the pooled requests over the time spent on them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from autotuner.stats import percentile

LATENCY_METRICS = ("ttft", "tpot", "itl", "e2el")
PERCENTILES = (50, 90, 95, 99)
TOTAL_KEYS = (
    "completed",
    "failed",
    "aborted",
    "total_requests",
    "total_input_tokens",
    "total_output_tokens",
    "duration",
)


@dataclass
class RequestResult:
    """One request as the client saw it (times in seconds)."""

    success: bool = False
    error: str | None = None
    prompt_tokens: int = 0
    output_tokens: int = 0
    ttft: float = 0.0
    e2el: float = 0.0
    itls: list[float] = field(default_factory=list)
    start: float = 0.0
    aborted: bool = False
    """Cut off by the load generator at the level's time limit (not an engine error)."""

    @property
    def tpot(self) -> float | None:
        if not self.success or self.output_tokens < 2:
            return None
        return (self.e2el - self.ttft) / (self.output_tokens - 1)


def describe(values_s: Iterable[float], name: str) -> dict[str, float | None]:
    """mean/median/std/p50/p90/p95/p99 of ``values_s`` (seconds) as ``*_{name}_ms``."""
    values = sorted(v * 1000.0 for v in values_s)
    keys = ["mean", "median", "std", *(f"p{p}" for p in PERCENTILES)]
    if not values:
        return {f"{k}_{name}_ms": None for k in keys}
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    out: dict[str, float | None] = {
        f"mean_{name}_ms": mean,
        f"median_{name}_ms": percentile(values, 50),
        f"std_{name}_ms": std,
    }
    for p in PERCENTILES:
        out[f"p{p}_{name}_ms"] = percentile(values, p)
    return out


def meets_goodput(result: RequestResult, thresholds_ms: dict[str, float]) -> bool:
    """Whether a successful request is within every threshold (``ttft``/``tpot``/``e2el`` ms)."""
    if not result.success:
        return False
    values = {"ttft": result.ttft, "e2el": result.e2el, "tpot": result.tpot}
    for key, limit in thresholds_ms.items():
        value = values.get(key)
        if value is not None and value * 1000.0 > limit:
            return False
    return True


def run_metrics(
    results: Sequence[RequestResult],
    duration: float,
    goodput_ms: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Metrics of one run; ``duration`` is the wall time from first request to last answer."""
    ok = [r for r in results if r.success]
    aborted = sum(1 for r in results if r.aborted and not r.success)
    failed = len(results) - len(ok) - aborted
    ended = len(results) - aborted
    duration = max(duration, 1e-9)
    total_in = sum(r.prompt_tokens for r in ok)
    total_out = sum(r.output_tokens for r in ok)
    out: dict[str, Any] = {
        "completed": len(ok),
        "failed": failed,
        "total_requests": len(results),
        "aborted": aborted,
        "error_rate": failed / ended if ended else 0.0,
        "duration": duration,
        "total_input_tokens": total_in,
        "total_output_tokens": total_out,
        "request_throughput": len(ok) / duration,
        "request_goodput": (
            sum(meets_goodput(r, goodput_ms) for r in ok) / duration if goodput_ms else None
        ),
        "output_throughput": total_out / duration,
        "total_token_throughput": (total_in + total_out) / duration,
    }
    out.update(describe((r.ttft for r in ok), "ttft"))
    out.update(describe((t for r in ok if (t := r.tpot) is not None), "tpot"))
    out.update(describe((itl for r in ok for itl in r.itls), "itl"))
    out.update(describe((r.e2el for r in ok), "e2el"))
    return out


@dataclass
class LevelResult:
    """One load level: a traffic scenario at one concurrency or request rate.

    ``results`` holds the measured requests only (warm-up excluded). ``metrics``
    is :func:`run_metrics` of them. ``client`` holds what the load generator
    saw of itself (CPU, event-loop lag, achieved vs asked load); a non-empty
    ``untrusted`` lists why the figures of this level cannot be trusted.
    """

    scenario: str
    kind: str
    """``"concurrency"`` (closed loop), ``"rate"`` (open loop) or a sweep step name."""
    concurrency: int | None
    """Closed-loop workers, or the ``max_concurrency`` cap of an open-loop level."""
    request_rate: float | None
    """Requests/s asked for (``math.inf``: as fast as possible); ``None`` for closed loop."""
    results: list[RequestResult]
    duration: float
    metrics: dict[str, Any] = field(default_factory=dict)
    client: dict[str, Any] = field(default_factory=dict)
    untrusted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``D(100,100) @ c=8`` or ``D(100,100) @ 4 req/s``."""
        if self.request_rate is None:
            return f"{self.scenario} @ c={self.concurrency}"
        rate = "inf" if math.isinf(self.request_rate) else f"{self.request_rate:g}"
        return f"{self.scenario} @ {rate} req/s"

    def to_dict(self) -> dict[str, Any]:
        """The stored form: the flat metrics plus what identifies the level."""
        rate = self.request_rate
        return {
            "scenario": self.scenario,
            "kind": self.kind,
            "concurrency": self.concurrency,
            "request_rate": "inf" if rate is not None and math.isinf(rate) else rate,
            "label": self.label,
            **self.metrics,
            "client": dict(self.client),
            "untrusted": bool(self.untrusted),
            "untrusted_reasons": list(self.untrusted),
            "errors": list(self.errors),
        }


def pool(
    levels: Sequence[LevelResult], goodput_ms: dict[str, float] | None = None
) -> dict[str, Any]:
    """Metrics over the pooled requests of ``levels`` (never an average of averages)."""
    results = [r for level in levels for r in level.results]
    out = run_metrics(results, sum(level.duration for level in levels), goodput_ms)
    out["num_levels"] = len(levels)
    return out
