"""The simulator as a real subprocess, spoken to over HTTP like an engine."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.sim.server import sim_server

MODEL = "sim-test-1B"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    # Unknown flags (with and without values) must be accepted like a real engine's.
    with sim_server(
        "--max-num-seqs", "8", "--block-size", "16", "--enable-prefix-caching", "--seed", "3"
    ) as base:
        yield base


def _events(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def test_streaming_completion_sends_one_chunk_per_token_then_usage_and_done(url: str) -> None:
    body = {
        "model": MODEL,
        "prompt": "one two three four five",
        "max_tokens": 12,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": True,
    }
    with httpx.stream("POST", url + "/v1/completions", json=body, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response)
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    tokens = [c for c in chunks if c["choices"]]
    assert len(tokens) == 12
    assert all(c["choices"][0]["text"] for c in tokens)
    assert [c["choices"][0]["finish_reason"] for c in tokens][-2:] == [None, "length"]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 12, "total_tokens": 17}


def test_streaming_without_include_usage_has_no_usage_chunk(url: str) -> None:
    body = {"model": MODEL, "prompt": "hello", "max_tokens": 3, "stream": True}
    with httpx.stream("POST", url + "/v1/completions", json=body, timeout=10) as response:
        events = _events(response)
    assert len(events) == 4 and events[-1] == "[DONE]"
    assert all("usage" not in orjson.loads(e) for e in events[:-1])


def test_streaming_chat_sends_role_then_content_chunks(url: str) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "say something nice"}],
        "max_tokens": 5,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=10) as response:
        chunks = [orjson.loads(e) for e in _events(response)[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(content) == 5
    assert chunks[-1]["usage"]["prompt_tokens"] == 3
    assert chunks[-1]["usage"]["completion_tokens"] == 5


def test_non_streaming_completion_and_chat_report_usage(url: str) -> None:
    r = httpx.post(
        url + "/v1/completions", json={"model": MODEL, "prompt": "a b", "max_tokens": 4}, timeout=10
    )
    assert r.status_code == 200
    data = r.json()
    assert data["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}
    assert len(data["choices"][0]["text"].split()) == 4
    r = httpx.post(
        url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 2},
        timeout=10,
    )
    assert r.json()["choices"][0]["message"]["role"] == "assistant"
    assert r.json()["usage"]["completion_tokens"] == 2


def test_labelled_as_simulator(url: str) -> None:
    health = httpx.get(url + "/health")
    assert health.status_code == 200
    assert health.headers["server"] == "autotuner-simulator"
    card = httpx.get(url + "/v1/models").json()["data"][0]
    assert card["id"] == MODEL
    assert "simulator" in card["owned_by"] and "simulator" in card["description"]
    info = httpx.get(url + "/sim/info").json()
    assert info["config"]["max_num_seqs"] == 8
    assert info["config"]["seed"] == 3


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/v1/completions", {"model": "other", "prompt": "x"}, 404, "does not exist"),
        ("/v1/completions", {"model": MODEL, "prompt": "x", "max_tokens": 5000}, 400, "context"),
        ("/v1/completions", {"model": MODEL, "prompt": "x", "max_tokens": -1}, 400, "max_tokens"),
        ("/v1/chat/completions", {"model": MODEL, "messages": []}, 400, "messages"),
    ],
)
def test_bad_requests_get_openai_style_errors(
    url: str, path: str, body: dict[str, object], status: int, words: str
) -> None:
    r = httpx.post(url + path, json=body, timeout=10)
    assert r.status_code == status
    assert words in r.json()["message"]


def test_malformed_json_and_unknown_route(url: str) -> None:
    r = httpx.post(url + "/v1/completions", content=b"{nope", timeout=10)
    assert r.status_code == 400
    assert httpx.get(url + "/v2/nothing").status_code == 404


@pytest.mark.parametrize(
    ("engine", "flag"), [("vllm", "--gpu-memory-utilization"), ("sglang", "--mem-fraction-static")]
)
def test_memory_fraction_above_095_fails_at_startup_like_cuda_oom(engine: str, flag: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autotuner.sim",
            "--sim-engine",
            engine,
            "--port",
            "1",
            flag,
            "0.97",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "torch.OutOfMemoryError: CUDA out of memory" in proc.stderr
    assert "autotuner simulator" in proc.stderr


def test_model_too_big_for_one_gpu_fails_but_fits_with_tensor_parallelism() -> None:
    from autotuner.sim import main

    assert main(["--model", "Llama-3-70B", "--sim-gpu-memory-gib", "80"]) == 1
    from autotuner.sim.config import parse_args
    from autotuner.sim.model import PerformanceModel

    PerformanceModel(parse_args(["--model", "Llama-3-70B", "-tp", "4"])).check_startup()
