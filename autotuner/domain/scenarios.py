"""Traffic scenarios: the one grammar, as genai-bench defines it for text-to-text.

* ``D(in,out)``: every request has exactly ``in`` prompt and ``out`` output tokens.
* ``N(mean_in,sd_in)/(mean_out,sd_out)``: normal distributions, rounded to whole
  tokens and kept at 1 or more.
* ``U(min_in,max_in)/(min_out,max_out)``: uniform integers in ``[min, max]``, ends
  included.
* ``U(max_in,max_out)``: genai-bench's short form of ``U(1,max_in)/(1,max_out)``
  (genai-bench samples from 1 when the minimum is left out).

Token counts are whole numbers from 1 to :data:`MAX_TOKENS`; a standard deviation
may be 0. Blanks are allowed anywhere (``N(480, 240)/(300, 150)``), the letter is
upper case. genai-bench's other scenario kinds (``E`` embeddings, ``R`` re-rank,
``I``/``V``/``A`` image, video and audio input, ``P`` prefix repetition, ``F``
prompts from a file) are refused with a message saying so: this project
benchmarks text generation, and a file of prompts is ``benchmark.dataset``.

This module is the only parser: the task spec validates each scenario with
:func:`parse_scenario` (a wrong one is a 422 at ``POST /api/tasks`` naming
``benchmark.traffic_scenarios[i]``) and the load generator samples from what it
returns.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

MAX_TOKENS = 1_000_000  # per request, in a traffic scenario

_SHAPE = re.compile(r"^(?P<kind>[A-Za-z])(?P<rest>.*)$")
_GROUPS = re.compile(r"^\(([^()]*)\)(?:/\(([^()]*)\))?$")
_NUMBER = re.compile(r"^\d+$")

_FORMS = (
    "D(input,output), N(mean_in,sd_in)/(mean_out,sd_out), "
    "U(min_in,max_in)/(min_out,max_out) or U(max_in,max_out)"
)
_OTHER_KINDS = {
    "E": "the embedding scenario E(tokens_per_document)",
    "R": "the re-rank scenario R(tokens_per_document,tokens_per_query)",
    "I": "the image-input scenario I(width,height[,images])",
    "V": "the video-input scenario V(videos)",
    "A": "the audio-input scenario A(...)",
}


@dataclass(frozen=True)
class Scenario:
    """One parsed traffic scenario.

    ``input`` and ``output`` are the two numbers of each side: ``(n, 0)`` for
    ``D``, ``(mean, sd)`` for ``N``, ``(min, max)`` for ``U`` (the short form
    gives ``(1, max)``). ``text`` is the scenario without blanks, as written.
    """

    text: str
    kind: str
    input: tuple[int, int]
    output: tuple[int, int]

    def sample(self, rng: random.Random) -> tuple[int, int]:
        """(prompt tokens, output tokens) of one request, drawn from ``rng``."""
        return self._draw(self.input, rng), self._draw(self.output, rng)

    def sample_output(self, rng: random.Random) -> int:
        """Output tokens of one request (for prompts from a dataset)."""
        return self._draw(self.output, rng)

    def _draw(self, pair: tuple[int, int], rng: random.Random) -> int:
        a, b = pair
        if self.kind == "D":
            return a
        if self.kind == "N":
            return max(1, round(rng.gauss(a, b)))
        return rng.randint(a, b)


def parse_scenario(text: str) -> Scenario:
    """Parse one scenario; the ``ValueError`` says what is wrong and what to write."""
    compact = re.sub(r"\s+", "", text)

    def refuse(why: str) -> ValueError:
        return ValueError(f"traffic scenario {text!r}: {why}")

    shape = _SHAPE.match(compact)
    if shape is None:
        raise refuse(f"expected {_FORMS}" if compact else f"is empty; expected {_FORMS}")
    kind, rest = shape["kind"], shape["rest"]
    if kind.upper() != kind:
        raise refuse(f"write the letter in upper case ({kind.upper()}{rest})")
    if kind in _OTHER_KINDS:
        raise refuse(
            f"{_OTHER_KINDS[kind]} of genai-bench is not supported; this autotuner "
            f"benchmarks text-to-text only: {_FORMS}"
        )
    if kind == "P":
        raise refuse(
            f"prefix-repetition scenarios (P(prefix,suffix)/output) are not supported; use {_FORMS}"
        )
    if kind == "F":
        raise refuse(
            "F (prompts from a file) is not a scenario here: give benchmark.dataset "
            "(a JSONL or CSV file) and a D, N or U scenario for the output lengths"
        )
    if kind not in ("D", "N", "U"):
        raise refuse(f"unknown kind {kind!r}; expected {_FORMS}")
    groups = _GROUPS.match(rest)
    if groups is None:
        raise refuse(f"expected {_FORMS}")
    sides = [g.split(",") for g in groups.groups() if g is not None]
    for part in (p for side in sides for p in side):
        if not _NUMBER.match(part):
            shown = part or "nothing"
            raise refuse(f"{shown!r} is not a token count; token counts are whole numbers")
    numbers = [[int(p) for p in side] for side in sides]
    shape_of = [len(side) for side in numbers]
    if kind == "D" and shape_of != [2]:
        raise refuse("D takes (input,output), e.g. D(100,100)")
    if kind == "N" and shape_of != [2, 2]:
        raise refuse("N takes (mean_in,sd_in)/(mean_out,sd_out), e.g. N(480,240)/(300,150)")
    if kind == "U" and shape_of not in ([2], [2, 2]):
        raise refuse(
            "U takes (min_in,max_in)/(min_out,max_out), e.g. U(50,150)/(20,80), "
            "or (max_in,max_out), e.g. U(150,80)"
        )
    if any(n > MAX_TOKENS for side in numbers for n in side):
        raise refuse(f"token counts are at most {MAX_TOKENS:,}")

    if kind == "D":
        (inp, out) = numbers[0]
        if inp < 1 or out < 1:
            raise refuse("input and output token counts must be at least 1")
        return Scenario(text=compact, kind=kind, input=(inp, 0), output=(out, 0))
    if kind == "N":
        (mi, si), (mo, so) = numbers
        if mi < 1 or mo < 1:
            raise refuse("the mean token counts must be at least 1")
        return Scenario(text=compact, kind=kind, input=(mi, si), output=(mo, so))
    if len(numbers) == 1:  # genai-bench's short form: minimum 1
        (max_in, max_out) = numbers[0]
        if max_in < 1 or max_out < 1:
            raise refuse("the maximum token counts must be at least 1")
        return Scenario(text=compact, kind=kind, input=(1, max_in), output=(1, max_out))
    (lo_in, hi_in), (lo_out, hi_out) = numbers
    if lo_in < 1 or lo_out < 1:
        raise refuse("the minimum token counts must be at least 1")
    if lo_in > hi_in or lo_out > hi_out:
        raise refuse("U ranges are (min,max): a minimum is above its maximum")
    return Scenario(text=compact, kind=kind, input=(lo_in, hi_in), output=(lo_out, hi_out))


def check_scenario(text: str) -> str:
    """Validator of one ``traffic_scenarios`` item: the text unchanged, or ``ValueError``."""
    parse_scenario(text)
    return text
