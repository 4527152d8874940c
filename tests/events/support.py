"""Helpers for the event-pipeline tests: stores, buses, real servers and WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as sync_redis
import websockets

from autotuner.domain import TaskSpec
from autotuner.store import Store

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RedisTarget:
    """A Redis URL and a key/channel namespace of this test's own (pub/sub ignores db numbers)."""

    url: str
    namespace: str


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def new_task(store: Store) -> int:
    spec = TaskSpec(task_name=unique("task"), model={"id_or_path": "m"}, parameters={"a": [1]})
    return (await store.create_task(spec)).id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m tests.events.server``: the ws router on a real uvicorn, in its own process."""

    def __init__(
        self,
        database_url: str,
        log: Path,
        *,
        redis: RedisTarget | None = None,
        send_buffer: int = 1024,
        ws: str = "websockets-sansio",
        product: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.log = log
        args = [
            sys.executable,
            "-m",
            "tests.events.server",
            "--port",
            str(self.port),
            "--database-url",
            database_url,
            "--send-buffer",
            str(send_buffer),
            "--ws",
            ws,
        ]
        if redis is not None:
            args += ["--redis-url", redis.url, "--namespace", redis.namespace]
        if product:
            args += ["--product", "--data-dir", str(log.parent / f"data-{self.port}")]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                args,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"

    async def wait_ready(self, within: float = 30) -> ServerProcess:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"test server exited:\n{self.tail()}")
                try:
                    if (await client.get(f"{self.http}/test/stats", timeout=1)).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise TimeoutError(f"test server not ready:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def publish(self, task_id: int, count: int = 1, **body: Any) -> int:
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.post(
                f"{self.http}/test/publish", json={"task_id": task_id, "count": count, **body}
            )
            response.raise_for_status()
            return int(response.json()["last_id"])

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.get(f"{self.http}{path}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Client:
    """A WebSocket client that keeps every frame it received."""

    def __init__(self, conn: websockets.ClientConnection) -> None:
        self.conn = conn
        self.messages: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> Client:
        return cls(await websockets.connect(url, compression=None, **kwargs))

    async def recv(self, within: float = 10) -> dict[str, Any]:
        message = json.loads(await asyncio.wait_for(self.conn.recv(), within))
        self.messages.append(message)
        return message

    async def events_until(self, last_id: int, within: float = 20) -> list[dict[str, Any]]:
        """Receive until the event ``last_id`` arrived; returns the events (with ids) received."""
        deadline = time.monotonic() + within
        while not any(m.get("id") == last_id for m in self.messages):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"event {last_id} not received; got {self.ids()[-5:]}")
            await self.recv(remaining)
        return self.events()

    def events(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("id") is not None]

    def ids(self) -> list[int]:
        return [m["id"] for m in self.events()]

    async def close(self) -> None:
        await self.conn.close()


async def close_code(url: str, within: float = 10) -> tuple[int | None, str]:
    """Connect and read until the server closes; the close code and reason."""
    async with websockets.connect(url) as conn:
        try:
            while True:
                await asyncio.wait_for(conn.recv(), within)
        except websockets.ConnectionClosed as exc:
            rcvd = exc.rcvd
            return (rcvd.code, rcvd.reason) if rcvd else (None, "")
    return None, ""


async def kill_subscriptions(url: str, client_name: str | None = None) -> int:
    """Kill pub/sub connections (of ``client_name`` only, or of names in this test's
    namespace) as a network failure would; the number killed."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    killed = 0
    try:
        for info in await client.client_list():
            if int(info.get("sub", 0) or 0) == 0:
                continue
            name = info.get("name", "")
            if (client_name is None and name) or name == client_name:
                await client.client_kill_filter(_id=info["id"])
                killed += 1
    finally:
        await client.aclose()
    return killed


def rss(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def pg_env_ok() -> bool:
    return os.environ.get("AUTOTUNER_SKIP_PG") != "1"


@pytest.fixture
def redis_target(redis_server_url: str) -> Iterator[RedisTarget]:
    """A namespace of this test's own on the test Redis; its keys are deleted afterwards."""
    target = RedisTarget(f"{redis_server_url}/0", unique("autotuner-test"))
    yield target
    client = sync_redis.Redis.from_url(target.url)
    keys = list(client.scan_iter(match=f"{target.namespace}:*"))
    if keys:
        client.delete(*keys)
    client.close()
