"""A real ``autotuner serve`` for the CLI tests, and a way to run the CLI itself."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import AutotunerProcess

REPO = Path(__file__).resolve().parents[2]
# The embedded mode, whatever the environment of the test run says.
_EMBEDDED = {"AUTOTUNER_REDIS_URL": "", "AUTOTUNER_DATABASE_URL": ""}

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AutotunerProcess]:
    """One embedded ``autotuner serve`` shared by a module's tests."""
    workdir = tmp_path_factory.mktemp("cli-server")
    proc = AutotunerProcess(
        "serve", {**_EMBEDDED, "AUTOTUNER_DATA_DIR": str(workdir / "data")}, workdir / "serve.log"
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def cli() -> Cli:
    """Run ``autotuner <args>`` as a real process; the result has its exit code and output."""

    def _cli(
        *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "autotuner.cli", *args],
            cwd=REPO,
            env=env if env is not None else {**os.environ, **_EMBEDDED},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return _cli
