"""The load generator's HTTP side: an aiohttp session, warmed connections, one streamed request.

aiohttp is what ``vllm bench serve`` uses; against the stub server
(:mod:`autotuner.testing.stub`) it drives about ten times the requests/s of
httpx per core (figures in ``docs/measurement.md``).

Timing of one request (:func:`stream_request`), as ``vllm bench serve``
stamps it, in ``time.perf_counter`` seconds:

* ``start``: just before the request is handed to the session;
* TTFT: ``start`` to the first chunk that carries output text;
* ITLs: the gaps between successive chunks that carry output text;
* E2EL: ``start`` to the last chunk that carries output text (the usage
  chunk and ``[DONE]`` that follow it do not count).

A read that delivers several chunks at once stamps them all with the time it
returned. Connections are opened before a level's timing starts
(:func:`warm_connections`), so no measured request pays a TCP connect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import orjson

from autotuner.bench.metrics import RequestResult

logger = logging.getLogger(__name__)

_JSON = {"content-type": "application/json"}


def open_session(*, timeout: float, headers: dict[str, str]) -> aiohttp.ClientSession:
    """A session without a connection limit (the load generator limits itself).

    Idle connections are kept for 5 minutes so that connections warmed for a
    level are still there when it starts; a server may still close them
    sooner, and a request on a closed one reconnects (paying the connect).
    """
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=300, ttl_dns_cache=3600)
    return aiohttp.ClientSession(
        connector=connector,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=10.0),
        trust_env=False,
        auto_decompress=False,
    )


async def warm_connections(session: aiohttp.ClientSession, base_url: str, count: int) -> int:
    """Open ``count`` keep-alive connections to ``base_url`` before timing starts.

    Sends ``count`` concurrent ``GET /v1/models`` (any answer will do: the
    point is the connection it leaves in the pool). Returns how many answered.
    """
    url = base_url.rstrip("/") + "/v1/models"

    async def one() -> bool:
        try:
            async with session.get(url) as response:
                await response.read()
                return True
        except (TimeoutError, aiohttp.ClientError) as exc:
            logger.debug("warming a connection failed: %s", exc)
            return False

    if count <= 0:
        return 0
    done = await asyncio.gather(*(one() for _ in range(count)))
    return sum(done)


def build_payload(
    *,
    model: str,
    prompt: str,
    output_tokens: int,
    chat: bool,
    temperature: Any,
    extra: Any,
) -> bytes:
    """The JSON body of one streaming request for exactly ``output_tokens`` tokens."""
    payload: dict[str, Any] = {
        "model": model,
        "max_tokens": output_tokens,
        "temperature": temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
        # Exactly max_tokens tokens: ignore_eos is vLLM's and SGLang's;
        # llama-cpp-python ignores it but honours min_tokens (as vLLM does).
        "ignore_eos": True,
        "min_tokens": output_tokens,
    }
    if chat:
        payload["messages"] = [{"role": "user", "content": prompt}]
    else:
        payload["prompt"] = prompt
    if isinstance(extra, dict):
        payload.update(extra)
    return orjson.dumps(payload)


async def stream_request(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    chat: bool,
    result: RequestResult,
) -> None:
    """Send one streaming request, filling ``result`` (TTFT, ITLs, E2EL, tokens, error).

    Output tokens are the usage chunk's ``completion_tokens``, else the number
    of chunks that carried text. A stream without any text is a failure.
    """
    start = result.start = time.perf_counter()
    last = 0.0
    chunks = 0
    usage_tokens: int | None = None
    try:
        async with session.post(url, data=body, headers=_JSON) as response:
            if response.status != 200:
                answer = (await response.read()).decode("utf-8", errors="replace")
                result.error = f"HTTP {response.status}: {error_message(answer)}"
                result.e2el = time.perf_counter() - start
                return
            pending = b""
            async for data in response.content.iter_any():
                now = time.perf_counter()
                pending += data
                if b"\n" not in data:
                    continue
                lines = pending.split(b"\n")
                pending = lines.pop()
                for raw in lines:
                    if not raw.startswith(b"data:"):
                        continue
                    line = raw[5:].strip()
                    if line == b"[DONE]" or not line:
                        continue
                    chunk = orjson.loads(line)
                    choices = chunk.get("choices")
                    if not choices:
                        usage = chunk.get("usage")
                        if usage:
                            usage_tokens = usage.get("completion_tokens")
                            result.prompt_tokens = (
                                usage.get("prompt_tokens") or result.prompt_tokens
                            )
                        elif "error" in chunk:
                            result.error = f"stream error: {error_message(line.decode())}"
                            result.e2el = now - start
                            return
                        continue
                    choice = choices[0]
                    if chat:
                        delta = choice.get("delta") or {}
                        text = delta.get("content") or delta.get("reasoning_content")
                    else:
                        text = choice.get("text")
                    if not text:
                        continue
                    if chunks == 0:
                        result.ttft = now - start
                    else:
                        result.itls.append(now - last)
                    last = now
                    chunks += 1
        if chunks == 0:
            result.error = "the stream carried no tokens"
            result.e2el = time.perf_counter() - start
            return
        result.e2el = last - start
        result.output_tokens = usage_tokens or chunks
        result.success = True
    except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError, ValueError) as exc:
        name = type(exc).__name__
        result.error = f"{name}: {exc}" if str(exc) else name
        result.e2el = time.perf_counter() - start


def error_message(body: str) -> str:
    """The ``error.message`` (or ``detail``) of an error body, else its first 300 characters."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:300]
    if isinstance(obj, dict):
        inner = obj.get("error", obj)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
        if isinstance(obj.get("detail"), str):
            return str(obj["detail"])[:300]
    return body[:300]
