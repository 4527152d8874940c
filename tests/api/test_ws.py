"""The WebSocket protocol against real servers: uvicorn processes, websockets clients.

``embedded``: one server, SQLite, in-process transport, events published inside
the server. ``distributed``: PostgreSQL and Redis; publishers are separate
processes where it matters.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets

from autotuner.store import Store
from tests.events.support import (
    RedisTarget,
    new_task,
    redis_target,  # noqa: F401 - a fixture
    rss,
)
from tests.helpers import ROOT, AutotunerProcess, Client, EventsServer, close_code

StartServers = Callable[..., Awaitable[list[EventsServer]]]


class Deployment:
    def __init__(self, database_url: str, redis: RedisTarget | None, tmp: Path) -> None:
        self.database_url = database_url
        self.redis = redis
        self.tmp = tmp
        self.servers: list[EventsServer] = []
        self.store = Store(database_url)

    async def start(self, n: int = 1, **kwargs: Any) -> list[EventsServer]:
        await self.store.init()
        new = [
            EventsServer(
                self.database_url,
                self.tmp / f"server{len(self.servers) + i}.log",
                redis=self.redis,
                **kwargs,
            )
            for i in range(n)
        ]
        self.servers += new
        await asyncio.gather(*(s.await_ready() for s in new))
        return new


@pytest.fixture(params=["embedded", "distributed"])
def backends(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, RedisTarget | None]:
    # Sync on purpose: the session's PostgreSQL fixture cannot start inside a running loop.
    if request.param == "embedded":
        return f"sqlite+aiosqlite:///{tmp_path / 'ws.db'}", None
    return request.getfixturevalue("pg_url"), request.getfixturevalue("redis_target")


@pytest.fixture
async def deployment(
    backends: tuple[str, RedisTarget | None], tmp_path: Path
) -> AsyncIterator[Deployment]:
    dep = Deployment(*backends, tmp_path)
    yield dep
    for server in dep.servers:
        server.stop()
    await dep.store.close()


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Deployment]:
    dep = Deployment(f"sqlite+aiosqlite:///{tmp_path / 'ws.db'}", None, tmp_path)
    yield dep
    for server in dep.servers:
        server.stop()
    await dep.store.close()


@pytest.fixture
async def distributed(
    tmp_path: Path,
    pg_url: str,
    redis_target: RedisTarget,  # noqa: F811 - the fixture
) -> AsyncIterator[Deployment]:
    dep = Deployment(pg_url, redis_target, tmp_path)
    yield dep
    for server in dep.servers:
        server.stop()
    await dep.store.close()


async def test_live_events_pings_and_malformed_frames(deployment: Deployment) -> None:
    (server,) = await deployment.start()
    task = await new_task(deployment.store)
    client = await Client.connect(f"{server.ws}/api/ws/tasks/{task}")
    hello = await client.recv()
    assert hello == {
        "type": "connection_established",
        "task_id": task,
        "last_event_id": 0,
        "replayed": 0,
    }
    last = await server.publish(task, 5, type="task_progress", data={"progress": 50})
    events = await client.events_until(last)
    assert [e["id"] for e in events] == [1, 2, 3, 4, 5]
    assert events[0]["type"] == "task_progress" and events[0]["data"] == {"progress": 50}
    stats = (await server.get("/test/stats")).json()
    assert stats["deliveries"] == 5
    assert stats["direct_deliveries"] == 5, "live events should bypass the ASGI send path"

    for frame in ("not json", "[1, 2]", '{"type": "subscribe"}', b"\x00binary"):
        await client.conn.send(frame)
        reply = await client.recv()
        assert reply["type"] == "error" and reply["message"], frame
    await client.conn.send('{"type": "ping"}')
    assert await client.recv() == {"type": "pong"}
    # Still open and live after all that.
    last = await server.publish(task, 1)
    await client.events_until(last)

    body = (await server.get(f"/api/ws/tasks/{task}/subscribers")).json()
    assert body == {"task_id": task, "subscriber_count": 1, "status": "active"}
    await client.close()
    for _ in range(100):
        body = (await server.get(f"/api/ws/tasks/{task}/subscribers")).json()
        if body["subscriber_count"] == 0:
            break
        await asyncio.sleep(0.05)
    assert body == {"task_id": task, "subscriber_count": 0, "status": "inactive"}


async def test_unknown_ids_and_bad_queries(embedded: Deployment) -> None:
    (server,) = await embedded.start()
    task = await new_task(embedded.store)
    code, reason = await close_code(f"{server.ws}/api/ws/tasks/987654")
    assert (code, reason) == (4404, "task 987654 not found")
    code, reason = await close_code(f"{server.ws}/api/ws/experiments/987654")
    assert (code, reason) == (4404, "experiment 987654 not found")
    code, reason = await close_code(f"{server.ws}/api/ws/tasks/{task}?last_event_id=abc")
    assert code == 4400 and "last_event_id" in reason
    response = await server.get("/api/ws/tasks/987654/subscribers")
    assert response.status_code == 404 and "not found" in response.json()["detail"]


async def test_resume_gets_every_later_event_exactly_once(deployment: Deployment) -> None:
    (server,) = await deployment.start()
    task = await new_task(deployment.store)
    await server.publish(task, 10)

    async def keep_publishing() -> int:
        last = 0
        for _ in range(30):
            last = await server.publish(task, 5)
            await asyncio.sleep(0.01)
        return last

    publishing = asyncio.create_task(keep_publishing())
    first = await Client.connect(f"{server.ws}/api/ws/tasks/{task}?last_event_id=4")
    hello = await first.recv()
    assert hello["type"] == "connection_established"
    assert hello["replayed"] == hello["last_event_id"] - 4
    while len(first.events()) < 40:
        await first.recv()
    await first.close()  # drops off mid-stream
    seen = first.ids()[-1]
    second = await Client.connect(f"{server.ws}/api/ws/tasks/{task}?last_event_id={seen}")
    assert (await second.recv())["type"] == "connection_established"
    last = await publishing
    await second.events_until(last)
    assert first.ids() + second.ids() == list(range(5, last + 1))
    await second.close()


async def test_stale_client_ahead_of_the_log_is_told_to_resync(embedded: Deployment) -> None:
    (server,) = await embedded.start()
    task = await new_task(embedded.store)
    await server.publish(task, 3)
    client = await Client.connect(f"{server.ws}/api/ws/tasks/{task}?last_event_id=500")
    hello = await client.recv()
    assert hello == {
        "type": "connection_established",
        "task_id": task,
        "last_event_id": 3,
        "replayed": 0,
    }
    resync = await client.recv()
    assert resync["type"] == "resync_required"
    assert (resync["task_id"], resync["last_event_id"]) == (task, 3) and resync["reason"]
    last = await server.publish(task, 2)
    await client.events_until(last)
    assert client.ids() == [4, 5]  # live from the newest id on
    await client.close()


async def test_experiment_socket_filters_and_resumes_by_task_ids(embedded: Deployment) -> None:
    (server,) = await embedded.start()
    store = embedded.store
    task = await new_task(store)
    mine = (await store.create_experiment(task, 1, {"a": 1})).id
    other = (await store.create_experiment(task, 2, {"a": 2})).id

    async def publish(kind: str, pk: int | None) -> int:
        data = {"experiment": {"id": pk}} if pk is not None else {}
        return await server.publish(task, 1, type=kind, data=data, experiment_pk=pk)

    client = await Client.connect(f"{server.ws}/api/ws/experiments/{mine}")
    hello = await client.recv()
    assert hello == {
        "type": "connection_established",
        "task_id": task,
        "experiment_id": mine,
        "last_event_id": 0,
        "replayed": 0,
    }
    await publish("task_started", None)
    await publish("experiment_started", mine)
    await publish("experiment_started", other)
    await publish("benchmark_progress", mine)
    last = await publish("experiment_completed", mine)
    await client.events_until(last)
    assert [(e["id"], e["type"]) for e in client.events()] == [
        (2, "experiment_started"),
        (4, "benchmark_progress"),
        (5, "experiment_completed"),
    ]
    await client.close()
    resumed = await Client.connect(f"{server.ws}/api/ws/experiments/{mine}?last_event_id=2")
    assert (await resumed.recv())["replayed"] == 2
    await resumed.events_until(5)
    assert resumed.ids() == [4, 5]
    await resumed.close()


async def test_all_tasks_socket_gets_task_level_events_of_every_task(
    deployment: Deployment,
) -> None:
    (server,) = await deployment.start()
    one, two = await new_task(deployment.store), await new_task(deployment.store)
    client = await Client.connect(f"{server.ws}/api/ws/tasks")
    hello = await client.recv()
    assert hello["type"] == "connection_established" and hello["task_id"] is None
    await server.publish(one, 1, type="task_started")
    await server.publish(one, 1, type="experiment_started")
    await server.publish(two, 1, type="task_started")
    await server.publish(one, 1, type="task_completed")
    for _ in range(3):
        await client.recv()
    got = [(m["task_id"], m["type"]) for m in client.events()]
    assert got == [(one, "task_started"), (two, "task_started"), (one, "task_completed")]
    await client.close()


async def test_slow_client_is_cut_off_resumably_and_others_are_unaffected(
    embedded: Deployment,
) -> None:
    (server,) = await embedded.start(send_buffer=16)
    assert server.proc is not None  # started, so it has a process
    task = await new_task(embedded.store)
    # The slow client reads nothing: a small receive buffer, one queued frame at most.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    slow = await websockets.connect(
        f"{server.ws}/api/ws/tasks/{task}", sock=sock, max_queue=1, compression=None
    )
    fast = await Client.connect(f"{server.ws}/api/ws/tasks/{task}")
    await fast.recv()
    rss_before = rss(server.proc.pid)
    reading = asyncio.create_task(fast.events_until(2000, within=60))
    blob = "x" * 8000
    total = 0
    for _ in range(20):  # 2,000 events of ~8 KB: 16 MB through the server
        total = await server.publish(task, 100, data={"blob": blob})
    assert total == 2000
    await reading
    assert fast.ids() == list(range(1, total + 1))
    growth = rss(server.proc.pid) - rss_before
    assert growth < 10 * 2**20, f"server memory grew by {growth / 2**20:.1f} MB"

    received: list[int] = []
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            message = json.loads(await asyncio.wait_for(slow.recv(), 10))
            if message.get("id") is not None:
                received.append(message["id"])
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4429
    assert received and received == list(range(1, received[-1] + 1))
    assert closed.value.rcvd.reason.endswith(f"resume with last_event_id={received[-1]}")
    assert len(received) < total

    resumed = await Client.connect(
        f"{server.ws}/api/ws/tasks/{task}?last_event_id={received[-1]}", max_size=None
    )
    await resumed.events_until(total, within=30)
    assert received + resumed.ids() == list(range(1, total + 1))
    await resumed.close()
    await fast.close()


async def _not_reading(url: str) -> websockets.ClientConnection:
    """A client that stops reading at once: a 4 KB receive buffer, one queued frame."""
    host, port = url.removeprefix("ws://").split("/", 1)[0].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return await websockets.connect(url, sock=sock, max_queue=1, compression=None, max_size=None)


async def _read_to_the_end(conn: websockets.ClientConnection) -> tuple[list[int], Any]:
    """The event ids a client gets until the server closes it, and the close frame."""
    ids: list[int] = []
    try:
        while True:
            message = json.loads(await asyncio.wait_for(conn.recv(), 30))
            if message.get("id") is not None:
                ids.append(message["id"])
    except websockets.ConnectionClosed as exc:
        return ids, exc.rcvd


async def _peak_rss(pid: int, samples: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(rss(pid))
        await asyncio.sleep(0.1)


async def _wait_subscribers(server: EventsServer, task: int, count: int, within: float) -> None:
    for _ in range(int(within * 10)):
        body = (await server.get(f"/api/ws/tasks/{task}/subscribers")).json()
        if body["subscriber_count"] == count:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"task {task} still has {body['subscriber_count']} subscribers")


async def test_clients_that_never_read_their_replay_hold_a_page_and_are_cut_off_resumably(
    embedded: Deployment,
) -> None:
    (server,) = await embedded.start(env={"AUTOTUNER_WS_SEND_TIMEOUT": "2"})
    assert server.proc is not None  # started, so it has a process
    task = await new_task(embedded.store)
    blob = "x" * 200_000
    total = 0
    for _ in range(6):  # 300 events of 200 KB: 60 MB a full replay
        total = await server.publish(task, 50, data={"blob": blob})
    url = f"{server.ws}/api/ws/tasks/{task}?last_event_id=0"
    baseline = rss(server.proc.pid)
    samples: list[int] = []
    stop = asyncio.Event()
    sampling = asyncio.create_task(_peak_rss(server.proc.pid, samples, stop))

    stuck = [await _not_reading(url) for _ in range(8)]
    normal = await Client.connect(url, max_size=None)
    assert (await normal.recv())["replayed"] == total
    reading = asyncio.create_task(normal.events_until(total + 10, within=120))
    await asyncio.sleep(0.5)
    last = await server.publish(task, 10, data={"blob": blob})
    await reading
    assert normal.ids() == list(range(1, last + 1))  # everything, once, in order
    # Each stuck replay is cut off after the send timeout, without any reading.
    await _wait_subscribers(server, task, 1, within=60)
    stop.set()
    await sampling
    growth = max(samples) - baseline
    assert growth < 64 * 2**20, f"server memory grew by {growth / 2**20:.0f} MB for 9 replays"

    # When they read at last: a gap-free prefix, then 4429 saying where to resume.
    results = await asyncio.gather(*(_read_to_the_end(conn) for conn in stuck))
    for ids, close in results:
        assert close is not None and close.code == 4429, close
        assert ids == list(range(1, len(ids) + 1)) and len(ids) < total
        assert close.reason.endswith(f"resume with last_event_id={len(ids)}"), close.reason
    seen = results[0][0][-1] if results[0][0] else 0
    resumed = await Client.connect(f"{server.ws}/api/ws/tasks/{task}?last_event_id={seen}")
    await resumed.events_until(last, within=60)
    assert resumed.ids() == list(range(seen + 1, last + 1))
    await resumed.close()
    await normal.close()


async def test_a_live_client_that_stops_reading_is_cut_off_after_the_send_timeout(
    embedded: Deployment,
) -> None:
    (server,) = await embedded.start(env={"AUTOTUNER_WS_SEND_TIMEOUT": "2"})
    task = await new_task(embedded.store)
    stalled = await _not_reading(f"{server.ws}/api/ws/tasks/{task}")
    await _wait_subscribers(server, task, 1, within=10)
    # 6 MB: far below the buffer's 1024 events and 16 MB, so only the timeout cuts it off.
    last = await server.publish(task, 60, data={"blob": "y" * 100_000})
    await _wait_subscribers(server, task, 0, within=30)
    ids, close = await _read_to_the_end(stalled)
    assert close is not None and close.code == 4429
    assert "nothing read for 2 s" in close.reason
    assert ids == list(range(1, len(ids) + 1)) and len(ids) < last
    assert close.reason.endswith(f"resume with last_event_id={len(ids)}")


def _publisher(dep: Deployment, task: int, count: int, tag: str) -> subprocess.Popen[bytes]:
    assert dep.redis is not None
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.events.publisher",
            "--database-url",
            dep.database_url,
            "--redis-url",
            dep.redis.url,
            "--namespace",
            dep.redis.namespace,
            "--task-id",
            str(task),
            "--count",
            str(count),
            "--tag",
            tag,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )


async def test_two_publisher_processes_reach_clients_of_two_servers_gap_free(
    distributed: Deployment,
) -> None:
    a, b = await distributed.start(2)
    task = await new_task(distributed.store)
    clients = [
        await Client.connect(f"{a.ws}/api/ws/tasks/{task}"),
        await Client.connect(f"{b.ws}/api/ws/tasks/{task}"),
    ]
    for client in clients:
        await client.recv()
    procs = [_publisher(distributed, task, 150, tag) for tag in ("w1", "w2")]
    outputs = [await asyncio.to_thread(p.communicate, timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    ids = sorted(i for out, _ in outputs for i in json.loads(out))
    assert ids == list(range(1, 301))  # the store's ids: no gaps, no duplicates
    for client in clients:
        await client.events_until(300)
        assert client.ids() == list(range(1, 301))
        # Both publishers' events, interleaved in id order.
        assert {e["data"]["publisher"] for e in client.events()} == {"w1", "w2"}
        await client.close()


async def test_subscriber_counts_cover_every_server_and_forget_a_killed_one(
    distributed: Deployment,
) -> None:
    a, b = await distributed.start(2)
    task = await new_task(distributed.store)
    clients = [
        await Client.connect(f"{a.ws}/api/ws/tasks/{task}"),
        await Client.connect(f"{a.ws}/api/ws/tasks/{task}"),
        await Client.connect(f"{b.ws}/api/ws/tasks/{task}"),
    ]
    for client in clients:
        await client.recv()
    for server in (a, b):
        body = (await server.get(f"/api/ws/tasks/{task}/subscribers")).json()
        assert body == {"task_id": task, "subscriber_count": 3, "status": "active"}
    b.kill()  # SIGKILL: no clean-up
    for _ in range(100):
        count = (await a.get(f"/api/ws/tasks/{task}/subscribers")).json()["subscriber_count"]
        if count == 2:
            break
        await asyncio.sleep(0.1)
    assert count == 2, "the killed server's clients are still counted after 10 s"
    for client in clients[:2]:
        await client.close()


@pytest.mark.parametrize("auth", [False, True], ids=["open", "auth"])
async def test_product_app_serves_the_sockets_on_the_direct_path(
    embedded: Deployment, auth: bool
) -> None:
    """The same protocol through ``create_app``'s middleware (and its auth, when on)."""
    secret = "test-secret-0123456789abcdef0123456789"
    env = {"AUTOTUNER_AUTH_SECRET": secret} if auth else {}
    (server,) = await embedded.start(product=True, env=env)
    task = await new_task(embedded.store)
    query = ""
    if auth:
        from autotuner.api.auth import create_token

        code, _ = await close_code(f"{server.ws}/api/ws/tasks/{task}")
        assert code == 4401
        query = f"?token={create_token(secret, 'tests')}"
    client = await Client.connect(f"{server.ws}/api/ws/tasks/{task}{query}")
    assert (await client.recv())["type"] == "connection_established"
    last = await server.publish(task, 20)
    await client.events_until(last)
    assert client.ids() == list(range(1, 21))
    stats = (await server.get("/test/stats")).json()
    assert stats["direct_deliveries"] == 20
    await client.close()


def test_the_served_product_refuses_large_client_frames(
    spawn: Callable[..., AutotunerProcess], data_dir: Path
) -> None:
    """Clients only send pings: ``autotuner serve`` refuses a big frame (1009) instead of
    buffering it, and a ping still works on another socket."""
    from websockets.sync.client import connect

    server = spawn("serve", {"AUTOTUNER_DATA_DIR": str(data_dir)})
    with connect(f"{server.ws_url}/api/ws/tasks", max_size=None) as sock:
        assert json.loads(sock.recv(timeout=10))["type"] == "connection_established"
        sock.send("x" * 200_000)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            sock.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    with connect(f"{server.ws_url}/api/ws/tasks") as sock:
        sock.recv(timeout=10)
        sock.send('{"type": "ping"}')
        assert json.loads(sock.recv(timeout=10)) == {"type": "pong"}
