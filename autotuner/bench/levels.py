"""Which load levels a benchmark runs, in which order.

For each traffic scenario, in spec order:

1. closed-loop levels (kind ``"concurrency"``), one per ``num_concurrency``
   value (validation empties ``num_concurrency`` when ``request_rate`` or
   ``sweep`` is given and ``num_concurrency`` was not written);
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
from autotuner.domain import plan_levels as domain_plan

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
    """Every level of ``spec``, in run order: :func:`autotuner.domain.plan_levels`
    (the one place the rule lives) with parsed scenarios and the sweep's steps."""
    plans: list[LevelPlan] = []
    step = 0
    for planned in domain_plan(spec):
        scenario = parse_scenario(planned.scenario)
        if planned.kind != "sweep":
            plans.append(
                LevelPlan(scenario, planned.kind, planned.concurrency, planned.request_rate)
            )
        elif planned.sweep_step == "synchronous":
            step = 0
            plans.append(LevelPlan(scenario, "synchronous", 1, None))
        elif planned.sweep_step == "throughput":
            plans.append(LevelPlan(scenario, "throughput", planned.concurrency, math.inf))
        else:
            step += 1
            plans.append(LevelPlan(scenario, "sweep", planned.concurrency, None, sweep_step=step))
    return plans


def sweep_rates(synchronous: float, throughput: float, n: int) -> list[float]:
    """``n`` rates evenly spaced strictly between the two measured request rates (req/s)."""
    low, high = sorted((synchronous, throughput))
    step = (high - low) / (n + 1)
    return [low + step * (i + 1) for i in range(n)]
