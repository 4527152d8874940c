"""Placeholder: prompts from a dataset file (the dataset helper's module replaces this file).

The load generator needs only :func:`load_dataset` and the shape of what it
returns; until the real loader lands, no spec has a dataset.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from autotuner.domain import BenchmarkSpec


@dataclass(frozen=True)
class DatasetPrompt:
    text: str
    output_tokens: int | None = None


class Dataset:
    """Prompts to draw from."""

    def __init__(self, prompts: list[DatasetPrompt]) -> None:
        self.prompts = prompts

    def sample(self, rng: random.Random) -> DatasetPrompt:
        return rng.choice(self.prompts)


def load_dataset(spec: BenchmarkSpec) -> Dataset | None:
    """``None``: the placeholder loads nothing."""
    return None
