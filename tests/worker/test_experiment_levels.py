"""One experiment through the worker against the simulator: scored per load level.

The simulator runs one sequence at a time (``max-num-seqs 1``): at concurrency
1 a request takes its own service time (~0.2 s), at 16 it queues behind the
others (p90 ~3 s). A hard ``p90 <= 1 s`` SLO passes at the low load only, with
a margin of several times either way, so the test does not depend on speed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from autotuner.config import Settings
from autotuner.domain import ExperimentStatus, TaskSpec
from autotuner.events import EventBus, create_event_bus
from autotuner.runtimes import SimRuntime
from autotuner.store import Store
from autotuner.worker.experiment import ExperimentRun
from tests.e2e.specs import sim_spec

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def wired(tmp_path: Path) -> AsyncIterator[tuple[Store, EventBus, Settings]]:
    settings = Settings(data_dir=tmp_path)
    store = Store(settings.resolved_database_url)
    await store.init()
    bus = create_event_bus(settings, store)
    await bus.start()
    try:
        yield store, bus, settings
    finally:
        await bus.close()
        await store.close()


async def _run(wired: tuple[Store, EventBus, Settings], **overrides: Any) -> dict[str, Any]:
    store, bus, settings = wired
    spec = TaskSpec.model_validate(sim_spec("levels", **overrides))
    task = await store.create_task(spec)
    params = {name: values[0] for name, values in spec.parameters.items()}
    score = await ExperimentRun(
        store, bus, settings, task=task, spec=spec, runtime=SimRuntime(), number=1,
        parameters=params,
    ).run()  # fmt: skip
    (exp,) = await store.list_experiments(task.id)
    return {"score": score, "exp": exp}


async def test_only_the_compliant_level_is_scored_and_the_violation_is_stored(
    wired: tuple[Store, EventBus, Settings],
) -> None:
    out = await _run(
        wired,
        parameters={"max-num-seqs": [1]},
        slo={"latency": {"p90": {"threshold": 1.0, "hard_fail": True}}},
        benchmark={
            "traffic_scenarios": ["D(32,32)"],
            "num_concurrency": [1, 16],
            "max_requests_per_iteration": 16,
            "max_time_per_iteration": 60,
        },
        optimization={"objective": "maximize_throughput", "timeout_per_iteration": 150},
    )
    exp = out["exp"]
    assert exp.status == ExperimentStatus.SUCCESS, exp.error_message
    metrics = exp.metrics
    low, high = metrics["levels"]
    assert (low["concurrency"], high["concurrency"]) == (1, 16)
    assert low["compliant"] and low["used_for_score"] and low["slo_violations"] == []
    assert not high["compliant"] and not high["used_for_score"]
    (violation,) = high["slo_violations"]
    assert violation["slo"] == "latency.p90" and violation["level"] == high["label"]
    assert violation["hard"] and violation["actual"] > 1.0 and violation["threshold"] == 1.0
    assert violation["margin"] == pytest.approx(violation["actual"] - 1.0)
    assert exp.slo_violations == [violation]
    # Scored on the compliant level: its throughput, and its figures at the top level.
    assert out["score"] == pytest.approx(low["output_throughput"])
    assert exp.objective_score == pytest.approx(low["output_throughput"])
    assert metrics["p90_e2el_ms"] == pytest.approx(low["p90_e2el_ms"])
    assert metrics["scoring"]["levels_used"] == [low["label"]]
    assert metrics["scoring"]["levels_excluded"] == [
        {"label": high["label"], "reason": "violates latency.p90"}
    ]
    assert metrics["pooled_all"]["completed"] == low["completed"] + high["completed"] == 32


async def test_an_experiment_no_level_of_which_passes_fails_with_the_reason(
    wired: tuple[Store, EventBus, Settings],
) -> None:
    out = await _run(
        wired,
        parameters={"max-num-seqs": [1]},
        slo={"latency": {"p90": {"threshold": 0.001, "hard_fail": True}}},
        benchmark={
            "traffic_scenarios": ["D(8,8)"],
            "num_concurrency": [1, 2],
            "max_requests_per_iteration": 4,
        },
    )
    exp = out["exp"]
    assert out["score"] is None and exp.status == ExperimentStatus.FAILED
    assert exp.objective_score is None
    assert exp.error_message is not None
    assert exp.error_message.startswith("no load level passes the SLOs")
    assert "@ c=1: latency.p90" in exp.error_message and "@ c=2: latency.p90" in exp.error_message
    assert len(exp.slo_violations or []) == 2
    assert [lv["compliant"] for lv in exp.metrics["levels"]] == [False, False]
