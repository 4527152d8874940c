"""Whether the load generator kept up: its CPU, its event loop's lag, the load it achieved.

A :class:`ClientMonitor` watches one level. Its figures (``LevelResult.client``):

* ``cpu_percent``: CPU time of the event loop's thread over the level's wall
  time, in % of one core (the loop runs on one core: near 100 % it is the
  bottleneck); ``process_cpu_percent``: the same for the whole process.
* ``loop_lag_p50_ms`` / ``_p99_ms`` / ``_max_ms``: how late a ticker that
  sleeps :data:`TICK` seconds wakes up. Every stamp the generator takes is
  late by about this much, so a large p99 distorts TTFT and ITL.
* closed loop: ``asked_concurrency`` and ``achieved_concurrency``, the
  time-averaged number of measured requests in flight while they were sent.
* open loop: ``asked_rate`` (requests/s), ``scheduled_rate`` (the rate of the
  drawn send times of the measured requests), ``achieved_rate`` (of the
  actual send times), ``send_late_mean_ms`` / ``_p99_ms`` / ``_max_ms``
  (actual minus scheduled dispatch), ``cap_bound`` (some send waited for
  ``max_concurrency``) and ``cap_wait_mean_ms``.

:func:`untrusted_reasons` turns them into sentences when the generator was the
bottleneck; the thresholds are the module's constants.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

from autotuner.stats import percentile

__all__ = [
    "CPU_LIMIT",
    "LAG_P99_LIMIT_MS",
    "LATE_LIMIT_MS",
    "SHORTFALL",
    "TICK",
    "ClientMonitor",
    "untrusted_reasons",
]

TICK = 0.005
"""Seconds the lag ticker sleeps between samples."""
CPU_LIMIT = 90.0
"""% of one core at or above which the event loop counts as saturated."""
LAG_P99_LIMIT_MS = 5.0
"""Loop lag p99 above which TTFT and ITL stamps are distorted."""
LATE_LIMIT_MS = 5.0
"""Mean lateness of open-loop sends above which the schedule was not kept."""
SHORTFALL = 0.9
"""Achieved load below this fraction of the asked load is a shortfall."""


class ClientMonitor:
    """Figures of one level; :meth:`start` and :meth:`stop` run on the event loop."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._ticker: asyncio.Task[None] | None = None
        # Time-integral of the measured requests in flight while sending.
        self.in_flight = 0
        self._area = 0.0
        self._changed = 0.0
        self._window_start: float | None = None
        self._window_end: float | None = None
        # Open loop: (scheduled, dispatched, cap wait) of each measured send.
        self.sends: list[tuple[float, float, float]] = []

    def start(self) -> None:
        self.wall0 = time.perf_counter()
        self.cpu0 = time.thread_time()
        self.proc0 = time.process_time()
        self._ticker = asyncio.create_task(self._tick(), name="bench-lag-ticker")

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            self.lags.append(max(0.0, time.perf_counter() - before - TICK))

    def request_started(self, now: float) -> None:
        """A measured request was sent at ``now`` (perf_counter)."""
        if self._window_start is None:
            self._window_start = self._changed = now
        self._account(now)
        self.in_flight += 1

    def request_ended(self, now: float) -> None:
        self._account(now)
        self.in_flight -= 1

    def sending_ended(self, now: float) -> None:
        """No more measured requests will be sent: the concurrency window closes."""
        if self._window_end is None and self._window_start is not None:
            self._account(now)
            self._window_end = now

    def _account(self, now: float) -> None:
        if self._window_end is None and self._window_start is not None:
            self._area += self.in_flight * (now - self._changed)
            self._changed = now

    def record_send(self, scheduled: float, dispatched: float, cap_wait: float) -> None:
        self.sends.append((scheduled, dispatched, cap_wait))

    async def stop(
        self, *, concurrency: int | None, rate: float | None, open_loop: bool
    ) -> dict[str, Any]:
        """Stop the ticker; the figures (see the module docstring)."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        wall = max(time.perf_counter() - self.wall0, 1e-9)
        lags = sorted(lag * 1000 for lag in self.lags)
        out: dict[str, Any] = {
            "wall_time": wall,
            "cpu_percent": 100 * (time.thread_time() - self.cpu0) / wall,
            "process_cpu_percent": 100 * (time.process_time() - self.proc0) / wall,
            "loop_lag_p50_ms": percentile(lags, 50) if lags else None,
            "loop_lag_p99_ms": percentile(lags, 99) if lags else None,
            "loop_lag_max_ms": lags[-1] if lags else None,
        }
        if not open_loop:
            window = None
            if self._window_start is not None:
                self.sending_ended(time.perf_counter())
                assert self._window_end is not None
                window = self._window_end - self._window_start
            out["asked_concurrency"] = concurrency
            out["achieved_concurrency"] = self._area / window if window else None
            return out
        out["asked_rate"] = "inf" if rate is not None and math.isinf(rate) else rate
        out["max_concurrency"] = concurrency
        sends = self.sends
        late = sorted(max(0.0, d - s) * 1000 for s, d, _ in sends)
        waits = [w for _, _, w in sends]
        out["scheduled_rate"] = _rate([s for s, _, _ in sends])
        out["achieved_rate"] = _rate([d + w for _, d, w in sends])
        out["send_late_mean_ms"] = sum(late) / len(late) if late else None
        out["send_late_p99_ms"] = percentile(late, 99) if late else None
        out["send_late_max_ms"] = late[-1] if late else None
        out["cap_bound"] = any(w > 0.001 for w in waits)
        out["cap_wait_mean_ms"] = 1000 * sum(waits) / len(waits) if waits else None
        return out


def _rate(times: list[float]) -> float | None:
    if len(times) < 2:
        return None
    span = max(times) - min(times)
    return (len(times) - 1) / span if span > 0 else math.inf


def untrusted_reasons(client: dict[str, Any]) -> list[str]:
    """Why a level's figures cannot be trusted because of the load generator, as sentences."""
    reasons: list[str] = []
    cpu = client.get("cpu_percent")
    if cpu is not None and cpu >= CPU_LIMIT:
        reasons.append(
            f"the load generator's event loop used {cpu:.0f} % of a core "
            f"(>= {CPU_LIMIT:.0f} %): it was saturated, its latencies include its own queueing"
        )
    lag = client.get("loop_lag_p99_ms")
    if lag is not None and lag > LAG_P99_LIMIT_MS:
        reasons.append(
            f"the load generator's event loop lagged {lag:.1f} ms at p99 "
            f"(> {LAG_P99_LIMIT_MS:g} ms): TTFT and ITL stamps are late by up to that much"
        )
    asked_c, got_c = client.get("asked_concurrency"), client.get("achieved_concurrency")
    if asked_c and got_c is not None and got_c < SHORTFALL * asked_c:
        reasons.append(
            f"the load generator kept {got_c:.1f} requests in flight on average "
            f"of the {asked_c} asked (< {SHORTFALL:.0%})"
        )
    scheduled, achieved = client.get("scheduled_rate"), client.get("achieved_rate")
    if (
        not client.get("cap_bound")
        and isinstance(scheduled, float)
        and isinstance(achieved, float)
        and math.isfinite(scheduled)
        and achieved < SHORTFALL * scheduled
    ):
        reasons.append(
            f"the load generator sent {achieved:.1f} requests/s of the {scheduled:.1f} "
            f"scheduled (< {SHORTFALL:.0%}) although max_concurrency did not hold it back"
        )
    late = client.get("send_late_mean_ms")
    if client.get("asked_rate") != "inf" and late is not None and late > LATE_LIMIT_MS:
        reasons.append(
            f"requests were sent {late:.1f} ms late on average (> {LATE_LIMIT_MS:g} ms): "
            "the arrival schedule was not kept"
        )
    return reasons
