"""Tuning: search strategies (grid, random, Bayesian) and experiment scoring with SLOs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from autotuner.domain import OptimizationSpec
from autotuner.tuning._base import Direction, Params, Strategy
from autotuner.tuning.grid import GridStrategy
from autotuner.tuning.random import RandomStrategy
from autotuner.tuning.scoring import (
    ScoreResult,
    direction,
    is_better,
    objective_value,
    score_experiment,
    score_levels,
)
from autotuner.tuning.slo import check_slos, goodput, goodput_thresholds

if TYPE_CHECKING:
    from autotuner.tuning.bayesian import BayesianStrategy


def get_strategy(
    optimization: OptimizationSpec, parameters: Mapping[str, Sequence[Any]], *, seed: int = 0
) -> Strategy:
    """The strategy named by ``optimization.strategy``, minimizing or maximizing
    as its objective says, suggesting at most ``optimization.max_iterations``."""
    kind = optimization.strategy
    way = direction(optimization.objective)
    if kind == "grid_search":
        return GridStrategy(parameters, optimization.max_iterations, way)
    if kind == "random":
        return RandomStrategy(parameters, optimization.max_iterations, way, seed=seed)
    if kind == "bayesian":
        # optuna is imported only when a Bayesian search runs.
        from autotuner.tuning.bayesian import BayesianStrategy

        return BayesianStrategy(parameters, optimization.max_iterations, way, seed=seed)
    raise ValueError(f"unknown strategy {kind!r}; use grid_search, random or bayesian")


def __getattr__(name: str) -> Any:
    if name == "BayesianStrategy":
        from autotuner.tuning.bayesian import BayesianStrategy

        return BayesianStrategy
    raise AttributeError(name)


__all__ = [
    "BayesianStrategy",
    "Direction",
    "GridStrategy",
    "Params",
    "RandomStrategy",
    "ScoreResult",
    "Strategy",
    "check_slos",
    "direction",
    "get_strategy",
    "goodput",
    "goodput_thresholds",
    "is_better",
    "objective_value",
    "score_experiment",
    "score_levels",
]
