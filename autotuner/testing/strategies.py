"""The strategy contract (``autotuner/tuning/_base.py``) as a reusable test suite.

A test module runs :class:`StrategyContract` over a strategy by subclassing it
and providing the ``make_strategy`` fixture: a :data:`StrategyFactory` called
as ``make_strategy(parameters, max_iterations, direction)``.

The contract: every suggestion is a point of the search space, its
parameters in spec order; no configuration is suggested twice, failed ones
included; a strategy suggests ``total = min(max_iterations, space size)``
configurations, then ``None`` for good; restored experiments count against
the budget and are never suggested again; a huge space is never materialised.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from autotuner.tuning import Direction, Params, Strategy

__all__ = ["SPACE", "StrategyContract", "StrategyFactory", "drain", "throughput"]

StrategyFactory = Callable[[Mapping[str, Sequence[Any]], int, Direction], Strategy]

SPACE: dict[str, list[Any]] = {
    "max-num-seqs": [8, 16, 32, 64],
    "gpu-memory-utilization": [0.7, 0.9],
    "enable-chunked-prefill": [True, False],
}


def throughput(params: Mapping[str, Any]) -> float:
    """A made-up objective over :data:`SPACE`, best at max-num-seqs 32, 0.9, chunked."""
    seqs = int(params["max-num-seqs"])
    return (
        1000
        - abs(seqs - 32) * 10
        + float(params["gpu-memory-utilization"]) * 100
        + (50 if params["enable-chunked-prefill"] else 0)
    )


def drain(strategy: Strategy, score: Callable[[Params], float | None] = throughput) -> list[Params]:
    """Suggest and tell until the strategy is exhausted; the suggestions in order."""
    seen = []
    while (params := strategy.suggest()) is not None:
        seen.append(params)
        strategy.tell(params, score(params))
    return seen


def _key(params: Mapping[str, Any]) -> tuple[Any, ...]:
    # Types too: True and 1 are different configurations.
    return tuple((type(v).__name__, v) for v in params.values())


def _grid(space: Mapping[str, Sequence[Any]]) -> set[tuple[Any, ...]]:
    return {
        _key(dict(zip(space, point, strict=True))) for point in itertools.product(*space.values())
    }


class StrategyContract:
    """What every ``Strategy`` promises. Needs the fixture ``make_strategy``."""

    def test_suggestions_are_distinct_points_of_the_space(
        self, make_strategy: StrategyFactory
    ) -> None:
        strategy = make_strategy(SPACE, 100, "maximize")
        seen = drain(strategy)
        assert strategy.total == len(seen) == 16
        assert {_key(p) for p in seen} == _grid(SPACE)
        assert all(list(p) == list(SPACE) for p in seen)  # spec order

    @pytest.mark.parametrize("direction", ["minimize", "maximize"])
    def test_max_iterations_caps_the_search(
        self, make_strategy: StrategyFactory, direction: Direction
    ) -> None:
        strategy = make_strategy(SPACE, 5, direction)
        assert strategy.total == 5 and strategy.direction == direction
        seen = drain(strategy)
        assert len(seen) == 5 and len({_key(p) for p in seen}) == 5
        assert {_key(p) for p in seen} <= _grid(SPACE)

    def test_exhausted_stays_exhausted(self, make_strategy: StrategyFactory) -> None:
        strategy = make_strategy({"a": [1, 2]}, 10, "minimize")
        assert len(drain(strategy, lambda p: 1.0)) == 2
        assert [strategy.suggest() for _ in range(3)] == [None, None, None]
        assert make_strategy(SPACE, 0, "minimize").suggest() is None

    def test_a_failed_configuration_is_not_suggested_again(
        self, make_strategy: StrategyFactory
    ) -> None:
        strategy = make_strategy({"a": [1, 2, 3]}, 10, "minimize")
        seen = drain(strategy, lambda p: None)
        assert sorted(p["a"] for p in seen) == [1, 2, 3]

    def test_restored_experiments_count_and_are_not_suggested_again(
        self, make_strategy: StrategyFactory
    ) -> None:
        first = make_strategy(SPACE, 10, "maximize")
        history: list[tuple[Params, float | None]] = []
        for _ in range(4):
            params = first.suggest()
            assert params is not None
            score = None if params["max-num-seqs"] == 64 else throughput(params)
            first.tell(params, score)
            history.append((params, score))
        resumed = make_strategy(SPACE, 10, "maximize")
        resumed.restore(history)
        assert resumed.total == 10
        more = drain(resumed)
        assert len(more) == 6  # the budget counts the restored experiments
        assert len({_key(p) for p in more}) == 6
        assert not {_key(p) for p in more} & {_key(p) for p, _ in history}

    def test_restoring_the_whole_space_leaves_nothing_to_suggest(
        self, make_strategy: StrategyFactory
    ) -> None:
        space: dict[str, list[Any]] = {"a": [1, 2], "b": ["x", "y"]}
        everything = drain(make_strategy(space, 10, "minimize"), lambda p: 1.0)
        resumed = make_strategy(space, 10, "minimize")
        resumed.restore([(p, 1.0) for p in everything])
        assert resumed.suggest() is None

    def test_true_and_one_are_different_configurations(
        self, make_strategy: StrategyFactory
    ) -> None:
        seen = drain(make_strategy({"a": [1, True, 1.5]}, 10, "minimize"), lambda p: 1.0)
        assert sorted(_key(p) for p in seen) == [
            (("bool", True),),
            (("float", 1.5),),
            (("int", 1),),
        ]

    def test_suggestions_are_copies(self, make_strategy: StrategyFactory) -> None:
        """A caller changing a suggestion changes nothing the strategy remembers."""
        strategy = make_strategy({"a": [1, 2]}, 10, "minimize")
        params = strategy.suggest()
        assert params is not None
        original = dict(params)
        params["a"] = "changed"
        strategy.tell(original, 1.0)
        rest = drain(strategy, lambda p: 1.0)
        assert [_key(p) for p in rest] == [_key({"a": ({1, 2} - {original["a"]}).pop()})]

    def test_a_huge_space_is_not_materialised(self, make_strategy: StrategyFactory) -> None:
        space = {f"p{i}": list(range(10)) for i in range(30)}  # 10^30 points
        seen = drain(make_strategy(space, 5, "minimize"), lambda p: 1.0)
        assert len(seen) == 5 and len({_key(p) for p in seen}) == 5

    def test_direction_must_be_minimize_or_maximize(self, make_strategy: StrategyFactory) -> None:
        with pytest.raises(ValueError, match="direction"):
            make_strategy(SPACE, 5, "sideways")  # type: ignore[arg-type]
