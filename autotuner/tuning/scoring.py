"""Objective scores and SLO checks for one experiment's benchmark summary.

The objective value comes from the summary metrics (``autotuner.bench``):

* ``minimize_latency``: mean end-to-end latency, seconds (``mean_e2el_ms``)
* ``maximize_throughput``: output token throughput, tok/s (``output_throughput``)
* ``minimize_ttft``: mean time to first token, seconds (``mean_ttft_ms``)
* ``minimize_tpot``: mean time per output token, seconds (``mean_tpot_ms``)

SLOs (seconds): ``latency.p50/p90/p95/p99`` bound those percentiles of the
end-to-end latency, ``ttft`` and ``tpot`` bound the mean TTFT and TPOT. A value
above its threshold by ``excess = (actual - threshold) / threshold`` is a
violation. With ``hard_fail`` and ``excess > fail_ratio`` the experiment fails
(no score). Otherwise it is soft: the penalty ``1 + weight (exp(excess /
steepness) - 1)`` is added up over violations (capped at ``MAX_PENALTY``) and
multiplies a minimized score or divides a maximized one, so the score only
gets worse in the objective's direction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from autotuner.domain import SLOSpec, SLOThreshold
from autotuner.tuning._base import Direction

MAX_PENALTY = 100.0
_MAX_EXPONENT = 50.0

# objective -> (summary key, factor to the objective's unit, direction, unit)
OBJECTIVES: dict[str, tuple[str, float, Direction, str]] = {
    "minimize_latency": ("mean_e2el_ms", 1e-3, "minimize", "s"),
    "maximize_throughput": ("output_throughput", 1.0, "maximize", "tok/s"),
    "minimize_ttft": ("mean_ttft_ms", 1e-3, "minimize", "s"),
    "minimize_tpot": ("mean_tpot_ms", 1e-3, "minimize", "s"),
}


@dataclass
class ScoreResult:
    """The score of one experiment.

    ``objective_score`` is ``None`` when the experiment counts as failed
    (``hard_failed``; ``reason`` says why). ``raw_value`` is the objective's
    value before SLO penalties (NaN when it could not be measured).
    """

    objective_score: float | None
    raw_value: float
    slo_violations: list[dict[str, Any]] = field(default_factory=list)
    hard_failed: bool = False
    reason: str | None = None
    penalty: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _spec(objective: str) -> tuple[str, float, Direction, str]:
    try:
        return OBJECTIVES[objective]
    except KeyError:
        raise ValueError(
            f"unknown objective {objective!r}; use one of {', '.join(OBJECTIVES)}"
        ) from None


def direction(objective: str) -> Direction:
    """``"minimize"`` or ``"maximize"``."""
    return _spec(objective)[2]


def is_better(a: float | None, b: float | None, objective: str) -> bool:
    """Whether score ``a`` is strictly better than ``b``; ``None`` (failed) is worst."""
    if a is None or math.isnan(a):
        return False
    if b is None or math.isnan(b):
        return True
    return a < b if direction(objective) == "minimize" else a > b


def objective_value(metrics: Mapping[str, Any], objective: str) -> float | None:
    """The objective's raw value in its unit, or ``None`` if the metrics lack it."""
    key, factor, _, _ = _spec(objective)
    value = _summary(metrics).get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return None
    return float(value) * factor


def _summary(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    # Accept a whole BenchmarkResult.to_dict() as well as its summary.
    inner = metrics.get("summary")
    return inner if isinstance(inner, Mapping) else metrics


def _checks(slo: SLOSpec) -> list[tuple[str, str, SLOThreshold]]:
    checks = []
    for pct, threshold in sorted((slo.latency or {}).items(), key=lambda kv: int(kv[0][1:])):
        checks.append((f"latency_{pct}", f"{pct}_e2el_ms", threshold))
    if slo.ttft is not None:
        checks.append(("ttft", "mean_ttft_ms", slo.ttft))
    if slo.tpot is not None:
        checks.append(("tpot", "mean_tpot_ms", slo.tpot))
    return checks


def check_slos(metrics: Mapping[str, Any], slo: SLOSpec | None) -> list[dict[str, Any]]:
    """Every violated SLO, as dicts the UI shows (values in seconds).

    Keys: ``slo``, ``metric``, ``threshold``, ``actual``, ``excess_ratio``,
    ``weight``, ``hard_fail`` (this violation fails the experiment), ``penalty``.
    """
    if slo is None:
        return []
    summary = _summary(metrics)
    out = []
    for name, key, spec in _checks(slo):
        value = summary.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        actual = float(value) / 1000.0
        if actual <= spec.threshold:
            continue
        excess = (actual - spec.threshold) / spec.threshold
        hard = spec.hard_fail and excess > spec.fail_ratio
        exponent = min(excess / slo.steepness, _MAX_EXPONENT)
        penalty = 1.0 + spec.weight * math.expm1(exponent)
        out.append(
            {
                "slo": name,
                "metric": key,
                "threshold": spec.threshold,
                "actual": actual,
                "excess_ratio": excess,
                "weight": spec.weight,
                "hard_fail": hard,
                "penalty": None if hard else min(penalty, MAX_PENALTY),
            }
        )
    return out


def score_experiment(
    metrics: Mapping[str, Any], objective: str, slo: SLOSpec | None = None
) -> ScoreResult:
    """Objective score of a benchmark summary, with SLO penalties and hard fails."""
    summary = _summary(metrics)
    raw = objective_value(summary, objective)
    violations = check_slos(summary, slo)
    completed = summary.get("completed")
    if isinstance(completed, int) and completed == 0:
        return ScoreResult(
            None, math.nan, violations, True, "no benchmark request completed successfully"
        )
    if raw is None:
        key = _spec(objective)[0]
        return ScoreResult(None, math.nan, violations, True, f"metric {key!r} is missing")
    hard = [v for v in violations if v["hard_fail"]]
    if hard:
        reason = "; ".join(
            f"SLO {v['slo']} violated: {v['actual']:.4g}s > {v['threshold']:.4g}s "
            f"(+{v['excess_ratio']:.0%}, hard fail above +{_fail_ratio(slo, v['slo']):.0%})"
            for v in hard
        )
        return ScoreResult(None, raw, violations, True, reason)
    penalty = min(MAX_PENALTY, 1.0 + sum(v["penalty"] - 1.0 for v in violations))
    score = raw * penalty if direction(objective) == "minimize" else raw / penalty
    return ScoreResult(score, raw, violations, False, None, penalty)


def _fail_ratio(slo: SLOSpec | None, name: str) -> float:
    if slo is None:
        return 0.0
    for check_name, _, spec in _checks(slo):
        if check_name == name:
            return spec.fail_ratio
    return 0.0
