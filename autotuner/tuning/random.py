"""Random search: seeded sampling without replacement from the grid."""

from __future__ import annotations

import random as _random
from collections.abc import Mapping, Sequence
from typing import Any

from autotuner.tuning._base import Direction, Params, _Tracked
from autotuner.tuning._space import sample_indices


class RandomStrategy(_Tracked):
    """Distinct grid points in an order fixed by ``seed``.

    The first ``max_iterations`` points of a seeded permutation are the plan;
    after ``restore`` the plan continues where it stopped, so an interrupted run
    and an uninterrupted one try the same configurations.
    """

    name = "random"

    def __init__(
        self,
        parameters: Mapping[str, Sequence[Any]],
        max_iterations: int,
        direction: Direction = "minimize",
        seed: int = 0,
    ) -> None:
        super().__init__(parameters, max_iterations, direction)
        self.seed = seed
        # Indices, not points: the grid is never materialised, however large.
        self._plan = sample_indices(_random.Random(seed), self.space.size, self.total)
        self._cursor = 0

    def suggest(self) -> Params | None:
        if self.exhausted:
            return None
        while self._cursor < len(self._plan):
            params = self.space.point(self._plan[self._cursor])
            self._cursor += 1
            if not self._seen(params):
                return self._take(params)
        # Restored experiments outside the plan: fall back to any untried point.
        rng = _random.Random(self.seed + 1)
        for index in sample_indices(rng, self.space.size, 10_000):
            params = self.space.point(index)
            if not self._seen(params):
                return self._take(params)
        return None
