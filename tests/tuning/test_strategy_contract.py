"""The strategy contract (``autotuner.testing.strategies``) over grid, random and bayesian."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from autotuner.testing.strategies import StrategyContract, StrategyFactory
from autotuner.tuning import BayesianStrategy, Direction, GridStrategy, RandomStrategy, Strategy


def _grid(parameters: Mapping[str, Sequence[Any]], n: int, way: Direction) -> Strategy:
    return GridStrategy(parameters, n, way)


def _random(parameters: Mapping[str, Sequence[Any]], n: int, way: Direction) -> Strategy:
    return RandomStrategy(parameters, n, way, seed=11)


def _bayesian(parameters: Mapping[str, Sequence[Any]], n: int, way: Direction) -> Strategy:
    return BayesianStrategy(parameters, n, way, seed=11)


@pytest.fixture(params=[_grid, _random, _bayesian], ids=["grid", "random", "bayesian"])
def make_strategy(request: pytest.FixtureRequest) -> StrategyFactory:
    factory: StrategyFactory = request.param
    return factory


class TestStrategyContract(StrategyContract):
    """Over every strategy (grid, random, bayesian)."""
