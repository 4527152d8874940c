"""Traffic scenarios (``D(100,100)``, ``N(480,240)/(300,150)``, ``U(50,150)/(20,80)``) and prompts.

* ``D(in,out)``: every request has exactly ``in`` prompt and ``out`` output tokens.
* ``N(mi,si)/(mo,so)``: normal distributions (mean, standard deviation).
* ``U(a,b)/(c,d)``: uniform integers in ``[a, b]`` and ``[c, d]``.

Token counts are at least 1. Prompts are synthetic text with one word per
token: exact on the simulator, which counts words; on a real tokenizer an
English word is ~1.3 tokens, so real prompts come out somewhat longer.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

_NUMBERS = re.compile(r"\(([^()]*)\)")
_KINDS = {"D", "N", "U"}
_TEXT = (
    "time year people way day man thing woman life child world school state family "
    "student group country problem hand part place case week company system program "
    "question work government number night point home water room mother area money story "
    "fact month lot right study book eye job word business issue side kind head house "
    "service friend father power hour game line end member law car city community name "
    "president team minute idea"
)
_WORDS = tuple(_TEXT.split())


@dataclass(frozen=True)
class Scenario:
    """One parsed traffic scenario."""

    text: str
    kind: str
    input: tuple[int, int]
    output: tuple[int, int]

    def sample(self, rng: random.Random) -> tuple[int, int]:
        """(prompt tokens, output tokens) of one request."""
        return self._draw(self.input, rng), self._draw(self.output, rng)

    def _draw(self, pair: tuple[int, int], rng: random.Random) -> int:
        a, b = pair
        if self.kind == "D":
            return max(1, a)
        if self.kind == "N":
            return max(1, round(rng.gauss(a, b)))
        return max(1, rng.randint(a, b))


def parse_scenario(text: str) -> Scenario:
    """Parse a scenario string; ``ValueError`` says what is wrong with it."""
    stripped = text.strip()
    kind = stripped[:1].upper()
    groups = _NUMBERS.findall(stripped)
    if kind not in _KINDS or not groups:
        raise ValueError(
            f"traffic scenario {text!r}: expected D(...), N(...)/(...) or U(...)/(...)"
        )
    try:
        numbers = [int(n) for g in groups for n in g.split(",") if n.strip()]
    except ValueError:
        raise ValueError(f"traffic scenario {text!r}: token counts must be integers") from None
    if len(numbers) != (2 if kind == "D" else 4):
        raise ValueError(
            f"traffic scenario {text!r}: D takes (input,output); "
            "N and U take (a,b)/(c,d) for input and output"
        )
    if any(n < 0 for n in numbers):
        raise ValueError(f"traffic scenario {text!r}: token counts must not be negative")
    if kind == "D":
        inp, out = (numbers[0], 0), (numbers[1], 0)
    else:
        inp, out = (numbers[0], numbers[1]), (numbers[2], numbers[3])
        if kind == "U" and (inp[0] > inp[1] or out[0] > out[1]):
            raise ValueError(f"traffic scenario {text!r}: U ranges must be (min,max)")
    return Scenario(text=stripped, kind=kind, input=inp, output=out)


def synthetic_prompt(tokens: int, rng: random.Random) -> str:
    """About ``tokens`` tokens of text (one word per token), varied to avoid prefix caching."""
    return " ".join(rng.choice(_WORDS) for _ in range(max(1, tokens)))
