"""The stub server of known timing: endpoints, stream shape, timing, errors."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import httpx
import orjson

from autotuner.net import free_port
from autotuner.testing.stub import StubConfig, StubServer


def _events(body: str) -> list[str]:
    return [line[5:].strip() for line in body.splitlines() if line.startswith("data:")]


async def test_stream_shape_usage_and_done() -> None:
    async with StubServer(StubConfig(model="m1")) as stub, httpx.AsyncClient() as client:
        assert (await client.get(stub.url + "/health")).status_code == 200
        models = (await client.get(stub.url + "/v1/models")).json()
        assert models["data"][0]["id"] == "m1"
        body = {"prompt": "a b c", "max_tokens": 4, "stream": True}
        r = await client.post(stub.url + "/v1/completions", json=body)
        events = _events(r.text)
        assert events[-1] == "[DONE]" and len(events) == 5  # no usage unless asked
        assert [orjson.loads(e)["choices"][0]["text"] for e in events[:4]] == [" tok"] * 4
        body["stream_options"] = {"include_usage": True}
        r = await client.post(stub.url + "/v1/completions", json=body)
        usage = orjson.loads(_events(r.text)[-2])
        assert usage["choices"] == []
        assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        r = await client.post(stub.url + "/v1/chat/completions", json=chat)
        assert r.json()["choices"][0]["message"]["content"] == " tok tok"
        assert (await client.get(stub.url + "/stub/stats")).json()["requests"] == 3


async def test_empty_first_chunk_and_errors() -> None:
    config = StubConfig(empty_first_chunk=True, error_rate=0.5, seed=1)
    async with StubServer(config) as stub, httpx.AsyncClient() as client:
        statuses = []
        for _ in range(40):
            body = {"messages": [], "max_tokens": 2, "stream": True}
            r = await client.post(stub.url + "/v1/chat/completions", json=body)
            statuses.append(r.status_code)
            if r.status_code == 200:
                first = orjson.loads(_events(r.text)[0])["choices"][0]["delta"]
                assert first == {"role": "assistant", "content": ""}
            else:
                assert "injected" in r.json()["error"]["message"]
        assert set(statuses) == {200, 500}
        assert stub.stats.errors == statuses.count(500)


async def test_timing_is_what_was_asked() -> None:
    config = StubConfig(ttft=0.05, itl=0.02, usage_gap=0.05)
    async with StubServer(config, record=True) as stub, httpx.AsyncClient() as client:
        body = {"prompt": "x", "max_tokens": 5, "stream": True}
        for _ in range(3):
            started = time.perf_counter()
            r = await client.post(stub.url + "/v1/completions", json=body)
            total = time.perf_counter() - started
            assert r.status_code == 200
            # 50 ms + 4 x 20 ms of tokens + a 50 ms gap, with room for a busy machine.
            assert 0.18 <= total < 1.0
        for rec in stub.stats.records:
            assert rec.first_token is not None and rec.last_token is not None
            assert rec.tokens == 5
            assert 0.05 <= rec.first_token - rec.received < 0.2
            # Tokens keep to their absolute times, however late the first one was.
            assert 0.13 <= rec.last_token - rec.received < 0.4
        ttfts = [r.first_token - r.received for r in stub.stats.records if r.first_token]
        assert abs(statistics.median(ttfts) - 0.05) < 0.01


async def test_runs_as_a_process() -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "autotuner.testing.stub",
        "--port",
        str(port),
        "--itl-ms",
        "1",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert f":{port}" in line.decode()
        async with httpx.AsyncClient() as client:
            body = {"prompt": "x", "max_tokens": 3, "stream": True}
            r = await client.post(f"http://127.0.0.1:{port}/v1/completions", json=body)
            assert _events(r.text)[-1] == "[DONE]"
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
