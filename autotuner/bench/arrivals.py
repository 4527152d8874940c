"""Open-loop arrival times: gamma-distributed gaps, with an optional linear ramp-up.

At a steady rate ``r`` requests/s the gaps between sends are drawn from a
gamma distribution of shape ``burstiness`` and scale ``1 / (r * burstiness)``,
as ``vllm bench serve`` draws them: the mean gap is ``1 / r`` whatever the
shape; shape 1 is a Poisson process (exponential gaps, coefficient of
variation 1), and the coefficient of variation is ``1 / sqrt(burstiness)``
(burstier below 1, more regular above).

With a ramp-up of ``T`` seconds the rate climbs linearly from 0 to ``r`` over
``T``, then stays: the gaps are drawn on a unit-rate clock and mapped through
the inverse of the cumulative rate ``L(t) = r t^2 / (2T)`` for ``t < T``,
``r (t - T/2)`` after. Unlike ``vllm bench serve`` the times are not rescaled
so that a fixed number of requests ends at a fixed time: a level is bounded
by requests and time instead, and rescaling would change the gaps' law.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

__all__ = ["arrival_times", "coefficient_of_variation"]


def arrival_times(
    rate: float,
    burstiness: float,
    rng: random.Random,
    *,
    ramp_up: float = 0.0,
) -> Iterator[float]:
    """Send times in seconds from the level's start, forever (the caller stops).

    ``rate`` ``math.inf``: every request at 0 (no ramp-up). The first request
    goes at 0 without ramp-up, after one gap with it.
    """
    if rate <= 0 or burstiness <= 0:
        raise ValueError("rate and burstiness must be positive")
    if math.isinf(rate):
        while True:
            yield 0.0
    # Draws on a clock that ticks once per expected request: gamma of mean 1.
    clock = 0.0
    first = ramp_up <= 0
    while True:
        if first:
            first = False
        else:
            clock += rng.gammavariate(burstiness, 1.0 / burstiness)
        yield _time_at(clock / rate, ramp_up)


def _time_at(steady_time: float, ramp_up: float) -> float:
    """Invert the ramp: the time at which a steady clock ``steady_time`` is reached."""
    if ramp_up <= 0:
        return steady_time
    # L(t) / r: t^2 / (2T) during the ramp (reaching T/2 at t = T), t - T/2 after.
    if steady_time < ramp_up / 2:
        return math.sqrt(2 * ramp_up * steady_time)
    return steady_time + ramp_up / 2


def coefficient_of_variation(times: list[float]) -> float:
    """Standard deviation over mean of the gaps between successive ``times``."""
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    if len(gaps) < 2:
        raise ValueError("need at least three times")
    mean = sum(gaps) / len(gaps)
    var = sum((g - mean) ** 2 for g in gaps) / len(gaps)
    return math.sqrt(var) / mean
