"""What each strategy does beyond the contract (``autotuner.testing.strategies``, run in
test_strategy_contract.py): its order, its seed, its search."""

from __future__ import annotations

from typing import Any

import pytest

from autotuner.domain import OptimizationSpec, StrategyName
from autotuner.testing.strategies import SPACE, drain
from autotuner.testing.strategies import throughput as _throughput
from autotuner.tuning import (
    BayesianStrategy,
    GridStrategy,
    RandomStrategy,
    Strategy,
    get_strategy,
)


def _key(params: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(params.values())


def test_grid_is_the_cartesian_product_in_spec_order() -> None:
    strategy = GridStrategy(SPACE, max_iterations=100)
    seen = drain(strategy)
    assert strategy.total == len(seen) == 16
    assert seen[0] == {
        "max-num-seqs": 8,
        "gpu-memory-utilization": 0.7,
        "enable-chunked-prefill": True,
    }
    assert seen[1]["enable-chunked-prefill"] is False  # last parameter varies fastest
    assert seen[2]["gpu-memory-utilization"] == 0.9
    assert [p["max-num-seqs"] for p in seen[::4]] == [8, 16, 32, 64]
    assert list(seen[0]) == list(SPACE)


def test_grid_stops_at_max_iterations_and_skips_restored_points() -> None:
    assert len(drain(GridStrategy(SPACE, max_iterations=5))) == 5
    full = drain(GridStrategy(SPACE, max_iterations=6))
    resumed = GridStrategy(SPACE, max_iterations=6)
    resumed.restore([(p, _throughput(p)) for p in full[:2]])
    assert drain(resumed) == full[2:]


def test_grid_drops_duplicate_values() -> None:
    assert GridStrategy({"a": [1, 1, 2]}, 10).total == 2


def test_random_is_seeded_distinct_and_capped() -> None:
    first = drain(RandomStrategy(SPACE, max_iterations=10, seed=42))
    again = drain(RandomStrategy(SPACE, max_iterations=10, seed=42))
    other = drain(RandomStrategy(SPACE, max_iterations=10, seed=7))
    assert first == again != other
    assert len(first) == 10 and len({_key(p) for p in first}) == 10
    assert len(drain(RandomStrategy(SPACE, max_iterations=100, seed=1))) == 16


def test_random_resumes_with_the_same_plan() -> None:
    full = drain(RandomStrategy(SPACE, max_iterations=8, seed=3))
    resumed = RandomStrategy(SPACE, max_iterations=8, seed=3)
    resumed.restore([(p, _throughput(p)) for p in full[:3]])
    assert drain(resumed) == full[3:]


def test_bayesian_suggests_distinct_points_and_finds_a_good_one() -> None:
    strategy = BayesianStrategy(SPACE, max_iterations=12, direction="maximize", seed=0)
    seen = drain(strategy)
    assert len(seen) == 12 and len({_key(p) for p in seen}) == 12
    best = strategy.best
    assert best is not None and best[1] >= 1100  # within the top of the 16 points
    assert drain(BayesianStrategy(SPACE, max_iterations=30, seed=1)).__len__() == 16


def test_bayesian_restore_keeps_every_score_with_its_own_parameters() -> None:
    """A strategy restored on resume must not re-attach old scores to new parameters."""
    original = BayesianStrategy(SPACE, max_iterations=10, direction="maximize", seed=5)
    history = []
    for _ in range(6):
        params = original.suggest()
        assert params is not None
        score = None if params["max-num-seqs"] == 64 else _throughput(params)
        original.tell(params, score)
        history.append((params, score))

    resumed = BayesianStrategy(SPACE, max_iterations=10, direction="maximize", seed=99)
    resumed.restore(history)
    trials = resumed.study.trials
    assert len(trials) == 6
    for trial, (params, score) in zip(trials, history, strict=True):
        assert trial.params == params
        assert trial.value == score
        assert trial.state.name == ("FAIL" if score is None else "COMPLETE")

    more = drain(resumed)
    assert len(more) == 4  # the budget counts the restored experiments
    assert not {_key(p) for p in more} & {_key(p) for p, _ in history}
    for trial in resumed.study.trials:
        if trial.state.name == "COMPLETE":
            assert trial.value == _throughput(trial.params)


@pytest.mark.parametrize(
    ("name", "cls"),
    [("grid_search", GridStrategy), ("random", RandomStrategy), ("bayesian", BayesianStrategy)],
)
def test_get_strategy(name: StrategyName, cls: type[Strategy]) -> None:
    spec = OptimizationSpec(strategy=name, objective="maximize_throughput", max_iterations=3)
    strategy = get_strategy(spec, SPACE)
    assert isinstance(strategy, cls) and strategy.name == name
    assert strategy.direction == "maximize" and strategy.total == 3
    spec = OptimizationSpec(strategy=name, objective="minimize_ttft", max_iterations=50)
    assert get_strategy(spec, SPACE).direction == "minimize"
    assert get_strategy(spec, SPACE).total == 16


def test_bayesian_fallback_enqueues_untried_points(monkeypatch: pytest.MonkeyPatch) -> None:
    import autotuner.tuning.bayesian as bayesian

    monkeypatch.setattr(bayesian, "_MAX_REASKS", 0)  # TPE never gets a say
    strategy = BayesianStrategy(SPACE, max_iterations=5, seed=0)
    seen = drain(strategy)
    assert len({_key(p) for p in seen}) == 5
    assert [t.params for t in strategy.study.trials] == seen
    assert [t.value for t in strategy.study.trials] == [_throughput(p) for p in seen]
