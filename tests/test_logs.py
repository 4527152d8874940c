"""Logs: no credentials in them, one line per record, private files.

The formatter on its own, then a real ``autotuner serve`` whose requests carry
tokens in every way a client may send them and paths with forged log lines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from autotuner.api.auth import create_token
from autotuner.logs import REDACTED, SafeFormatter, escape, redact
from tests.helpers import AutotunerProcess, wait_until

SECRET = "test-secret-of-at-least-32-bytes-length"
JWT = create_token(SECRET, "someone")
FORGED = "2030-01-01 00:00:00,000 INFO    autotuner.api.auth: admin logged in"


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError(f"bad name\n{FORGED}")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, exc_info)


def test_credentials_are_redacted_wherever_they_appear() -> None:
    cases = [
        f'127.0.0.1:5 - "GET /api/tasks?token={JWT}&x=1 HTTP/1.1" 200',
        f"/api/ws/tasks/1?last_event_id=3&access_token={JWT}",
        f"headers: {{'authorization': 'Bearer {JWT}'}}",
        f"Authorization: Bearer {JWT}",
        f"Sec-WebSocket-Protocol: autotuner, autotuner.bearer.{JWT}",
        f"a bare token {JWT} in a message",
        f"GET /api/tasks?token%3D{JWT}",
    ]
    for case in cases:
        out = redact(case)
        assert JWT not in out and JWT.split(".")[2] not in out, out
        assert REDACTED in out, out
    assert redact(f"/api/tasks?token={JWT}&x=1").endswith(f"token={REDACTED}&x=1")
    assert redact("redis://:s3cret@10.0.0.5:6379/0 and postgresql://pg:pw@db/x") == (
        f"redis://:{REDACTED}@10.0.0.5:6379/0 and postgresql://pg:{REDACTED}@db/x"
    )
    assert redact("http://127.0.0.1:8000/api/tasks") == "http://127.0.0.1:8000/api/tasks"
    # Words that merely look alike stay as they are.
    plain = "max_tokens=128 num_tokens=5 bearer of news"
    assert redact(plain) == plain


def test_records_stay_on_one_line_and_tracebacks_are_indented() -> None:
    formatter = SafeFormatter()
    line = formatter.format(_record("Created task %s", f"x\n{FORGED}\r\x1b[2J\u2028"))
    assert "\n" not in line and "\x1b" not in line and "\u2028" not in line
    assert line.endswith("Created task x\\n" + FORGED + "\\r\\x1b[2J\\u2028")
    assert escape("tab\tstays") == "tab\tstays"

    lines = formatter.format(_record("failed", exc=True)).split("\n")
    assert lines[0].endswith(" t: failed")
    assert len(lines) > 2 and all(line[:1].isspace() for line in lines[1:])
    assert not any(line.startswith("2030") for line in lines)
    assert any("ValueError: bad name" in line for line in lines)


def test_a_real_server_logs_no_token_and_no_forged_line(
    spawn: Callable[..., AutotunerProcess], data_dir: Path
) -> None:
    server = spawn("serve", {"AUTOTUNER_DATA_DIR": str(data_dir), "AUTOTUNER_AUTH_SECRET": SECRET})
    auth = {"Authorization": f"Bearer {JWT}"}
    # Every way a token reaches the server: query (REST and socket), header, subprotocol.
    assert httpx.get(f"{server.url}/api/tasks", params={"token": JWT}).status_code == 200
    assert httpx.get(f"{server.url}/api/tasks?access_token={JWT}", headers=auth).status_code == 200
    with connect(f"{server.ws_url}/api/ws/tasks?token={JWT}") as sock:
        assert json.loads(sock.recv(timeout=10))["type"] == "connection_established"
    with connect(
        f"{server.ws_url}/api/ws/tasks",
        subprotocols=[Subprotocol("autotuner"), Subprotocol(f"autotuner.bearer.{JWT}")],
    ) as sock:
        assert sock.subprotocol == "autotuner"
        assert json.loads(sock.recv(timeout=10))["type"] == "connection_established"
    logfile = data_dir / "logs" / "server.log"

    def logged() -> str:
        text = logfile.read_text()
        return text if text.count("WebSocket /api/ws/tasks") >= 2 else ""

    wait_until(logged, timeout=20)
    server.stop()
    assert server.log is not None  # spawned servers log to a file
    for name, content in (("server.log", logfile.read_text()), ("stderr", server.log.read_text())):
        assert JWT.split(".")[2] not in content, f"the token's signature is in {name}"
        assert f"/api/tasks?token={REDACTED} HTTP/1.1" in content, name
        assert f"/api/tasks?access_token={REDACTED} HTTP/1.1" in content, name
        assert f"/api/ws/tasks?token={REDACTED}" in content, name
    assert stat.S_IMODE(logfile.stat().st_mode) == 0o600
    assert stat.S_IMODE(logfile.parent.stat().st_mode) == 0o700


_LOG_FROM_CLI = """
import logging, sys
from autotuner.cli import _logging
from autotuner.config import Settings
_logging(Settings(), sys.argv[1])
log = logging.getLogger("autotuner.worker.runner")
log.info("Starting task 1 (%s)", sys.argv[2])
try:
    raise RuntimeError("engine said:\\n" + sys.argv[2])
except RuntimeError:
    log.exception("Task 1 failed")
"""


def test_the_cli_logging_escapes_user_text(data_dir: Path) -> None:
    import os
    import subprocess

    hostile = f"x\n{FORGED}\x1b[2J with token={JWT}"
    done = subprocess.run(
        [sys.executable, "-c", _LOG_FROM_CLI, "worker.log", hostile],
        env={**os.environ, "AUTOTUNER_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    logfile = data_dir / "logs" / "worker.log"
    for name, content in (("worker.log", logfile.read_text()), ("stderr", done.stderr)):
        lines = content.splitlines()
        assert len([line for line in lines if line[:1].isdigit()]) == 2, (name, lines)
        assert not any(line.startswith("2030") for line in lines), f"forged line in {name}"
        assert "\x1b" not in content and JWT not in content, name
        assert f"Starting task 1 (x\\n{FORGED}\\x1b[2J with token={REDACTED})" in lines[0]
        assert "RuntimeError: engine said:" in content
    assert stat.S_IMODE(logfile.stat().st_mode) == 0o600


def test_an_old_log_file_is_made_private(
    spawn: Callable[..., AutotunerProcess], data_dir: Path
) -> None:
    logfile = data_dir / "logs" / "server.log"
    logfile.parent.mkdir()
    logfile.write_text("from an older version\n")
    logfile.chmod(0o644)
    spawn("serve", {"AUTOTUNER_DATA_DIR": str(data_dir)})
    assert stat.S_IMODE(logfile.stat().st_mode) == 0o600
    assert logfile.read_text().startswith("from an older version\n")


def test_a_full_disk_is_reported_once_not_per_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from autotuner.logs import PrivateRotatingFileHandler, SafeFormatter

    handler = PrivateRotatingFileHandler(tmp_path / "server.log", maxBytes=20_000_000)
    handler.setFormatter(SafeFormatter())
    assert handler.stream is not None  # opened by the constructor (delay=False)
    handler.stream.close()
    handler.stream = open("/dev/full", "w", buffering=1)  # every write: ENOSPC  # noqa: SIM115
    logger = logging.getLogger("autotuner.test.full")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for i in range(200):
            logger.warning("record %d", i)
    finally:
        logger.removeHandler(handler)
        with contextlib.suppress(OSError):
            handler.close()
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err
    assert err.count("cannot write the log file") == 1
    assert handler.dropped == 200
