"""Fault suite: real processes killed, restarted, starved; what a watching user would lose.

``make faults`` runs every scenario (a few minutes on 2 cores) and prints one
line of figures per scenario, then writes them all as JSON (``--out``,
default ``data/faults.json``); docs/faults.md records a run::

    python benchmarks/faults.py [--only NAME ...] [--out PATH]

Scenarios (sim engine, small tasks):

- ``embedded-server-kill``: ``autotuner serve`` (SQLite) SIGKILLed mid-task and
  started again on the same data directory and port.
- ``worker-kill``, ``api-kill``, ``redis-restart``, ``pg-terminate``: the
  distributed mode (a throwaway ``redis-server``, a fresh PostgreSQL database,
  two API processes, ``autotuner worker``): the worker SIGKILLed mid-task and
  another started; the API process a client watches through SIGKILLed and
  restarted; Redis killed mid-task and started again 6 s later (no
  persistence), with a task created and started during the outage; every
  connection to the database terminated once a second for 15 s.
- ``embedded-disk-full``: the data directory on a small tmpfs filled up
  mid-task for 8 s, then freed (skipped when tmpfs cannot be mounted).
- ``slow-clients``: 32 WebSocket clients that resume from ``last_event_id=0``
  and never read (4 KiB receive buffers), beside a slow reader and a normal
  one, on an embedded server.

For each: **events lost** (a client that reconnects after each fault with
``last_event_id`` of the last event it saw must get every stored id 1..n
exactly once: lost, duplicated, out of order, and gaps in the stored history),
**tasks stuck** (not final 180 s after the fault, or with no final event
stored), **5xx** answers to the REST calls made during and after the fault
(503s, "a dependency is down, retry", counted apart from the others; refused
connections too), **server RSS** (psutil, API processes, peak and last).

Redis is started here on a free port, never the machine's own; PostgreSQL is
AUTOTUNER_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test), where a
database of its own is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import AutotunerProcess, RedisServer  # noqa: E402

PG_DSN = os.environ.get("AUTOTUNER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TERMINAL = ("task_completed", "task_failed", "task_cancelled")
FINAL_STATUS = ("completed", "failed", "cancelled")
FINAL_DEADLINE = 180.0  # seconds after the fault for a task to end
NON_READERS = 32


# ----------------------------------------------------------------------------- plumbing


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


class Rest:
    """REST calls that count answers by status, and failures to connect apart."""

    def __init__(self) -> None:
        self.statuses: collections.Counter[int] = collections.Counter()
        self.failures: collections.Counter[str] = collections.Counter()
        self.server_errors: list[str] = []
        self._lock = threading.Lock()

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        try:
            response = httpx.request(method, url, timeout=30, **kwargs)
        except httpx.HTTPError as exc:
            with self._lock:
                self.failures[type(exc).__name__] += 1
            return None
        with self._lock:
            self.statuses[response.status_code] += 1
            if response.status_code >= 500:
                path = httpx.URL(url).path
                self.server_errors.append(
                    f"{method} {path} {response.status_code}: {response.text[:160]}"
                )
        return response

    @property
    def five_xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def unavailable(self) -> int:
        """503s: a dependency is down and the answer says so (what to retry, when)."""
        return self.statuses[503]


class ResumingClient:
    """Follows one task over WebSockets like the UI does: on any disconnect it
    reconnects (to the next URL of ``bases``) with the last id it saw; on
    ``resync_required`` it fetches what it missed by REST."""

    def __init__(
        self,
        bases: Callable[[], list[str]],
        task_id: int,
        timeout: float,
        stop_at: int | None = None,
    ) -> None:
        self.bases = bases
        self.task_id = task_id
        self.timeout = timeout
        # Read up to this id (a history with several ends) instead of to the first end.
        self.stop_at = stop_at
        self.ids: list[int] = []
        self.types: dict[int, str] = {}
        self.connects = 0
        self.close_codes: collections.Counter[str] = collections.Counter()
        self.resyncs = 0
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ResumingClient:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join(self.timeout + 30)

    @property
    def last(self) -> int:
        return max(self.ids, default=0)

    def seen(self, kind: str) -> int:
        return sum(1 for t in self.types.values() if t == kind)

    def _take(self, event: dict[str, Any]) -> None:
        self.ids.append(event["id"])
        self.types[event["id"]] = event["type"]
        if self.stop_at is not None:
            if event["id"] >= self.stop_at:
                self.done.set()
        elif event["type"] in TERMINAL:
            self.done.set()

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake
        from websockets.sync.client import connect

        deadline = time.monotonic() + self.timeout
        attempt = 0
        while not self.done.is_set() and time.monotonic() < deadline:
            bases = self.bases()
            base = bases[attempt % len(bases)].replace("http://", "ws://")
            url = f"{base}/api/ws/tasks/{self.task_id}?last_event_id={self.last}"
            try:
                with connect(url, open_timeout=5, close_timeout=2, max_size=None) as sock:
                    self.connects += 1
                    while not self.done.is_set():
                        left = deadline - time.monotonic()
                        if left <= 0:
                            return
                        message = json.loads(sock.recv(timeout=left))
                        if message.get("id") is not None:
                            self._take(message)
                        elif message.get("type") == "resync_required":
                            self.resyncs += 1
                            self._refetch(bases[attempt % len(bases)])
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                self.close_codes[str(code)] += 1
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self.close_codes[type(exc).__name__] += 1
            attempt += 1
            time.sleep(0.5)

    def _refetch(self, base: str) -> None:
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(
                f"{base}/api/tasks/{self.task_id}/events",
                params={"after": self.last, "limit": 10_000},
                timeout=30,
            )
            if response.status_code == 200:
                for event in response.json():
                    self._take(event)


class RssSampler:
    """Peak and last RSS of some processes (looked up on each sample: they restart)."""

    def __init__(self, pids: Callable[[], list[int]], interval: float = 0.25) -> None:
        self.pids = pids
        self.interval = interval
        self.peak = 0
        self.last = 0
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def sample(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(pid).memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss = self.sample()
            self.last = rss
            self.peak = max(self.peak, rss)
            self.samples.append((time.monotonic() - self._started, rss))


def mb(n: int) -> float:
    return round(n / 1e6, 1)


def alive(procs: list[AutotunerProcess]) -> int:
    return sum(1 for p in procs if p.proc is not None and p.proc.poll() is None)


def pids(*procs: AutotunerProcess) -> Callable[[], list[int]]:
    return lambda: [p.proc.pid for p in procs if p.proc is not None and p.proc.poll() is None]


def sim_spec(name: str, configs: int = 3, seconds: float = 3, **extra: Any) -> dict[str, Any]:
    return {
        "task_name": name,
        "description": "fault suite (simulator)",
        "deployment_mode": "sim",
        "base_runtime": "vllm",
        "model": {"id_or_path": "sim-faults"},
        "parameters": {
            "max-num-seqs": [4, 8, 16, 32, 64, 128, 256, 512][:configs],
            "gpu-memory-utilization": [0.9],
        },
        "optimization": {"strategy": "grid_search", "objective": "maximize_throughput"},
        "benchmark": {
            "traffic_scenarios": ["D(32,32)"],
            "num_concurrency": [4],
            "max_time_per_iteration": seconds,
            "max_requests_per_iteration": 100_000,
        },
        **extra,
    }


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def create(rest: Rest, base: str, spec: dict[str, Any]) -> dict[str, Any]:
    response = rest.call("POST", f"{base}/api/tasks", json=spec)
    if response is None or response.status_code != 201:
        raise RuntimeError(f"cannot create a task: {response and response.text}")
    task: dict[str, Any] = response.json()
    return task


def start(rest: Rest, base: str, task_id: int) -> httpx.Response | None:
    return rest.call("POST", f"{base}/api/tasks/{task_id}/start")


@dataclass
class Outcome:
    """What one watched task looked like in the end."""

    task_id: int
    status: str | None = None
    stored: list[int] = field(default_factory=list)
    final_event_stored: bool = False
    ended_after_cancel: bool | None = None


def settle(rest: Rest, bases: Callable[[], list[str]], task_id: int, timeout: float) -> Outcome:
    """Wait for the task to be final with its final event stored; else cancel it."""
    outcome = Outcome(task_id)

    def final() -> bool:
        for base in bases():
            response = rest.call("GET", f"{base}/api/tasks/{task_id}")
            if response is not None and response.status_code == 200:
                outcome.status = response.json()["status"]
                return outcome.status in FINAL_STATUS
        return False

    if not wait_until(final, timeout, interval=1.0):
        base = bases()[0]
        rest.call("POST", f"{base}/api/tasks/{task_id}/cancel")
        outcome.ended_after_cancel = bool(wait_until(final, 30, interval=1.0))
    for base in bases():
        response = rest.call("GET", f"{base}/api/tasks/{task_id}/events", params={"limit": 10_000})
        if response is not None and response.status_code == 200:
            events = response.json()
            outcome.stored = [e["id"] for e in events]
            expected = {
                "completed": "task_completed",
                "failed": "task_failed",
                "cancelled": "task_cancelled",
            }.get(outcome.status or "")
            outcome.final_event_stored = bool(events) and events[-1]["type"] == expected
            break
    return outcome


def figures(
    name: str,
    fault: str,
    rest: Rest,
    clients: list[ResumingClient],
    outcomes: list[Outcome],
    rss: RssSampler | None,
    **extra: Any,
) -> dict[str, Any]:
    """One scenario's figures: loss per client against the stored history."""
    by_task = {o.task_id: o for o in outcomes}
    lost = duplicated = out_of_order = 0
    for client in clients:
        stored = by_task[client.task_id].stored
        received = collections.Counter(client.ids)
        lost += sum(1 for i in stored if i not in received)
        duplicated += sum(n - 1 for n in received.values() if n > 1)
        out_of_order += sum(1 for a, b in zip(client.ids, client.ids[1:], strict=False) if b <= a)
    stored_gaps = sum(
        1 for o in outcomes if o.stored and o.stored != list(range(1, len(o.stored) + 1))
    )
    stuck = [
        o.task_id
        for o in outcomes
        if o.status not in FINAL_STATUS or not o.final_event_stored or o.ended_after_cancel
    ]
    result = {
        "scenario": name,
        "fault": fault,
        "tasks": {o.task_id: o.status for o in outcomes},
        "events_stored": {o.task_id: len(o.stored) for o in outcomes},
        "events_lost": lost,
        "events_duplicated": duplicated,
        "events_out_of_order": out_of_order,
        "stored_history_gaps": stored_gaps,
        "tasks_stuck": len(stuck),
        "stuck_detail": [
            {
                "task": o.task_id,
                "status": o.status,
                "final_event_stored": o.final_event_stored,
                "ended_after_cancel": o.ended_after_cancel,
            }
            for o in outcomes
            if o.task_id in stuck
        ],
        "reconnects": sum(max(0, c.connects - 1) for c in clients),
        "close_codes": dict(sum((c.close_codes for c in clients), collections.Counter())),
        "resyncs": sum(c.resyncs for c in clients),
        "http_5xx": rest.five_xx,
        "http_503": rest.unavailable,
        "http_5xx_detail": rest.server_errors[:10],
        "http_statuses": dict(sorted(rest.statuses.items())),
        "http_refused": dict(rest.failures),
    }
    if rss is not None:
        result["server_rss_mb"] = {"peak": mb(rss.peak), "last": mb(rss.last)}
    result.update(extra)
    return result


# ----------------------------------------------------------------------------- services


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def _pg(statement: str, dsn: str = PG_DSN) -> Any:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    name = f"autotuner_faults_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def terminate_connections(database: str) -> int:
    result = asyncio.run(
        _pg(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
    )
    # asyncpg answers "SELECT <rows>"
    return int(str(result).split()[-1])


class Cluster:
    """Two API processes and workers on one Redis and one PostgreSQL database."""

    def __init__(self, workdir: Path, redis: RedisServer, database_url: str) -> None:
        self.workdir = workdir
        self.redis = redis
        self.env = {
            "AUTOTUNER_REDIS_URL": redis.url,
            "AUTOTUNER_DATABASE_URL": database_url,
            "AUTOTUNER_DATA_DIR": str(workdir / "data"),
            "AUTOTUNER_REDIS_NAMESPACE": f"faults-{uuid.uuid4().hex[:6]}",
            "AUTOTUNER_WORKER_HEARTBEAT_SECONDS": "1",
            "AUTOTUNER_WORKER_STALE_SECONDS": "5",
        }
        self.apis: list[AutotunerProcess] = []
        self.workers: list[AutotunerProcess] = []
        self._count = 0

    def spawn(self, command: str, port: int | None = None) -> AutotunerProcess:
        self._count += 1
        logfile = self.workdir / f"{command}-{self._count}.log"
        proc = AutotunerProcess(command, self.env, logfile, port=port).start()
        (self.apis if command == "serve" else self.workers).append(proc)
        return proc

    def live_apis(self) -> list[str]:
        alive = [p.url for p in self.apis if p.proc is not None and p.proc.poll() is None]
        return alive or [self.apis[0].url]

    def stop(self) -> None:
        for proc in self.apis + self.workers:
            proc.stop()


def embedded_env(data_dir: Path) -> dict[str, str]:
    return {
        "AUTOTUNER_REDIS_URL": "",
        "AUTOTUNER_DATABASE_URL": "",
        "AUTOTUNER_DATA_DIR": str(data_dir),
    }


# ----------------------------------------------------------------------------- scenarios


def embedded_server_kill(workdir: Path) -> dict[str, Any]:
    rest = Rest()
    env = embedded_env(workdir / "data")
    server = AutotunerProcess("serve", env, workdir / "serve-1.log").start()
    current = [server]
    try:
        with RssSampler(lambda: pids(*current)()) as rss:
            task = create(rest, server.url, sim_spec(unique("kill-serve"), configs=4))
            client = ResumingClient(lambda: [server.url], task["id"], FINAL_DEADLINE).start()
            time.sleep(0.5)
            start(rest, server.url, task["id"])
            wait_until(lambda: client.seen("experiment_started") >= 2, 90)
            log(f"SIGKILL serve mid-task (client at event {client.last})")
            server.kill()
            time.sleep(1)
            again = AutotunerProcess("serve", env, workdir / "serve-2.log", port=server.port)
            current.append(again.start())
            client.done.wait(FINAL_DEADLINE)
            outcome = settle(rest, lambda: [server.url], task["id"], 30)
            client.join()
        return figures(
            "embedded-server-kill",
            "serve SIGKILLed mid-task, restarted",
            rest,
            [client],
            [outcome],
            rss,
        )
    finally:
        for proc in current:
            proc.stop()


def distributed(workdir: Path) -> list[dict[str, Any]]:
    results = []
    with redis_server(workdir) as redis, pg_database() as database_url:
        cluster = Cluster(workdir, redis, database_url)
        try:
            cluster.spawn("serve")
            cluster.spawn("serve")
            cluster.spawn("worker")
            for scenario in (worker_kill, api_kill, redis_restart, pg_terminate):
                log(f"scenario {scenario.__name__}")
                try:
                    results.append(scenario(cluster, database_url.rsplit("/", 1)[1]))
                except Exception as exc:  # report and go on with the next fault
                    results.append({"scenario": scenario.__name__, "error": repr(exc)})
        finally:
            cluster.stop()
    return results


def _api_pids(cluster: Cluster) -> Callable[[], list[int]]:
    return lambda: pids(*cluster.apis)()


def worker_kill(cluster: Cluster, database: str) -> dict[str, Any]:
    rest = Rest()
    api1, api2 = cluster.apis[0], cluster.apis[1]
    with RssSampler(_api_pids(cluster)) as rss:
        task = create(rest, api1.url, sim_spec(unique("kill-worker"), configs=4))
        client = ResumingClient(lambda: [api2.url, api1.url], task["id"], FINAL_DEADLINE).start()
        time.sleep(0.5)
        start(rest, api1.url, task["id"])
        wait_until(lambda: client.seen("experiment_started") >= 2, 90)
        victim = next(w for w in cluster.workers if w.proc and w.proc.poll() is None)
        log(f"SIGKILL worker mid-task (client at event {client.last})")
        victim.kill()
        cluster.spawn("worker")
        client.done.wait(FINAL_DEADLINE)
        outcome = settle(rest, cluster.live_apis, task["id"], 30)
        client.join()
    return figures(
        "worker-kill",
        "worker SIGKILLed mid-task, another started",
        rest,
        [client],
        [outcome],
        rss,
    )


def api_kill(cluster: Cluster, database: str) -> dict[str, Any]:
    rest = Rest()
    api1, api2 = cluster.apis[0], cluster.apis[1]
    with RssSampler(_api_pids(cluster)) as rss:
        task = create(rest, api1.url, sim_spec(unique("kill-api"), configs=4))
        victim = ResumingClient(lambda: [api2.url, api1.url], task["id"], FINAL_DEADLINE)
        steady = ResumingClient(lambda: [api1.url], task["id"], FINAL_DEADLINE)
        victim.start()
        steady.start()
        time.sleep(0.5)
        start(rest, api1.url, task["id"])
        wait_until(lambda: victim.seen("experiment_started") >= 2, 90)
        log(f"SIGKILL the API a client watches through (client at event {victim.last})")
        api2.kill()
        time.sleep(1)
        restarted = AutotunerProcess(
            "serve", cluster.env, cluster.workdir / "serve-again.log", port=api2.port
        ).start()
        cluster.apis[1] = restarted
        victim.done.wait(FINAL_DEADLINE)
        steady.done.wait(30)
        outcome = settle(rest, cluster.live_apis, task["id"], 30)
        victim.join()
        steady.join()
    return figures(
        "api-kill",
        "API process SIGKILLed mid-task, restarted",
        rest,
        [victim, steady],
        [outcome],
        rss,
    )


def redis_restart(cluster: Cluster, database: str) -> dict[str, Any]:
    rest = Rest()
    api1 = cluster.apis[0]
    # One worker busy with the task, one idle: both must ride out the outage.
    cluster.spawn("worker")
    time.sleep(3)
    with RssSampler(_api_pids(cluster)) as rss:
        task = create(rest, api1.url, sim_spec(unique("redis"), configs=3))
        client = ResumingClient(cluster.live_apis, task["id"], FINAL_DEADLINE).start()
        time.sleep(0.5)
        start(rest, api1.url, task["id"])
        wait_until(lambda: client.seen("benchmark_progress") >= 1, 90)
        log(f"Redis killed mid-task for 6 s (client at event {client.last})")
        workers_before = alive(cluster.workers)
        cluster.redis.kill()
        outage = time.monotonic()
        during = Rest()
        second = during.call("POST", f"{api1.url}/api/tasks", json=sim_spec(unique("outage")))
        second_id = (
            second.json()["id"] if second is not None and second.status_code == 201 else None
        )
        start_during = start(during, api1.url, second_id) if second_id else None
        during.call("GET", f"{api1.url}/api/tasks")
        time.sleep(max(0.0, 6 - (time.monotonic() - outage)))
        cluster.redis.start()
        log("Redis back")
        start_after = None
        if second_id is not None:
            time.sleep(2)
            state = rest.call("GET", f"{api1.url}/api/tasks/{second_id}")
            if (
                state is not None
                and state.status_code == 200
                and state.json()["status"] == "pending"
            ):
                start_after = start(rest, api1.url, second_id)
        client.done.wait(FINAL_DEADLINE)
        outcomes = [settle(rest, cluster.live_apis, task["id"], 30)]
        if second_id is not None:
            outcomes.append(settle(rest, cluster.live_apis, second_id, FINAL_DEADLINE))
        client.join()
        workers_after = alive(cluster.workers)
    for status, n in during.statuses.items():
        rest.statuses[status] += n
    rest.server_errors += during.server_errors
    rest.failures.update(during.failures)
    return figures(
        "redis-restart",
        "Redis killed mid-task, started again after 6 s (no persistence); a task created "
        "and started during the outage",
        rest,
        [client],
        outcomes,
        rss,
        start_during_outage=start_during.status_code if start_during is not None else None,
        start_after_outage=start_after.status_code if start_after is not None else None,
        workers_before=workers_before,
        workers_lost=workers_before - workers_after,
    )


def pg_terminate(cluster: Cluster, database: str) -> dict[str, Any]:
    rest = Rest()
    api1 = cluster.apis[0]
    with RssSampler(_api_pids(cluster)) as rss:
        task = create(rest, api1.url, sim_spec(unique("pg"), configs=4))
        client = ResumingClient(cluster.live_apis, task["id"], FINAL_DEADLINE).start()
        time.sleep(0.5)
        start(rest, api1.url, task["id"])
        wait_until(lambda: client.seen("benchmark_progress") >= 1, 90)
        log(f"terminating every PostgreSQL connection once a second for 15 s (event {client.last})")
        workers_before = alive(cluster.workers)
        terminated = 0
        for _ in range(15):
            terminated += terminate_connections(database)
            for base in cluster.live_apis():
                rest.call("GET", f"{base}/api/tasks/{task['id']}")
            time.sleep(1)
        client.done.wait(FINAL_DEADLINE)
        outcome = settle(rest, cluster.live_apis, task["id"], 30)
        client.join()
    return figures(
        "pg-terminate",
        "every PostgreSQL connection terminated once a second for 15 s",
        rest,
        [client],
        [outcome],
        rss,
        connections_terminated=terminated,
        workers_lost=workers_before - alive(cluster.workers),
    )


def embedded_disk_full(workdir: Path) -> dict[str, Any]:
    mount = workdir / "tmpfs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        reason = done.stderr.strip() or f"mount exited {done.returncode}"
        return {"scenario": "embedded-disk-full", "skipped": f"cannot mount a tmpfs: {reason}"}
    rest = Rest()
    server = AutotunerProcess("serve", embedded_env(mount / "data"), workdir / "serve.log")
    filler = mount / "filler"
    try:
        server.start()
        with RssSampler(pids(server)) as rss:
            spare = create(rest, server.url, sim_spec(unique("spare")))
            task = create(rest, server.url, sim_spec(unique("disk-full"), configs=3))
            client = ResumingClient(lambda: [server.url], task["id"], FINAL_DEADLINE).start()
            time.sleep(0.5)
            start(rest, server.url, task["id"])
            wait_until(lambda: client.seen("benchmark_progress") >= 1, 90)
            log(f"filling the data directory's tmpfs (client at event {client.last})")
            filled = fill(filler)
            during = Rest()
            during.call("POST", f"{server.url}/api/tasks", json=sim_spec(unique("full")))
            during.call("GET", f"{server.url}/api/tasks")
            delete_during = during.call("DELETE", f"{server.url}/api/tasks/{spare['id']}")
            time.sleep(8)
            filler.unlink()
            log("space freed")
            client.done.wait(FINAL_DEADLINE)
            outcome = settle(rest, lambda: [server.url], task["id"], 30)
            client.join()
            delete_after = rest.call("DELETE", f"{server.url}/api/tasks/{task['id']}")
            health = rest.call("GET", f"{server.url}/api/health")
        for status, n in during.statuses.items():
            rest.statuses[status] += n
        rest.server_errors += during.server_errors
        return figures(
            "embedded-disk-full",
            f"data directory full ({mb(filled)} MB filler on a 48 MB tmpfs) for 8 s mid-task",
            rest,
            [client],
            [outcome],
            rss,
            delete_while_full=delete_during.status_code if delete_during is not None else None,
            delete_after=delete_after.status_code if delete_after is not None else None,
            health_after=health.status_code if health is not None else None,
        )
    finally:
        server.stop()
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> int:
    """Write ``path`` until the file system is full; the bytes written."""
    chunk = b"\0" * (1 << 20)
    written = 0
    with path.open("wb", buffering=0) as out:
        while True:
            try:
                written += out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        # The last partial megabyte too.
        with contextlib.suppress(OSError):
            while True:
                written += out.write(b"\0" * 4096)
    return written


class NonReader:
    """A WebSocket that completes its handshake and then never reads (4 KiB buffer)."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.sock.recv(1)
            if not data:
                raise ConnectionError("closed during the handshake")
            head += data
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))

    def close_code(self, timeout: float = 10) -> int | None:
        """Read everything the server sent: the close code if it closed, else None."""
        self.sock.settimeout(timeout)
        data = bytearray()
        with contextlib.suppress(OSError):
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
        return _close_code(bytes(data))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _close_code(data: bytes) -> int | None:
    """The code of the first close frame in a server's unmasked frame stream."""
    i = 0
    while i + 2 <= len(data):
        opcode, length = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if length == 126:
            length, i = int.from_bytes(data[i : i + 2], "big"), i + 2
        elif length == 127:
            length, i = int.from_bytes(data[i : i + 8], "big"), i + 8
        if opcode == 0x8:
            return int.from_bytes(data[i : i + 2], "big") if length >= 2 else 1005
        i += length
    return None


class SlowReader(ResumingClient):
    """A resuming client that takes 50 ms over each message."""

    def _take(self, event: dict[str, Any]) -> None:
        time.sleep(0.05)
        super()._take(event)


def wait_status(rest: Rest, base: str, task_id: int, statuses: tuple[str, ...]) -> bool:
    def reached() -> bool:
        response = rest.call("GET", f"{base}/api/tasks/{task_id}")
        return response is not None and response.json().get("status") in statuses

    return bool(wait_until(reached, 60, interval=0.3))


def history_task(rest: Rest, base: str, cycles: int) -> tuple[dict[str, Any], int, str]:
    """A task with a long history of large events: its spec padded to near the
    largest the server takes (every task event carries it), started and
    cancelled ``cycles`` times. Returns the task, its replay's bytes and the padding."""
    task, chosen = None, ""
    for padding, extra in (
        ("a 240 kB extra field", {"notes": "x" * 240_000}),
        ("a 9 kB description", {"description": "x" * 9_000}),
    ):
        spec = sim_spec(unique("history"), configs=8, seconds=30, **extra)
        response = rest.call("POST", f"{base}/api/tasks", json=spec)
        if response is not None and response.status_code == 201:
            task, chosen = response.json(), padding
            break
    if task is None:
        raise RuntimeError("the server refused every padded history spec")
    for _ in range(cycles):
        start(rest, base, task["id"])
        wait_status(rest, base, task["id"], ("running",))
        rest.call("POST", f"{base}/api/tasks/{task['id']}/cancel")
        wait_status(rest, base, task["id"], FINAL_STATUS)
    events = rest.call("GET", f"{base}/api/tasks/{task['id']}/events", params={"limit": 10_000})
    return task, len(events.content) if events is not None else 0, chosen


def slow_clients(workdir: Path) -> dict[str, Any]:
    rest = Rest()
    server = AutotunerProcess("serve", embedded_env(workdir / "data"), workdir / "serve.log")
    server.start()
    readers: list[NonReader] = []
    try:
        with RssSampler(pids(server)) as rss:
            history, replay_bytes, padding = history_task(rest, server.url, cycles=20)
            newest = rss_last = 0
            response = rest.call("GET", f"{server.url}/api/tasks/{history['id']}")
            if response is not None:
                newest = response.json()["last_event_id"]
            time.sleep(2)
            before = rss.sample()
            path = f"/api/ws/tasks/{history['id']}?last_event_id=0"
            for _ in range(NON_READERS):
                readers.append(NonReader(server.port, path))
            log(
                f"{NON_READERS} non-reading clients resuming from 0 over {newest} events "
                f"({mb(replay_bytes)} MB each)"
            )
            live = create(rest, server.url, sim_spec(unique("live"), configs=3))
            live_path = f"/api/ws/tasks/{live['id']}?last_event_id=0"
            for _ in range(NON_READERS):
                readers.append(NonReader(server.port, live_path))
            steady = ResumingClient(lambda: [server.url], live["id"], FINAL_DEADLINE).start()
            slow = SlowReader(lambda: [server.url], live["id"], FINAL_DEADLINE).start()
            replayer = ResumingClient(
                lambda: [server.url], history["id"], FINAL_DEADLINE, stop_at=newest
            ).start()
            time.sleep(0.5)
            start(rest, server.url, live["id"])
            # Answers stay prompt while the non-readers hang on.
            for _ in range(10):
                rest.call("GET", f"{server.url}/api/tasks")
                time.sleep(1)
            steady.done.wait(FINAL_DEADLINE)
            slow.done.wait(60)
            replayer.done.wait(60)
            # Past the send timeout (20 s) and the ping interval, every non-reader
            # should have been cut off.
            time.sleep(25)
            rss_last = rss.sample()
            peak = rss.peak
            codes = collections.Counter(str(r.close_code(timeout=5)) for r in readers)
            for reader in readers:
                reader.close()
            time.sleep(3)
            after = rss.sample()
            outcomes = [
                settle(rest, lambda: [server.url], history["id"], 10),
                settle(rest, lambda: [server.url], live["id"], 30),
            ]
            steady.join()
            slow.join()
            replayer.join()
        return figures(
            "slow-clients",
            f"{2 * NON_READERS} WebSocket clients that never read (4 KiB receive buffers), "
            f"resuming from 0: {NON_READERS} on a finished task's {newest} events "
            f"({mb(replay_bytes)} MB; spec padded with {padding}), {NON_READERS} on a "
            "running task; beside them a normal reader, a slow one (50 ms a message) and "
            "one replaying the long history",
            rest,
            [steady, slow, replayer],
            outcomes,
            rss,
            server_rss_mb_detail={
                "before_clients": mb(before),
                "peak": mb(peak),
                "clients_connected_30s_after": mb(rss_last),
                "after_clients_left": mb(after),
            },
            replay_mb_per_client=mb(replay_bytes),
            non_reader_close_codes=dict(codes),
            slow_reader_cutoffs=sum(n for c, n in slow.close_codes.items() if c == "4429"),
        )
    finally:
        for reader in readers:
            reader.close()
        server.stop()


SCENARIOS: dict[str, Callable[[Path], Any]] = {
    "embedded-server-kill": embedded_server_kill,
    "distributed": distributed,
    "embedded-disk-full": embedded_disk_full,
    "slow-clients": slow_clients,
}


def headline(result: dict[str, Any]) -> str:
    if "skipped" in result or "error" in result:
        return f"{result['scenario']}: {result.get('skipped') or result.get('error')}"
    rss = result.get("server_rss_mb", {})
    return (
        f"{result['scenario']}: lost {result['events_lost']}, duplicated "
        f"{result['events_duplicated']}, out of order {result['events_out_of_order']}, "
        f"stored gaps {result['stored_history_gaps']}, stuck {result['tasks_stuck']}, "
        f"5xx {result['http_5xx']} (503 {result['http_503']}), "
        f"refused {sum(result['http_refused'].values())}, "
        f"reconnects {result['reconnects']}, server RSS peak {rss.get('peak')} MB; "
        f"tasks {result['tasks']}"
        + (f", workers lost {result['workers_lost']}" if "workers_lost" in result else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="scenario groups")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "faults.json")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="autotuner-faults-"))
    log(f"work directory {workdir}")
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for name in args.only or list(SCENARIOS):
            log(f"scenario {name}")
            scratch = workdir / name
            scratch.mkdir()
            try:
                outcome = SCENARIOS[name](scratch)
            except Exception as exc:
                outcome = {"scenario": name, "error": repr(exc)}
            for result in outcome if isinstance(outcome, list) else [outcome]:
                results.append(result)
                log(headline(result))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "seconds": round(time.monotonic() - started),
        "machine": f"{os.cpu_count()} cores, {mb(psutil.virtual_memory().total) / 1000:.0f} GB",
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2), flush=True)
    log(f"figures written to {args.out}")
    bad = [
        r["scenario"]
        for r in results
        if "error" in r
        or r.get("events_lost")
        or r.get("events_duplicated")
        or r.get("tasks_stuck")
        or r.get("http_5xx", 0) - r.get("http_503", 0)
        or r.get("workers_lost")
    ]
    if bad:
        log(f"faults not held: {', '.join(bad)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
