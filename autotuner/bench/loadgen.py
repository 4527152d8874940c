"""Streaming load generator against an OpenAI-compatible endpoint.

For every (traffic scenario, concurrency) pair, in spec order, ``concurrency``
workers each send one streaming request at a time (a closed loop) until
``max_requests_per_iteration`` requests were sent or
``max_time_per_iteration`` seconds passed; requests still running then get as
long again to finish before they are aborted and counted as failed.

``spec.additional_params`` understood here (others are ignored):

* ``endpoint``: ``"completions"`` (default, ``/v1/completions``) or ``"chat"``
* ``request_timeout``: seconds per request (default 3 x max_time_per_iteration, >= 60)
* ``seed``: seed of the synthetic prompts and token counts (default 0)
* ``goodput``: ``{"ttft": ms, "tpot": ms, "e2el": ms}`` request SLO for goodput
* ``temperature`` (default 0), ``api_key``, ``extra_body`` (merged into each request)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import orjson

from autotuner.bench.metrics import LevelResult, RequestResult, pool, run_metrics
from autotuner.bench.scenarios import Scenario, parse_scenario, synthetic_prompt
from autotuner.domain import BenchmarkSpec, SLOSpec

logger = logging.getLogger(__name__)


@dataclass
class BenchmarkProgress:
    """A live view of a running benchmark (figures of the current run)."""

    completed: int
    """Requests finished so far (successful or not), over all runs."""
    failed: int
    total: int
    """Planned requests: runs x max_requests_per_iteration (time limits may end runs sooner)."""
    elapsed: float
    fraction: float
    """0..1, from requests done and time spent in each run."""
    scenario: str
    concurrency: int
    run_index: int
    num_runs: int
    request_throughput: float | None = None
    output_throughput: float | None = None
    mean_ttft_ms: float | None = None
    mean_tpot_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchmarkResult:
    """``levels``: one :class:`LevelResult` per load level, in run order;
    ``summary``: metrics over the pooled requests of every level."""

    levels: list[LevelResult]
    duration: float

    @property
    def summary(self) -> dict[str, Any]:
        return pool(self.levels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "levels": [level.to_dict() for level in self.levels],
            "summary": self.summary,
            "duration": self.duration,
        }


def goodput_from_slo(slo: SLOSpec | None) -> dict[str, float] | None:
    """Per-request goodput thresholds (ms) from a task's SLOs.

    TTFT and TPOT thresholds apply per request; of the latency percentile
    thresholds the loosest (highest percentile) bounds each request's E2EL.
    """
    if slo is None:
        return None
    out: dict[str, float] = {}
    if slo.ttft is not None:
        out["ttft"] = slo.ttft.threshold * 1000.0
    if slo.tpot is not None:
        out["tpot"] = slo.tpot.threshold * 1000.0
    if slo.latency:
        key = max(slo.latency, key=lambda p: int(p[1:]))
        out["e2el"] = slo.latency[key].threshold * 1000.0
    return out or None


async def run_benchmark(
    base_url: str,
    model: str,
    spec: BenchmarkSpec,
    *,
    on_progress: Callable[[BenchmarkProgress], None] | None = None,
    slo: SLOSpec | None = None,
) -> BenchmarkResult:
    """Run every scenario x concurrency pair against ``base_url`` (no ``/v1``).

    Goodput thresholds come from ``spec.additional_params["goodput"]``, else
    from ``slo``. Cancelling the awaiting task stops all requests promptly and
    closes the connections.
    """
    params = dict(spec.additional_params)
    scenarios = [parse_scenario(s) for s in spec.traffic_scenarios]
    pairs = [(s, c) for s in scenarios for c in spec.num_concurrency]
    chat = str(params.get("endpoint", "completions")).lower() in {"chat", "chat/completions"}
    url = base_url.rstrip("/") + ("/v1/chat/completions" if chat else "/v1/completions")
    goodput = params.get("goodput") or goodput_from_slo(slo)
    timeout = float(params.get("request_timeout") or max(60.0, 3 * spec.max_time_per_iteration))
    headers = {"content-type": "application/json"}
    if params.get("api_key"):
        headers["authorization"] = f"Bearer {params['api_key']}"
    width = max(spec.num_concurrency)
    tracker = _Tracker(len(pairs) * spec.max_requests_per_iteration, len(pairs), on_progress)
    levels: list[LevelResult] = []
    async with httpx.AsyncClient(
        headers=headers,
        timeout=httpx.Timeout(timeout, connect=10.0),
        limits=httpx.Limits(max_connections=width, max_keepalive_connections=width),
        trust_env=False,
    ) as client:
        for index, (scenario, concurrency) in enumerate(pairs):
            run = _Run(
                client=client,
                url=url,
                model=model,
                chat=chat,
                scenario=scenario,
                concurrency=concurrency,
                spec=spec,
                params=params,
                rng=random.Random(int(params.get("seed", 0)) * 1000 + index),
                tracker=tracker,
            )
            tracker.begin(index, scenario.text, concurrency)
            results, duration = await run.execute()
            level = LevelResult(
                scenario=scenario.text,
                kind="concurrency",
                concurrency=concurrency,
                request_rate=None,
                results=results,
                duration=duration,
                metrics=run_metrics(results, duration, goodput),
                errors=_sample_errors(results),
            )
            levels.append(level)
            metrics = level.metrics
            logger.info(
                "benchmark %s x%d: %d ok, %d failed, %.1f tok/s",
                scenario.text,
                concurrency,
                metrics["completed"],
                metrics["failed"],
                metrics["output_throughput"],
            )
    return BenchmarkResult(levels=levels, duration=tracker.elapsed())


def _sample_errors(results: list[RequestResult], limit: int = 5) -> list[str]:
    seen: list[str] = []
    for r in results:
        if r.error and r.error not in seen:
            seen.append(r.error)
            if len(seen) >= limit:
                break
    return seen


class _Tracker:
    """Progress over the whole benchmark and live figures of the current run."""

    def __init__(
        self, total: int, num_runs: int, callback: Callable[[BenchmarkProgress], None] | None
    ) -> None:
        self.total = total
        self.num_runs = num_runs
        self.callback = callback
        self.started = time.monotonic()
        self.completed = 0
        self.failed = 0
        self._warned = False
        self.begin(0, "", 0)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def begin(self, index: int, scenario: str, concurrency: int) -> None:
        self.index, self.scenario, self.concurrency = index, scenario, concurrency
        self.run_started = time.monotonic()
        self.run_limit_requests = 1
        self.run_limit_time = 1.0
        self.run_done = 0
        self.run_ok = 0
        self.run_out = 0
        self.run_ttft = 0.0
        self.run_tpot = 0.0
        self.run_tpot_n = 0
        if scenario:
            self.emit()

    def record(self, result: RequestResult) -> None:
        self.completed += 1
        self.run_done += 1
        if result.success:
            self.run_ok += 1
            self.run_out += result.output_tokens
            self.run_ttft += result.ttft
            if (tpot := result.tpot) is not None:
                self.run_tpot += tpot
                self.run_tpot_n += 1
        else:
            self.failed += 1
        self.emit()

    def emit(self) -> None:
        if self.callback is None:
            return
        run_elapsed = max(time.monotonic() - self.run_started, 1e-9)
        part = max(self.run_done / self.run_limit_requests, run_elapsed / self.run_limit_time)
        progress = BenchmarkProgress(
            completed=self.completed,
            failed=self.failed,
            total=self.total,
            elapsed=self.elapsed(),
            fraction=min(1.0, (self.index + min(part, 1.0)) / self.num_runs),
            scenario=self.scenario,
            concurrency=self.concurrency,
            run_index=self.index,
            num_runs=self.num_runs,
            request_throughput=self.run_ok / run_elapsed if self.run_done else None,
            output_throughput=self.run_out / run_elapsed if self.run_done else None,
            mean_ttft_ms=self.run_ttft / self.run_ok * 1000 if self.run_ok else None,
            mean_tpot_ms=self.run_tpot / self.run_tpot_n * 1000 if self.run_tpot_n else None,
        )
        try:
            self.callback(progress)
        except Exception:
            # A broken progress consumer must not fail the benchmark; say so once.
            if not self._warned:
                self._warned = True
                logger.exception("benchmark progress callback failed")


class _Run:
    """One closed-loop run: ``concurrency`` workers sharing a request budget."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        url: str,
        model: str,
        chat: bool,
        scenario: Scenario,
        concurrency: int,
        spec: BenchmarkSpec,
        params: dict[str, Any],
        rng: random.Random,
        tracker: _Tracker,
    ) -> None:
        self.client = client
        self.url = url
        self.model = model
        self.chat = chat
        self.scenario = scenario
        self.concurrency = concurrency
        self.max_requests = spec.max_requests_per_iteration
        self.max_time = spec.max_time_per_iteration
        self.params = params
        self.rng = rng
        self.tracker = tracker
        self.results: list[RequestResult] = []
        self.in_flight: dict[int, RequestResult] = {}
        self.issued = 0
        self.last_done = 0.0

    async def execute(self) -> tuple[list[RequestResult], float]:
        loop = asyncio.get_running_loop()
        self.start = loop.time()
        self.deadline = self.start + self.max_time
        self.tracker.run_limit_requests = self.max_requests
        self.tracker.run_limit_time = self.max_time
        workers = [
            asyncio.create_task(self._worker(), name=f"bench-worker-{i}")
            for i in range(min(self.concurrency, self.max_requests))
        ]
        try:
            _, pending = await asyncio.wait(workers, timeout=2 * self.max_time)
            if pending:
                logger.warning("aborting %d requests at the iteration time limit", len(pending))
        finally:
            for task in workers:
                task.cancel()
            for task in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        # Duration ends with the last answer, or now if requests had to be aborted.
        end = loop.time() if self.in_flight or not self.last_done else self.last_done
        now = time.perf_counter()
        for result in self.in_flight.values():
            result.error = "aborted: iteration time limit reached"
            result.e2el = now - result.start
            self.results.append(result)
            self.tracker.record(result)
        self.in_flight.clear()
        return self.results, max(end - self.start, 1e-9)

    def _next_payload(self) -> tuple[dict[str, Any], int] | None:
        if self.issued >= self.max_requests or asyncio.get_running_loop().time() >= self.deadline:
            return None
        self.issued += 1
        prompt_tokens, output_tokens = self.scenario.sample(self.rng)
        prompt = synthetic_prompt(prompt_tokens, self.rng)
        payload: dict[str, Any] = {
            "model": self.model,
            "max_tokens": output_tokens,
            "temperature": self.params.get("temperature", 0.0),
            "stream": True,
            "stream_options": {"include_usage": True},
            # Exactly max_tokens tokens: ignore_eos is vLLM's and SGLang's;
            # llama-cpp-python ignores it but honours min_tokens (as vLLM does).
            "ignore_eos": True,
            "min_tokens": output_tokens,
        }
        if self.chat:
            payload["messages"] = [{"role": "user", "content": prompt}]
        else:
            payload["prompt"] = prompt
        extra = self.params.get("extra_body")
        if isinstance(extra, dict):
            payload.update(extra)
        return payload, prompt_tokens

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while (item := self._next_payload()) is not None:
            payload, prompt_tokens = item
            result = RequestResult(prompt_tokens=prompt_tokens, start=time.perf_counter())
            key = id(result)
            self.in_flight[key] = result
            await _stream_request(self.client, self.url, payload, self.chat, result)
            del self.in_flight[key]
            self.results.append(result)
            self.last_done = loop.time()
            self.tracker.record(result)


async def _stream_request(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    chat: bool,
    result: RequestResult,
) -> None:
    """Send one streaming request, filling ``result`` (TTFT, ITLs, E2EL, tokens)."""
    start = result.start
    last: float | None = None
    chunks = 0
    usage_tokens: int | None = None
    try:
        async with client.stream("POST", url, content=orjson.dumps(payload)) as response:
            if response.status_code != 200:
                body = (await response.aread()).decode("utf-8", errors="replace")
                result.error = f"HTTP {response.status_code}: {_error_message(body)}"
                result.e2el = time.perf_counter() - start
                return
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                now = time.perf_counter()
                chunk = orjson.loads(data)
                if "error" in chunk and not chunk.get("choices"):
                    result.error = f"stream error: {_error_message(data)}"
                    result.e2el = now - start
                    return
                usage = chunk.get("usage")
                if usage:
                    usage_tokens = usage.get("completion_tokens")
                    result.prompt_tokens = usage.get("prompt_tokens") or result.prompt_tokens
                choices = chunk.get("choices") or []
                if not choices:
                    continue
                choice = choices[0]
                if chat:
                    delta = choice.get("delta") or {}
                    text = delta.get("content") or delta.get("reasoning_content")
                else:
                    text = choice.get("text")
                if not text:
                    continue
                if last is None:
                    result.ttft = now - start
                else:
                    result.itls.append(now - last)
                last = now
                chunks += 1
        result.e2el = time.perf_counter() - start
        result.output_tokens = usage_tokens or chunks
        result.success = chunks > 0
        if not result.success:
            result.error = "the stream carried no tokens"
    except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        result.e2el = time.perf_counter() - start


def _error_message(body: str) -> str:
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
