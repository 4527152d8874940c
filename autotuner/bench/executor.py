"""One load level, closed loop or open loop, with warm-up and ramp-up left out of its figures.

Which requests a level measures: of the requests sent, the first
``warmup_requests`` are warm-up, and any sent before ``ramp_up_time`` seconds
into the level (closed loop: the workers start one by one, evenly over the
ramp-up; open loop: the rate climbs linearly) are ramp-up; neither is
measured. Measurement starts with the first measured send and stops sending
after ``max_requests_per_iteration`` measured requests or
``max_time_per_iteration`` seconds from that start, whichever comes first.
Requests still running then get as long again to finish before they are
cut off (measured ones count as ``aborted``: neither completed nor failed).
The level's ``duration`` runs from the first measured send to the last
measured answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from autotuner.bench.arrivals import arrival_times
from autotuner.bench.client import build_payload, stream_request
from autotuner.bench.levels import LevelPlan
from autotuner.bench.metrics import RequestResult
from autotuner.bench.prompts import PromptSource
from autotuner.bench.saturation import ClientMonitor

logger = logging.getLogger(__name__)


@dataclass
class LevelSettings:
    """What every level of a benchmark shares."""

    session: aiohttp.ClientSession
    url: str
    model: str
    chat: bool
    prompts: PromptSource
    temperature: Any
    extra_body: Any
    max_requests: int
    max_time: float
    warmup: int
    ramp_up: float
    burstiness: float


@dataclass
class _Item:
    body: bytes
    prompt_tokens: int
    measured: bool


class LevelRun:
    """Runs one :class:`LevelPlan`; ``on_result`` sees every measured result as it ends."""

    def __init__(
        self,
        plan: LevelPlan,
        rate: float | None,
        settings: LevelSettings,
        rng: random.Random,
        on_result: Callable[[RequestResult], None],
    ) -> None:
        self.plan = plan
        self.rate = rate
        self.s = settings
        self.rng = rng
        self.on_result = on_result
        self.monitor = ClientMonitor()
        self.results: list[RequestResult] = []
        self.in_flight: dict[int, tuple[RequestResult, bool]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.measured_sent = 0
        self.unmeasured = {"warmup": 0, "ramp_up": 0}
        self.measure_start: float | None = None
        self.last_done: float | None = None
        self.stopped = False
        self.begin = 0.0

    @property
    def measured_elapsed(self) -> float:
        """Seconds since measurement started (0 before)."""
        return 0.0 if self.measure_start is None else time.perf_counter() - self.measure_start

    def _next(self) -> _Item | None:
        """The next request to send now, or ``None`` once the level's budget is spent."""
        if self.stopped:
            return None
        now = time.perf_counter()
        if self.measure_start is not None and (
            self.measured_sent >= self.s.max_requests or now >= self.measure_start + self.s.max_time
        ):
            self._stop_sending(now)
            return None
        measured = True
        if self.sent < self.s.warmup:
            measured = False
            self.unmeasured["warmup"] += 1
        elif now - self.begin < self.s.ramp_up:
            measured = False
            self.unmeasured["ramp_up"] += 1
        self.sent += 1
        if measured:
            if self.measure_start is None:
                self.measure_start = now
            self.measured_sent += 1
        prompt, prompt_tokens, output_tokens = self.s.prompts.draw(self.plan.scenario, self.rng)
        body = build_payload(
            model=self.s.model,
            prompt=prompt,
            output_tokens=output_tokens,
            chat=self.s.chat,
            temperature=self.s.temperature,
            extra=self.s.extra_body,
        )
        return _Item(body, prompt_tokens, measured)

    def _stop_sending(self, now: float) -> None:
        if not self.stopped:
            self.stopped = True
            self.monitor.sending_ended(now)

    async def _send(self, item: _Item) -> None:
        result = RequestResult(prompt_tokens=item.prompt_tokens)
        key = id(result)
        self.in_flight[key] = (result, item.measured)
        if item.measured:
            self.monitor.request_started(time.perf_counter())
        # A cancelled (aborted) request stays in in_flight for execute() to count.
        await stream_request(self.s.session, self.s.url, item.body, self.s.chat, result)
        del self.in_flight[key]
        if item.measured:
            now = time.perf_counter()
            self.monitor.request_ended(now)
            self.results.append(result)
            self.last_done = now
            self.on_result(result)

    async def execute(self) -> tuple[list[RequestResult], float, dict[str, Any]]:
        """Run the level: (measured results, duration in s, client figures)."""
        self.begin = time.perf_counter()
        self.monitor.start()
        runner = self._open_loop() if self.plan.open_loop else self._closed_loop()
        main = asyncio.create_task(runner, name="bench-level")
        try:
            await self._wait(main)
        finally:
            main.cancel()
            for task in [main, *self.tasks]:
                task.cancel()
            for task in [main, *self.tasks]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        now = time.perf_counter()
        aborted = 0
        for result, measured in self.in_flight.values():
            if measured:
                aborted += 1
                result.error = "aborted: iteration time limit reached"
                result.aborted = True
                result.e2el = now - result.start
                self.results.append(result)
                self.on_result(result)
        if aborted:
            logger.warning("aborted %d requests at the iteration time limit", aborted)
        self.in_flight.clear()
        start = self.measure_start if self.measure_start is not None else self.begin
        end = now if aborted or self.last_done is None else self.last_done
        client = await self.monitor.stop(
            concurrency=self.plan.concurrency,
            rate=self.rate,
            open_loop=self.plan.open_loop,
        )
        client["warmup_requests"] = self.unmeasured["warmup"]
        client["ramp_up_requests"] = self.unmeasured["ramp_up"]
        return self.results, max(end - start, 1e-9), client

    async def _wait(self, main: asyncio.Task[None]) -> None:
        """Until every request ended, or the grace after the time limit ran out."""
        while True:
            start = self.measure_start
            if start is None:
                # Not measuring yet (warm-up, ramp-up): bound the wait all the same.
                start = self.begin + self.s.ramp_up
            deadline = start + 2 * self.s.max_time
            pending = [main, *self.tasks]
            if all(t.done() for t in pending):
                return
            timeout = deadline - time.perf_counter()
            if timeout <= 0:
                return
            await asyncio.wait(pending, timeout=min(timeout, 0.5))

    async def _closed_loop(self) -> None:
        width = self.plan.concurrency or 1

        async def worker(index: int) -> None:
            if self.s.ramp_up > 0 and index:
                await asyncio.sleep(self.s.ramp_up * index / width)
            while (item := self._next()) is not None:
                await self._send(item)

        for i in range(width):
            task = asyncio.create_task(worker(i), name=f"bench-worker-{i}")
            self.tasks.add(task)

    async def _open_loop(self) -> None:
        rate = self.rate
        assert rate is not None
        cap = asyncio.Semaphore(self.plan.concurrency) if self.plan.concurrency else None
        ramp_up = self.s.ramp_up if rate != float("inf") else 0.0
        for offset in arrival_times(rate, self.s.burstiness, self.rng, ramp_up=ramp_up):
            scheduled = self.begin + offset
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            dispatched = time.perf_counter()
            waited = 0.0
            if cap is not None:
                if cap.locked():
                    await cap.acquire()
                    waited = time.perf_counter() - dispatched
                else:
                    await cap.acquire()
            item = self._next()
            if item is None:
                if cap is not None:
                    cap.release()
                return
            if item.measured:
                self.monitor.record_send(scheduled, dispatched, waited)
            task = asyncio.create_task(self._capped(item, cap))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            if rate == float("inf") and not self.sent % 64:
                await asyncio.sleep(0)  # let the sent ones start while creating the rest

    async def _capped(self, item: _Item, cap: asyncio.Semaphore | None) -> None:
        try:
            await self._send(item)
        finally:
            if cap is not None:
                cap.release()
