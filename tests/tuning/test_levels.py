"""Scoring per load level: SLOs at every level, exclusion, pooling, goodput, untrusted levels."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from autotuner.bench import LevelResult, RequestResult, pool, run_metrics
from autotuner.domain import SLOSpec
from autotuner.tuning import (
    GridStrategy,
    goodput,
    goodput_thresholds,
    is_better,
    score_levels,
)


def _req(ttft: float, e2el: float, out: int = 11, ok: bool = True) -> RequestResult:
    if not ok:
        return RequestResult(success=False, error="HTTP 500")
    step = (e2el - ttft) / (out - 1) if out > 1 else 0.0
    return RequestResult(
        success=True,
        prompt_tokens=10,
        output_tokens=out,
        ttft=ttft,
        e2el=e2el,
        itls=[step] * (out - 1),
    )


def _level(
    concurrency: int,
    results: list[RequestResult],
    duration: float = 10.0,
    untrusted: list[str] | None = None,
) -> LevelResult:
    return LevelResult(
        "D(10,10)",
        "concurrency",
        concurrency,
        None,
        results,
        duration,
        metrics=run_metrics(results, duration),
        untrusted=list(untrusted or []),
    )


def _slo(**spec: Any) -> SLOSpec:
    return SLOSpec.model_validate(spec)


HARD_P90 = {"latency": {"p90": {"threshold": 2.0, "hard_fail": True}}}


def _two_levels() -> tuple[LevelResult, LevelResult]:
    # c=1: every request in 1 s, 20 of them in 10 s. c=8: 80 requests in 10 s, but 4 s each.
    low = _level(1, [_req(0.1, 1.0) for _ in range(20)])
    high = _level(8, [_req(0.5, 4.0) for _ in range(80)])
    return low, high


def test_pooled_percentiles_equal_numpys_on_the_same_samples() -> None:
    rng = random.Random(7)
    levels = []
    for c, scale in ((1, 0.2), (4, 0.9), (16, 3.0)):
        results = []
        for _ in range(rng.randint(30, 60)):
            ttft = rng.expovariate(1 / scale) + 0.01
            results.append(_req(ttft, ttft + rng.uniform(0.1, 2.0) * scale, rng.randint(2, 30)))
        levels.append(_level(c, results, duration=rng.uniform(5, 20)))
    pooled = pool(levels)
    requests = [r for level in levels for r in level.results]
    samples = {
        "ttft": [r.ttft for r in requests],
        "e2el": [r.e2el for r in requests],
        "tpot": [r.tpot for r in requests if r.tpot is not None],
        "itl": [gap for r in requests for gap in r.itls],
    }
    for name, values in samples.items():
        ms = np.array(values) * 1000
        assert pooled[f"mean_{name}_ms"] == pytest.approx(float(ms.mean()))
        assert pooled[f"std_{name}_ms"] == pytest.approx(float(ms.std()))
        for p in (50, 90, 95, 99):
            assert pooled[f"p{p}_{name}_ms"] == pytest.approx(float(np.percentile(ms, p)))
    # ...and they are not the average of the levels' percentiles.
    averaged = sum(level.metrics["p99_e2el_ms"] for level in levels) / 3
    assert pooled["p99_e2el_ms"] != pytest.approx(averaged, rel=0.01)


def test_only_the_compliant_level_is_scored_and_the_violation_is_shown() -> None:
    low, high = _two_levels()
    # On the pooled figures this would pass (p90 of the pool is 4 s... or averaged 2.5 s);
    # per level the high load violates and is excluded.
    result = score_levels([low, high], "maximize_throughput", _slo(**HARD_P90))
    assert not result.hard_failed and result.objective_score is not None
    assert result.objective_score == pytest.approx(low.metrics["output_throughput"])
    (violation,) = result.slo_violations
    assert violation["level"] == high.label and violation["slo"] == "latency.p90"
    assert violation["metric"] == "p90_e2el_ms" and violation["hard"] is True
    assert violation["threshold"] == 2.0 and violation["actual"] == pytest.approx(4.0)
    assert violation["margin"] == pytest.approx(2.0) and violation["margin_ratio"] == 1.0
    stored = result.stored_metrics()
    by_label = {level["label"]: level for level in stored["levels"]}
    assert by_label[low.label]["compliant"] and by_label[low.label]["used_for_score"]
    assert not by_label[high.label]["compliant"] and not by_label[high.label]["used_for_score"]
    assert by_label[high.label]["slo_violations"] == [violation]
    assert stored["scoring"]["levels_used"] == [low.label]
    assert stored["scoring"]["levels_excluded"] == [
        {"label": high.label, "reason": "violates latency.p90"}
    ]
    # The top level holds the figures that were scored; pooled_all every level's.
    assert stored["output_throughput"] == pytest.approx(low.metrics["output_throughput"])
    assert stored["p90_e2el_ms"] == pytest.approx(1000.0)
    assert stored["pooled_all"]["completed"] == 100


def test_the_higher_load_wins_when_both_levels_comply() -> None:
    low, high = _two_levels()
    result = score_levels([low, high], "maximize_throughput", _slo())
    assert result.objective_score == pytest.approx(high.metrics["output_throughput"])
    assert result.scoring["levels_used"] == [high.label]


def test_minimize_objectives_score_the_pooled_compliant_levels() -> None:
    low, high = _two_levels()
    mid = _level(4, [_req(0.2, 1.5) for _ in range(40)])
    result = score_levels([low, mid, high], "minimize_latency", _slo(**HARD_P90))
    expected = pool([low, mid])["mean_e2el_ms"] / 1000
    assert result.objective_score == pytest.approx(expected)
    assert result.scoring["levels_used"] == [low.label, mid.label]
    assert result.stored_metrics()["mean_e2el_ms"] == pytest.approx(expected * 1000)
    assert "pooled over 2 of 3 levels" in result.scoring["note"]


def test_infeasible_only_when_no_level_passes() -> None:
    low, high = _two_levels()
    slo = _slo(latency={"p90": {"threshold": 0.5, "hard_fail": True}})
    result = score_levels([low, high], "maximize_throughput", slo)
    assert result.hard_failed and result.objective_score is None
    assert result.reason is not None
    assert result.reason.startswith("no load level passes the SLOs")
    assert f"{low.label}: latency.p90 1s > 0.5s (+100%, hard)" in result.reason
    assert f"{high.label}: latency.p90 4s > 0.5s (+700%, hard)" in result.reason
    assert len(result.slo_violations) == 2
    # Nothing was scored: the top level falls back to every level pooled.
    assert result.stored_metrics()["completed"] == 100


def test_a_90_percent_error_run_is_never_ranked_best() -> None:
    broken = [_level(c, [_req(0.01, 0.05)] * 10 + [_req(0, 0, ok=False)] * 90) for c in (1, 8)]
    healthy = [_level(1, [_req(0.5, 3.0) for _ in range(5)])]
    bad = score_levels(broken, "minimize_latency", _slo())
    good = score_levels(healthy, "minimize_latency", _slo())
    assert bad.hard_failed and bad.objective_score is None
    assert "max_error_rate 90.0% > 5.0% (hard)" in (bad.reason or "")
    assert {v["slo"] for v in bad.slo_violations} == {"max_error_rate"}
    assert good.objective_score is not None
    assert not is_better(bad.objective_score, good.objective_score, "minimize_latency")
    # Without an SLO section the default max_error_rate (5 %) still applies.
    assert score_levels(broken, "maximize_throughput", None).hard_failed
    assert not score_levels(broken, "maximize_throughput", _slo(max_error_rate=0.95)).hard_failed
    # A strategy told both never reports the broken configuration as its best.
    strategy = GridStrategy({"x": [1, 2]}, 2, "minimize")
    first, second = strategy.suggest(), strategy.suggest()
    assert first is not None and second is not None
    strategy.tell(first, bad.objective_score)
    strategy.tell(second, good.objective_score)
    assert strategy.best == (second, good.objective_score)


def test_max_error_rate_is_a_hard_bound_per_level() -> None:
    def level(c: int, failed: int) -> LevelResult:
        return _level(c, [_req(0.1, 1.0)] * (100 - failed) + [_req(0, 0, ok=False)] * failed)

    slo = _slo(max_error_rate=0.1)
    result = score_levels([level(1, 10), level(2, 11)], "maximize_throughput", slo)
    assert [v["level"] for v in result.slo_violations] == [level(2, 11).label]
    (v,) = result.slo_violations
    assert v["actual"] == pytest.approx(0.11) and v["threshold"] == 0.1 and v["unit"] == ""
    assert v["margin"] == pytest.approx(0.01) and v["hard"]
    assert result.scoring["levels_used"] == [level(1, 10).label]


def test_percentile_forms_of_ttft_tpot_and_itl() -> None:
    # 90 fast requests and 10 slow first tokens: the mean stays low, the p95 does not.
    results = [_req(0.05, 0.5) for _ in range(90)] + [_req(2.0, 2.5) for _ in range(10)]
    level = _level(4, results)
    assert level.metrics["mean_ttft_ms"] < 300 < level.metrics["p95_ttft_ms"]
    mean_only = _slo(ttft={"threshold": 0.3, "hard_fail": True})
    assert score_levels([level], "minimize_ttft", mean_only).slo_violations == []
    p95 = _slo(ttft={"p95": {"threshold": 0.3, "hard_fail": True}, "mean": {"threshold": 1}})
    result = score_levels([level], "minimize_ttft", p95)
    assert result.hard_failed
    assert [(v["slo"], v["metric"]) for v in result.slo_violations] == [("ttft.p95", "p95_ttft_ms")]
    # TPOT and ITL percentiles: (e2el - ttft) / 10 = 45 ms per token (50 ms for the slow ones).
    soft = _slo(tpot={"p99": {"threshold": 0.04}}, itl={"p50": {"threshold": 0.04, "weight": 2}})
    result = score_levels([level], "minimize_tpot", soft)
    assert [v["slo"] for v in result.slo_violations] == ["tpot.p99", "itl.p50"]
    assert not result.hard_failed and result.penalty > 1
    assert result.objective_score == pytest.approx(result.raw_value * result.penalty)
    assert result.raw_value == pytest.approx(0.9 * 0.045 + 0.1 * 0.05)


def test_soft_violations_penalize_what_is_scored() -> None:
    low, high = _two_levels()
    slo = _slo(latency={"p90": {"threshold": 3.0, "weight": 1.0}})
    result = score_levels([low, high], "maximize_throughput", slo)
    # Both levels comply (the violation is soft); the best one is scored and penalized.
    assert result.scoring["levels_used"] == [high.label]
    assert result.penalty > 1
    assert result.objective_score == pytest.approx(result.raw_value / result.penalty)
    assert [v["level"] for v in result.scoring["penalized_by"]] == [high.label]
    # Scoring the low level alone: no penalty.
    assert score_levels([low], "maximize_throughput", slo).penalty == 1.0


def test_maximize_goodput_counts_requests_meeting_every_per_request_slo() -> None:
    # 30 requests within 1 s, 10 with a slow first token, 10 slow overall, 5 failed; 10 s.
    results = (
        [_req(0.1, 0.9) for _ in range(30)]
        + [_req(0.6, 0.9) for _ in range(10)]
        + [_req(0.1, 1.5) for _ in range(10)]
        + [_req(0, 0, ok=False) for _ in range(5)]
    )
    busy = _level(8, results)
    calm = _level(1, [_req(0.1, 0.5) for _ in range(20)])
    slo = _slo(
        ttft={"p99": {"threshold": 0.5}, "mean": {"threshold": 0.2}},
        latency={"p50": {"threshold": 2.0}, "p99": {"threshold": 1.0}},
        max_error_rate=0.5,
    )
    thresholds = goodput_thresholds(slo)
    assert thresholds == {"ttft": 500.0, "e2el": 1000.0}  # the highest percentile's bound
    assert goodput(busy.results, busy.duration, thresholds) == pytest.approx(3.0)
    result = score_levels([calm, busy], "maximize_goodput", slo, thresholds)
    assert result.objective_score == pytest.approx(3.0 / result.penalty)
    assert result.raw_value == pytest.approx(3.0) and result.scoring["levels_used"] == [busy.label]
    levels = {lv["label"]: lv for lv in result.levels}
    assert levels[calm.label]["request_goodput"] == pytest.approx(2.0)
    assert levels[busy.label]["request_goodput"] == pytest.approx(3.0)
    # Explicit vLLM-style thresholds win over the SLO's.
    assert goodput_thresholds(slo, {"e2el": 1200}) == {"e2el": 1200.0}
    # A one-token answer has no TPOT: it counts as 0 against a TPOT bound, as in vLLM.
    single = _req(0.1, 0.1, out=1)
    assert goodput([single], 1.0, {"tpot": 1.0}) == 1.0
    # Without thresholds the objective cannot be scored.
    assert score_levels([calm], "maximize_goodput", None).hard_failed


def test_untrusted_levels_are_not_used_while_a_trusted_one_can_be() -> None:
    low, high = _two_levels()
    high.untrusted = ["client CPU 98 %"]
    result = score_levels([low, high], "maximize_throughput", _slo())
    assert result.scoring["levels_used"] == [low.label]
    assert result.scoring["levels_excluded"] == [
        {"label": high.label, "reason": "untrusted: client CPU 98 %"}
    ]
    assert not result.scoring["untrusted"]
    low.untrusted = ["event-loop lag 40 ms"]
    result = score_levels([low, high], "maximize_throughput", _slo())
    assert result.objective_score == pytest.approx(high.metrics["output_throughput"])
    assert result.scoring["untrusted"] and result.stored_metrics()["untrusted"] is True
    assert "every level that could be scored was flagged untrusted" in result.scoring["note"]
    # A trusted level that violates a hard SLO does not make the untrusted one unusable:
    # the untrusted compliant level is scored, and the result says so.
    low.untrusted = []
    strict = _slo(**HARD_P90)  # low (1 s) passes, high (4 s) violates
    high.untrusted = []
    base = score_levels([low, high], "maximize_throughput", strict)
    assert base.scoring["levels_used"] == [low.label]
    low.untrusted = ["event-loop lag 40 ms"]
    result = score_levels([low, high], "maximize_throughput", strict)
    assert result.scoring["levels_used"] == [low.label] and result.scoring["untrusted"]
    assert result.objective_score == pytest.approx(base.objective_score)


def test_a_level_where_nothing_completed_is_excluded() -> None:
    low, _ = _two_levels()
    empty = _level(8, [_req(0, 0, ok=False)] * 3)
    result = score_levels([low, empty], "minimize_latency", _slo(max_error_rate=1.0))
    assert result.scoring["levels_excluded"] == [
        {"label": empty.label, "reason": "no request completed"}
    ]
    assert result.objective_score == pytest.approx(1.0)
    assert math.isnan(score_levels([], "minimize_latency").raw_value)
