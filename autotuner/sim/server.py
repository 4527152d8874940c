"""The simulator's OpenAI-compatible HTTP API, as a bare ASGI app (small and fast to import).

Endpoints: ``GET /health``, ``GET /v1/models``, ``POST /v1/completions``,
``POST /v1/chat/completions`` (streaming and not), ``GET /sim/info``.

Tokens: one prompt token per whitespace-separated word; every request produces
exactly ``max_tokens`` tokens (as with ``ignore_eos``), each a word of the form
`` tokN``, so benchmarks are deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from autotuner.sim.config import SimConfig
from autotuner.sim.model import PerformanceModel
from autotuner.sim.scheduler import Scheduler, Sequence

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SERVER_NAME = "autotuner-simulator"
_HEADERS = [(b"server", SERVER_NAME.encode()), (b"x-autotuner-simulator", b"1")]
_WORDS = (
    "the of and to in is was for on that with as by at from it an be this are "
    "which or have has one had not but what all were when we there can more if no out so said"
)
_VOCAB = tuple(_WORDS.split())


class HTTPError(Exception):
    def __init__(self, status: int, message: str, kind: str = "BadRequestError") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


def count_tokens(text: str) -> int:
    """The simulator's tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def _token(seq_id: int, index: int) -> str:
    return " " + _VOCAB[(seq_id * 7 + index) % len(_VOCAB)]


class SimApp:
    """ASGI application; the scheduler loop runs for the app's lifespan."""

    def __init__(self, config: SimConfig, model: PerformanceModel | None = None) -> None:
        self.config = config
        self.model = model or PerformanceModel(config)
        self.scheduler: Scheduler | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self.started = time.time()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            try:
                await self._http(scope, receive, send)
            except HTTPError as exc:
                await _json(send, exc.status, _error(exc.status, str(exc), exc.kind))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        if self._loop_task is None:
            self.scheduler = Scheduler(self.model)
            self._loop_task = asyncio.get_running_loop().create_task(self.scheduler.run())

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None

    # ------------------------------------------------------------------ routing

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"].rstrip("/") or "/"
        if path in ("/health", "/ping") and method in ("GET", "HEAD"):
            await _send(send, 200, b"", b"application/json")
        elif path == "/v1/models" and method == "GET":
            await _json(send, 200, self._models())
        elif path in ("/version", "/sim/info") and method == "GET":
            await _json(send, 200, self._info())
        elif path in ("/v1/completions", "/v1/chat/completions"):
            if method != "POST":
                raise HTTPError(405, "Method Not Allowed", "MethodNotAllowed")
            body = await _read_body(receive)
            await self._generate(path.endswith("chat/completions"), body, receive, send)
        else:
            raise HTTPError(404, f"Not Found: {path}", "NotFoundError")

    def _models(self) -> dict[str, Any]:
        card = {
            "id": self.config.name,
            "object": "model",
            "created": int(self.started),
            "owned_by": SERVER_NAME,
            "root": self.config.model,
            "parent": None,
            "max_model_len": self.config.max_model_len,
            "description": "autotuner simulator: simulated engine, no real model",
        }
        return {"object": "list", "data": [card]}

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"server": SERVER_NAME, "version": "autotuner simulator"}
        info["config"] = {
            k: v
            for k, v in vars(self.config).items()
            if isinstance(v, (int, float, str, bool, type(None)))
        }
        info["model"] = self.model.describe()
        info["scheduler"] = self.scheduler.stats() if self.scheduler else {}
        return info

    # --------------------------------------------------------------- generation

    async def _generate(self, chat: bool, raw: bytes, receive: Receive, send: Send) -> None:
        try:
            req = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise HTTPError(400, f"Invalid JSON body: {exc}") from exc
        if not isinstance(req, dict):
            raise HTTPError(400, "The request body must be a JSON object")
        model = req.get("model") or self.config.name
        if model not in (self.config.name, self.config.model):
            raise HTTPError(404, f"The model `{model}` does not exist.", "NotFoundError")
        prompt_len = _prompt_tokens(req, chat)
        max_tokens = req.get("max_completion_tokens") if chat else None
        max_tokens = max_tokens or req.get("max_tokens") or (256 if chat else 16)
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise HTTPError(400, "max_tokens must be a positive integer")
        if prompt_len + max_tokens > self.config.max_model_len:
            raise HTTPError(
                400,
                f"This model's maximum context length is {self.config.max_model_len} tokens. "
                f"However, you requested {prompt_len + max_tokens} tokens "
                f"({prompt_len} in the messages, {max_tokens} in the completion). "
                "Please reduce the length of the messages or completion.",
            )
        sched = self.scheduler
        if sched is None:
            raise HTTPError(503, "The engine is not running", "ServiceUnavailable")
        if not sched.fits(prompt_len, max_tokens):
            raise HTTPError(400, "The request needs more KV cache than the engine has")
        seq = sched.submit(prompt_len, max_tokens)
        fmt = _Formatter(chat, model, seq, prompt_len)
        watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, sched, seq))
        try:
            if req.get("stream"):
                options = req.get("stream_options") or {}
                usage = bool(isinstance(options, dict) and options.get("include_usage"))
                await self._stream(seq, fmt, usage, send)
            else:
                while not seq.finished and not seq.aborted:
                    await seq.event.wait()
                    seq.event.clear()
                if seq.aborted:
                    return
                await _json(send, 200, fmt.full())
        finally:
            watcher.cancel()
            sched.abort(seq)

    async def _stream(self, seq: Sequence, fmt: _Formatter, usage: bool, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    *_HEADERS,
                ],
            }
        )
        parts: list[bytes] = []
        if fmt.chat:
            parts.append(_sse(fmt.role_chunk()))
        sent = 0
        while True:
            await seq.event.wait()
            seq.event.clear()
            if seq.aborted:
                return
            # Several tokens may be ready if this process fell behind: each gets
            # its own SSE event, written together.
            while sent < seq.generated:
                parts.append(_sse(fmt.chunk(sent)))
                sent += 1
            done = seq.finished and sent >= seq.generated
            if done:
                if usage:
                    parts.append(_sse(fmt.usage_chunk()))
                parts.append(b"data: [DONE]\n\n")
            if parts:
                await send(
                    {"type": "http.response.body", "body": b"".join(parts), "more_body": True}
                )
                parts = []
            if done:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return


class _Formatter:
    """OpenAI response bodies for one sequence."""

    def __init__(self, chat: bool, model: str, seq: Sequence, prompt_len: int) -> None:
        self.chat = chat
        self.model = model
        self.seq = seq
        self.prompt_len = prompt_len
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())
        self.object = "chat.completion.chunk" if chat else "text_completion"

    def _base(self, choices: list[dict[str, Any]], obj: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": obj or self.object,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def _finish(self, index: int) -> str | None:
        return "length" if index + 1 >= self.seq.max_tokens else None

    def role_chunk(self) -> dict[str, Any]:
        choice = {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
        return self._base([choice])

    def chunk(self, index: int) -> dict[str, Any]:
        text = _token(self.seq.id, index)
        if self.chat:
            choice: dict[str, Any] = {"index": 0, "delta": {"content": text}, "logprobs": None}
        else:
            choice = {"index": 0, "text": text, "logprobs": None}
        choice["finish_reason"] = self._finish(index)
        return self._base([choice])

    def usage(self) -> dict[str, int]:
        out = self.seq.generated
        return {
            "prompt_tokens": self.prompt_len,
            "completion_tokens": out,
            "total_tokens": self.prompt_len + out,
        }

    def usage_chunk(self) -> dict[str, Any]:
        body = self._base([])
        body["usage"] = self.usage()
        return body

    def full(self) -> dict[str, Any]:
        text = "".join(_token(self.seq.id, i) for i in range(self.seq.generated))
        if self.chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "length",
            }
            body = self._base([choice], "chat.completion")
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "length"}
            body = self._base([choice], "text_completion")
        body["usage"] = self.usage()
        return body


def _prompt_tokens(req: dict[str, Any], chat: bool) -> int:
    if chat:
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            raise HTTPError(400, "messages must be a non-empty list")
        total = 0
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, list):  # content parts
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            total += count_tokens(str(content or ""))
        return max(1, total)
    prompt = req.get("prompt")
    if isinstance(prompt, list):
        if prompt and all(isinstance(t, int) for t in prompt):
            return len(prompt)  # token ids
        if len(prompt) != 1:
            raise HTTPError(400, "batched prompts are not supported by the simulator")
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise HTTPError(400, "prompt must be a string")
    return max(1, count_tokens(prompt))


async def _watch_disconnect(receive: Receive, sched: Scheduler, seq: Sequence) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            sched.abort(seq)
            return


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPError(499, "client disconnected")
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _error(status: int, message: str, kind: str) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": kind, "param": None, "code": status}


async def _send(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + _HEADERS})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, obj: Any) -> None:
    await _send(send, status, orjson.dumps(obj), b"application/json")
