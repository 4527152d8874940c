"""Which load levels a benchmark runs, in which order.

For each traffic scenario, in spec order:

1. closed-loop levels (kind ``"concurrency"``), one per ``num_concurrency``
   value, when neither ``request_rate`` nor ``sweep`` is given or when
   ``num_concurrency`` was written in the spec;
2. open-loop levels (kind ``"rate"``), one per ``request_rate`` value,
   capped by ``max_concurrency``;
3. with ``sweep``, as GuideLLM sweeps: a ``"synchronous"`` level (one request
   at a time), a ``"throughput"`` level (rate ``inf``, capped by
   ``max_concurrency`` if set), then ``sweep.rates`` levels of kind
   ``"sweep"`` at rates evenly spaced strictly between the request throughput
   the synchronous and the throughput levels measured (:func:`sweep_rates`).

Every level measures at most ``max_requests_per_iteration`` requests for at
most ``max_time_per_iteration`` seconds (both per level).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from autotuner.bench.scenarios import Scenario, parse_scenario
from autotuner.domain import BenchmarkSpec

__all__ = ["LevelPlan", "plan_levels", "sweep_rates"]


@dataclass(frozen=True)
class LevelPlan:
    """One planned level; a ``"sweep"`` plan's rate is filled in once the sweep has measured."""

    scenario: Scenario
    kind: str
    concurrency: int | None
    """Closed-loop workers, or the open-loop cap (``None``: no cap)."""
    request_rate: float | None
    """Requests/s (``math.inf``: all at once); ``None``: closed loop."""
    sweep_step: int = 0
    """For ``"sweep"``: 1..N, the step between the synchronous and the throughput rate."""

    @property
    def open_loop(self) -> bool:
        return self.request_rate is not None or self.kind == "sweep"


def plan_levels(spec: BenchmarkSpec) -> list[LevelPlan]:
    """Every level of ``spec``, in run order (see the module docstring)."""
    closed = (spec.request_rate is None and spec.sweep is None) or (
        "num_concurrency" in spec.model_fields_set
    )
    cap = spec.max_concurrency
    plans: list[LevelPlan] = []
    for text in spec.traffic_scenarios:
        scenario = parse_scenario(text)
        if closed:
            plans += [LevelPlan(scenario, "concurrency", c, None) for c in spec.num_concurrency]
        for rate in spec.request_rate or []:
            value = math.inf if rate == "inf" else float(rate)
            plans.append(LevelPlan(scenario, "rate", cap, value))
        if spec.sweep is not None:
            plans.append(LevelPlan(scenario, "synchronous", 1, None))
            plans.append(LevelPlan(scenario, "throughput", cap, math.inf))
            plans += [
                LevelPlan(scenario, "sweep", cap, None, sweep_step=i + 1)
                for i in range(spec.sweep.rates)
            ]
    return plans


def sweep_rates(synchronous: float, throughput: float, n: int) -> list[float]:
    """``n`` rates evenly spaced strictly between the two measured request rates (req/s)."""
    low, high = sorted((synchronous, throughput))
    step = (high - low) / (n + 1)
    return [low + step * (i + 1) for i in range(n)]
