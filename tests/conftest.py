"""Shared fixtures: real PostgreSQL and Redis, and real ``autotuner`` processes.

PostgreSQL: a fresh database per test session on AUTOTUNER_TEST_PG (default
127.0.0.1:5432, user postgres), dropped at the end. Redis: AUTOTUNER_TEST_REDIS_URL
(default redis://127.0.0.1:6379), or a throwaway redis-server when none answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import AutotunerProcess, RedisServer

# The contract suites shipped in the package use plain asserts: give them pytest's
# messages (before any test module imports them).
pytest.register_assert_rewrite("autotuner.testing")

PG_DSN = os.environ.get("AUTOTUNER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("AUTOTUNER_TEST_REDIS_URL", "redis://127.0.0.1:6379")


async def _pg(dsn: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str]:
    """SQLAlchemy URL of a new PostgreSQL database on PG_DSN, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg(PG_DSN, f'CREATE DATABASE "{name}"'))
    except (OSError, ConnectionError, TimeoutError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_DSN} ({exc}). Install and start it "
            "(Debian: apt-get install postgresql; pg_ctlcluster 15 main start) or point "
            "AUTOTUNER_TEST_PG at one."
        )
    base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_pg(PG_DSN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh PostgreSQL database for this session."""
    with fresh_pg_database("autotuner_test") as url:
        yield url


def _redis_alive(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (no db number) of a running Redis."""
    if _redis_alive(REDIS_URL):
        yield REDIS_URL.rstrip("/")
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} and redis-server is not installed: "
            "apt-get install redis-server (or set AUTOTUNER_TEST_REDIS_URL)."
        )
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield f"redis://127.0.0.1:{server.port}"
    server.stop()


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """A Redis URL with a key space of its own (a random db number, flushed after)."""
    import redis

    db = 1 + int(uuid.uuid4().int % 15)
    url = f"{redis_server_url}/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def python() -> str:
    return sys.executable


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
