"""A simulator server as a real subprocess, for tests that talk HTTP to it."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import ManagedProcess


class SimServer(ManagedProcess):
    """``python -m autotuner.sim`` in a session of its own, as the ``sim`` runtime starts it."""

    name = "sim"
    ready_path = "/health"
    ready_timeout = 20.0

    def __init__(self, flags: tuple[str, ...], model: str, log: Path) -> None:
        super().__init__(log=log, new_session=True)
        self.flags = flags
        self.model = model

    def args(self) -> list[str]:
        command = [sys.executable, "-m", "autotuner.sim", "--port", str(self.port)]
        return [*command, "--model", self.model, *self.flags]


@contextmanager
def sim_server(*flags: str, model: str = "sim-test-1B") -> Iterator[str]:
    """Run ``python -m autotuner.sim`` with ``flags``; yields its base URL."""
    with tempfile.TemporaryDirectory(prefix="sim-server-") as tmp:
        server = SimServer(flags, model, Path(tmp) / "sim.log")
        server.start()
        try:
            server.wait_ready()
            yield server.url
        finally:
            server.stop()
