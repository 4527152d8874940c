"""Engines outliving a launcher killed with SIGKILL are reaped, and nothing else is.

Every case runs real processes: a launcher that deploys a sim engine and is then
killed, and plain processes standing in for engines whose pidfile names a dead
or living launcher, or a pid that was handed to another process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from autotuner.runtimes import reap_orphans

_LAUNCHER = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from autotuner.runtimes import DeployRequest, SimRuntime

    async def main():
        request = DeployRequest(
            task_name="orphan", experiment_id=1, base_runtime="vllm", model="sim-orphan",
            parameters={}, log_dir=Path(sys.argv[1]), timeout=30,
        )
        deployment = await SimRuntime().deploy(request)
        print(json.dumps({"pid": deployment.pid, "pidfile": str(deployment.pidfile),
                          "base_url": deployment.base_url}), flush=True)
        await asyncio.Event().wait()  # until killed

    asyncio.run(main())
    """
)

# Ignores SIGTERM, and so does the child it forks (an ignored signal stays
# ignored across fork and exec), like an engine stuck in a CUDA call.
_STUBBORN = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    print(child.pid, flush=True)
    time.sleep(120)
    """
)


def _alive(pid: int, create_time: float | None = None) -> bool:
    try:
        proc = psutil.Process(pid)
        if create_time is not None and proc.create_time() != create_time:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Processes:
    """Processes started by a test (each in its own session), killed at its end."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []
        self.others: list[psutil.Process] = []

    def start(self, args: list[str], **kw: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(args, text=True, start_new_session=True, **kw)
        self.started.append(proc)
        return proc

    def adopt(self, pid: int) -> None:
        """Also kill ``pid`` and its descendants at the end (an engine a launcher started)."""
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            self.others += [root, *root.children(recursive=True)]

    def cleanup(self) -> None:
        for other in self.others:
            with contextlib.suppress(psutil.Error):
                other.kill()
        for proc in self.started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    yield procs
    procs.cleanup()


def _pidfile(
    path: Path,
    *,
    pid: int,
    create_time: float,
    owner_pid: int,
    owner_create_time: float,
    host: str | None = None,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "pid": pid,
                "create_time": create_time,
                "command": ["engine"],
                "owner_pid": owner_pid,
                "owner_create_time": owner_create_time,
                "host": host or socket.gethostname(),
            }
        )
    )
    return path


def _dead_process() -> tuple[int, float]:
    """The pid and creation time of a process that has exited (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    created = psutil.Process(proc.pid).create_time()
    proc.wait(10)
    return proc.pid, created


def test_engine_of_a_killed_launcher_is_reaped_and_a_live_launcher_keeps_its_engine(
    tmp_path: Path, processes: Processes
) -> None:
    logs = tmp_path / "logs"
    launcher = processes.start(
        [sys.executable, "-c", _LAUNCHER, str(logs / "exp-1")], stdout=subprocess.PIPE
    )
    assert launcher.stdout is not None
    info = json.loads(launcher.stdout.readline())
    engine_pid = info["pid"]
    processes.adopt(engine_pid)
    created = psutil.Process(engine_pid).create_time()
    pidfile = Path(info["pidfile"])
    record = json.loads(pidfile.read_text())
    assert pidfile.parent == logs / "exp-1" and pidfile.suffix == ".pid"
    assert (record["pid"], record["owner_pid"]) == (engine_pid, launcher.pid)
    assert record["create_time"] == pytest.approx(created, abs=1.5)
    assert record["command"][1:3] == ["-m", "autotuner.sim"]

    # Its launcher runs: the engine is its business, not the reaper's.
    assert reap_orphans(logs, grace=2) == []
    assert _alive(engine_pid, created) and pidfile.exists()

    launcher.send_signal(signal.SIGKILL)
    launcher.wait(10)
    time.sleep(0.3)
    # The orphan: alive, serving, and nobody will stop it.
    assert _alive(engine_pid, created)
    assert httpx.get(info["base_url"] + "/health", timeout=5).status_code == 200

    assert reap_orphans(logs, grace=5) == [engine_pid]
    assert _wait_dead(engine_pid)
    assert not pidfile.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(info["base_url"] + "/health", timeout=2)
    assert reap_orphans(logs) == []


def test_a_process_that_reused_the_engine_pid_is_never_killed(
    tmp_path: Path, processes: Processes
) -> None:
    bystander = processes.start([sys.executable, "-c", "import time; time.sleep(60)"])
    created = psutil.Process(bystander.pid).create_time()
    owner_pid, owner_created = _dead_process()
    # The recorded engine had this pid, but was created long before this process.
    pidfile = _pidfile(
        tmp_path / "task-1" / "exp-2" / "e.pid",
        pid=bystander.pid,
        create_time=created - 3600,
        owner_pid=owner_pid,
        owner_create_time=owner_created,
    )
    assert reap_orphans(tmp_path, grace=1) == []
    time.sleep(0.2)
    assert bystander.poll() is None and _alive(bystander.pid, created)
    assert not pidfile.exists()  # its engine is gone: the pidfile was stale


def test_an_engine_whose_owner_pid_was_reused_is_reaped_with_its_group(
    tmp_path: Path, processes: Processes
) -> None:
    engine = processes.start([sys.executable, "-c", _STUBBORN], stdout=subprocess.PIPE)
    assert engine.stdout is not None
    child = int(engine.stdout.readline())
    created = psutil.Process(engine.pid).create_time()
    # The owner's pid runs (it is this test), but as a different process than
    # the one that launched the engine.
    me = psutil.Process()
    pidfile = _pidfile(
        tmp_path / "e.pid",
        pid=engine.pid,
        create_time=created,
        owner_pid=me.pid,
        owner_create_time=me.create_time() - 3600,
    )
    started = time.monotonic()
    assert reap_orphans(tmp_path, grace=0.5) == [engine.pid]
    assert time.monotonic() - started < 5
    # SIGTERM was ignored, so SIGKILL it was, for the leader and its child.
    assert engine.wait(5) == -signal.SIGKILL
    assert _wait_dead(child)
    assert not pidfile.exists()


def test_pidfiles_of_live_owners_other_hosts_and_other_programs_are_left_alone(
    tmp_path: Path, processes: Processes
) -> None:
    engine = processes.start([sys.executable, "-c", "import time; time.sleep(60)"])
    created = psutil.Process(engine.pid).create_time()
    me = psutil.Process()
    dead_owner, dead_created = _dead_process()
    mine = _pidfile(
        tmp_path / "a.pid",
        pid=engine.pid,
        create_time=created,
        owner_pid=me.pid,
        owner_create_time=me.create_time(),
    )
    elsewhere = _pidfile(
        tmp_path / "b.pid",
        pid=engine.pid,
        create_time=created,
        owner_pid=dead_owner,
        owner_create_time=dead_created,
        host="another-host.invalid",
    )
    foreign = tmp_path / "nginx.pid"
    foreign.write_text(f"{engine.pid}\n")
    assert reap_orphans(tmp_path, grace=1) == []
    assert engine.poll() is None
    assert mine.exists() and elsewhere.exists() and foreign.exists()
    assert reap_orphans(tmp_path / "missing") == []


def test_pidfile_of_an_engine_that_exited_is_removed(tmp_path: Path) -> None:
    engine_pid, engine_created = _dead_process()
    owner_pid, owner_created = _dead_process()
    pidfile = _pidfile(
        tmp_path / "x" / "e.pid",
        pid=engine_pid,
        create_time=engine_created,
        owner_pid=owner_pid,
        owner_create_time=owner_created,
    )
    assert reap_orphans(tmp_path) == []
    assert not pidfile.exists()
