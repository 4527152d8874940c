"""Test helpers: free ports, real ``autotuner`` processes, WebSocket readers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


class AutotunerProcess:
    """``autotuner serve`` or ``autotuner worker`` as a real subprocess."""

    def __init__(self, command: str, env: dict[str, str], log: Path, port: int | None = None):
        self.command = command
        self.env = {**os.environ, **env}
        self.log = log
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> AutotunerProcess:
        args = [sys.executable, "-m", "autotuner.cli", self.command]
        if self.command == "serve":
            args += ["--port", str(self.port)]
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        if wait and self.command == "serve":
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"autotuner {self.command} exited:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"autotuner {self.command} not ready:\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no clean-up runs, as when a machine dies."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")


def events_of(frames: list[str]) -> list[dict[str, Any]]:
    """The task events (with an id) among received frames."""
    return [m for m in (json.loads(f) for f in frames) if m.get("id") is not None]


TERMINAL = ("task_completed", "task_failed", "task_cancelled")


class WsCollector:
    """Reads a WebSocket in a thread until a terminal task event (or ``stop_after`` events)."""

    def __init__(self, url: str, *, stop_after: int | None = None, timeout: float = 120.0):
        import threading

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


class RedisServer:
    """A throwaway ``redis-server`` on a free port (kept across restarts), without
    persistence: a restart loses every key, as a Redis without AOF does."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        wait_for_port(self.port, timeout=10)

    def stop(self) -> None:
        """SIGTERM: Redis shuts down as it would on a planned restart."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL: Redis dies as on a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
