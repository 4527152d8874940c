"""Host and Origin allow-lists on a real ``autotuner serve``: cross-site writes and
sockets, DNS rebinding, and the settings that open them up."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from autotuner.api.origin import OriginMiddleware, split_host
from tests.e2e.specs import sim_spec
from tests.helpers import AutotunerProcess

EVIL = "http://evil.example"


@pytest.fixture
def serve(
    spawn: Callable[..., AutotunerProcess], data_dir: Path
) -> Callable[..., AutotunerProcess]:
    def start(**env: str) -> AutotunerProcess:
        return spawn("serve", {"AUTOTUNER_DATA_DIR": str(data_dir), **env})

    return start


@pytest.fixture
def http() -> Iterator[Callable[[AutotunerProcess], httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(server: AutotunerProcess) -> httpx.Client:
        clients.append(httpx.Client(base_url=server.url, timeout=30))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@contextmanager
def ws(
    server: AutotunerProcess, path: str, *, host: str | None = None, **kwargs: Any
) -> Iterator[ClientConnection]:
    """A socket to ``server`` whose handshake names ``host`` (the server's own by default)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    authority = host or f"127.0.0.1:{server.port}"
    with connect(f"ws://{authority}{path}", sock=sock, open_timeout=10, **kwargs) as conn:
        yield conn


def refused_socket(server: AutotunerProcess, path: str, **kwargs: Any) -> tuple[int, str, Any]:
    """Close code, reason and accepted subprotocol of a socket the server refuses."""
    with pytest.raises(ConnectionClosed) as closed, ws(server, path, **kwargs) as conn:
        protocol = conn.subprotocol
        conn.recv(timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason, protocol


def test_cross_site_writes_and_sockets_are_refused(
    serve: Callable[..., AutotunerProcess], http: Callable[[AutotunerProcess], httpx.Client]
) -> None:
    server = serve()
    own = f"http://127.0.0.1:{server.port}"
    api = http(server)

    refused = api.post("/api/tasks", json=sim_spec("evil"), headers={"Origin": EVIL})
    assert refused.status_code == 403
    assert "AUTOTUNER_ALLOWED_ORIGINS" in refused.json()["detail"]
    assert "evil.example" in refused.json()["detail"]
    for origin in ("null", "http://127.0.0.1.evil.example", f"https://127.0.0.1:{server.port}1"):
        response = api.post("/api/tasks", json=sim_spec("evil"), headers={"Origin": origin})
        assert response.status_code == 403, origin
    assert api.get("/api/tasks").json() == []  # nothing was created

    # The UI (same origin), the CLI and scripts (no Origin) may write.
    task = api.post("/api/tasks", json=sim_spec("mine"), headers={"Origin": own})
    assert task.status_code == 201
    assert api.post("/api/tasks", json=sim_spec("cli")).status_code == 201
    same_by_name = api.post(
        "/api/tasks",
        json=sim_spec("by-name"),
        headers={"Origin": f"http://localhost:{server.port}", "Host": f"localhost:{server.port}"},
    )
    assert same_by_name.status_code == 201
    task_id = task.json()["id"]

    # Another site may neither start, cancel nor delete it; reading is left to CORS.
    for method, path in (
        ("POST", f"/api/tasks/{task_id}/start"),
        ("POST", f"/api/tasks/{task_id}/cancel"),
        ("DELETE", f"/api/tasks/{task_id}"),
    ):
        assert api.request(method, path, headers={"Origin": EVIL}).status_code == 403, path
    assert api.get(f"/api/tasks/{task_id}").json()["status"] == "pending"
    assert api.get("/api/tasks", headers={"Origin": EVIL}).status_code == 200

    # Sockets: another site's page is closed with 4403 over a handshake a browser
    # completes (it offered "autotuner"), the UI's is served.
    for path in (f"/api/ws/tasks/{task_id}", "/api/ws/tasks"):
        code, reason, protocol = refused_socket(
            server, path, origin=EVIL, subprotocols=["autotuner"]
        )
        assert (code, protocol) == (4403, "autotuner")
        assert "AUTOTUNER_ALLOWED_ORIGINS" in reason
        with ws(server, path, origin=own) as conn:
            assert json.loads(conn.recv(timeout=10))["type"] == "connection_established"
    with ws(server, f"/api/ws/tasks/{task_id}") as conn:  # no Origin: the CLI
        assert json.loads(conn.recv(timeout=10))["type"] == "connection_established"


def test_dns_rebinding_is_refused_on_a_loopback_server(
    serve: Callable[..., AutotunerProcess], http: Callable[[AutotunerProcess], httpx.Client]
) -> None:
    server = serve()
    host = f"evil.example:{server.port}"
    # After rebinding, the attacker's page is same-origin with its own name.
    origin = {"Host": host, "Origin": f"http://{host}"}
    api = http(server)
    read = api.get("/api/tasks", headers={"Host": host})
    assert read.status_code == 403 and "AUTOTUNER_ALLOWED_HOSTS" in read.json()["detail"]
    assert api.post("/api/tasks", json=sim_spec("rebound"), headers=origin).status_code == 403
    assert api.get("/api/tasks").json() == []
    code, reason, _ = refused_socket(server, "/api/ws/tasks", host=host, origin=f"http://{host}")
    assert code == 4403 and "AUTOTUNER_ALLOWED_HOSTS" in reason
    for name in ("localhost", "127.0.0.1", "[::1]"):
        assert api.get("/api/tasks", headers={"Host": f"{name}:{server.port}"}).status_code == 200
    assert api.get("/api/tasks", headers={"Host": "127.0.0.1:99999"}).status_code == 403


def test_allow_lists_are_configurable(
    serve: Callable[..., AutotunerProcess], http: Callable[[AutotunerProcess], httpx.Client]
) -> None:
    dev = "http://localhost:5173"
    server = serve(
        AUTOTUNER_ALLOWED_ORIGINS=f"{dev}, https://ui.example",
        AUTOTUNER_ALLOWED_HOSTS="autotuner.example,*.corp.example",
    )
    api = http(server)
    mine = {"Host": "autotuner.example"}
    # The loopback names stay served (health checks, the CLI on the machine).
    assert api.get("/api/tasks").status_code == 200
    assert api.get("/api/tasks", headers=mine).status_code == 200
    assert api.get("/api/tasks", headers={"Host": "other.example"}).status_code == 403
    assert api.get("/api/tasks", headers={"Host": "a.b.corp.example:8000"}).status_code == 200
    assert api.get("/api/tasks", headers={"Host": "corp.example.evil"}).status_code == 403
    for origin in (dev, "https://ui.example:443", "http://autotuner.example"):
        created = api.post(
            "/api/tasks", json=sim_spec(f"t{len(origin)}"), headers={**mine, "Origin": origin}
        )
        assert created.status_code == 201, origin
    evil = api.post("/api/tasks", json=sim_spec("evil"), headers={**mine, "Origin": EVIL})
    assert evil.status_code == 403
    with ws(server, "/api/ws/tasks", host="autotuner.example", origin=dev) as conn:
        assert json.loads(conn.recv(timeout=10))["type"] == "connection_established"


def test_a_server_bound_to_every_interface_answers_any_host_but_not_any_origin(
    serve: Callable[..., AutotunerProcess], http: Callable[[AutotunerProcess], httpx.Client]
) -> None:
    server = serve(AUTOTUNER_HOST="0.0.0.0")
    api = http(server)
    assert api.get("/api/tasks", headers={"Host": "gpu-box.lan:8000"}).status_code == 200
    lan = {"Host": "gpu-box.lan:8000", "Origin": "http://gpu-box.lan:8000"}
    assert api.post("/api/tasks", json=sim_spec("lan"), headers=lan).status_code == 201
    cross = {"Host": "gpu-box.lan:8000", "Origin": EVIL}
    assert api.post("/api/tasks", json=sim_spec("x"), headers=cross).status_code == 403


def test_host_and_origin_parsing() -> None:
    assert split_host("[::1]:8000") == ("::1", 8000)
    assert split_host("::1") == ("::1", None)
    assert split_host("Example.COM.") == ("example.com", None)
    with pytest.raises(ValueError):
        split_host("example.com:http")
    middleware = OriginMiddleware(
        None,  # type: ignore[arg-type]
        allowed_hosts=["localhost"],
        allowed_origins=["https://ui.example"],
    )
    assert middleware._check_host("example.com:abc") is not None
    assert middleware._check_origin("https://ui.example", "localhost") is None
    assert middleware._check_origin("http://localhost", "localhost:80") is None
    assert middleware._check_origin("https://localhost", "localhost") is None
    assert middleware._check_origin("http://localhost:8000", "localhost:8001") is not None
    assert middleware._check_origin("garbage", "localhost") is not None
