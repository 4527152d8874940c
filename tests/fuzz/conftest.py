"""A real ``autotuner serve`` per backend for the schemathesis suite, and its bookkeeping.

One server per backend (SQLite in a temporary data directory, and a PostgreSQL
database of its own), shared by the module's tests: the fuzzing run, the
stateful run, and the check that no task was left behind. While the fuzzer
runs, a reaper cancels any task that has been running for a while, so that a
fuzzed spec with a long benchmark cannot hold the machine for the rest of the
run; the final check still requires every task to end.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from _pytest.nodeid import coerce_node_id

from tests.conftest import fresh_pg_database
from tests.helpers import AutotunerProcess

# The embedded mode, whatever the environment of the test run says.
_EMBEDDED = {"AUTOTUNER_REDIS_URL": "", "AUTOTUNER_DATABASE_URL": ""}
# How long a fuzzed task may run before the reaper cancels it.
REAP_AFTER_SECONDS = 15.0

# schemathesis' fixture-loaded schemas (4.32) rename the running test item through
# ``item._nodeid``, which pytest 9.2 replaced by a structured ``item._id``: give the
# old spelling back, reading and writing the new one, so subtests are named after
# their operation.
if not hasattr(pytest.Function, "_nodeid"):
    pytest.Function._nodeid = property(  # type: ignore[attr-defined]
        lambda self: str(self._id),
        lambda self, value: setattr(self, "_id", coerce_node_id(value)),
    )


@dataclass
class FuzzServer:
    """The server under test and what the suite observed of it."""

    backend: str
    proc: AutotunerProcess
    # (operation label, status code) -> count, over every request the suite sent.
    responses: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)
    # Which of the suite's runs went through (the final check needs at least one).
    runs: set[str] = field(default_factory=set)
    reaped: set[int] = field(default_factory=set)
    # Distinct failures, (operation, check failure, status) -> first reproduction.
    failures: dict[tuple[str, str, int], str] = field(default_factory=dict)
    failed_requests: int = 0

    @property
    def url(self) -> str:
        return self.proc.url

    def record(self, label: str, status: int) -> None:
        self.responses[(label, status)] += 1

    def record_failure(self, label: str, title: str, status: int, reproduction: str) -> None:
        self.failed_requests += 1
        self.failures.setdefault((label, title, status), reproduction)


class Reaper:
    """Cancels tasks seen running for longer than ``after`` seconds, every ``interval``."""

    def __init__(self, server: FuzzServer, after: float, interval: float = 2.0) -> None:
        self.server = server
        self.after = after
        self.interval = interval
        self._first_seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reaper", daemon=True)

    def __enter__(self) -> Reaper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=30) as client:
            while not self._stop.wait(self.interval):
                # The fuzzer may be hammering the server: try again next round.
                with contextlib.suppress(httpx.HTTPError):
                    self._sweep(client)

    def _sweep(self, client: httpx.Client) -> None:
        tasks = client.get("/api/tasks", params={"status": "running"})
        if tasks.status_code != 200:
            return
        now = time.monotonic()
        for task in tasks.json():
            first = self._first_seen.setdefault(task["id"], now)
            if (
                now - first >= self.after
                and task["id"] not in self.server.reaped
                and client.post(f"/api/tasks/{task['id']}/cancel").status_code == 200
            ):
                self.server.reaped.add(task["id"])


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL database that only this module uses."""
    with fresh_pg_database("autotuner_fuzz") as url:
        yield url


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def fuzz_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzServer]:
    """An embedded ``autotuner serve`` on SQLite or PostgreSQL, reaper running."""
    workdir: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    env = {**_EMBEDDED, "AUTOTUNER_DATA_DIR": str(workdir / "data")}
    if request.param == "postgres":
        env["AUTOTUNER_DATABASE_URL"] = request.getfixturevalue("postgres_database")
    proc = AutotunerProcess("serve", env, workdir / "serve.log").start()
    server = FuzzServer(request.param, proc)
    try:
        with Reaper(server, REAP_AFTER_SECONDS):
            yield server
    finally:
        proc.stop()
