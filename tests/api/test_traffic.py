"""Traffic fields at ``POST /api/tasks``: a wrong one is a 422 naming it, a useless one warned."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autotuner.api.app import create_app
from autotuner.config import Settings


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=data_dir, frontend_dir=data_dir / "no-ui", allowed_hosts=["testserver"]
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _task(**benchmark: Any) -> dict[str, Any]:
    return {
        "task_name": "traffic",
        "deployment_mode": "sim",
        "base_runtime": "vllm",
        "model": {"id_or_path": "sim-1B"},
        "parameters": {"max-num-seqs": [8]},
        "benchmark": {"traffic_scenarios": ["D(16,8)"], **benchmark},
    }


def _refused(client: TestClient, **benchmark: Any) -> list[dict[str, Any]]:
    response = client.post("/api/tasks", json=_task(**benchmark))
    assert response.status_code == 422, response.text
    assert client.get("/api/tasks").json() == []  # nothing was created
    errors: list[dict[str, Any]] = response.json()["detail"]
    assert all(e["msg"] and not e["msg"].startswith("Value error") for e in errors)
    return errors


@pytest.mark.parametrize(
    ("scenarios", "index", "words"),
    [
        (["D(100)"], 0, "D takes (input,output)"),
        (["D(16,8)", "U(100)"], 1, "U takes"),
        (["D(16,8)", "N(1,2)/(3,4)", "E(512)"], 2, "embedding"),
        (["I(256,256)"], 0, "text-to-text"),
        (["D(0,8)"], 0, "at least 1"),
        (["U(9,3)/(1,2)"], 0, "(min,max)"),
    ],
)
def test_a_wrong_scenario_names_its_index(
    client: TestClient, scenarios: list[str], index: int, words: str
) -> None:
    errors = _refused(client, traffic_scenarios=scenarios)
    assert [e["loc"] for e in errors] == [["body", "benchmark", "traffic_scenarios", index]]
    assert words in errors[0]["msg"] and scenarios[index] in errors[0]["msg"]


def test_genai_bench_short_uniform_form_is_accepted(client: TestClient) -> None:
    response = client.post("/api/tasks", json=_task(traffic_scenarios=["U(100,50)"]))
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["benchmark"]["traffic_scenarios"] == ["U(100,50)"]


@pytest.mark.parametrize(
    ("benchmark", "loc", "words"),
    [
        ({"request_rate": [1, 0]}, ["request_rate", 1], "more than 0"),
        ({"request_rate": ["soon"]}, ["request_rate", 0], "'inf'"),
        ({"request_rate": [2], "sweep": {"rates": 4}}, ["sweep"], "not both"),
        ({"num_concurrency": []}, ["num_concurrency"], "no load level"),
        ({"burstiness": 0}, ["burstiness"], ""),
        ({"max_concurrency": 0}, ["max_concurrency"], ""),
        ({"ramp_up_time": -1}, ["ramp_up_time"], ""),
        ({"warmup_requests": -1}, ["warmup_requests"], ""),
        ({"sweep": {"rates": 0}}, ["sweep", "rates"], ""),
        (
            {"dataset": {"path": "p.jsonl", "url": "https://h/p.jsonl"}},
            ["dataset"],
            "not both",
        ),
        ({"dataset": {"path": "p.jsonl"}, "dataset_url": "https://h/p.jsonl"}, ["dataset"], ""),
        ({"dataset": {"output_tokens_field": "n"}}, ["dataset"], "give dataset.path"),
        ({"dataset": {"path": "p.parquet"}}, ["dataset", "format"], "give dataset.format"),
        ({"dataset_url": "/tmp/p.jsonl"}, ["dataset_url"], "http(s) URL"),
        (
            {"traffic_scenarios": ["D(1,1)"] * 40, "num_concurrency": [1, 2, 4, 8, 16, 32]},
            [],
            "240 load levels",
        ),
    ],
)
def test_wrong_traffic_fields_are_named(
    client: TestClient, benchmark: dict[str, Any], loc: list[Any], words: str
) -> None:
    errors = _refused(client, **benchmark)
    where = ["body", "benchmark", *loc]
    assert any(e["loc"] == where and words in e["msg"] for e in errors), errors


def test_open_loop_fields_are_stored_and_inf_is_spelled_inf(client: TestClient) -> None:
    response = client.post(
        "/api/tasks",
        json=_task(
            request_rate=[0.5, "Infinity"],
            burstiness=0.5,
            max_concurrency=64,
            ramp_up_time=2,
            warmup_requests=10,
        ),
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["warnings"] == []
    stored = client.get(f"/api/tasks/{created['id']}").json()["spec"]["benchmark"]
    assert stored["request_rate"] == [0.5, "inf"]
    assert stored["num_concurrency"] == []  # not written: no closed-loop level
    assert (stored["burstiness"], stored["max_concurrency"]) == (0.5, 64)
    assert (stored["ramp_up_time"], stored["warmup_requests"]) == (2, 10)


def test_fields_without_effect_are_answered_as_warnings(client: TestClient) -> None:
    response = client.post("/api/tasks", json=_task(num_concurrency=[4], burstiness=0.3))
    assert response.status_code == 201, response.text
    warnings = response.json()["warnings"]
    assert [w["field"] for w in warnings] == ["benchmark.burstiness"]
    assert "no effect" in warnings[0]["message"]
    # A warning belongs to the answer of the create, not to the task.
    assert "warnings" not in client.get(f"/api/tasks/{response.json()['id']}").json()


def test_the_openapi_schema_documents_warnings_and_limits_per_level(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    created = schema["paths"]["/api/tasks"]["post"]["responses"]["201"]["content"]
    assert created["application/json"]["schema"] == {"$ref": "#/components/schemas/TaskCreated"}
    components = schema["components"]["schemas"]
    assert "warnings" in components["TaskCreated"]["properties"]
    benchmark = components["BenchmarkSpec"]["properties"]
    for limit in ("max_time_per_iteration", "max_requests_per_iteration"):
        assert "per load level" in benchmark[limit]["description"]
    assert "genai-bench" in benchmark["traffic_scenarios"]["description"]


def test_a_json_infinity_rate_is_stored_as_inf(client: TestClient) -> None:
    # `autotuner run` sends a YAML `.inf` as JSON's Infinity.
    body = (
        '{"task_name": "inf", "deployment_mode": "sim", "base_runtime": "vllm", '
        '"model": {"id_or_path": "sim-1B"}, "parameters": {"max-num-seqs": [8]}, '
        '"benchmark": {"request_rate": [Infinity, 3]}}'
    )
    response = client.post(
        "/api/tasks", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["benchmark"]["request_rate"] == ["inf", 3.0]
