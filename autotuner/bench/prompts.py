"""Prompts of a benchmark: from its dataset, else synthetic text of the scenario's length."""

from __future__ import annotations

import random

from autotuner.bench.dataset import Dataset
from autotuner.bench.scenarios import Scenario, synthetic_prompt

_CORPUS_WORDS = 1 << 16


class PromptSource:
    """Draws (prompt, prompt tokens, output tokens) for one request.

    Synthetic prompts are slices of one word list made once per benchmark
    (one word per token, each slice starting at a random word, so prompts do not
    share a prefix): cheap enough for thousands of requests/s. Dataset prompts
    keep their record's output tokens, else take the scenario's; their prompt
    tokens are estimated as words until the server's usage chunk says.
    """

    def __init__(self, dataset: Dataset | None, seed: int) -> None:
        self.dataset = dataset
        self._words = synthetic_prompt(_CORPUS_WORDS, random.Random(seed)).split(" ")

    def draw(self, scenario: Scenario, rng: random.Random) -> tuple[str, int, int]:
        prompt_tokens, output_tokens = scenario.sample(rng)
        if self.dataset is not None:
            record = self.dataset.sample(rng)
            out = record.output_tokens if record.output_tokens else output_tokens
            return record.text, len(record.text.split()), max(1, out)
        return self._synthetic(prompt_tokens, rng), prompt_tokens, output_tokens

    def _synthetic(self, tokens: int, rng: random.Random) -> str:
        words, n = self._words, max(1, tokens)
        start = rng.randrange(len(words))
        if start + n <= len(words):
            return " ".join(words[start : start + n])
        parts: list[str] = []
        while n > 0:
            take = min(n, len(words) - start)
            parts.append(" ".join(words[start : start + take]))
            n -= take
            start = 0
        return " ".join(parts)
