"""Strategy contract: propose the next configuration, learn from its score.

Strategies are pure (no I/O). ``tell`` is called exactly once per ``suggest``.
Scores are objective scores in the objective's own units (seconds of latency,
tokens per second; see ``scoring.score_experiment``): a strategy is built with
the objective's ``direction`` ("minimize" or "maximize") and compares scores
accordingly. ``None`` means the experiment failed. ``restore`` rebuilds a
strategy's state from stored experiments after a restart, attaching each score
to the exact parameters it was measured with; restored experiments count
against ``max_iterations`` and are never suggested again.
"""

from __future__ import annotations

import abc
from typing import Any, Literal

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
