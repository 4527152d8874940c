"""A benchmark with a dataset takes its prompts (and output lengths) from it."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from autotuner.bench import loadgen
from autotuner.bench.dataset import DatasetPrompt, load_dataset
from autotuner.domain import BenchmarkSpec
from autotuner.testing.stub import StubConfig
from tests.bench.stub_helpers import bench_stub


class _Prompts:
    """What ``load_dataset`` returns: something to ``sample(rng)`` prompts from."""

    def __init__(self, prompts: list[DatasetPrompt]) -> None:
        self.prompts = prompts
        self.loads = 0

    def sample(self, rng: random.Random) -> DatasetPrompt:
        return rng.choice(self.prompts)


async def test_prompts_and_output_tokens_come_from_the_dataset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dataset = _Prompts([DatasetPrompt("one two three", 7), DatasetPrompt("four five six", None)])
    calls: list[BenchmarkSpec] = []

    def fake_load(spec: BenchmarkSpec) -> _Prompts:
        calls.append(spec)
        return dataset

    monkeypatch.setattr(loadgen, "load_dataset", fake_load)
    result, _ = await bench_stub(
        StubConfig(),
        traffic_scenarios=["D(50,2)"],
        num_concurrency=[1, 2],
        max_requests_per_iteration=10,
    )
    assert len(calls) == 1  # read once per benchmark
    results = [r for level in result.levels for r in level.results]
    # The stub counts the prompt's words (3), not the scenario's 50; output: 7 or the scenario's 2.
    assert {r.prompt_tokens for r in results} == {3}
    assert {r.output_tokens for r in results} == {7, 2}


async def test_a_dataset_file_run_uses_the_files_prompts(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "alpha beta"}\n{"prompt": "gamma delta"}\n')
    spec: dict[str, Any] = {"dataset": {"path": str(path)}, "traffic_scenarios": ["D(40,3)"]}
    assert load_dataset(BenchmarkSpec.model_validate(spec)) is not None
    result, _ = await bench_stub(
        StubConfig(), num_concurrency=[1], max_requests_per_iteration=4, **spec
    )
    assert {r.prompt_tokens for r in result.levels[0].results} == {2}
