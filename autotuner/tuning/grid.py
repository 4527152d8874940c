"""Grid search: every configuration of the cartesian product, in spec order."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from autotuner.tuning._base import Direction, Params, _Tracked


class GridStrategy(_Tracked):
    """The cartesian product of the parameter lists in spec order (first parameter
    varying slowest), at most ``max_iterations`` configurations."""

    name = "grid_search"

    def __init__(
        self,
        parameters: Mapping[str, Sequence[Any]],
        max_iterations: int,
        direction: Direction = "minimize",
    ) -> None:
        super().__init__(parameters, max_iterations, direction)
        self._order: Iterator[int] = iter(range(self.space.size))

    def suggest(self) -> Params | None:
        if self.exhausted:
            return None
        for index in self._order:
            params = self.space.point(index)
            if not self._seen(params):
                return self._take(params)
        return None
