"""Engines as subprocesses: spawn in a new session, log to a file, health-check, tear down.

Shared by the ``sim`` and ``local`` runtimes. Every engine runs in its own
process group, so ``stop`` can end it together with the workers it forked
(vLLM and SGLang start several). Each engine also leaves a pidfile next to its
log until it is stopped, so that ``reap_orphans`` can end it if its launcher is
killed before it could (see ``_orphans``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import psutil

from autotuner.runtimes._base import Deployment, DeploymentError, DeployRequest
from autotuner.runtimes._orphans import pidfile_for, remove_pidfile, write_pidfile

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0
_POLL_INTERVAL = 0.1


def render_command(command: list[str]) -> str:
    """The command line as a copy-pasteable shell string."""
    return shlex.join(command)


def parameter_args(parameters: Mapping[str, Any], *, bool_style: str = "flag") -> list[str]:
    """Engine flags from one configuration: ``{"tp-size": 2}`` -> ``["--tp-size", "2"]``.

    Names are kept as written (engines differ on ``-`` vs ``_``); a name that
    already starts with ``-`` is used as is. With ``bool_style="flag"`` True
    becomes a bare flag and False is omitted; with ``"value"`` both are passed
    as ``true``/``false``. ``None`` omits the flag. A NaN or infinite number is
    refused (``DeploymentError``): no engine would read ``nan`` as meant.
    """
    args: list[str] = []
    for name, value in parameters.items():
        flag = name if name.startswith("-") else "--" + name
        if value is None:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise DeploymentError(f"parameter {name!r} is {value}; give a finite number")
        if isinstance(value, bool):
            if bool_style == "value":
                args += [flag, "true" if value else "false"]
            elif value:
                args.append(flag)
            continue
        if isinstance(value, (list, tuple)):
            args += [flag, *(str(v) for v in value)]
        else:
            args += [flag, str(value)]
    return args


def log_path_for(request: DeployRequest, runtime: str) -> Path:
    # One file name (at most 255 bytes) inside log_dir, whatever the names hold.
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.task_name).strip("_.")[:120] or "task"
    engine = re.sub(r"[^A-Za-z0-9_.-]+", "_", runtime).strip("_.")[:60] or "engine"
    request.log_dir.mkdir(parents=True, exist_ok=True)
    return request.log_dir / f"{safe}-exp{request.experiment_id}-{engine}.log"


def read_tail(path: Path | None, lines: int = 40, max_bytes: int = 16_384) -> str:
    """The last ``lines`` lines of a log file ('' if there is none)."""
    if path is None:
        return ""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _reason(tail: str) -> str:
    """A one-line cause picked from the engine's log, for the experiment's error."""
    lowered = tail.lower()
    if "out of memory" in lowered or "outofmemoryerror" in lowered:
        return "out of memory (CUDA out of memory)"
    for line in reversed(tail.splitlines()):
        line = line.strip()
        # "ValueError: ...", or argparse's "__main__.py: error: unrecognized arguments: --x"
        if re.match(r"^[\w.]*(Error|Exception)\b", line) or ": error: " in line:
            return line[:300]
    return ""


class ProcessDeployment(Deployment):
    """A running engine subprocess (leader of its own process group)."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        *,
        command: list[str],
        base_url: str,
        model_name: str,
        log_path: Path | None,
        pidfile: Path | None = None,
    ) -> None:
        self.process = process
        self.command = command
        self.base_url = base_url
        self.model_name = model_name
        self.log_path = log_path
        self.pidfile = pidfile
        self._stopped = False
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def command_line(self) -> str:
        return render_command(self.command)

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM the process group, wait up to ``grace`` s, then SIGKILL, then
        remove the pidfile. Never raises."""
        async with self._lock:
            if self._stopped:
                return
            try:
                await _terminate(self.process, grace)
                # Only once the engine is gone: should the teardown fail, the
                # pidfile lets a reaper finish the job after this process ends.
                remove_pidfile(self.pidfile)
            except Exception:  # the contract: stop never raises
                logger.exception("error while stopping engine pid %s", self.process.pid)
            finally:
                self._stopped = True


async def _terminate(process: subprocess.Popen[bytes], grace: float) -> None:
    pid = process.pid
    try:
        family = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        family = []
    if process.poll() is None:
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        # Popen has no awaitable wait; polling keeps this independent of the
        # event loop's child watcher.
        while process.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    # Whatever is left of the group (the leader or workers that ignored SIGTERM).
    _signal_group(pid, signal.SIGKILL)
    for child in family:
        with contextlib.suppress(psutil.Error):
            child.kill()  # psutil checks the pid was not reused
    while process.poll() is None:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    for child in family:
        with contextlib.suppress(psutil.Error):
            child.wait(timeout=1)
    logger.info("engine pid %s stopped (exit code %s)", pid, process.returncode)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        # The engine is its session and group leader (start_new_session=True), so
        # its pgid is its pid until the group is empty.
        os.killpg(pid, sig)


async def launch(
    command: list[str],
    *,
    request: DeployRequest,
    runtime: str,
    base_url: str,
    health_path: str,
    model_name: str,
    env: Mapping[str, str] | None = None,
    discover_model: bool = False,
) -> ProcessDeployment:
    """Start ``command`` and return once ``base_url + health_path`` answers 200.

    Raises ``DeploymentError`` (with the log tail) when the process exits first
    or ``request.timeout`` passes; the process is torn down then, and also when
    the awaiting task is cancelled.
    """
    log_path = log_path_for(request, runtime)
    with log_path.open("ab") as log:
        log.write(f"$ {render_command(command)}\n".encode())
        log.flush()
        try:
            # fork+exec does not block the loop noticeably; a plain Popen works
            # with any event loop and is reaped by polling.
            process = subprocess.Popen(  # noqa: ASYNC220
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **env} if env else None,
            )
        except OSError as exc:
            raise DeploymentError(f"could not start {command[0]!r}: {exc}") from exc
    logger.info("started %s engine pid %s: %s", runtime, process.pid, render_command(command))
    deployment = ProcessDeployment(
        process,
        command=command,
        base_url=base_url,
        model_name=model_name,
        log_path=log_path,
        pidfile=_record(process, command, pidfile_for(log_path)),
    )
    try:
        await _wait_healthy(deployment, health_path, request.timeout)
        if discover_model:
            deployment.model_name = await _served_model(base_url) or model_name
    except BaseException:
        # Covers DeploymentError, cancellation and anything unexpected: the
        # contract is that a failed deploy leaves no process behind.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(deployment.stop())
        raise
    return deployment


def _record(process: subprocess.Popen[bytes], command: list[str], path: Path) -> Path | None:
    try:
        return write_pidfile(path, process.pid, command)
    except OSError:
        # An engine without a pidfile still runs and is still stopped; only a
        # crash of this process would then leave it behind.
        logger.warning("cannot write the pidfile %s of engine pid %s", path, process.pid)
        return None


async def _wait_healthy(deployment: ProcessDeployment, health_path: str, limit: float) -> None:
    url = deployment.base_url + health_path
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0), trust_env=False) as client:
        while True:
            code = deployment.process.poll()
            if code is not None:
                await asyncio.sleep(0.05)  # let the last lines reach the log
                tail = read_tail(deployment.log_path)
                why = _reason(tail)
                message = f"engine exited with code {code} before becoming healthy"
                raise DeploymentError(f"{message}: {why}" if why else message, log_tail=tail)
            try:
                response = await client.get(url)
                if response.status_code == 200:
                    logger.info(
                        "engine pid %s healthy after %.1fs",
                        deployment.pid,
                        time.monotonic() - started,
                    )
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() - started > limit:
                tail = read_tail(deployment.log_path)
                raise DeploymentError(
                    f"engine did not become healthy within {limit:g}s ({url})", log_tail=tail
                )
            await asyncio.sleep(_POLL_INTERVAL)


async def _served_model(base_url: str) -> str | None:
    """The first model id the server lists (llama.cpp serves the file path, etc.)."""
    try:
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            response = await client.get(base_url + "/v1/models")
            data = response.json().get("data") or []
            return str(data[0]["id"]) if data else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return None
