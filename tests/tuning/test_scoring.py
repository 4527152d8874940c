from __future__ import annotations

import math
from typing import Any

import pytest

from autotuner.domain import SLOSpec
from autotuner.tuning import direction, is_better, objective_value, score_experiment
from autotuner.tuning.scoring import MAX_PENALTY


def _metrics(**overrides: Any) -> dict[str, Any]:
    base = {
        "completed": 20,
        "failed": 0,
        "mean_e2el_ms": 800.0,
        "p50_e2el_ms": 750.0,
        "p90_e2el_ms": 1000.0,
        "p95_e2el_ms": 1100.0,
        "p99_e2el_ms": 1200.0,
        "mean_ttft_ms": 50.0,
        "mean_tpot_ms": 7.5,
        "output_throughput": 2500.0,
    }
    return {**base, **overrides}


@pytest.mark.parametrize(
    ("objective", "value", "way"),
    [
        ("minimize_latency", 0.8, "minimize"),
        ("maximize_throughput", 2500.0, "maximize"),
        ("minimize_ttft", 0.05, "minimize"),
        ("minimize_tpot", 0.0075, "minimize"),
    ],
)
def test_objectives(objective: str, value: float, way: str) -> None:
    assert objective_value(_metrics(), objective) == pytest.approx(value)
    assert direction(objective) == way
    result = score_experiment(_metrics(), objective)
    assert (
        result.objective_score == pytest.approx(value)
        and result.raw_value == result.objective_score
    )
    assert not result.hard_failed and result.slo_violations == []


def test_is_better_respects_direction_and_failures() -> None:
    assert is_better(1.0, 2.0, "minimize_latency")
    assert is_better(2.0, 1.0, "maximize_throughput")
    assert not is_better(1.0, 1.0, "minimize_latency")
    assert is_better(5.0, None, "minimize_latency")
    assert not is_better(None, 5.0, "maximize_throughput")
    with pytest.raises(ValueError, match="unknown objective"):
        direction("fastest")


def test_soft_violations_penalise_exponentially_in_the_objective_direction() -> None:
    slo = SLOSpec.model_validate({"latency": {"p90": {"threshold": 0.9, "weight": 2}}})
    excess = (1.0 - 0.9) / 0.9
    expected_penalty = 1 + 2 * (math.exp(excess / 0.1) - 1)
    latency = score_experiment(_metrics(), "minimize_latency", slo)
    assert latency.penalty == pytest.approx(expected_penalty)
    assert latency.objective_score == pytest.approx(0.8 * expected_penalty)
    throughput = score_experiment(_metrics(), "maximize_throughput", slo)
    assert throughput.objective_score == pytest.approx(2500 / expected_penalty)
    (violation,) = throughput.slo_violations
    assert violation["slo"] == "latency.p90" and violation["actual"] == pytest.approx(1.0)
    assert violation["excess_ratio"] == pytest.approx(excess) and not violation["hard_fail"]
    # A bigger violation is always worse, and the penalty is capped.
    worse = score_experiment(_metrics(p90_e2el_ms=1500.0), "minimize_latency", slo)
    assert worse.objective_score is not None and latency.objective_score is not None
    assert worse.objective_score > latency.objective_score
    huge = score_experiment(_metrics(p90_e2el_ms=90_000.0), "minimize_latency", slo)
    assert huge.penalty == MAX_PENALTY and math.isfinite(huge.objective_score or math.inf)


def test_steepness_controls_how_fast_the_penalty_grows() -> None:
    def penalty(steepness: float) -> float:
        slo = SLOSpec.model_validate({"ttft": {"threshold": 0.04}, "steepness": steepness})
        return score_experiment(_metrics(), "minimize_ttft", slo).penalty

    assert penalty(0.1) > penalty(0.5) > 1.0


def test_ttft_and_tpot_slos_use_the_means() -> None:
    slo = SLOSpec.model_validate({"ttft": {"threshold": 0.06}, "tpot": {"threshold": 0.005}})
    result = score_experiment(_metrics(), "maximize_throughput", slo)
    assert [v["slo"] for v in result.slo_violations] == ["tpot.mean"]
    assert result.slo_violations[0]["actual"] == pytest.approx(0.0075)


def test_hard_fail_beyond_fail_ratio_fails_the_experiment() -> None:
    slo = SLOSpec.model_validate(
        {"latency": {"p99": {"threshold": 1.0, "hard_fail": True, "fail_ratio": 0.1}}}
    )
    within = score_experiment(_metrics(p99_e2el_ms=1050.0), "minimize_latency", slo)
    assert not within.hard_failed and within.objective_score is not None
    assert within.objective_score > 0.8  # still penalised
    beyond = score_experiment(_metrics(), "minimize_latency", slo)
    assert beyond.hard_failed and beyond.objective_score is None
    assert beyond.raw_value == pytest.approx(0.8)
    assert beyond.reason is not None and "latency.p99" in beyond.reason
    assert "1.2s > 1s" in beyond.reason


def test_no_completed_request_is_a_failure() -> None:
    result = score_experiment(
        _metrics(completed=0, mean_e2el_ms=None, output_throughput=0.0), "minimize_latency"
    )
    assert result.hard_failed and result.objective_score is None and math.isnan(result.raw_value)
    assert result.reason == "no benchmark request completed successfully"


def test_accepts_a_whole_benchmark_result() -> None:
    result = score_experiment({"runs": [], "summary": _metrics()}, "minimize_tpot")
    assert result.objective_score == pytest.approx(0.0075)
