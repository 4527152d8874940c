"""``autotuner run``, ``watch`` and ``worker`` as a user runs them, against a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from autotuner.cli import _watch
from tests.cli.conftest import REPO, Cli
from tests.helpers import AutotunerProcess, free_port

EXAMPLE = REPO / "examples" / "sim_quick.yaml"
_EVENT_LINE = re.compile(r"^\s*\[(\d+)\] (\w+)")


def _printed_events(stdout: str) -> list[tuple[int, str]]:
    """(id, type) of each event line the CLI printed (benchmark progress included)."""
    found = []
    for line in stdout.splitlines():
        match = _EVENT_LINE.match(line)
        if match:
            found.append((int(match[1]), match[2]))
    return found


@pytest.fixture(scope="module")
def finished(server: AutotunerProcess, cli: Cli) -> tuple[int, subprocess.CompletedProcess[str]]:
    """The example task, run to its end by ``autotuner run``: its id and the run's result."""
    result = cli("run", str(EXAMPLE), "--server", server.url, timeout=90)
    match = re.search(r"^task (\d+) \(sim-quick\) started$", result.stdout, re.MULTILINE)
    assert match, result.stdout + result.stderr
    return int(match[1]), result


def test_run_creates_starts_and_follows_the_task_to_its_end(
    finished: tuple[int, subprocess.CompletedProcess[str]],
) -> None:
    _, result = finished
    assert result.returncode == 0, result.stderr
    events = _printed_events(result.stdout)
    assert [i for i, _ in events] == list(range(1, len(events) + 1))
    kinds = [k for _, k in events]
    assert kinds[0] == "task_started" and kinds[-1] == "task_completed"
    assert kinds.count("experiment_completed") == 3 and kinds.count("task_progress") == 3
    assert re.search(r"experiment_completed: Experiment 1 success \(score [\d.]+\)", result.stdout)


def test_watch_of_a_finished_task_replays_it_all(
    server: AutotunerProcess, cli: Cli, finished: tuple[int, subprocess.CompletedProcess[str]]
) -> None:
    task_id, run = finished
    result = cli("watch", str(task_id), "--server", server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("connected (newest event")
    assert _printed_events(result.stdout) == _printed_events(run.stdout)

    raw = cli("watch", str(task_id), "--server", server.url, "--raw")
    assert raw.returncode == 0, raw.stderr
    frames = [json.loads(line) for line in raw.stdout.splitlines()]
    assert frames[0]["type"] == "connection_established"
    events = frames[1:]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert frames[0]["replayed"] == len(events)
    assert events[-1]["type"] == "task_completed"
    assert events[-1]["data"]["task"]["status"] == "completed"


def test_watch_stops_when_its_reader_goes_away(
    server: AutotunerProcess, finished: tuple[int, subprocess.CompletedProcess[str]]
) -> None:
    # `autotuner watch 1 | head -1`: the pipe closes before the replay is printed.
    proc = subprocess.Popen(
        [sys.executable, "-m", "autotuner.cli", "watch", str(finished[0]), "--server", server.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    try:
        code = proc.wait(timeout=20)
    finally:
        proc.kill()
        stderr = proc.stderr.read()
        proc.stderr.close()
    assert code == 1
    assert "Traceback" not in stderr and "reconnecting" not in stderr


def test_watch_of_an_unknown_task_exits_2(server: AutotunerProcess, cli: Cli) -> None:
    result = cli("watch", "999999", "--server", server.url)
    assert result.returncode == 2
    assert "task 999999 not found" in result.stderr


def test_run_of_an_invalid_task_file_names_the_field(
    server: AutotunerProcess, cli: Cli, tmp_path: Path
) -> None:
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["task_name"] = "cli-invalid"
    spec["optimization"]["max_iterations"] = 0
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = cli("run", str(path), "--server", server.url)
    assert result.returncode == 2
    assert "invalid task file: optimization.max_iterations:" in result.stderr
    assert "Traceback" not in result.stderr

    missing = cli("run", str(tmp_path / "nope.yaml"), "--server", server.url)
    assert missing.returncode == 2 and "cannot read task file" in missing.stderr


def test_run_prints_the_warnings_of_the_created_task(
    server: AutotunerProcess, cli: Cli, tmp_path: Path
) -> None:
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["task_name"] = "cli-warned"
    spec["optimization"]["max_iterations"] = 1
    spec["benchmark"]["burstiness"] = 0.5  # no open-loop level: accepted, has no effect
    spec["benchmark"]["max_requests_per_iteration"] = 4
    path = tmp_path / "warned.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = cli("run", str(path), "--server", server.url, timeout=90)
    assert result.returncode == 0, result.stderr
    assert "warning: benchmark.burstiness:" in result.stderr


def test_an_unreachable_server_exits_1_with_a_message(cli: Cli) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    result = cli("run", str(EXAMPLE), "--server", nobody)
    assert result.returncode == 1
    assert f"cannot reach {nobody}" in result.stderr and "autotuner serve" in result.stderr
    watched = cli("watch", "1", "--server", nobody, timeout=20)
    assert watched.returncode == 1
    assert "cannot connect" in watched.stderr and "Traceback" not in watched.stderr


def test_worker_without_redis_says_what_to_set(cli: Cli, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOTUNER_")}
    env["AUTOTUNER_DATA_DIR"] = str(tmp_path)
    result = cli("worker", env=env, timeout=30)
    assert result.returncode != 0
    assert "AUTOTUNER_REDIS_URL" in result.stderr


async def test_watch_fetches_by_rest_what_a_reconnect_cannot_replay(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``resync_required`` (more events missed than a replay holds): the CLI reads
    the gap from the REST history, pages and all, and ends with the task."""
    events: list[dict[str, Any]] = [
        {"id": i, "type": "task_progress", "task_id": 7, "message": f"step {i}", "data": {}}
        for i in range(1, 5)
    ]
    events.append({"id": 5, "type": "task_completed", "task_id": 7, "message": "done", "data": {}})
    asked: list[int] = []

    def history(connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path != "/api/tasks/7/events":
            return None  # the WebSocket
        after = int(parse_qs(url.query)["after"][0])
        asked.append(after)
        page = [e for e in events if e["id"] > after][:2]
        return connection.respond(200, json.dumps(page))

    async def socket(connection: ServerConnection) -> None:
        hello = {"type": "connection_established", "task_id": 7, "last_event_id": 5}
        await connection.send(json.dumps({**hello, "replayed": 0}))
        resync = {"type": "resync_required", "task_id": 7, "last_event_id": 5, "reason": "far"}
        await connection.send(json.dumps(resync))
        await connection.wait_closed()

    async with serve(socket, "127.0.0.1", 0, process_request=history) as fake:
        port = fake.sockets[0].getsockname()[1]
        assert await _watch(f"http://127.0.0.1:{port}", 7) == 0
    assert asked == [0, 2, 4]
    assert [i for i, _ in _printed_events(capsys.readouterr().out)] == [1, 2, 3, 4, 5]


def test_run_shows_each_experiments_levels(
    finished: tuple[int, subprocess.CompletedProcess[str]],
) -> None:
    """Under every finished experiment: its level table (one level at c=16) and the
    pooled row, with the figures the experiment stored."""
    _, result = finished
    lines = result.stdout.splitlines()
    completed = [i for i, line in enumerate(lines) if "experiment_completed" in line]
    assert len(completed) == 3
    for i in completed:
        assert "level" in lines[i + 1] and "TTFT ms mean/p50/p99" in lines[i + 1]
        row = lines[i + 2].split()
        # "*": the level the score was read from.
        assert row[:4] == ["*", "D(100,100)", "@", "c=16"], lines[i + 2]
        # ok/failed: at most the 40 requests asked (a loaded machine may reach the time
        # limit first); the pooled row of one level has the same counts.
        ok, failed = (int(n) for n in row[4].split("/"))
        assert 0 < ok <= 40 and failed == 0, lines[i + 2]
        assert lines[i + 3].split()[:4] == ["pooled", "(1", "levels)", row[4]]
