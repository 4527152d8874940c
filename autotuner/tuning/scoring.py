"""Objective scores of an experiment, from its load levels (per-batch SLO filtering).

An experiment is measured at several load levels (``autotuner.bench.LevelResult``:
a traffic scenario at one concurrency or request rate). Scoring:

1. Every SLO (:mod:`autotuner.tuning.slo`) is checked at every level. A level
   with a hard violation is **excluded**; so is a level where no request
   completed, and a level flagged ``untrusted`` (the load generator was the
   bottleneck) while a trusted level can be scored; when every level left is
   untrusted, those are scored and the result says so (``untrusted``, ``note``).
2. With no level left the experiment is **infeasible**: it fails with no score,
   and ``reason`` says which level violated what.
3. The objective is read from the levels left (the *compliant* ones):

   * ``maximize_throughput``: the best compliant level's output token
     throughput, tok/s (``output_throughput``);
   * ``maximize_goodput``: the best compliant level's goodput, requests/s that
     met every per-request SLO (``request_goodput``, see ``slo.goodput``);
   * ``minimize_latency``, ``minimize_ttft``, ``minimize_tpot``: the mean E2EL,
     TTFT or TPOT in seconds over the pooled requests of every compliant level
     (``bench.pool``: computed over the requests, never averaged).

4. Soft violations of the figures that are scored (that level's, or the pooled
   ones) multiply a minimized score by their penalty or divide a maximized one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from autotuner.bench.metrics import LevelResult, pool, run_metrics
from autotuner.domain import SLOSpec
from autotuner.tuning._base import Direction
from autotuner.tuning.slo import (
    MAX_PENALTY,
    check_slos,
    describe_violation,
    goodput,
    penalty_of,
)

__all__ = [
    "MAX_PENALTY",
    "OBJECTIVES",
    "ScoreResult",
    "direction",
    "is_better",
    "objective_value",
    "score_experiment",
    "score_levels",
]

# objective -> (figure's key, factor to the objective's unit, direction, unit, best level?)
OBJECTIVES: dict[str, tuple[str, float, Direction, str, bool]] = {
    "minimize_latency": ("mean_e2el_ms", 1e-3, "minimize", "s", False),
    "maximize_throughput": ("output_throughput", 1.0, "maximize", "tok/s", True),
    "maximize_goodput": ("request_goodput", 1.0, "maximize", "req/s", True),
    "minimize_ttft": ("mean_ttft_ms", 1e-3, "minimize", "s", False),
    "minimize_tpot": ("mean_tpot_ms", 1e-3, "minimize", "s", False),
}


@dataclass
class ScoreResult:
    """The score of one experiment.

    ``objective_score`` is ``None`` when the experiment counts as failed
    (``hard_failed``; ``reason`` says why). ``raw_value`` is the objective's
    value before SLO penalties (NaN when it could not be measured).
    ``slo_violations`` holds every violation at every level. From
    :func:`score_levels` also: ``levels`` (each level's stored form with its
    verdict), ``scored`` (the figures that were scored), ``pooled_all`` and
    ``scoring``; :meth:`stored_metrics` is what an experiment stores.
    """

    objective_score: float | None
    raw_value: float
    slo_violations: list[dict[str, Any]] = field(default_factory=list)
    hard_failed: bool = False
    reason: str | None = None
    penalty: float = 1.0
    levels: list[dict[str, Any]] = field(default_factory=list)
    scored: dict[str, Any] = field(default_factory=dict)
    pooled_all: dict[str, Any] = field(default_factory=dict)
    scoring: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def stored_metrics(self) -> dict[str, Any]:
        """``experiment.metrics``: the scored figures at the top level (the pooled
        figures of every level when none was scored), then ``levels``,
        ``pooled_all`` and ``scoring``."""
        top = self.scored or self.pooled_all
        return {
            **top,
            "untrusted": bool(self.scoring.get("untrusted")),
            "levels": self.levels,
            "pooled_all": self.pooled_all,
            "scoring": self.scoring,
        }


def _spec(objective: str) -> tuple[str, float, Direction, str, bool]:
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
    key, factor, _, _, _ = _spec(objective)
    value = _summary(metrics).get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return None
    return float(value) * factor


def _summary(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    # Accept a whole BenchmarkResult.to_dict() as well as its summary.
    inner = metrics.get("summary")
    return inner if isinstance(inner, Mapping) else metrics


def _apply(raw: float, penalty: float, objective: str) -> float:
    return raw * penalty if direction(objective) == "minimize" else raw / penalty


def score_experiment(
    metrics: Mapping[str, Any], objective: str, slo: SLOSpec | None = None
) -> ScoreResult:
    """Score one set of figures as if it were a single level (no per-level filtering).

    A hard violation fails it; soft ones penalize. The worker scores levels
    with :func:`score_levels`; this is for figures that stand alone.
    """
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
    hard = [v for v in violations if v["hard"]]
    if hard:
        reason = "SLO violated: " + "; ".join(describe_violation(v) for v in hard)
        return ScoreResult(None, raw, violations, True, reason)
    penalty = penalty_of(violations)
    return ScoreResult(_apply(raw, penalty, objective), raw, violations, False, None, penalty)


@dataclass
class _Verdict:
    level: LevelResult
    figures: dict[str, Any]
    violations: list[dict[str, Any]]
    excluded: str | None = None
    """Why the level is not used (violations, nothing completed, untrusted); ``None`` if usable."""
    used: bool = False

    @property
    def compliant(self) -> bool:
        return not any(v["hard"] for v in self.violations) and self.figures["completed"] > 0


def _verdicts(
    levels: Sequence[LevelResult], slo: SLOSpec | None, goodput_ms: Mapping[str, float] | None
) -> list[_Verdict]:
    out = []
    for level in levels:
        figures = dict(level.metrics) or run_metrics(level.results, level.duration)
        for key in ("completed", "failed", "total_requests"):
            figures.setdefault(key, 0)
        if goodput_ms:
            figures["request_goodput"] = goodput(level.results, level.duration, goodput_ms)
        verdict = _Verdict(level, figures, check_slos(figures, slo, level.label))
        hard = [v["slo"] for v in verdict.violations if v["hard"]]
        if hard:
            verdict.excluded = "violates " + ", ".join(hard)
        elif figures["completed"] == 0:
            verdict.excluded = "no request completed"
        out.append(verdict)
    return out


def score_levels(
    levels: Sequence[LevelResult],
    objective: str,
    slo: SLOSpec | None = None,
    goodput_ms: Mapping[str, float] | None = None,
) -> ScoreResult:
    """Score an experiment from its load levels (see the module docstring).

    ``goodput_ms`` are the per-request thresholds of goodput (``slo.goodput_thresholds``);
    without them ``request_goodput`` is not computed and ``maximize_goodput`` fails.
    """
    key, factor, way, unit, best_level = _spec(objective)
    goodput_ms = dict(goodput_ms) if goodput_ms else None
    verdicts = _verdicts(levels, slo, goodput_ms)
    usable = [v for v in verdicts if v.excluded is None]
    # Untrusted levels are left out while a trusted one can be scored; when none
    # can, the untrusted ones are scored and the result says so.
    all_untrusted = bool(usable) and all(v.level.untrusted for v in usable)
    notes: list[str] = []
    if all_untrusted:
        notes.append(
            "every level that could be scored was flagged untrusted (the load generator "
            "was the bottleneck); they are scored anyway, so the score may understate "
            "the engine"
        )
    else:
        for v in usable:
            if v.level.untrusted:
                v.excluded = "untrusted: " + "; ".join(v.level.untrusted)
    candidates = [v for v in verdicts if v.excluded is None]
    violations = [x for v in verdicts for x in v.violations]
    pooled_all = pool(levels, goodput_ms) if levels else {}

    def result(score: float | None, raw: float, **kw: Any) -> ScoreResult:
        scored = kw.pop("scored", {})
        penalized_by = kw.pop("penalized_by", [])
        note = " ".join(notes) or None
        return ScoreResult(
            score,
            raw,
            violations,
            levels=[_stored(v) for v in verdicts],
            scored=scored,
            pooled_all=pooled_all,
            scoring={
                "objective": objective,
                "unit": unit,
                "levels_used": [v.level.label for v in verdicts if v.used],
                "levels_excluded": [
                    {"label": v.level.label, "reason": v.excluded}
                    for v in verdicts
                    if v.excluded is not None
                ],
                "untrusted": all_untrusted,
                "penalty": kw.get("penalty", 1.0),
                "penalized_by": penalized_by,
                "note": note,
            },
            **kw,
        )

    if not verdicts:
        return result(None, math.nan, hard_failed=True, reason="no load level was measured")
    if objective == "maximize_goodput" and not goodput_ms:
        return result(
            None,
            math.nan,
            hard_failed=True,
            reason="maximize_goodput needs per-request thresholds "
            "(slo.ttft, slo.tpot, slo.latency or benchmark.additional_params.goodput)",
        )
    if not candidates:
        return result(None, math.nan, hard_failed=True, reason=_infeasible(verdicts))

    if best_level:
        # Ties go to the first level listed (the lighter load, as a task lists them).
        best = max(candidates, key=lambda v: _rank(v.figures, key))
        used = [best]
        scored = {**best.figures, "num_levels": 1}
    else:
        used = candidates
        scored = pool([v.level for v in used], goodput_ms)
    for v in used:
        v.used = True
    raw_figure = _value(scored, key)
    if math.isnan(raw_figure):
        return result(
            None, math.nan, hard_failed=True, reason=f"metric {key!r} is missing", scored=scored
        )
    raw = raw_figure * factor
    label = used[0].level.label if best_level else "pooled"
    on_scored = check_slos(scored, slo, label)
    # The used levels are compliant, so a hard bound of the scored figures can only be
    # crossed by interpolation between levels: it penalizes like a soft one.
    penalty = penalty_of(on_scored, hard_too=True)
    if len(used) < len(verdicts) and not best_level:
        notes.append(f"pooled over {len(used)} of {len(verdicts)} levels")
    elif best_level:
        notes.append(f"best compliant level: {used[0].level.label}")
    return result(
        _apply(raw, penalty, objective),
        raw,
        penalty=penalty,
        scored=scored,
        penalized_by=on_scored,
    )


def _value(figures: Mapping[str, Any], key: str) -> float:
    value = figures.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return math.nan
    return float(value)


def _rank(figures: Mapping[str, Any], key: str) -> float:
    value = _value(figures, key)
    return -math.inf if math.isnan(value) else value


def _infeasible(verdicts: Sequence[_Verdict]) -> str:
    parts = []
    for v in verdicts:
        hard = [describe_violation(x) for x in v.violations if x["hard"]]
        why = "; ".join(hard) if hard else v.excluded
        parts.append(f"{v.level.label}: {why}")
    return "no load level passes the SLOs: " + " | ".join(parts)


def _stored(v: _Verdict) -> dict[str, Any]:
    out = v.level.to_dict()
    if "request_goodput" in v.figures:
        out["request_goodput"] = v.figures["request_goodput"]
    out["slo_violations"] = v.violations
    out["compliant"] = v.compliant
    out["used_for_score"] = v.used
    out["excluded_reason"] = v.excluded
    return out
