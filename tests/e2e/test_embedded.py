"""The embedded mode end to end: one real ``autotuner serve``, real sim engines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.specs import sim_spec
from tests.helpers import AutotunerProcess, WsCollector, wait_until

Spawn = Callable[..., AutotunerProcess]


def _serve(spawn: Spawn, data_dir: Path, **kw: object) -> AutotunerProcess:
    return spawn("serve", {"AUTOTUNER_DATA_DIR": str(data_dir)}, **kw)


def _create(server: AutotunerProcess, spec: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/api/tasks", json=spec)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def _start(server: AutotunerProcess, task_id: int) -> None:
    response = httpx.post(f"{server.url}/api/tasks/{task_id}/start")
    assert response.status_code == 200, response.text


def _subscribers(server: AutotunerProcess, task_id: int) -> int:
    body = httpx.get(f"{server.url}/api/ws/tasks/{task_id}/subscribers").json()
    return int(body["subscriber_count"])


def _sim_processes(server: AutotunerProcess) -> list[psutil.Process]:
    assert server.proc is not None
    try:
        children = psutil.Process(server.proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in children if "autotuner.sim" in " ".join(_cmdline(p))]


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def test_task_streams_every_event_and_resume_is_exact(spawn: Spawn, data_dir: Path) -> None:
    server = _serve(spawn, data_dir)
    task = _create(server, sim_spec("stream"))
    url = f"{server.ws_url}/api/ws/tasks/{task['id']}"
    full = WsCollector(url).start()
    partial = WsCollector(url, stop_after=4).start()
    wait_until(lambda: _subscribers(server, task["id"]) == 2, timeout=10)
    _start(server, task["id"])

    partial.join()
    resumed = WsCollector(f"{url}?last_event_id={partial.ids[-1]}").start()
    full.join()
    resumed.join()

    hello = full.frames[0]
    assert hello["type"] == "connection_established"
    assert hello["task_id"] == task["id"] and hello["last_event_id"] == 0
    assert full.ids == list(range(1, len(full.ids) + 1))
    assert full.types[0] == "task_started" and full.types[-1] == "task_completed"
    for kind in (
        "experiment_started",
        "benchmark_started",
        "experiment_completed",
        "task_progress",
    ):
        assert full.types.count(kind) == 2, (kind, full.types)
    # The resumed client ends with exactly the same events, each once, in order.
    assert resumed.frames[0]["type"] == "connection_established"
    assert partial.events + resumed.events == full.events
    # Every event carries the snapshot the UI writes into its cache.
    for event in full.events:
        if event["type"].startswith("task_"):
            assert event["data"]["task"]["id"] == task["id"]
            assert event["data"]["task"]["last_event_id"] == event["id"]
        else:
            assert event["data"]["experiment"]["task_id"] == task["id"]
    # Benchmark progress is throttled to at most 2 a second per experiment.
    for number in (1, 2):
        stamps = [
            e["timestamp"]
            for e in full.events
            if e["type"] == "benchmark_progress" and e["experiment_id"] == number
        ]
        assert stamps, f"no benchmark_progress for experiment {number}"
        assert all(b - a >= 0.45 for a, b in zip(stamps, stamps[1:], strict=False)), stamps
    progress = [e for e in full.events if e["type"] == "task_progress"]
    assert [p["data"]["progress"] for p in progress] == [50.0, 100.0]
    final = full.events[-1]["data"]["task"]
    assert final["status"] == "completed" and final["successful_experiments"] == 2
    assert final["best_score"] is not None
    # The REST history is the same stream.
    history = httpx.get(f"{server.url}/api/tasks/{task['id']}/events?limit=1000").json()
    assert history == full.events
    experiments = httpx.get(f"{server.url}/api/experiments/task/{task['id']}").json()
    assert [e["status"] for e in experiments] == ["success", "success"]
    assert all(e["metrics"]["completed"] > 0 for e in experiments)
    assert experiments[0]["engine_command"].count("--max-num-seqs") == 1
    assert _sim_processes(server) == []


def test_out_of_memory_experiment_fails_and_task_continues(spawn: Spawn, data_dir: Path) -> None:
    server = _serve(spawn, data_dir)
    spec = sim_spec("oom", parameters={"max-num-seqs": [16], "gpu-memory-utilization": [0.97, 0.9]})
    task = _create(server, spec)
    watcher = WsCollector(f"{server.ws_url}/api/ws/tasks/{task['id']}").start()
    wait_until(lambda: _subscribers(server, task["id"]) == 1, timeout=10)
    _start(server, task["id"])
    watcher.join()

    failed = [e for e in watcher.events if e["type"] == "experiment_failed"]
    assert len(failed) == 1
    assert failed[0]["experiment_id"] == 1
    assert "out of memory" in failed[0]["data"]["error"].lower()
    assert failed[0]["data"]["experiment"]["status"] == "failed"
    assert watcher.types.count("experiment_completed") == 1
    assert watcher.types[-1] == "task_completed"
    final = watcher.events[-1]["data"]["task"]
    assert (final["successful_experiments"], final["failed_experiments"]) == (1, 1)


def test_cancel_stops_the_running_experiment(spawn: Spawn, data_dir: Path) -> None:
    server = _serve(spawn, data_dir)
    long = sim_spec(
        "cancel",
        benchmark={"max_time_per_iteration": 120, "max_requests_per_iteration": 100000},
    )
    task = _create(server, long)
    watcher = WsCollector(f"{server.ws_url}/api/ws/tasks/{task['id']}").start()
    wait_until(lambda: _subscribers(server, task["id"]) == 1, timeout=10)
    _start(server, task["id"])
    wait_until(lambda: "benchmark_progress" in watcher.types, timeout=30)
    assert len(_sim_processes(server)) == 1

    response = httpx.post(f"{server.url}/api/tasks/{task['id']}/cancel")
    assert response.status_code == 200
    watcher.join(timeout=10)  # task_cancelled arrives within seconds
    assert watcher.types[-1] == "task_cancelled"
    assert watcher.events[-1]["data"]["task"]["status"] == "cancelled"
    experiments = httpx.get(f"{server.url}/api/experiments/task/{task['id']}").json()
    assert [e["status"] for e in experiments] == ["cancelled"]
    wait_until(lambda: _sim_processes(server) == [], timeout=5)
    again = httpx.post(f"{server.url}/api/tasks/{task['id']}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


def test_bad_input_gets_clear_errors(spawn: Spawn, data_dir: Path) -> None:
    server = _serve(spawn, data_dir)
    bad = sim_spec("bad", optimization={"max_iterations": 0})
    response = httpx.post(f"{server.url}/api/tasks", json=bad)
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["detail"]]
    assert ["body", "optimization", "max_iterations"] in locs
    no_model = {k: v for k, v in sim_spec("nomodel").items() if k != "model"}
    response = httpx.post(f"{server.url}/api/tasks", json=no_model)
    assert response.status_code == 422 and ["body", "model"] in [
        e["loc"] for e in response.json()["detail"]
    ]
    response = httpx.post(
        f"{server.url}/api/tasks",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422

    created = _create(server, sim_spec("dup"))
    dup = httpx.post(f"{server.url}/api/tasks", json=sim_spec("dup"))
    assert dup.status_code == 409 and "dup" in dup.json()["detail"]
    assert httpx.get(f"{server.url}/api/tasks/424242").status_code == 404
    assert httpx.get(f"{server.url}/api/tasks/424242").json()["detail"]
    assert httpx.post(f"{server.url}/api/tasks/424242/start").status_code == 404
    assert httpx.get(f"{server.url}/api/experiments/424242").status_code == 404
    assert httpx.get(f"{server.url}/api/nothing-here").status_code == 404
    # Nothing stored was lost on the way.
    assert [t["id"] for t in httpx.get(f"{server.url}/api/tasks").json()] == [created["id"]]

    for path in ("/api/ws/tasks/424242", "/api/ws/experiments/424242"):
        with pytest.raises(ConnectionClosed) as closed, connect(server.ws_url + path) as sock:
            sock.recv(timeout=5)
            sock.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404

    with connect(f"{server.ws_url}/api/ws/tasks/{created['id']}") as sock:
        assert json.loads(sock.recv(timeout=5))["type"] == "connection_established"
        for frame in ("not json", "[1,2]", '{"type": "launch_missiles"}', '{"no": "type"}'):
            sock.send(frame)
            reply = json.loads(sock.recv(timeout=5))
            assert reply["type"] == "error" and reply["message"], frame
        sock.send('{"type": "ping"}')
        assert json.loads(sock.recv(timeout=5))["type"] == "pong"


def test_server_killed_mid_task_resumes_and_loses_no_event(spawn: Spawn, data_dir: Path) -> None:
    server = _serve(spawn, data_dir)
    spec = sim_spec(
        "crash",
        parameters={"max-num-seqs": [4, 8, 16], "gpu-memory-utilization": [0.9]},
    )
    task = _create(server, spec)
    url = f"{server.ws_url}/api/ws/tasks/{task['id']}"
    before = WsCollector(url).start()
    wait_until(lambda: _subscribers(server, task["id"]) == 1, timeout=10)
    _start(server, task["id"])
    wait_until(lambda: "experiment_completed" in before.types, timeout=60)
    wait_until(lambda: before.types.count("experiment_started") == 2, timeout=30)
    engines = wait_until(lambda: _sim_processes(server), timeout=30)
    server.kill()
    before.join(timeout=10)
    assert before.types[-1] not in ("task_completed",)

    # The engine of experiment 2 outlives the killed server (it has a session of
    # its own) and nothing stopped it: an orphan for the restarted server to reap.
    def running(proc: psutil.Process) -> bool:  # an exited, unreaped process has ended
        try:
            return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    orphans = [p for p in engines if running(p)]
    assert orphans, "the engine died with its server: nothing left to reap"
    ports = {c[c.index("--port") + 1] for c in map(_cmdline, orphans) if "--port" in c}
    assert ports

    restarted = _serve(spawn, data_dir, port=server.port)
    after = WsCollector(f"{url}?last_event_id={before.ids[-1]}").start().join()
    ids = before.ids + after.ids
    assert ids == list(range(1, len(ids) + 1))
    assert after.types[-1] == "task_completed"
    history = httpx.get(f"{restarted.url}/api/tasks/{task['id']}/events?limit=1000").json()
    assert [e["id"] for e in history] == ids
    experiments = httpx.get(f"{restarted.url}/api/experiments/task/{task['id']}").json()
    statuses = [e["status"] for e in experiments]
    # The interrupted experiment is marked and its configuration is run again.
    assert statuses.count("success") == 3 and statuses.count("cancelled") == 1
    done = {
        json.dumps(e["parameters"], sort_keys=True) for e in experiments if e["status"] == "success"
    }
    assert len(done) == 3
    # The restarted server reaped the orphan, and no engine of this task is left.
    assert f"Terminated engines orphaned by a killed process: {[p.pid for p in orphans]}" in (
        restarted.tail(400)
    )
    for e in experiments:
        command = (e["engine_command"] or "").split()
        if "--port" in command:
            ports.add(command[command.index("--port") + 1])
    left = [
        p
        for p in psutil.process_iter()
        if "autotuner.sim" in (c := _cmdline(p))
        and "--port" in c
        and c[c.index("--port") + 1] in ports
        and running(p)
    ]
    assert left == []
    assert not any(running(p) for p in orphans)
    assert list((data_dir / "logs" / f"task-{task['id']}").rglob("*.pid")) == []
