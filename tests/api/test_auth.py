"""Token authentication on a real server: REST and WebSockets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from autotuner.api.auth import create_token
from tests.e2e.specs import sim_spec
from tests.helpers import AutotunerProcess

SECRET = "test-secret-of-at-least-32-bytes-length"


@pytest.fixture
def server(spawn: Callable[..., AutotunerProcess], data_dir: Path) -> AutotunerProcess:
    return spawn("serve", {"AUTOTUNER_DATA_DIR": str(data_dir), "AUTOTUNER_AUTH_SECRET": SECRET})


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_rest_needs_a_valid_token(server: AutotunerProcess) -> None:
    assert httpx.get(f"{server.url}/api/health").status_code == 200  # probes stay open
    refused = httpx.get(f"{server.url}/api/tasks")
    assert refused.status_code == 401
    assert "Bearer" in refused.json()["detail"] and refused.headers["www-authenticate"] == "Bearer"
    bad = httpx.get(f"{server.url}/api/tasks", headers=_auth("not-a-jwt"))
    assert bad.status_code == 401 and "invalid token" in bad.json()["detail"]
    forged = create_token("another-secret-of-at-least-32-bytes!!", "mallory")
    assert httpx.get(f"{server.url}/api/tasks", headers=_auth(forged)).status_code == 401
    expired = create_token(SECRET, "alice", expires_in=-10)
    response = httpx.get(f"{server.url}/api/tasks", headers=_auth(expired))
    assert response.status_code == 401 and "expired" in response.json()["detail"]

    writer = create_token(SECRET, "alice")
    created = httpx.post(f"{server.url}/api/tasks", json=sim_spec("auth"), headers=_auth(writer))
    assert created.status_code == 201

    reader = create_token(SECRET, "bob", scope="read")
    assert (
        httpx.get(f"{server.url}/api/tasks", headers=_auth(reader)).json()[0]["task_name"] == "auth"
    )
    denied = httpx.delete(f"{server.url}/api/tasks/{created.json()['id']}", headers=_auth(reader))
    assert denied.status_code == 403 and "read" in denied.json()["detail"]
    assert len(httpx.get(f"{server.url}/api/tasks", headers=_auth(reader)).json()) == 1


def test_websockets_need_a_valid_token(server: AutotunerProcess) -> None:
    token = create_token(SECRET, "alice")
    task = httpx.post(f"{server.url}/api/tasks", json=sim_spec("ws-auth"), headers=_auth(token))
    path = f"{server.ws_url}/api/ws/tasks/{task.json()['id']}"
    for url in (path, f"{path}?token=garbage"):
        with pytest.raises(ConnectionClosed) as closed, connect(url) as sock:
            sock.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    reader = create_token(SECRET, "bob", scope="read")
    with connect(f"{path}?token={reader}") as sock:
        assert json.loads(sock.recv(timeout=5))["type"] == "connection_established"
    with connect(path, additional_headers=_auth(token)) as sock:
        assert json.loads(sock.recv(timeout=5))["type"] == "connection_established"


def test_cli_token_run_and_watch(server: AutotunerProcess, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "autotuner.cli", *args],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert cli("token").returncode == 2  # no secret, no token
    minted = cli("token", "--subject", "ci", AUTOTUNER_AUTH_SECRET=SECRET)
    assert minted.returncode == 0
    token = minted.stdout.strip()

    spec = tmp_path / "docker.yaml"
    spec.write_text("task_name: needs-docker\nmodel: {id_or_path: m}\nparameters: {tp-size: [1]}\n")
    refused = cli("run", str(spec), "--server", server.url)
    assert refused.returncode == 2 and "authentication required" in refused.stderr
    ran = cli("run", str(spec), "--server", server.url, AUTOTUNER_TOKEN=token)
    # docker is not a mode this build drives: the task fails, and says why.
    assert ran.returncode == 1, ran.stderr
    assert "task_failed" in ran.stdout and "docker" in ran.stdout
    watched = cli("watch", "1", "--server", server.url, "--token", token)
    assert watched.returncode == 1 and "task_started" in watched.stdout
    anonymous = cli("watch", "1", "--server", server.url)
    assert anonymous.returncode == 2 and "not allowed" in anonymous.stderr


def test_browsers_send_the_token_as_a_subprotocol_never_echoed(server: AutotunerProcess) -> None:
    token = create_token(SECRET, "alice")
    task = httpx.post(f"{server.url}/api/tasks", json=sim_spec("ws-proto"), headers=_auth(token))
    path = f"{server.ws_url}/api/ws/tasks/{task.json()['id']}"
    reader = create_token(SECRET, "bob", scope="read")
    with connect(
        path, subprotocols=[Subprotocol("autotuner"), Subprotocol(f"autotuner.bearer.{reader}")]
    ) as sock:
        assert sock.subprotocol == "autotuner"  # the one a browser may see, not the token
        assert json.loads(sock.recv(timeout=5))["type"] == "connection_established"
    with connect(f"{server.ws_url}/api/ws/tasks", subprotocols=[Subprotocol("autotuner")]) as sock:
        # No token: refused over a handshake a browser completes, so it sees 4401.
        assert sock.subprotocol == "autotuner"
        with pytest.raises(ConnectionClosed) as closed:
            sock.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert "autotuner.bearer.<token>" in closed.value.rcvd.reason
    with (
        pytest.raises(ConnectionClosed) as closed,
        connect(
            path, subprotocols=[Subprotocol("autotuner"), Subprotocol("autotuner.bearer.garbage")]
        ) as sock,
    ):
        sock.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    # Old clients' ?token= still works on REST too (and is redacted from the logs).
    assert httpx.get(f"{server.url}/api/tasks", params={"token": reader}).status_code == 200
