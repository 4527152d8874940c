"""Grid search: every configuration of the cartesian product, in spec order."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from autotuner.tuning._base import Direction, Params, Strategy
from autotuner.tuning._space import SearchSpace


class _Tracked(Strategy):
    """Bookkeeping shared by the strategies: budget, tried configurations, best score."""

    def __init__(
        self,
        parameters: Mapping[str, Sequence[Any]],
        max_iterations: int,
        direction: Direction = "minimize",
    ) -> None:
        if direction not in ("minimize", "maximize"):
            raise ValueError(f"direction must be 'minimize' or 'maximize', not {direction!r}")
        self.space = SearchSpace(parameters)
        self.direction = direction
        self.total = max(0, min(max_iterations, self.space.size))
        self.history: list[tuple[Params, float | None]] = []
        self._used = 0  # suggested or restored configurations
        self._tried: dict[tuple[Any, ...], float | None] = {}
        self._pending: set[tuple[Any, ...]] = set()

    @property
    def exhausted(self) -> bool:
        return self._used >= self.total

    @property
    def best(self) -> tuple[Params, float] | None:
        """The best (parameters, score) told so far, failures excluded."""
        found: tuple[Params, float] | None = None
        for params, score in self.history:
            if score is None:
                continue
            if (
                found is None
                or (self.direction == "minimize" and score < found[1])
                or (self.direction == "maximize" and score > found[1])
            ):
                found = (params, score)
        return found

    def _take(self, params: Params) -> Params:
        self._used += 1
        self._pending.add(self.space.key(params))
        return dict(params)

    def _seen(self, params: Mapping[str, Any]) -> bool:
        key = self.space.key(params)
        return key in self._tried or key in self._pending

    def tell(self, params: Params, score: float | None) -> None:
        key = self.space.key(params)
        if key in self._pending:
            self._pending.discard(key)
        elif key not in self._tried:
            self._used += 1  # a result we did not suggest (restore): it used budget
        self._tried[key] = score
        self.history.append((dict(params), score))


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
