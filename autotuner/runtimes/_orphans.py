"""Engine pidfiles, and the reaper of engines whose launcher died.

Engines run in a session of their own (so ``stop`` can end a whole process
group), which also means they outlive a launcher killed with SIGKILL: nothing
tears them down, and they keep their port and, on real hardware, GPU memory.
So ``launch`` leaves a pidfile next to each engine's log, ``ProcessDeployment.stop``
removes it after teardown, and ``reap_orphans`` ends the engines whose
launcher is gone (the task runner calls it before it resumes a task).

A pid alone names nothing once its process has exited: the kernel hands it out
again. A process is taken for the recorded one only when its pid *and* its
creation time match, for the engine as for its launcher.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

logger = logging.getLogger(__name__)

PIDFILE_SUFFIX = ".pid"
REAP_GRACE_SECONDS = 10.0
_KILL_WAIT_SECONDS = 5.0
# psutil derives creation times from the boot time in /proc/stat, which some
# kernels report a second apart from one read to the next. A pid is not handed
# out again within a second and a half unless the whole pid space wrapped.
_CREATE_TIME_TOLERANCE = 1.5


@dataclass(frozen=True)
class EngineRecord:
    """What a pidfile holds: the engine, and the process that launched it."""

    pid: int
    create_time: float
    command: list[str]
    owner_pid: int
    owner_create_time: float
    host: str


def pidfile_for(log_path: Path) -> Path:
    """``…/name-exp3-sim-vllm.log`` -> ``…/name-exp3-sim-vllm.pid``."""
    return log_path.with_name(log_path.stem + PIDFILE_SUFFIX)


def write_pidfile(path: Path, pid: int, command: list[str]) -> Path | None:
    """Record engine ``pid`` as launched by this process; ``None`` if it is already gone."""
    try:
        record = EngineRecord(
            pid=pid,
            create_time=psutil.Process(pid).create_time(),
            command=list(command),
            owner_pid=os.getpid(),
            owner_create_time=psutil.Process().create_time(),
            host=socket.gethostname(),
        )
    except psutil.Error:
        return None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Written aside then renamed, so a reaper never reads half a file.
    tmp.write_text(json.dumps(asdict(record)))
    os.replace(tmp, path)
    return path


def remove_pidfile(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def read_pidfile(path: Path) -> EngineRecord | None:
    """The record in ``path``, or ``None`` when it is not an engine pidfile of ours."""
    try:
        raw: Any = json.loads(path.read_text())
        record = EngineRecord(
            pid=int(raw["pid"]),
            create_time=float(raw["create_time"]),
            command=[str(word) for word in raw["command"]],
            owner_pid=int(raw["owner_pid"]),
            owner_create_time=float(raw["owner_create_time"]),
            host=str(raw["host"]),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return record if record.pid > 0 and record.owner_pid > 0 else None


def find_process(pid: int, create_time: float) -> psutil.Process | None:
    """The live process with this pid *and* creation time (zombies count as gone)."""
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > _CREATE_TIME_TOLERANCE:
            return None  # the pid was handed to another process
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return proc


def reap_orphans(directory: Path, *, grace: float = REAP_GRACE_SECONDS) -> list[int]:
    """End the engines recorded under ``directory`` whose launcher is gone.

    Walks ``directory`` recursively for engine pidfiles. An engine is reaped
    when the process that launched it no longer runs (no process with its pid
    and creation time) while the engine itself still does: its process group
    gets SIGTERM, then SIGKILL after ``grace`` seconds, and its pidfile is
    removed. A pidfile whose engine has exited is removed; one whose launcher
    still runs, or that was written on another host, is left alone. Returns the
    pids of the engines it terminated. Blocking: call it from a thread in
    async code.
    """
    if not directory.is_dir():
        return []
    host = socket.gethostname()
    orphans: list[tuple[Path, EngineRecord, psutil.Process]] = []
    for path in sorted(directory.rglob("*" + PIDFILE_SUFFIX)):
        record = read_pidfile(path)
        if record is None or record.host != host:
            continue
        if find_process(record.owner_pid, record.owner_create_time) is not None:
            continue  # its launcher runs and will stop it
        engine = find_process(record.pid, record.create_time)
        if engine is None:
            logger.info("Removing stale pidfile %s: engine pid %d has exited", path, record.pid)
            remove_pidfile(path)
            continue
        orphans.append((path, record, engine))
    if not orphans:
        return []
    for _, record, _ in orphans:
        logger.warning(
            "Engine pid %d outlived its launcher pid %d; terminating its process group: %s",
            record.pid,
            record.owner_pid,
            " ".join(record.command),
        )
    _terminate([engine for _, _, engine in orphans], grace)
    for path, _, _ in orphans:
        remove_pidfile(path)
    return [record.pid for _, record, _ in orphans]


def _terminate(leaders: list[psutil.Process], grace: float) -> None:
    """SIGTERM each leader's process group and descendants, SIGKILL what outlives ``grace``."""
    family: list[psutil.Process] = []
    for leader in leaders:
        family.append(leader)
        with contextlib.suppress(psutil.Error):
            # Descendants that left the group (setsid) are signalled one by one.
            family += leader.children(recursive=True)
    _signal(leaders, family, signal.SIGTERM)
    if _wait_gone(family, grace):
        return
    _signal(leaders, family, signal.SIGKILL)
    if not _wait_gone(family, _KILL_WAIT_SECONDS):
        left = [p.pid for p in family if _alive(p)]
        logger.error("Processes %s survived SIGKILL", left)


def _signal(leaders: list[psutil.Process], family: list[psutil.Process], sig: int) -> None:
    for leader in leaders:
        # The engine leads its own session and group, so its pgid is its pid.
        # The check runs against the verified process, never a bare pid.
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if _alive(leader) and os.getpgid(leader.pid) == leader.pid:
                os.killpg(leader.pid, sig)
    for proc in family:
        with contextlib.suppress(psutil.Error):
            if _alive(proc):
                proc.send_signal(sig)  # psutil refuses a pid that was handed out again


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _wait_gone(procs: list[psutil.Process], timeout: float) -> bool:
    """Wait until none of ``procs`` runs; an exited process that nobody reaped
    (a zombie: a reaped engine is not our child) counts as gone."""
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in procs):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
