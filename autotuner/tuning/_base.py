"""Strategy contract: propose the next configuration, learn from its score.

Strategies are pure (no I/O). ``tell`` is called exactly once per ``suggest``.
Scores are objective scores in the objective's own units (seconds of latency,
tokens per second; see ``scoring.score_experiment``): a strategy is built with
the objective's ``direction`` ("minimize" or "maximize") and compares scores
accordingly. ``None`` means the experiment failed. ``restore`` rebuilds a
strategy's state from stored experiments after a restart, attaching each score
to the exact parameters it was measured with; restored experiments count
against ``max_iterations`` and are never suggested again.

``suggest`` never returns a configuration twice (a failed one included), and
returns ``None`` once ``total`` configurations were suggested or restored.
The contract suite is ``autotuner.testing.strategies``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from autotuner.tuning._space import SearchSpace

Params = dict[str, Any]
Direction = Literal["minimize", "maximize"]


class Strategy(abc.ABC):
    name: str
    direction: Direction
    total: int
    """How many configurations this strategy will suggest at most, restored ones
    included: ``min(max_iterations, size of the search space)`` (for progress)."""

    @abc.abstractmethod
    def suggest(self) -> Params | None:
        """The next configuration, or ``None`` when the search is exhausted."""

    @abc.abstractmethod
    def tell(self, params: Params, score: float | None) -> None:
        """Record the result of ``params``."""

    def restore(self, history: list[tuple[Params, float | None]]) -> None:
        """Replay finished experiments (in order) after a restart."""
        for params, score in history:
            self.tell(params, score)


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
