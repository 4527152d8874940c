"""``POST /api/tasks`` and the engine: its flags, ``engine.env``/``engine.args``, and the
operator's gate on command templates (``AUTOTUNER_ALLOW_CUSTOM_ENGINES``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autotuner.api.app import create_app
from autotuner.config import Settings
from autotuner.domain import EngineSpec
from autotuner.runtimes import DeploymentError, engine_extra


def _client(data_dir: Path, **settings: Any) -> TestClient:
    return TestClient(
        create_app(
            Settings(
                data_dir=data_dir,
                frontend_dir=data_dir / "no-ui",
                allowed_hosts=["testserver"],
                **settings,
            )
        )
    )


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    with _client(data_dir) as test_client:
        yield test_client


def _task(**changes: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "task_name": f"engines-{time.monotonic_ns()}",
        "deployment_mode": "local",
        "base_runtime": "vllm",
        "model": {"id_or_path": "smollm2-135m"},
        "parameters": {"max-num-seqs": [1, 8], "enable-prefix-caching": [True, False]},
        "optimization": {"max_iterations": 1},
        "benchmark": {"traffic_scenarios": ["D(16,8)"], "num_concurrency": [1]},
    }
    task.update(changes)
    return task


def _errors(client: TestClient, task: dict[str, Any], status: int = 422) -> list[dict[str, Any]]:
    response = client.post("/api/tasks", json=task)
    assert response.status_code == status, response.text
    assert client.get("/api/tasks").json() == []  # nothing was created
    detail: list[dict[str, Any]] = response.json()["detail"]
    return detail


def test_a_vllm_task_with_sglang_flags_is_refused_naming_vllms_spelling(
    client: TestClient,
) -> None:
    task = _task(parameters={"mem-fraction-static": [0.8], "tp-size": [1], "max-num-seqs": [4]})
    errors = {tuple(e["loc"]): e["msg"] for e in _errors(client, task)}
    assert set(errors) == {
        ("body", "parameters", "mem-fraction-static"),
        ("body", "parameters", "tp-size"),
    }
    assert "'gpu-memory-utilization'" in errors[("body", "parameters", "mem-fraction-static")]
    assert "'tensor-parallel-size'" in errors[("body", "parameters", "tp-size")]


def test_the_simulator_takes_the_names_of_the_engine_it_imitates(client: TestClient) -> None:
    sim = {"deployment_mode": "sim", "model": {"id_or_path": "sim-1B"}}
    (error,) = _errors(client, _task(**sim, parameters={"max-running-requests": [8]}))
    assert "'max-num-seqs'" in error["msg"]
    sglang = _task(**sim, base_runtime="sglang", parameters={"max-num-seqs": [8]})
    (error,) = _errors(client, sglang)
    assert "'max-running-requests'" in error["msg"]
    (error,) = _errors(client, _task(**sim, base_runtime="llama.cpp"))
    assert error["loc"] == ["body", "base_runtime"] and "imitates vllm or sglang" in error["msg"]
    ok = _task(**sim, base_runtime="sglang", parameters={"max-running-requests": [8]})
    assert client.post("/api/tasks", json=ok).status_code == 201


def test_a_value_of_the_wrong_type_is_refused(client: TestClient) -> None:
    (error,) = _errors(client, _task(parameters={"max-num-seqs": [8, "many"]}))
    assert error["loc"] == ["body", "parameters", "max-num-seqs"]
    assert "takes an integer, not 'many'" in error["msg"]


def test_engine_env_and_args_are_stored_with_the_task(client: TestClient) -> None:
    engine = {"env": {"VLLM_CPU_KVCACHE_SPACE": 1}, "args": ["--dtype", "bfloat16"]}
    response = client.post("/api/tasks", json=_task(engine=engine))
    assert response.status_code == 201, response.text
    stored = response.json()["spec"]["engine"]
    assert stored == {
        "env": {"VLLM_CPU_KVCACHE_SPACE": "1"},
        "args": engine["args"],
        "command": None,
    }
    assert response.json()["warnings"] == []  # a field this autotuner reads


@pytest.mark.parametrize(
    ("engine", "loc", "words"),
    [
        ({"env": {"CUDA_VISIBLE_DEVICES": "0"}}, ["body", "engine", "env"], "resource slot"),
        ({"env": {"AUTOTUNER_DATA_DIR": "/"}}, ["body", "engine", "env"], "product's"),
        ({"env": {"1X": "a"}}, ["body", "engine", "env"], "not an environment variable"),
        ({"env": {"X": True}}, ["body", "engine", "env"], "must be text"),
        ({"args": ["--port", "1"]}, ["body", "engine", "args", 0], "sets itself"),
        ({"args": ["--tp-size", "2"]}, ["body", "engine", "args", 0], "'tensor-parallel-size'"),
        ({"args": ["--max-num-seqs=2"]}, ["body", "engine", "args", 0], "tuned in parameters"),
        ({"args": ["a\nb"]}, ["body", "engine", "args"], "one line"),
        ({"cmd": "x"}, ["body", "engine", "cmd"], "Extra inputs"),
    ],
)
def test_bad_engine_env_and_args_are_refused_naming_them(
    client: TestClient, engine: dict[str, Any], loc: list[Any], words: str
) -> None:
    (error,) = _errors(client, _task(engine=engine))
    assert error["loc"][: len(loc)] == loc, error
    assert words in error["msg"], error


@pytest.mark.parametrize(
    "engine",
    [
        {"command": "{python} -m autotuner.sim --model {model} --host {host} --port {port}"},
        {"env": {"LD_PRELOAD": "/tmp/x.so"}},
        {"env": {"PYTHONPATH": "/tmp"}},
    ],
)
def test_custom_engines_are_refused_unless_the_operator_allows_them(
    client: TestClient, data_dir: Path, engine: dict[str, Any]
) -> None:
    response = client.post("/api/tasks", json=_task(engine=engine))
    assert response.status_code == 403, response.text
    assert "AUTOTUNER_ALLOW_CUSTOM_ENGINES" in response.json()["detail"]
    assert client.get("/api/tasks").json() == []
    with _client(data_dir / "allowed", allow_custom_engines=True) as allowed:
        created = allowed.post("/api/tasks", json=_task(engine=engine))
        assert created.status_code == 201, created.text


def test_a_worker_that_does_not_allow_custom_engines_refuses_a_stored_one() -> None:
    engine = EngineSpec(command="{python} -m anything --port {port}")
    with pytest.raises(DeploymentError, match="AUTOTUNER_ALLOW_CUSTOM_ENGINES"):
        engine_extra(engine, allow_custom=False)
    assert engine_extra(engine, allow_custom=True) == {"command": engine.command}
