"""The test harness: real server processes and the WebSocket clients that read them.

Every child process a test (or ``benchmarks/faults.py``) starts is a
:class:`ManagedProcess`: started with its output in a log file, waited for
until it answers, its log's tail shown when it dies early, stopped with SIGTERM
(then SIGKILL) or killed as on a crash. The kinds of server:

- :class:`AutotunerProcess`: ``autotuner serve`` / ``autotuner worker``;
- :class:`EventsServer`: the event-pipeline test app (``tests/events/server.py``);
- :class:`RedisServer`: a throwaway ``redis-server``.

Readers: :class:`WsCollector` (a thread, for synchronous tests) and
:class:`Client` / :func:`close_code` (asyncio).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import httpx
import websockets

from autotuner.net import free_port

__all__ = [
    "ROOT",
    "TERMINAL",
    "AutotunerProcess",
    "Client",
    "EventsServer",
    "ManagedProcess",
    "RedisServer",
    "WsCollector",
    "close_code",
    "events_of",
    "free_port",
    "wait_for_port",
    "wait_until",
]

ROOT = Path(__file__).resolve().parents[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")


class ManagedProcess:
    """A server as a child process on ``127.0.0.1:port``, its output in ``log``.

    Subclasses say what to run (:meth:`args`) and how to tell it is up:
    ``ready_path`` (an HTTP path that answers 200 once it serves) or, without
    one, a port that accepts connections. ``start`` may be called again after
    ``stop``/``kill``: a restart on the same port.
    """

    name = "process"
    ready_path: str | None = None
    ready_timeout = 30.0
    stop_grace = 10.0

    def __init__(
        self,
        *,
        port: int | None = None,
        log: Path | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        new_session: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.log = log
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.new_session = new_session
        self.proc: subprocess.Popen[bytes] | None = None

    def args(self) -> list[str]:
        """The command line of the server."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> ManagedProcess:
        """Start the process (and return at once)."""
        if self.log is None:
            self.proc = self._popen(subprocess.DEVNULL)
        else:
            with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
                self.proc = self._popen(out)
        return self

    def _popen(self, out: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.args(),
            env=self.env,
            cwd=self.cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=self.new_session,
        )

    def ready(self) -> bool:
        """One probe: whether the server answers now."""
        if self.ready_path is None:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0
        try:
            return httpx.get(f"{self.url}{self.ready_path}", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until :meth:`ready`; fails with the log's tail if the process exits first."""
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None, f"{self.name} was never started"
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
            if self.ready():
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready after {timeout} s:\n{self.tail()}")

    async def await_ready(self, within: float | None = None) -> ManagedProcess:
        """:meth:`wait_ready` for asyncio tests, so that several servers start at once."""
        await asyncio.to_thread(self.wait_ready, within)
        return self

    def tail(self, lines: int = 60) -> str:
        if self.log is None:
            return ""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no clean-up runs, as when a machine dies."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, as on a planned shutdown; SIGKILL after ``stop_grace`` seconds."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                self.kill()


class AutotunerProcess(ManagedProcess):
    """``autotuner serve`` or ``autotuner worker`` as a real subprocess."""

    ready_path = "/api/health"
    stop_grace = 15.0

    def __init__(self, command: str, env: dict[str, str], log: Path, port: int | None = None):
        super().__init__(port=port, log=log, env=env)
        self.command = command
        self.name = f"autotuner {command}"

    def args(self) -> list[str]:
        args = [sys.executable, "-m", "autotuner.cli", self.command]
        if self.command == "serve":
            args += ["--port", str(self.port)]
        return args

    def start(self, wait: bool = True) -> AutotunerProcess:
        """Start; a server is waited for unless ``wait=False`` (a worker never is)."""
        super().start()
        if wait and self.command == "serve":
            self.wait_ready()
        return self


class RedisNamespace(Protocol):
    """A Redis URL and a key/channel namespace (``tests.events.support.RedisTarget``)."""

    @property
    def url(self) -> str: ...

    @property
    def namespace(self) -> str: ...


class EventsServer(ManagedProcess):
    """``python -m tests.events.server``: the ws router on a real uvicorn, in its own process.

    Started on construction; ``await server.await_ready()``. With ``redis``
    (a ``tests.events.support.RedisTarget``) it publishes through Redis in that
    namespace.
    """

    name = "test server"
    ready_path = "/test/stats"

    def __init__(
        self,
        database_url: str,
        log: Path,
        *,
        redis: RedisNamespace | None = None,
        send_buffer: int = 1024,
        ws: str = "websockets-sansio",
        product: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(log=log, env=env, cwd=ROOT)
        self._args = [sys.executable, "-m", "tests.events.server", "--port", str(self.port)]
        self._args += ["--database-url", database_url, "--send-buffer", str(send_buffer)]
        self._args += ["--ws", ws]
        if redis is not None:
            self._args += ["--redis-url", redis.url, "--namespace", redis.namespace]
        if product:
            self._args += ["--product", "--data-dir", str(log.parent / f"data-{self.port}")]
        self.http = self.url
        self.ws = self.ws_url
        self.start()

    def args(self) -> list[str]:
        return self._args

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


class RedisServer(ManagedProcess):
    """A throwaway ``redis-server`` on a free port (kept across restarts), without
    persistence: a restart loses every key, as a Redis without AOF does."""

    name = "redis-server"
    ready_timeout = 10.0

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server")
        self.workdir = workdir
        super().__init__()
        self.log = workdir / f"redis-{self.port}.log"
        self.binary = binary

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def args(self) -> list[str]:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        return args + ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]

    def start(self) -> RedisServer:
        super().start()
        self.wait_ready()
        return self


# ---------------------------------------------------------------- WebSocket readers


def events_of(frames: list[str]) -> list[dict[str, Any]]:
    """The task events (with an id) among received frames."""
    return [m for m in (json.loads(f) for f in frames) if m.get("id") is not None]


TERMINAL = ("task_completed", "task_failed", "task_cancelled")


class WsCollector:
    """Reads a WebSocket in a thread until a terminal task event (or ``stop_after`` events)."""

    def __init__(self, url: str, *, stop_after: int | None = None, timeout: float = 120.0):
        self.url = url
        self.stop_after = stop_after
        self.timeout = timeout
        self.frames: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> WsCollector:
        self._thread.start()
        return self

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        try:
            with connect(self.url, open_timeout=10, close_timeout=2) as sock:
                deadline = time.monotonic() + self.timeout
                while time.monotonic() < deadline:
                    msg = json.loads(sock.recv(timeout=deadline - time.monotonic()))
                    self.frames.append(msg)
                    if msg.get("type") in TERMINAL:
                        return
                    if self.stop_after is not None and len(self.events) >= self.stop_after:
                        return
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else None
        except BaseException as exc:  # surfaced by join()
            self.error = exc

    def join(self, timeout: float | None = None) -> WsCollector:
        self._thread.join(timeout if timeout is not None else self.timeout + 5)
        if self._thread.is_alive():
            raise TimeoutError(f"{self.url}: still reading after {self.timeout} s")
        if self.error is not None:
            raise self.error
        return self

    @property
    def events(self) -> list[dict[str, Any]]:
        return [m for m in self.frames if m.get("id") is not None]

    @property
    def ids(self) -> list[int]:
        return [m["id"] for m in self.events]

    @property
    def types(self) -> list[str]:
        return [m["type"] for m in self.events]


class Client:
    """An asyncio WebSocket client that keeps every frame it received."""

    def __init__(self, conn: websockets.ClientConnection) -> None:
        self.conn = conn
        self.messages: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> Client:
        return cls(await websockets.connect(url, compression=None, **kwargs))

    async def recv(self, within: float = 10) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.conn.recv(), within))
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
