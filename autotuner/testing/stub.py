"""A minimal OpenAI-compatible streaming server of known timing.

A real HTTP/1.1 server on a TCP port (plain asyncio, no framework), cheap
enough that one core serves well over 10,000 one-token requests/s, so that a
load generator measured against it is the thing being measured.

Timing, from the moment the request's body has been read (``received``):

* the first token chunk is written at ``received + ttft``;
* token ``i`` (0-based) at ``received + ttft + i * itl`` (absolute times, so
  the error does not accumulate); ``max_tokens`` of the request tokens in all;
* the usage chunk (when ``stream_options.include_usage``) and ``data: [DONE]``
  ``usage_gap`` after the last token chunk;
* with ``empty_first_chunk``, a chunk with empty text (a chat role chunk, as
  vLLM sends) is written at once, before the first token;
* ``error_rate`` of the requests (seeded draw) get HTTP 500 at once;
* ``connect_delay``: a new connection's first request is read that late.

Timers fire up to about a millisecond late (the event loop's resolution); a
server ``records`` the times it actually wrote (``record=True``) for tests
that want the true figures rather than the nominal ones.

In-process::

    async with StubServer(StubConfig(ttft=0.1, itl=0.03)) as stub:
        ... stub.url ...

As a process (for benchmarks)::

    python -m autotuner.testing.stub --port 8123 --ttft-ms 20 --itl-ms 5

Endpoints: ``POST /v1/completions``, ``POST /v1/chat/completions`` (streaming
or not), ``GET /health``, ``GET /v1/models``, ``GET /stub/stats`` (requests
served so far).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

import orjson

__all__ = ["StubConfig", "StubRecord", "StubServer", "main"]


@dataclass(frozen=True)
class StubConfig:
    """What the stub does; times in seconds."""

    ttft: float = 0.0
    itl: float = 0.0
    usage_gap: float = 0.0
    """Between the last token chunk and the usage chunk + ``[DONE]``."""
    empty_first_chunk: bool = False
    error_rate: float = 0.0
    """Fraction of requests answered with HTTP 500 (seeded by ``seed``)."""
    connect_delay: float = 0.0
    """A new connection's first request is read this late (a slow handshake, as TLS)."""
    default_max_tokens: int = 16
    model: str = "stub-model"
    seed: int = 0


@dataclass
class StubRecord:
    """When the stub read a request and wrote its first and last token (perf_counter)."""

    received: float
    first_token: float | None = None
    last_token: float | None = None
    tokens: int = 0


@dataclass
class _Stats:
    requests: int = 0
    errors: int = 0
    connections: int = 0
    records: list[StubRecord] = field(default_factory=list)


_CRLF = b"\r\n"
_END = b"0\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _response(status: str, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return b"HTTP/1.1 %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s" % (
        status.encode(),
        content_type,
        len(body),
        body,
    )


class _Templates:
    """Pre-built bytes of every SSE event, so a token costs one bytes join."""

    def __init__(self, model: str) -> None:
        m = orjson.dumps(model)
        self.sse_head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        cmpl = b'data: {"id":"cmpl-stub","object":"text_completion","created":0,"model":' + m
        chat = b'data: {"id":"chatcmpl-stub","object":"chat.completion.chunk","created":0,'
        chat += b'"model":' + m
        self.token = {
            False: _chunk(
                cmpl + b',"choices":[{"index":0,"text":" tok","finish_reason":null}]}\n\n'
            ),
            True: _chunk(
                chat + b',"choices":[{"index":0,"delta":{"content":" tok"},'
                b'"finish_reason":null}]}\n\n'
            ),
        }
        self.last = {
            False: _chunk(
                cmpl + b',"choices":[{"index":0,"text":" tok","finish_reason":"length"}]}\n\n'
            ),
            True: _chunk(
                chat + b',"choices":[{"index":0,"delta":{"content":" tok"},'
                b'"finish_reason":"length"}]}\n\n'
            ),
        }
        self.empty = {
            False: _chunk(cmpl + b',"choices":[{"index":0,"text":"","finish_reason":null}]}\n\n'),
            True: _chunk(
                chat + b',"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
                b'"finish_reason":null}]}\n\n'
            ),
        }
        self.usage_prefix = {False: cmpl, True: chat}
        self.done = _chunk(b"data: [DONE]\n\n") + _END

    def usage(self, chat: bool, prompt: int, completion: int) -> bytes:
        usage = b',"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,' % (
            prompt,
            completion,
        )
        usage += b'"total_tokens":%d}}\n\n' % (prompt + completion)
        return _chunk(self.usage_prefix[chat] + usage)


class _Connection(asyncio.Protocol):
    """One client connection: reads requests one after another (keep-alive)."""

    def __init__(self, server: StubServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.close_after = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        self.server.stats.connections += 1
        delay = self.server.config.connect_delay
        if delay > 0:
            self.transport.pause_reading()
            self.server.loop.call_later(delay, self._resume)

    def _resume(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next_request()

    def _next_request(self) -> None:
        transport = self.transport
        if transport is None:
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).decode("latin-1")
        lines = head.split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                self.close_after = True
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        method, _, rest = lines[0].partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        self.busy = True
        self.server.handle(self, method, path, body)

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def finish(self) -> None:
        """The response is complete: close, or read the next request."""
        self.timer = None
        self.busy = False
        if self.transport is None:
            return
        if self.close_after:
            self.transport.close()
            return
        if self.buffer:
            self._next_request()


class _Stream:
    """One streaming response, driven by loop timers (no task per request)."""

    __slots__ = ("conn", "chat", "n", "i", "t0", "prompt", "usage", "record", "server")

    def __init__(
        self,
        server: StubServer,
        conn: _Connection,
        chat: bool,
        n: int,
        prompt: int,
        usage: bool,
        record: StubRecord | None,
    ) -> None:
        self.server, self.conn, self.chat, self.n = server, conn, chat, n
        self.prompt, self.usage, self.record = prompt, usage, record
        self.i = 0
        self.t0 = 0.0

    def start(self, received: float) -> None:
        t = self.server.templates
        head = t.sse_head
        if self.server.config.empty_first_chunk:
            head += t.empty[self.chat]
        self.conn.write(head)
        self.t0 = received
        self._schedule(self.t0 + self.server.config.ttft, self._tokens)

    def _schedule(self, at: float, callback: Any) -> None:
        loop = self.server.loop
        delay = at - time.perf_counter()
        if delay <= 0:
            callback()
        else:
            self.conn.timer = loop.call_at(loop.time() + delay, callback)

    def _tokens(self) -> None:
        if self.conn.transport is None:
            return
        cfg, t = self.server.config, self.server.templates
        now = time.perf_counter()
        # Every token due by now goes out in one write (all of them when itl is 0).
        parts: list[bytes] = []
        ttft_at = self.t0 + cfg.ttft
        while True:
            self.i += 1
            parts.append(t.last[self.chat] if self.i == self.n else t.token[self.chat])
            if self.i >= self.n or ttft_at + self.i * cfg.itl > now:
                break
        self.conn.write(b"".join(parts))
        rec = self.record
        if rec is not None:
            if rec.first_token is None:
                rec.first_token = now
            rec.last_token = now
            rec.tokens = self.i
        if self.i < self.n:
            self._schedule(ttft_at + self.i * cfg.itl, self._tokens)
        else:
            self._schedule(now + cfg.usage_gap, self._done)

    def _done(self) -> None:
        if self.conn.transport is None:
            return
        t = self.server.templates
        tail = t.usage(self.chat, self.prompt, self.n) if self.usage else b""
        self.conn.write(tail + t.done)
        self.conn.finish()


class StubServer:
    """The stub on ``host:port`` (port 0: a free one); an async context manager.

    ``url`` is the base URL (no ``/v1``); ``stats.requests`` counts the
    completion requests served; with ``record=True``, ``stats.records`` holds
    a :class:`StubRecord` per completion request in arrival order.
    """

    def __init__(
        self,
        config: StubConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        record: bool = False,
    ) -> None:
        self.config = config or StubConfig()
        self.host = host
        self.port = port
        self.record = record
        self.stats = _Stats()
        self.templates = _Templates(self.config.model)
        self._rng = random.Random(self.config.seed)
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()

        def factory() -> _Connection:
            conn = _Connection(self)
            self._connections.add(conn)
            return conn

        self._server = await self.loop.create_server(factory, self.host, self.port, backlog=4096)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for conn in self._connections:
            if conn.transport is not None:
                conn.transport.abort()
        self._connections.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2.0)
        self._server = None

    async def __aenter__(self) -> StubServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def handle(self, conn: _Connection, method: str, path: str, body: bytes) -> None:
        received = time.perf_counter()
        if method == "GET" and path in ("/health", "/v1/models", "/stub/stats"):
            if path == "/health":
                payload: Any = {"status": "ok"}
            elif path == "/v1/models":
                payload = {"object": "list", "data": [{"id": self.config.model, "object": "model"}]}
            else:
                payload = {
                    "requests": self.stats.requests,
                    "errors": self.stats.errors,
                    "connections": self.stats.connections,
                }
            conn.write(_response("200 OK", orjson.dumps(payload)))
            conn.finish()
            return
        chat = path == "/v1/chat/completions"
        if method != "POST" or not (chat or path == "/v1/completions"):
            conn.write(_response("404 Not Found", b'{"error":{"message":"not found"}}'))
            conn.finish()
            return
        try:
            request = orjson.loads(body)
            n = max(1, int(request.get("max_tokens") or self.config.default_max_tokens))
        except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
            conn.write(_response("400 Bad Request", b'{"error":{"message":"bad request body"}}'))
            conn.finish()
            return
        self.stats.requests += 1
        if self.config.error_rate > 0 and self._rng.random() < self.config.error_rate:
            self.stats.errors += 1
            body = b'{"error":{"message":"stub: injected error","type":"InternalServerError"}}'
            conn.write(_response("500 Internal Server Error", body))
            conn.finish()
            return
        prompt = _prompt_tokens(request, chat)
        record = StubRecord(received) if self.record else None
        if record is not None:
            self.stats.records.append(record)
        if request.get("stream"):
            options = request.get("stream_options") or {}
            usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
            _Stream(self, conn, chat, n, prompt, usage, record).start(received)
            return
        delay = self.config.ttft + (n - 1) * self.config.itl
        conn.timer = self.loop.call_later(
            delay, self._whole, conn, chat, n, prompt, record, received
        )

    def _whole(
        self,
        conn: _Connection,
        chat: bool,
        n: int,
        prompt: int,
        record: StubRecord | None,
        received: float,
    ) -> None:
        if record is not None:
            record.first_token = record.last_token = time.perf_counter()
            record.tokens = n
        text = " tok" * n
        choice: dict[str, Any] = {"index": 0, "finish_reason": "length"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        payload = {
            "id": "stub",
            "object": "chat.completion" if chat else "text_completion",
            "created": 0,
            "model": self.config.model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": n,
                "total_tokens": prompt + n,
            },
        }
        conn.write(_response("200 OK", orjson.dumps(payload)))
        conn.finish()


def _prompt_tokens(request: dict[str, Any], chat: bool) -> int:
    """Words of the prompt (one word per token, as the synthetic prompts are made)."""
    if chat:
        messages = request.get("messages") or []
        text = " ".join(str(m.get("content") or "") for m in messages if isinstance(m, dict))
    else:
        prompt = request.get("prompt") or ""
        text = prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
    return text.count(" ") + 1 if text else 0


def main(argv: list[str] | None = None) -> None:
    """``python -m autotuner.testing.stub``: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m autotuner.testing.stub", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--ttft-ms", type=float, default=0.0)
    parser.add_argument("--itl-ms", type=float, default=0.0)
    parser.add_argument("--usage-gap-ms", type=float, default=0.0)
    parser.add_argument("--empty-first-chunk", action="store_true")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--connect-delay-ms", type=float, default=0.0)
    parser.add_argument("--model", default="stub-model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-uvloop", action="store_true", help="use the stdlib event loop")
    args = parser.parse_args(argv)
    config = StubConfig(
        ttft=args.ttft_ms / 1000,
        itl=args.itl_ms / 1000,
        usage_gap=args.usage_gap_ms / 1000,
        empty_first_chunk=args.empty_first_chunk,
        error_rate=args.error_rate,
        connect_delay=args.connect_delay_ms / 1000,
        model=args.model,
        seed=args.seed,
    )

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with StubServer(config, host=args.host, port=args.port) as server:
            print(f"stub serving on {server.url}", flush=True)  # the process's one line of output
            await stop.wait()

    if args.no_uvloop:
        asyncio.run(serve())
    else:
        import uvloop

        uvloop.run(serve())


if __name__ == "__main__":
    main()
