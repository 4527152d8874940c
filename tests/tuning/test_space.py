"""The search space: distinct values in spec order, built in linear time, never materialised."""

from __future__ import annotations

import pytest

from autotuner.tuning import BayesianStrategy, GridStrategy, RandomStrategy
from autotuner.tuning._space import SearchSpace


def test_duplicates_collapse_by_type_and_value_in_spec_order() -> None:
    space = SearchSpace({"x": [True, 1, 1.0, "1", 1, True, 2, 0.0, -0.0, "1"], "y": ["a"]})
    values = space.values[0]
    assert values == [True, 1, 1.0, "1", 2, 0.0]
    assert [type(v) for v in values] == [bool, int, float, str, int, float]
    assert space.size == 6


@pytest.mark.timeout(60)
def test_a_long_value_list_is_deduplicated_in_linear_time() -> None:
    # The probe: 30,000 values took 24.6 s (pairwise comparisons); 10^6 would take
    # hours. Linear, 10^6 is well under a second; the timeout only guards against
    # the quadratic path coming back, it measures nothing.
    values = [*range(500_000), *range(500_000)]
    space = SearchSpace({"x": values})
    assert space.size == 500_000
    assert space.values[0][:3] == [0, 1, 2] and space.values[0][-1] == 499_999


@pytest.mark.timeout(60)
@pytest.mark.parametrize("strategy", [GridStrategy, RandomStrategy, BayesianStrategy])
def test_a_space_of_1000_to_the_8_points_is_never_materialised(strategy: type) -> None:
    parameters = {f"p{i}": list(range(1000)) for i in range(8)}
    search = strategy(parameters, 3)
    assert search.space.size == 1000**8 and search.total == 3
    seen = []
    while (params := search.suggest()) is not None:
        seen.append(params)
        search.tell(params, float(len(seen)))
    assert len(seen) == 3
    assert len({tuple(p.values()) for p in seen}) == 3
    assert all(set(p) == set(parameters) for p in seen)
