"""The REST API in process (Starlette's TestClient runs the app's lifespan)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autotuner.api.app import create_app
from autotuner.config import Settings

# Task files in the format users already have (README; examples/).
SEED_DOCKER_TASK: dict[str, Any] = {
    "task_name": "docker-slo-aware-tune",
    "description": "Docker deployment with SLO-aware scoring",
    "deployment_mode": "docker",
    "model": {"id_or_path": "llama-3-2-1b-instruct", "namespace": "autotuner"},
    "base_runtime": "sglang",
    "parameters": {"tp-size": [1, 2], "mem-fraction-static": [0.7, 0.8, 0.85]},
    "optimization": {
        "strategy": "grid_search",
        "objective": "minimize_latency",
        "max_iterations": 6,
        "timeout_per_iteration": 600,
    },
    "slo": {
        "latency": {
            "p50": {"threshold": 2.0, "weight": 1.0, "hard_fail": False},
            "p90": {"threshold": 5.0, "weight": 2.0, "hard_fail": True, "fail_ratio": 0.2},
        },
        "ttft": {"threshold": 1.0, "weight": 2.0, "hard_fail": False},
        "steepness": 0.1,
    },
    "benchmark": {
        "task": "text-to-text",
        "model_name": "llama-3-2-1b-instruct",
        "model_tokenizer": "meta-llama/Llama-3.2-1B-Instruct",
        "traffic_scenarios": ["D(100,100)"],
        "num_concurrency": [1, 4, 8],
        "max_time_per_iteration": 10,
        "max_requests_per_iteration": 50,
        "additional_params": {"temperature": 0.0},
    },
}

SEED_BAYESIAN_TASK: dict[str, Any] = {
    "task_name": "bayesian-tune",
    "description": "no deployment_mode, an image tag",
    "model": {"id_or_path": "llama-3-2-1b-instruct", "namespace": "autotuner"},
    "base_runtime": "sglang",
    "runtime_image_tag": "v0.5.2-cu126",
    "parameters": {"schedule-policy": ["lpm", "fcfs"], "chunked-prefill-size": [512, 1024]},
    "optimization": {
        "strategy": "bayesian",
        "objective": "minimize_latency",
        "max_iterations": 30,
        "timeout_per_iteration": 600,
    },
    "benchmark": {"traffic_scenarios": ["D(100,100)"], "num_concurrency": [4, 8]},
}


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    # TestClient's Host, "testserver", must be one the server answers to.
    settings = Settings(
        data_dir=data_dir, frontend_dir=data_dir / "no-ui", allowed_hosts=["testserver"]
    )
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client


def _wait_status(client: TestClient, task_id: int, *statuses: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        task: dict[str, Any] = client.get(f"/api/tasks/{task_id}").json()
        if task["status"] in statuses:
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} never became {statuses}: {task}")


def test_seed_task_files_are_accepted_as_they_are(client: TestClient) -> None:
    for spec in (SEED_DOCKER_TASK, SEED_BAYESIAN_TASK):
        response = client.post("/api/tasks", json=spec)
        assert response.status_code == 201, response.text
        task = response.json()
        assert task["status"] == "pending" and task["task_name"] == spec["task_name"]
        assert task["spec"]["model"]["namespace"] == "autotuner"
    bayes = client.get("/api/tasks").json()[0]
    assert bayes["spec"]["runtime_image_tag"] == "v0.5.2-cu126"
    assert bayes["deployment_mode"] == "docker"  # the default of that format


def test_unsupported_deployment_mode_fails_with_a_reason(client: TestClient) -> None:
    task = client.post("/api/tasks", json=SEED_DOCKER_TASK).json()
    assert client.post(f"/api/tasks/{task['id']}/start").status_code == 200
    failed = _wait_status(client, task["id"], "failed")
    assert "docker" in failed["error_message"] and "sim" in failed["error_message"]
    events = client.get(f"/api/tasks/{task['id']}/events").json()
    assert [e["type"] for e in events] == ["task_started", "task_failed"]
    assert events[-1]["data"]["error"] == failed["error_message"]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"parameters": {}}, ["body", "parameters"]),
        ({"parameters": {"tp-size": []}}, ["body", "parameters"]),
        ({"optimization": {"strategy": "annealing"}}, ["body", "optimization", "strategy"]),
        ({"optimization": {"objective": "max_vibes"}}, ["body", "optimization", "objective"]),
        (
            {"benchmark": {"traffic_scenarios": ["X(1)"]}},
            ["body", "benchmark", "traffic_scenarios"],
        ),
        ({"benchmark": {"num_concurrency": [0]}}, ["body", "benchmark", "num_concurrency"]),
        ({"deployment_mode": "k8s"}, ["body", "deployment_mode"]),
        ({"task_name": "   "}, ["body", "task_name"]),
        ({"slo": {"ttft": {"threshold": -1}}}, ["body", "slo", "ttft", "threshold"]),
        (
            {"slo": {"ttft": {"threshold": 1, "hardfail": True}}},
            ["body", "slo", "ttft", "hardfail"],
        ),
        ({"slo": {"ttft": {"p80": {"threshold": 1}}}}, ["body", "slo", "ttft", "p80"]),
        ({"slo": {"itl": {"p90": {"threshold": 0}}}}, ["body", "slo", "itl", "p90", "threshold"]),
        ({"slo": {"tpot": {"threshold": 1, "p90": {"threshold": 1}}}}, ["body", "slo", "tpot"]),
        ({"slo": {"tpot": {}}}, ["body", "slo", "tpot"]),
        ({"slo": {"max_error_rate": 1.5}}, ["body", "slo", "max_error_rate"]),
        ({"slo": {"e2el": {"threshold": 1}}}, ["body", "slo", "e2el"]),
        (
            {"optimization": {"objective": "maximize_goodput"}, "slo": {"itl": {"threshold": 1}}},
            ["body"],
        ),
    ],
)
def test_invalid_specs_name_the_field(
    client: TestClient, change: dict[str, Any], loc: list[str]
) -> None:
    response = client.post("/api/tasks", json={**SEED_DOCKER_TASK, **change})
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(e["loc"][: len(loc)] == loc for e in errors), errors
    assert all(e["msg"] and not e["msg"].startswith("Value error") for e in errors)
    assert client.get("/api/tasks").json() == []


def test_non_object_body(client: TestClient) -> None:
    for body in (b"[1, 2]", b"null", b'"task"', b"{oops"):
        response = client.post(
            "/api/tasks", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, body


def test_lifecycle_conflicts(client: TestClient) -> None:
    task = client.post("/api/tasks", json=SEED_DOCKER_TASK).json()
    assert client.post(f"/api/tasks/{task['id']}/cancel").json()["status"] == "cancelled"
    # A cancelled task can be started again (it resumes); a finished one can't be cancelled.
    assert client.post(f"/api/tasks/{task['id']}/cancel").status_code == 409
    assert client.post(f"/api/tasks/{task['id']}/start").status_code == 200
    _wait_status(client, task["id"], "failed")
    assert client.delete(f"/api/tasks/{task['id']}").status_code == 204
    assert client.get(f"/api/tasks/{task['id']}").status_code == 404
    assert client.delete(f"/api/tasks/{task['id']}").status_code == 404


def test_list_filters_by_status(client: TestClient) -> None:
    a = client.post("/api/tasks", json=SEED_DOCKER_TASK).json()
    b = client.post("/api/tasks", json=SEED_BAYESIAN_TASK).json()
    client.post(f"/api/tasks/{a['id']}/cancel")
    assert [t["id"] for t in client.get("/api/tasks").json()] == [b["id"], a["id"]]
    assert [t["id"] for t in client.get("/api/tasks?status=cancelled").json()] == [a["id"]]
    assert client.get("/api/tasks?status=sleeping").status_code == 422


def test_events_paging(client: TestClient) -> None:
    task = client.post("/api/tasks", json=SEED_DOCKER_TASK).json()
    client.post(f"/api/tasks/{task['id']}/start")
    _wait_status(client, task["id"], "failed")
    page = client.get(f"/api/tasks/{task['id']}/events?after=1&limit=1").json()
    assert [e["id"] for e in page] == [2]
    assert client.get(f"/api/tasks/{task['id']}/events?limit=0").status_code == 422
    assert client.get("/api/tasks/999/events").status_code == 404


def test_system_endpoints(client: TestClient) -> None:
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["mode"] == "embedded"
    gpus = client.get("/api/system/gpus").json()
    assert gpus["available"] is False and "no GPU" in gpus["message"]
    workers = client.get("/api/system/workers").json()
    assert workers["mode"] == "embedded" and len(workers["workers"]) == 1
    assert workers["workers"][0]["status"] == "idle"
    stats = client.get("/api/system/stats").json()
    assert {"connections", "events_published", "deliveries_per_second"} <= stats.keys()
    examples = client.get("/api/examples").json()
    assert "sim-quick" in [e["name"] for e in examples]
    assert all(e["spec"]["task_name"] for e in examples)
    assert client.get("/openapi.json").json()["paths"]["/api/tasks"]
    assert client.get("/docs").status_code == 200
    assert "autotuner" in client.get("/").text


def test_prometheus_metrics(client: TestClient) -> None:
    client.post("/api/tasks", json=SEED_DOCKER_TASK)
    text = client.get("/metrics").text
    assert "# TYPE autotuner_ws_connections gauge" in text
    assert 'autotuner_tasks{status="pending"} 1' in text
    assert 'autotuner_tasks{status="running"} 0' in text
    assert "autotuner_event_latency_p99_ms" not in text  # no event seen yet
    with client.websocket_connect("/api/ws/tasks/1") as sock:
        assert sock.receive_json()["type"] == "connection_established"
        assert "autotuner_ws_connections 1" in client.get("/metrics").text
        client.post("/api/tasks/1/start")  # docker: started, then failed at once
        assert [sock.receive_json()["type"] for _ in range(2)] == ["task_started", "task_failed"]
    stats = client.get("/api/system/stats").json()
    assert 0 <= stats["event_latency_p50_ms"] <= stats["event_latency_p99_ms"] < 5000
    assert "autotuner_event_latency_p99_ms " in client.get("/metrics").text
