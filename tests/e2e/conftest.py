from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import AutotunerProcess


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., AutotunerProcess]]:
    """Start real ``autotuner`` processes; all are stopped at the end of the test."""
    started: list[AutotunerProcess] = []

    def _spawn(
        command: str,
        env: dict[str, str],
        *,
        port: int | None = None,
        name: str | None = None,
        wait: bool = True,
    ) -> AutotunerProcess:
        log = tmp_path / f"{name or command}-{len(started)}.log"
        proc = AutotunerProcess(command, env, log, port=port).start(wait=wait)
        started.append(proc)
        return proc

    yield _spawn
    for proc in started:
        proc.stop()
