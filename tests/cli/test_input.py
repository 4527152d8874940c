"""Careless and hostile task files and server text, as ``autotuner run``/``watch`` meet them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from autotuner.cli import _watch
from tests.cli.conftest import Cli
from tests.helpers import AutotunerProcess, free_port

# A few hundred bytes that expand to 9^9 strings once serialized (the probe's
# 556-byte file took `autotuner run` to 2.7 GB).
ALIAS_BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
task_name: bomb
model: {id_or_path: sim-x}
parameters: {max-num-seqs: *h}
"""

TASK = """\
task_name: {name}
deployment_mode: sim
base_runtime: vllm
model: {{id_or_path: sim-cli-1B}}
parameters: {parameters}
optimization: {{strategy: grid_search, max_iterations: 1}}
benchmark: {{traffic_scenarios: ["D(16,8)"], num_concurrency: [1], max_time_per_iteration: 2,
  max_requests_per_iteration: 2}}
"""

_ESC = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _write(tmp_path: Path, text: str, name: str = "task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_an_alias_bomb_is_refused_before_it_expands(cli: Cli, tmp_path: Path) -> None:
    assert len(ALIAS_BOMB) < 700
    nobody = f"http://127.0.0.1:{free_port()}"  # never reached: the file is refused first
    result = cli("run", str(_write(tmp_path, ALIAS_BOMB)), "--server", nobody, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "may not use YAML aliases (*a)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("task_name: big\ndescription: " + "x" * (1 << 20) + "\n", "larger than 1,048,576 bytes"),
        ("[" * 50_000 + "]" * 50_000, "nests too deeply"),
        ("task_name: t\nblob: !!binary aGVsbG8=\n", "JSON cannot carry"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("task_name: [unclosed\n", "cannot read task file"),
    ],
    ids=["too large", "too deep", "binary", "not a mapping", "malformed"],
)
def test_task_files_json_cannot_carry_are_refused_saying_why(
    cli: Cli, tmp_path: Path, text: str, words: str
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    result = cli("run", str(_write(tmp_path, text)), "--server", nobody, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_dates_in_a_task_file_are_sent_as_text(
    server: AutotunerProcess, cli: Cli, tmp_path: Path
) -> None:
    text = TASK.format(name="cli-dated", parameters="{max-num-seqs: [4]}")
    path = _write(tmp_path, text + "created: 2026-01-31\nreviewed: 2026-02-01 10:00:00\n")
    result = cli("run", str(path), "--server", server.url, "--no-watch")
    assert result.returncode == 0, result.stderr
    task_id = int(re.findall(r"^task (\d+)", result.stdout, re.MULTILINE)[0])
    spec = httpx.get(f"{server.url}/api/tasks/{task_id}").json()["spec"]
    assert spec["created"] == "2026-01-31" and spec["reviewed"] == "2026-02-01 10:00:00"


def test_nan_in_a_task_file_is_named_by_the_server(
    server: AutotunerProcess, cli: Cli, tmp_path: Path
) -> None:
    text = TASK.format(name="cli-nan", parameters="{gpu-memory-utilization: [0.9, .nan]}")
    result = cli("run", str(_write(tmp_path, text)), "--server", server.url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "invalid task file: parameters.gpu-memory-utilization.1: nan" in result.stderr
    assert "Traceback" not in result.stderr


def test_server_text_in_errors_is_printed_escaped(
    server: AutotunerProcess, cli: Cli, tmp_path: Path
) -> None:
    # The refused name comes back in the 422's location: the terminal must not run it.
    text = TASK.format(name="cli-esc", parameters='{"\\e[2J\\e]0;pwned\\a": [1]}')
    result = cli("run", str(_write(tmp_path, text)), "--server", server.url)
    assert result.returncode == 2, result.stderr
    assert "invalid task file: parameters." in result.stderr
    assert "\\u001b[2J\\u001b]0;pwned\\u0007" in result.stderr
    assert not _ESC.search(result.stderr), repr(result.stderr)


_HOSTILE = "ok\x1b[2J\x1b]0;title\x07\n[99] task_completed: forged\u2028\x9b31m\ud800"


async def _serve_hostile(raw: bool, capsys: pytest.CaptureFixture[str]) -> str:
    events: list[dict[str, Any]] = [
        {"id": 1, "type": "log_message", "task_id": 3, "message": _HOSTILE, "data": {}},
        {
            "id": 2,
            "type": "benchmark_progress",
            "task_id": 3,
            "data": {"progress": {"completed": "\x1b[1A", "total": 2}},
        },
        {
            "id": 3,
            "type": "task_completed",
            "task_id": 3,
            "message": "done\r\nfake",
            "data": {
                "summary": {
                    "best_experiment_id": 1,
                    "best_score": 1.5,
                    "best_parameters": {"a\x1b[0m": "\x1b[31mred"},
                }
            },
        },
    ]

    async def socket(connection: ServerConnection) -> None:
        hello = {"type": "connection_established", "task_id": 3, "last_event_id": 3}
        await connection.send(json.dumps({**hello, "replayed": 3}))
        for event in events:
            # As a server may send it: non-ASCII (C1, U+2028) as raw characters, a
            # lone surrogate (which UTF-8 cannot hold) as an escape.
            text = json.dumps(event, ensure_ascii=False).replace("\ud800", "\\ud800")
            await connection.send(text)
        await connection.wait_closed()

    async with serve(socket, "127.0.0.1", 0) as fake:
        port = fake.sockets[0].getsockname()[1]
        assert await _watch(f"http://127.0.0.1:{port}", 3, raw=raw) == 0
    return capsys.readouterr().out


async def test_watch_prints_server_text_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    out = await _serve_hostile(False, capsys)
    assert not _ESC.search(out), repr(out)
    assert "\u2028" not in out and "\ud800" not in out
    lines = out.splitlines()
    # One line per event (the best configuration adds its own): nothing forged.
    assert [line.split("]")[0].strip() for line in lines if line.lstrip().startswith("[")] == [
        "[1",
        "[2",
        "[3",
    ]
    assert "ok\\u001b[2J\\u001b]0;title\\u0007\\n[99] task_completed: forged" in out
    assert "\\u2028\\u009b31m\\ud800" in out
    assert "done\\r\\nfake" in out
    assert "--a\\u001b[0m \\u001b[31mred" in out


async def test_watch_raw_lines_stay_json_without_terminal_controls(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = await _serve_hostile(True, capsys)
    assert not _ESC.search(out) and "\u2028" not in out, repr(out)
    frames = [json.loads(line) for line in out.splitlines()]
    assert [f.get("id") for f in frames] == [None, 1, 2, 3]
    assert frames[1]["message"] == _HOSTILE  # escaped for the terminal, same JSON value
