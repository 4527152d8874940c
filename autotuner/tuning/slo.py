"""SLO checks on one set of figures (a load level, or the pooled figures that are scored).

Each bound of :class:`~autotuner.domain.SLOSpec` names a metric and a statistic
(``latency.p90`` = ``p90_e2el_ms``, ``ttft.mean`` = ``mean_ttft_ms``, ...;
thresholds in seconds) plus ``max_error_rate`` (a share of the level's
requests). A figure above its threshold is a violation, with
``margin = actual - threshold`` and ``margin_ratio = margin / threshold``:

* **hard** when the bound has ``hard_fail`` and ``margin_ratio > fail_ratio``,
  and always for ``max_error_rate``: the level is not compliant and is left
  out of the score;
* **soft** otherwise: a penalty ``1 + weight (exp(margin_ratio / steepness) - 1)``
  (capped at :data:`MAX_PENALTY`) that only ever worsens the score.

Goodput (:func:`goodput`) follows ``vllm bench serve --goodput``: successful
requests whose TTFT, TPOT and E2EL are each within its threshold (TPOT counts
as 0 for a one-token answer), per second of the level's duration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from autotuner.bench.metrics import RequestResult
from autotuner.domain import SLOSpec

MAX_PENALTY = 100.0
_MAX_EXPONENT = 50.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def check_slos(
    metrics: Mapping[str, Any], slo: SLOSpec | None, level: str | None = None
) -> list[dict[str, Any]]:
    """Every violated bound of ``slo`` in ``metrics`` (flat figures, ``*_ms``), as dicts;
    ``None`` checks the defaults (``max_error_rate`` 5 %).

    Keys: ``slo`` (``"latency.p90"``, ``"ttft.mean"``, ``"max_error_rate"``),
    ``metric`` (the figure's key), ``level`` (the label given), ``threshold`` and
    ``actual`` (seconds, or a ratio for the error rate), ``unit`` (``"s"`` or
    ``""``), ``margin``, ``margin_ratio``, ``hard``, ``weight`` and ``penalty`` (the
    factor it puts on a score it is soft on; ``None`` for the error rate, which is
    never soft). ``hard_fail`` and ``excess_ratio`` repeat ``hard`` and
    ``margin_ratio`` under the names earlier versions stored.
    """
    if slo is None:
        slo = SLOSpec()  # no SLO section still bounds the error rate (max_error_rate)
    out: list[dict[str, Any]] = []
    for name, metric, stat, bound in slo.bounds():
        key = f"{stat}_{metric}_ms"
        value = _number(metrics.get(key))
        if value is None:
            continue  # nothing measured (no request completed): the error rate says so
        actual = value / 1000.0
        if actual <= bound.threshold:
            continue
        ratio = (actual - bound.threshold) / bound.threshold
        hard = bound.hard_fail and ratio > bound.fail_ratio
        penalty = 1.0 + bound.weight * math.expm1(min(ratio / slo.steepness, _MAX_EXPONENT))
        out.append(
            _violation(
                name,
                key,
                level,
                bound.threshold,
                actual,
                unit="s",
                hard=hard,
                weight=bound.weight,
                penalty=min(penalty, MAX_PENALTY),
            )
        )
    error_rate = _number(metrics.get("error_rate"))
    if error_rate is not None and error_rate > slo.max_error_rate:
        out.append(
            _violation(
                "max_error_rate",
                "error_rate",
                level,
                slo.max_error_rate,
                error_rate,
                unit="",
                hard=True,
                weight=None,
                penalty=None,
            )
        )
    return out


def _violation(
    slo: str,
    metric: str,
    level: str | None,
    threshold: float,
    actual: float,
    *,
    unit: str,
    hard: bool,
    weight: float | None,
    penalty: float | None,
) -> dict[str, Any]:
    margin = actual - threshold
    ratio = margin / threshold if threshold > 0 else math.inf
    return {
        "slo": slo,
        "metric": metric,
        "level": level,
        "threshold": threshold,
        "actual": actual,
        "unit": unit,
        "margin": margin,
        "margin_ratio": ratio if math.isfinite(ratio) else None,
        "hard": hard,
        "weight": weight,
        "penalty": penalty,
        "hard_fail": hard,
        "excess_ratio": ratio if math.isfinite(ratio) else None,
    }


def penalty_of(violations: Iterable[Mapping[str, Any]], *, hard_too: bool = False) -> float:
    """The factor violations put on a score (1 = none), at most :data:`MAX_PENALTY`:
    the soft ones', and with ``hard_too`` the hard ones' as well."""
    extra = sum(
        float(v["penalty"]) - 1.0
        for v in violations
        if v.get("penalty") is not None and (hard_too or not v["hard"])
    )
    return min(MAX_PENALTY, 1.0 + extra)


def describe_violation(v: Mapping[str, Any]) -> str:
    """``latency.p90 1.5s > 1s (+50%, hard)``; an error rate as a percentage."""
    ratio = v.get("margin_ratio")
    margin = f"+{ratio:.0%}, " if ratio is not None else ""
    if v["unit"] == "s":
        figures = f"{v['actual']:.4g}s > {v['threshold']:.4g}s"
    else:  # a share of requests: its margin in percent of a percentage says little
        figures = f"{v['actual']:.1%} > {v['threshold']:.1%}"
        margin = ""
    return f"{v['slo']} {figures} ({margin}{'hard' if v['hard'] else 'soft'})"


def goodput_thresholds(
    slo: SLOSpec | None, explicit_ms: Mapping[str, Any] | None = None
) -> dict[str, float] | None:
    """Per-request thresholds (ms, keys ``ttft``/``tpot``/``e2el``): ``explicit_ms``
    (``benchmark.additional_params.goodput``) when given, else from ``slo``
    (:meth:`SLOSpec.goodput_ms`); ``None`` when there are none."""
    if explicit_ms:
        return {str(k): float(v) for k, v in explicit_ms.items()}
    found = slo.goodput_ms() if slo is not None else {}
    return found or None


def is_good(result: RequestResult, thresholds_ms: Mapping[str, float]) -> bool:
    """Whether a request succeeded within every threshold (inclusive, as vLLM)."""
    if not result.success:
        return False
    tpot = result.tpot
    values = {"ttft": result.ttft, "e2el": result.e2el, "tpot": 0.0 if tpot is None else tpot}
    return all(values[k] * 1000.0 <= limit for k, limit in thresholds_ms.items() if k in values)


def goodput(
    results: Iterable[RequestResult], duration: float, thresholds_ms: Mapping[str, float]
) -> float:
    """Requests per second meeting every threshold, over ``duration`` seconds."""
    good = sum(1 for r in results if is_good(r, thresholds_ms))
    return good / max(duration, 1e-9)
