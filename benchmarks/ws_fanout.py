"""WebSocket fan-out benchmark: latency, throughput, CPU per delivery, memory per connection.

One command per figure (see docs/benchmarks.md)::

    python benchmarks/ws_fanout.py fanout --mode embedded --clients 100 --rate 50
    python benchmarks/ws_fanout.py fanout --mode embedded --clients 1000 --rate 12
    python benchmarks/ws_fanout.py fanout --mode distributed --clients 1000 --rate 12
    python benchmarks/ws_fanout.py idle --connections 10000 [--deflate]

``fanout`` starts a real server process (uvicorn + the product's ws router and
EventBus), creates a task, connects N WebSocket clients to it and publishes
``rate`` events per second for ``duration`` seconds: in the ``embedded`` mode by a
publisher task inside the server process (SQLite, in-process transport), in the
``distributed`` mode by a separate publisher process using EventBus over Redis
and PostgreSQL. Latency is publish→receive: the event's own ``timestamp`` (set
when the publisher creates it, before it is recorded) to the moment its frame
arrives at the client. Server CPU is measured with psutil on the server process
over the publishing window; deliveries are counted by the clients.

The client harness is deliberately light: one process, raw asyncio protocols
with a minimal frame parser (no per-message library overhead), one
``orjson.loads`` per message; its CPU is reported beside the server's.

The publish endpoint used in the embedded mode exists only in this file's own
app factory, never in the product app.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from array import array
from pathlib import Path
from typing import Any

import orjson
import psutil
from fastapi import FastAPI, Request

SELF = str(Path(__file__).resolve())
ROOT = Path(SELF).parents[1]
sys.path.insert(0, str(ROOT))

from autotuner import stats  # noqa: E402
from autotuner.api.deps import EventStats  # noqa: E402
from autotuner.config import Settings  # noqa: E402
from autotuner.domain import EventType, ModelSpec, TaskSpec, create_event  # noqa: E402
from autotuner.events import EventBus, create_event_bus  # noqa: E402
from autotuner.net import free_port  # noqa: E402
from autotuner.store import Store  # noqa: E402
from autotuner.testing import events_app  # noqa: E402
from tests.helpers import ManagedProcess  # noqa: E402

PG_ADMIN = os.environ.get("AUTOTUNER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("AUTOTUNER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def bench_event(task_id: int, n: int, size: int) -> Any:
    """A benchmark_progress event like the runner's, padded to about ``size`` bytes of JSON."""
    return create_event(
        EventType.BENCHMARK_PROGRESS,
        task_id,
        experiment_id=1,
        message=f"Experiment 1: {n} requests",
        data={"progress": {"completed": n, "total": 1_000_000}, "pad": "x" * max(0, size - 230)},
    )


async def publish_paced(bus: EventBus, task_id: int, rate: float, count: int, size: int) -> int:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(count):
        delay = start + n / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await bus.publish(bench_event(task_id, n, size))
    return count


# ---------------------------------------------------------------- server


def build_app(settings: Settings, namespace: str | None) -> FastAPI:
    app = events_app(settings, namespace=namespace)
    app.state.publishing = None

    @app.post("/bench/publish")
    async def start_publishing(request: Request) -> dict[str, Any]:
        body = await request.json()
        task = asyncio.create_task(
            publish_paced(
                request.app.state.bus, body["task_id"], body["rate"], body["count"], body["size"]
            )
        )
        request.app.state.publishing = task
        return {"started": True}

    @app.get("/bench/stats")
    async def stats(figures: EventStats) -> dict[str, Any]:
        return figures

    return app


def serve(args: argparse.Namespace) -> None:
    import logging

    import uvicorn

    raise_fd_limit()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings(
        database_url=args.database_url,
        redis_url=args.redis_url,
        ws_send_buffer=args.send_buffer,
        ws_direct_writes=not args.no_direct,
    )
    uvicorn.run(
        build_app(settings, args.namespace),
        host="127.0.0.1",
        port=args.port,
        ws=args.ws,
        ws_per_message_deflate=args.deflate,
        log_config=None,
        log_level="warning",
        backlog=4096,
        timeout_graceful_shutdown=2,
    )


def publish_main(args: argparse.Namespace) -> None:
    async def run() -> dict[str, Any]:
        settings = Settings(database_url=args.database_url, redis_url=args.redis_url)
        store = Store(settings.resolved_database_url)
        bus = create_event_bus(settings, store, namespace=args.namespace)
        await bus.start()
        try:
            await publish_paced(bus, args.task_id, args.rate, args.count, args.size)
        finally:
            await bus.close()
            await store.close()
        cpu = psutil.Process().cpu_times()
        return {"published": args.count, "cpu": cpu.user + cpu.system}

    print(json.dumps(asyncio.run(run())), flush=True)


# ---------------------------------------------------------------- clients


class Stats:
    def __init__(self) -> None:
        self.latencies = array("d")
        self.received = 0
        self.out_of_order = 0
        self.closed: dict[int, int] = {}
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}


class WSClient(asyncio.Protocol):
    """A minimal WebSocket client: handshake, unmasked server frames, pong replies."""

    def __init__(self, path: str, port: int, stats: Stats, deflate: bool = False) -> None:
        self.path, self.port, self.stats, self.deflate = path, port, stats, deflate
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.handshaken = False
        self.established: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_id = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        ext = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"{ext if self.deflate else ''}\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buf
        buf += data
        pos = 0
        if not self.handshaken:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.established.set_exception(RuntimeError(bytes(buf[:80]).decode()))
                return
            self.handshaken = True
            pos = end + 4
        size = len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if size - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            self.frame(b0 & 0x0F, bool(b0 & 0x40), payload, now)
        del buf[:pos]

    def frame(self, opcode: int, compressed: bool, payload: bytes, now: float) -> None:
        if opcode == 1:
            if compressed:  # only the idle test negotiates deflate; content is not checked
                if not self.established.done():
                    self.established.set_result(None)
                return
            if not payload.startswith(b'{"id":'):
                message = orjson.loads(payload)
                if message.get("type") == "connection_established":
                    self.last_id = message["last_event_id"] or 0
                    if not self.established.done():
                        self.established.set_result(None)
                return
            # Events start {"id":N,...,"timestamp":T,... (the store's field order):
            # slicing out two numbers keeps the harness far lighter than the server.
            event_id = int(payload[6 : payload.index(b",", 6)])
            start = payload.index(b'"timestamp":', 6) + 12
            timestamp = float(payload[start : payload.index(b",", start)])
            stats = self.stats
            stats.received += 1
            latency = now - timestamp
            stats.latencies.append(latency)
            if event_id not in stats.first:
                stats.first[event_id] = latency
            stats.last[event_id] = latency
            if event_id != self.last_id + 1:
                stats.out_of_order += 1
            self.last_id = event_id
        elif opcode == 9:  # ping: answer with a masked pong
            self.send(0xA, payload)
        elif opcode == 8:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.stats.closed[code] = self.stats.closed.get(code, 0) + 1
            if self.transport is not None:
                self.transport.close()

    def send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert len(payload) < 126
        if self.transport is not None:
            self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.established.done():
            self.established.set_exception(ConnectionError("closed before established"))


async def connect_clients(
    port: int, path: str, n: int, stats: Stats, deflate: bool = False, parallel: int = 100
) -> list[WSClient]:
    loop = asyncio.get_running_loop()
    clients: list[WSClient] = []
    sem = asyncio.Semaphore(parallel)

    async def one() -> None:
        async with sem:
            _, client = await loop.create_connection(
                lambda: WSClient(path, port, stats, deflate), "127.0.0.1", port
            )
            await asyncio.wait_for(client.established, 30)
            clients.append(client)

    await asyncio.gather(*(one() for _ in range(n)))
    return clients


# ------------------------------------------------------------- orchestration


class Backend:
    """The database (and Redis namespace) a run uses; cleaned up afterwards."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.tmp = tempfile.TemporaryDirectory(prefix="ws-bench-")
        self.namespace: str | None = None
        self.pg_name: str | None = None
        if mode == "embedded":
            self.database_url = f"sqlite+aiosqlite:///{self.tmp.name}/bench.db"
            self.redis_url: str | None = None
        else:
            self.pg_name = f"autotuner_bench_{uuid.uuid4().hex[:10]}"
            asyncio.run(_pg(f'CREATE DATABASE "{self.pg_name}"'))
            base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            self.database_url = f"{base}/{self.pg_name}"
            self.redis_url = REDIS_URL
            self.namespace = f"autotuner-bench-{uuid.uuid4().hex[:8]}"

    def close(self) -> None:
        if self.pg_name:
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
        self.tmp.cleanup()


async def _pg(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class Server(ManagedProcess):
    """The benchmark's server (``ws_fanout.py server``) as a child process, ready
    once its ``/bench/stats`` answers; the CPU and RSS it used are read from it."""

    name = "bench server"
    ready_path = "/bench/stats"
    ready_timeout = 60.0

    def __init__(
        self, backend: Backend, ws: str, deflate: bool = False, direct: bool = True
    ) -> None:
        port = free_port()
        super().__init__(port=port, log=Path(backend.tmp.name) / f"server-{port}.log")
        self.backend, self.ws, self.deflate, self.direct = backend, ws, deflate, direct
        super().start()
        assert self.proc is not None
        self.ps = psutil.Process(self.proc.pid)

    def args(self) -> list[str]:
        backend = self.backend
        args = [sys.executable, SELF, "server", "--port", str(self.port)]
        args += ["--database-url", backend.database_url, "--ws", self.ws]
        if self.deflate:
            args.append("--deflate")
        if not self.direct:
            args.append("--no-direct")
        if backend.redis_url:
            args += ["--redis-url", backend.redis_url, "--namespace", str(backend.namespace)]
        return args

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)


async def create_task(database_url: str) -> int:
    store = Store(database_url)
    await store.init()
    try:
        spec = TaskSpec(
            task_name=f"bench-{uuid.uuid4().hex[:8]}",
            model=ModelSpec(id_or_path="bench"),
            parameters={"a": [1]},
        )
        return (await store.create_task(spec)).id
    finally:
        await store.close()


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def redis_cpu(url: str | None) -> float:
    if not url:
        return 0.0
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        info = await client.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    finally:
        await client.aclose()


def percentile(sorted_values: list[float], q: float) -> float:
    """The product's percentile rule (numpy's linear one); NaN when nothing arrived."""
    return stats.percentile(sorted_values, q) if sorted_values else float("nan")


def client_worker(conn: Any, port: int, path: str, n: int, deflate: bool, count: int) -> None:
    """A client process: connects ``n`` clients, then measures until told to stop."""
    raise_fd_limit()
    asyncio.run(_client_worker(conn, port, path, n, deflate, count))


async def _client_worker(
    conn: Any, port: int, path: str, n: int, deflate: bool, count: int
) -> None:
    stats = Stats()
    clients = await connect_clients(port, path, n, stats, deflate, parallel=100)
    conn.send(("ready", len(clients)))
    command = await asyncio.to_thread(conn.recv)
    if command[0] == "go":
        deadline, expected, cpu0 = command[1], n * count, own_cpu()
        while stats.received < expected and time.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        conn.send(
            (
                "done",
                {
                    "received": stats.received,
                    "out_of_order": stats.out_of_order,
                    "closed": stats.closed,
                    "latencies": stats.latencies.tobytes(),
                    "first": stats.first,
                    "last": stats.last,
                    "cpu": own_cpu() - cpu0,
                },
            )
        )
        await asyncio.to_thread(conn.recv)
    for client in clients:
        if client.transport is not None:
            client.transport.close()


class ClientProcesses:
    """``procs`` processes sharing ``n`` clients of one WebSocket path."""

    def __init__(self, procs: int, port: int, path: str, n: int, deflate: bool, count: int):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.pipes = []
        self.procs = []
        for i in range(procs):
            share = n // procs + (1 if i < n % procs else 0)
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=client_worker, args=(child, port, path, share, deflate, count), daemon=True
            )
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    async def ready(self) -> int:
        replies = await asyncio.gather(*(asyncio.to_thread(p.recv) for p in self.pipes))
        return sum(r[1] for r in replies)

    async def measure(self, deadline: float) -> list[dict[str, Any]]:
        for pipe in self.pipes:
            pipe.send(("go", deadline))
        replies = await asyncio.gather(*(asyncio.to_thread(p.recv) for p in self.pipes))
        return [r[1] for r in replies]

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("close",))
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


async def fanout_once(args: argparse.Namespace, backend: Backend) -> dict[str, Any]:
    import httpx

    task_id = await create_task(backend.database_url)
    server = Server(backend, args.ws, direct=not args.no_direct)
    count = int(args.rate * args.duration)
    clients: ClientProcesses | None = None
    try:
        await server.await_ready()
        path = f"/api/ws/tasks/{task_id}"
        clients = ClientProcesses(args.client_procs, server.port, path, args.clients, False, count)
        connected = await clients.ready()
        assert connected == args.clients
        await asyncio.sleep(1.0)  # let connection set-up work finish before measuring
        redis0 = await redis_cpu(backend.redis_url)
        cpu0, t0 = server.cpu(), time.time()
        measuring = asyncio.create_task(clients.measure(t0 + args.duration + args.grace))
        publisher: asyncio.subprocess.Process | None = None
        if args.mode == "embedded":
            async with httpx.AsyncClient() as http:
                await http.post(
                    f"http://127.0.0.1:{server.port}/bench/publish",
                    json={"task_id": task_id, "rate": args.rate, "count": count, "size": args.size},
                )
        else:
            publisher = await asyncio.create_subprocess_exec(
                sys.executable,
                SELF,
                "publish",
                "--database-url",
                backend.database_url,
                "--redis-url",
                str(backend.redis_url),
                "--namespace",
                str(backend.namespace),
                "--task-id",
                str(task_id),
                "--rate",
                str(args.rate),
                "--count",
                str(count),
                "--size",
                str(args.size),
                stdout=asyncio.subprocess.PIPE,
            )
        results = await measuring
        elapsed = time.time() - t0
        cpu = server.cpu() - cpu0
        redis_used = await redis_cpu(backend.redis_url) - redis0
        publisher_cpu = None
        if publisher is not None:
            out, _ = await publisher.communicate()
            publisher_cpu = json.loads(out)["cpu"]
    finally:
        if clients is not None:
            clients.close()
        server.stop()

    received = sum(r["received"] for r in results)
    latencies = array("d")
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    closed: dict[int, int] = {}
    for r in results:
        latencies.frombytes(r["latencies"])
        for k, v in r["first"].items():
            first[k] = min(v, first.get(k, v))
        for k, v in r["last"].items():
            last[k] = max(v, last.get(k, v))
        for k, v in r["closed"].items():
            closed[k] = closed.get(k, 0) + v
    lat = sorted(latencies)
    firsts = sorted(first.values())
    spreads = sorted(last[k] - first[k] for k in first)
    expected = count * args.clients
    return {
        "clients": args.clients,
        "rate": args.rate,
        "events": count,
        "deliveries": received,
        "lost": expected - received,
        "out_of_order": sum(r["out_of_order"] for r in results),
        "closed": closed,
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "max_ms": (lat[-1] if lat else float("nan")) * 1000,
        "first_client_p50_ms": percentile(firsts, 50) * 1000,
        "first_client_p99_ms": percentile(firsts, 99) * 1000,
        "spread_p50_ms": percentile(spreads, 50) * 1000,
        "delivered_per_s": received / args.duration,
        "server_cpu_s": cpu,
        "server_cpu_pct": 100 * cpu / elapsed,
        "deliveries_per_cpu_s": received / cpu if cpu else float("nan"),
        "client_cpu_pct": 100 * sum(r["cpu"] for r in results) / elapsed,
        "publisher_cpu_s": publisher_cpu,
        "redis_cpu_s": redis_used if backend.redis_url else None,
    }


async def idle_once(args: argparse.Namespace, backend: Backend) -> dict[str, Any]:
    task_id = await create_task(backend.database_url)
    server = Server(backend, args.ws, deflate=args.deflate)
    path = f"/api/ws/tasks/{task_id}"
    try:
        await server.await_ready()
        # Warm up (imports, allocator pools, first subscription), then measure.
        warm = ClientProcesses(1, server.port, path, 100, args.deflate, 0)
        await warm.ready()
        warm.close()
        await asyncio.sleep(1.0)
        before = server.rss()
        clients = ClientProcesses(
            args.client_procs, server.port, path, args.connections, args.deflate, 0
        )
        try:
            connected = await clients.ready()
            await asyncio.sleep(2.0)
            after = server.rss()
        finally:
            clients.close()
        return {
            "connections": connected,
            "deflate": args.deflate,
            "rss_before_mb": before / 2**20,
            "rss_after_mb": after / 2**20,
            "kb_per_connection": (after - before) / connected / 1024,
        }
    finally:
        server.stop()


def run_repeated(args: argparse.Namespace, once: Any) -> None:
    raise_fd_limit()
    runs = []
    for i in range(args.repeat):
        backend = Backend(args.mode)
        try:
            result = asyncio.run(once(args, backend))
        finally:
            backend.close()
        runs.append(result)
        print(f"run {i + 1}: {json.dumps(result, default=str)}", flush=True)
    numeric = [k for k, v in runs[0].items() if isinstance(v, int | float) and v is not None]
    median = {k: round(statistics.median(r[k] for r in runs), 3) for k in numeric}
    print(f"median of {len(runs)} ({args.mode}, ws={args.ws}): {json.dumps(median)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    fan = sub.add_parser("fanout", help="N clients on one task, events at a fixed rate")
    fan.add_argument("--mode", choices=["embedded", "distributed"], default="embedded")
    fan.add_argument("--clients", type=int, default=100)
    fan.add_argument("--rate", type=float, default=50, help="events per second")
    fan.add_argument("--duration", type=float, default=20, help="seconds of publishing")
    fan.add_argument("--size", type=int, default=512, help="approximate event JSON bytes")
    fan.add_argument("--grace", type=float, default=10, help="seconds to wait for stragglers")
    fan.add_argument("--ws", default="websockets-sansio")
    fan.add_argument("--no-direct", action="store_true", help="send every frame through ASGI")
    fan.add_argument("--client-procs", type=int, default=2)
    fan.add_argument("--repeat", type=int, default=3)

    idle = sub.add_parser("idle", help="memory per idle connection")
    idle.add_argument("--mode", choices=["embedded", "distributed"], default="embedded")
    idle.add_argument("--connections", type=int, default=10_000)
    idle.add_argument("--deflate", action="store_true", help="negotiate permessage-deflate")
    idle.add_argument("--ws", default="websockets-sansio")
    idle.add_argument("--client-procs", type=int, default=2)
    idle.add_argument("--repeat", type=int, default=3)

    srv = sub.add_parser("server", help="(internal) the benchmark server")
    srv.add_argument("--port", type=int, required=True)
    srv.add_argument("--database-url", required=True)
    srv.add_argument("--redis-url")
    srv.add_argument("--namespace")
    srv.add_argument("--ws", default="websockets-sansio")
    srv.add_argument("--deflate", action="store_true")
    srv.add_argument("--no-direct", action="store_true")
    srv.add_argument("--send-buffer", type=int, default=1024)

    pub = sub.add_parser("publish", help="(internal) a publisher process (distributed mode)")
    pub.add_argument("--database-url", required=True)
    pub.add_argument("--redis-url", required=True)
    pub.add_argument("--namespace", required=True)
    pub.add_argument("--task-id", type=int, required=True)
    pub.add_argument("--rate", type=float, required=True)
    pub.add_argument("--count", type=int, required=True)
    pub.add_argument("--size", type=int, default=512)

    args = parser.parse_args()
    if args.command == "fanout":
        run_repeated(args, fanout_once)
    elif args.command == "idle":
        run_repeated(args, idle_once)
    elif args.command == "server":
        serve(args)
    else:
        publish_main(args)


if __name__ == "__main__":
    main()
