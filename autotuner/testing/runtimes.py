"""The runtime contract (``autotuner/runtimes/_base.py``) as a reusable test suite.

A test module runs :class:`RuntimeContract` over a runtime by subclassing it
and providing the ``runtime_case`` fixture: a :class:`RuntimeCase`, the runtime
and how to ask it for an engine that becomes healthy and for one that starts
but never does.

The contract: ``deploy`` returns once the engine answers on its
OpenAI-compatible endpoint; ``Deployment.stop`` (idempotent) leaves no process
of the engine's process group alive; a deploy cancelled while it waits for the
engine, and one whose engine does not become healthy within
``request.timeout`` (``DeploymentError``), leave none either.

Processes are found as descendants of the test process that appear during
the deploy, with their process groups; zombies (already dead, not yet reaped
by whoever inherited them) do not count as alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from autotuner.runtimes import DeploymentError, DeployRequest, Runtime

__all__ = ["STUB_ENGINE", "RuntimeCase", "RuntimeContract", "Spawned"]

#: Generous for a real process on a loaded machine; no test asserts speed.
DEADLINE = 60.0


@dataclass
class RuntimeCase:
    """A runtime under test and the requests the suite deploys with it."""

    runtime: Runtime
    healthy: Callable[[Path], DeployRequest]
    """A request (logs under the given directory) whose engine becomes healthy."""
    never_healthy: Callable[[Path], DeployRequest]
    """A request whose engine process starts but never passes the health check."""


#: A tiny OpenAI-compatible engine for the local runtime's command template:
#: ``{python} STUB_ENGINE_FILE {port} healthy|never``. It forks a child into its
#: process group (as vLLM's workers are) so that stopping only the leader fails.
STUB_ENGINE = """
import http.server, json, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
if sys.argv[2] == "never":
    time.sleep(600)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def _live_descendants() -> dict[int, int]:
    """pid -> process group of every live (non-zombie) descendant of this process."""
    found = {}
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if proc.status() != psutil.STATUS_ZOMBIE:
                found[proc.pid] = os.getpgid(proc.pid)
    return found


def _group_alive(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    alive = []
    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                alive.append(proc.pid)
    return alive


class Spawned:
    """Watches, while in use, for processes this test process starts and their groups.

    ``async with Spawned() as spawned:`` around a deploy; afterwards
    ``spawned.groups`` holds the process groups of the engine processes seen.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.before: set[int] = set()
        self.seen: dict[int, int] = {}
        self._watcher: asyncio.Task[None] | None = None

    @property
    def groups(self) -> set[int]:
        return set(self.seen.values())

    def poll(self) -> None:
        for pid, pgid in _live_descendants().items():
            if pid not in self.before:
                # The latest group wins: a child is in ours between fork and setsid.
                self.seen[pid] = pgid

    async def __aenter__(self) -> Spawned:
        self.before = set(_live_descendants())
        self._watcher = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._watcher is not None
        self._watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._watcher
        self.poll()

    async def _watch(self) -> None:
        while True:
            await asyncio.to_thread(self.poll)
            await asyncio.sleep(self.interval)

    async def wait_started(self, within: float = DEADLINE) -> None:
        deadline = time.monotonic() + within
        while not self.seen:
            assert time.monotonic() < deadline, "no engine process started"
            await asyncio.sleep(self.interval)

    async def assert_gone(self, within: float = 10.0) -> None:
        """Every process group seen is empty, and every process seen in this test's
        own group is gone (SIGKILLed processes may take a moment)."""
        assert self.seen, "no engine process was seen, so nothing was checked"
        ours = os.getpgrp()
        deadline = time.monotonic() + within
        while left := self._left(ours):
            assert time.monotonic() < deadline, f"processes left behind (group: pids): {left}"
            await asyncio.sleep(0.1)

    def _left(self, ours: int) -> dict[int, list[int]]:
        left = {g: _group_alive(g) for g in self.groups - {ours}}
        alive = _live_descendants()
        left[ours] = [pid for pid, g in self.seen.items() if g == ours and pid in alive]
        return {g: pids for g, pids in left.items() if pids}


class RuntimeContract:
    """What every ``Runtime`` promises. Needs the fixture ``runtime_case``."""

    async def test_deploy_is_healthy_and_stop_tears_the_process_group_down(
        self, runtime_case: RuntimeCase, tmp_path: Path
    ) -> None:
        async with Spawned() as spawned:
            deployment = await runtime_case.runtime.deploy(runtime_case.healthy(tmp_path))
        try:
            async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
                models = await client.get(deployment.base_url + "/v1/models")
            assert models.status_code == 200, models.text
            assert deployment.model_name
            assert deployment.command
        finally:
            await deployment.stop()
        await deployment.stop()  # idempotent
        await spawned.assert_gone()

    async def test_a_deploy_cancelled_while_waiting_leaves_no_process(
        self, runtime_case: RuntimeCase, tmp_path: Path
    ) -> None:
        async with Spawned() as spawned:
            deploy = asyncio.create_task(
                runtime_case.runtime.deploy(runtime_case.never_healthy(tmp_path))
            )
            await spawned.wait_started()
            assert not deploy.done()
            deploy.cancel()
            with pytest.raises(asyncio.CancelledError):
                await deploy
        await spawned.assert_gone()

    async def test_an_engine_that_never_becomes_healthy_times_out_and_is_torn_down(
        self, runtime_case: RuntimeCase, tmp_path: Path
    ) -> None:
        request = runtime_case.never_healthy(tmp_path)
        request.timeout = 2.0  # the engine is never healthy: any limit is reached
        async with Spawned() as spawned:
            with pytest.raises(DeploymentError, match="did not become healthy within 2s"):
                await runtime_case.runtime.deploy(request)
        await spawned.assert_gone()
