"""Strategy contract: propose the next configuration, learn from its score.

Strategies are pure (no I/O). ``tell`` is called exactly once per ``suggest``.
A score is "higher is better" whatever the objective (see ``scoring``);
``None`` means the experiment failed. ``restore`` rebuilds a strategy's state
from stored experiments after a restart, attaching each score to the exact
parameters it was measured with.
"""

from __future__ import annotations

import abc
from typing import Any

Params = dict[str, Any]


class Strategy(abc.ABC):
    name: str

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
