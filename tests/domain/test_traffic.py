"""The traffic fields of a benchmark spec: what is refused, what is planned, what is warned."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from autotuner.domain import BenchmarkSpec, TaskSpec, level_count, plan_levels
from autotuner.domain.spec import SweepSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _task(**benchmark: Any) -> dict[str, Any]:
    return {
        "task_name": "traffic",
        "deployment_mode": "sim",
        "base_runtime": "vllm",
        "model": {"id_or_path": "sim-1B"},
        "parameters": {"max-num-seqs": [8]},
        "benchmark": benchmark,
    }


def _errors(**benchmark: Any) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        BenchmarkSpec(**benchmark)
    return [(e["loc"], e["msg"]) for e in caught.value.errors()]


def _stored(spec: TaskSpec) -> TaskSpec:
    """The spec as the worker reads it back: dumped to JSON (every field) and validated."""
    return TaskSpec.model_validate(json.loads(json.dumps(spec.model_dump(mode="json"))))


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ([1, 2.5], [1.0, 2.5]),
        (["inf"], ["inf"]),
        (["Infinity", "INF", ".inf", float("inf")], ["inf", "inf", "inf", "inf"]),
        (["4"], [4.0]),
        (10, [10.0]),
        ("inf", ["inf"]),
    ],
)
def test_request_rates_are_numbers_or_inf(given: Any, stored: list[Any]) -> None:
    spec = BenchmarkSpec(request_rate=given)
    assert spec.request_rate == stored
    assert spec.model_dump(mode="json")["request_rate"] == stored


@pytest.mark.parametrize(
    ("rate", "words"),
    [
        (0, "more than 0"),
        (-2, "more than 0"),
        (True, "not True"),
        ("fast", "not 'fast'"),
        ("-inf", "more than 0"),
        (float("nan"), "NaN"),
        (1e7, "at most 1,000,000"),
    ],
)
def test_bad_request_rates_name_their_place(rate: Any, words: str) -> None:
    errors = _errors(request_rate=[1, rate])
    assert any(loc == ("request_rate", 1) and words in msg for loc, msg in errors), errors


def test_an_empty_rate_list_is_refused() -> None:
    assert any(loc == ("request_rate",) for loc, _ in _errors(request_rate=[]))


def test_sweep_and_request_rate_together_are_refused() -> None:
    errors = _errors(request_rate=[1], sweep={"rates": 3})
    assert errors == [
        (
            ("sweep",),
            "give benchmark.sweep or benchmark.request_rate, not both: "
            "a sweep chooses its own rates",
        )
    ]


def test_no_level_at_all_is_refused() -> None:
    assert [loc for loc, _ in _errors(num_concurrency=[])] == [("num_concurrency",)]


def test_closed_loop_levels_only_by_default() -> None:
    spec = BenchmarkSpec(traffic_scenarios=["D(10,10)", "U(20,5)"], num_concurrency=[1, 8])
    levels = plan_levels(spec)
    assert [(lv.scenario, lv.kind, lv.concurrency, lv.request_rate) for lv in levels] == [
        ("D(10,10)", "concurrency", 1, None),
        ("D(10,10)", "concurrency", 8, None),
        ("U(20,5)", "concurrency", 1, None),
        ("U(20,5)", "concurrency", 8, None),
    ]
    assert level_count(spec) == 4


def test_request_rate_alone_replaces_the_default_concurrency() -> None:
    spec = TaskSpec(**_task(request_rate=[2, "inf"], max_concurrency=16))
    for current in (spec, _stored(spec)):  # the rule survives storage
        assert current.benchmark.num_concurrency == []
        levels = plan_levels(current.benchmark)
        assert [(lv.kind, lv.concurrency, lv.request_rate) for lv in levels] == [
            ("rate", 16, 2.0),
            ("rate", 16, math.inf),
        ]


def test_written_concurrency_runs_before_the_rates() -> None:
    spec = TaskSpec(**_task(num_concurrency=[1], request_rate=[5]))
    for current in (spec, _stored(spec)):
        kinds = [
            (lv.kind, lv.concurrency, lv.request_rate) for lv in plan_levels(current.benchmark)
        ]
        assert kinds == [("concurrency", 1, None), ("rate", None, 5.0)]


def test_a_sweep_plans_synchronous_throughput_then_its_rates() -> None:
    spec = BenchmarkSpec(traffic_scenarios=["D(8,8)"], sweep=SweepSpec(rates=3))
    steps = [(lv.kind, lv.sweep_step) for lv in plan_levels(spec)]
    assert steps == [
        ("sweep", "synchronous"),
        ("sweep", "throughput"),
        ("sweep", "rate-1"),
        ("sweep", "rate-2"),
        ("sweep", "rate-3"),
    ]
    assert plan_levels(spec)[0].concurrency == 1
    assert level_count(spec) == 5


def test_too_many_levels_are_refused_with_the_count() -> None:
    errors = _errors(traffic_scenarios=["D(1,1)"] * 30, num_concurrency=[1, 2, 4, 8], sweep={})
    assert len(errors) == 1
    loc, msg = errors[0]
    # 30 scenarios x (4 concurrency levels + 2 + 8 sweep levels)
    assert loc == () and msg.startswith("420 load levels per experiment") and "200" in msg
    assert (
        level_count(BenchmarkSpec(traffic_scenarios=["D(1,1)"] * 20, num_concurrency=[1] * 10))
        == 200
    )


@pytest.mark.parametrize(
    ("benchmark", "loc", "words"),
    [
        ({"dataset": {"path": "a.jsonl", "url": "http://h/a.jsonl"}}, ("dataset",), "not both"),
        (
            {"dataset": {"path": "a.jsonl"}, "dataset_url": "http://h/a.jsonl"},
            ("dataset",),
            "dataset.path or dataset_url, not both",
        ),
        (
            {"dataset": {"url": "http://h/a.jsonl"}, "dataset_url": "http://h/b.jsonl"},
            ("dataset_url",),
            "not both",
        ),
        ({"dataset": {}}, ("dataset",), "give dataset.path"),
        ({"dataset": {"prompt_field": "text"}}, ("dataset",), "give dataset.path"),
        ({"dataset": {"path": "prompts.txt"}}, ("dataset", "format"), "give dataset.format"),
        ({"dataset": {"path": "  "}}, ("dataset", "path"), "blank"),
        ({"dataset": {"url": "file:///etc/a.csv"}}, ("dataset", "url"), "http(s) URL"),
        ({"dataset_url": "sharegpt.json"}, ("dataset_url",), "http(s) URL"),
        ({"dataset_url": "https://h/data"}, ("dataset_url",), "give dataset.format"),
        ({"dataset": {"path": "a.parquet", "format": "parquet"}}, ("dataset", "format"), ""),
    ],
)
def test_dataset_sources_are_checked(
    benchmark: dict[str, Any], loc: tuple[Any, ...], words: str
) -> None:
    errors = _errors(**benchmark)
    assert any(e_loc == loc and words in msg for e_loc, msg in errors), errors


@pytest.mark.parametrize(
    "benchmark",
    [
        {"dataset": {"path": "prompts.jsonl"}},
        {"dataset": {"path": "data/prompts.v2.CSV"}},
        {"dataset": {"path": "prompts.txt", "format": "jsonl"}},
        {"dataset": {"url": "https://h/x/ShareGPT.json?download=1"}},
        {"dataset_url": "https://h/x/ShareGPT.json"},
        {"dataset": {"prompt_field": "text"}, "dataset_url": "https://h/p.csv"},
    ],
)
def test_dataset_sources_that_can_be_read(benchmark: dict[str, Any]) -> None:
    BenchmarkSpec(**benchmark)


def _warned(**benchmark: Any) -> dict[str, str]:
    return {w.field: w.message for w in TaskSpec(**_task(**benchmark)).warnings()}


def test_open_loop_only_fields_are_warned_about_without_open_loop_levels() -> None:
    warned = _warned(num_concurrency=[4], burstiness=0.5, max_concurrency=8)
    assert set(warned) == {"benchmark.burstiness", "benchmark.max_concurrency"}
    assert "no effect" in warned["benchmark.burstiness"]
    assert _warned(request_rate=[4], burstiness=0.5, max_concurrency=8) == {}
    assert _warned(sweep={}, burstiness=2, max_concurrency=8) == {}


def test_a_dataset_warns_that_scenario_inputs_are_unused() -> None:
    warned = _warned(dataset={"path": "p.jsonl", "output_tokens_field": "n"})
    assert "input token counts are not used" in warned["benchmark.dataset"]
    assert "'n'" in warned["benchmark.dataset"]
    assert "benchmark.dataset_url" in _warned(dataset_url="http://h/p.jsonl")


def test_levels_that_cannot_fit_the_experiment_timeout_are_warned_about() -> None:
    spec = _task(num_concurrency=[1, 2, 4], max_time_per_iteration=30)
    spec["optimization"] = {"timeout_per_iteration": 60}
    warned = {w.field: w.message for w in TaskSpec(**spec).warnings()}
    assert "3 load levels" in warned["optimization.timeout_per_iteration"]
    assert "90 s" in warned["optimization.timeout_per_iteration"]


def test_fields_nobody_reads_are_warned_about() -> None:
    spec = _task(num_concurrency=[1], warmup=5)
    spec["runtime_image_tag"] = "v1"
    warned = {w.field for w in TaskSpec(**spec).warnings()}
    assert warned == {"runtime_image_tag", "benchmark.warmup"}


def test_a_plain_spec_has_no_warnings() -> None:
    assert TaskSpec(**_task(num_concurrency=[1, 4])).warnings() == []


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.*")), ids=lambda p: p.name)
def test_example_task_files_validate_unchanged(path: Path) -> None:
    raw = (
        yaml.safe_load(path.read_text()) if path.suffix != ".json" else json.loads(path.read_text())
    )
    spec = TaskSpec.model_validate(raw)
    assert spec.benchmark.num_concurrency == raw["benchmark"]["num_concurrency"]
    assert spec.benchmark.traffic_scenarios == raw["benchmark"]["traffic_scenarios"]
    assert {lv.kind for lv in plan_levels(spec.benchmark)} == {"concurrency"}
    assert spec.warnings() == []
    assert _stored(spec) == spec
