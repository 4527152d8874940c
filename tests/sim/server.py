"""A simulator server as a real subprocess, for tests that talk HTTP to it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.helpers import free_port


@contextmanager
def sim_server(*flags: str, model: str = "sim-test-1B") -> Iterator[str]:
    """Run ``python -m autotuner.sim`` with ``flags``; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "autotuner.sim", "--port", str(port), "--model", model]
    proc = subprocess.Popen(
        [*command, *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"sim exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("sim did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
