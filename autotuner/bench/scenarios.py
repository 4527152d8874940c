"""Traffic scenarios and synthetic prompts.

The scenario grammar (``D(100,100)``, ``N(480,240)/(300,150)``,
``U(50,150)/(20,80)``, ``U(150,80)``) lives in :mod:`autotuner.domain.scenarios`,
so that the task spec's validation and the load generator parse with the same
code; :class:`Scenario` and :func:`parse_scenario` are re-exported here.

Prompts are synthetic text with one word per token: exact on the simulator,
which counts words; on a real tokenizer an English word is ~1.3 tokens, so real
prompts come out somewhat longer.
"""

from __future__ import annotations

import random

from autotuner.domain.scenarios import Scenario, parse_scenario

__all__ = ["Scenario", "parse_scenario", "synthetic_prompt"]

_TEXT = (
    "time year people way day man thing woman life child world school state family "
    "student group country problem hand part place case week company system program "
    "question work government number night point home water room mother area money story "
    "fact month lot right study book eye job word business issue side kind head house "
    "service friend father power hour game line end member law car city community name "
    "president team minute idea"
)
_WORDS = tuple(_TEXT.split())


def synthetic_prompt(tokens: int, rng: random.Random) -> str:
    """About ``tokens`` tokens of text (one word per token), varied to avoid prefix caching."""
    return " ".join(rng.choice(_WORDS) for _ in range(max(1, tokens)))
