"""The one percentile rule of the product, its benchmarks and its tests.

Latency figures are compared across layers: the p99 that ``/api/system/stats``
reports for event delivery, the load generator's TTFT/TPOT/ITL/E2EL
percentiles and the WebSocket benchmark's delivery latency. They agree only if
they are computed the same way, so all of them call :func:`percentile`.

The rule is the one ``vllm bench serve`` reports with, ``numpy.percentile``'s
default ("linear", Hyndman & Fan's definition 7): the value at the fractional
rank ``(n - 1) * q / 100`` of the sorted sample, interpolated between its two
neighbours. It lives outside ``bench/`` and ``events/`` so that both may import
it without importing each other, and it needs no numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percentile"]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``sorted_values``, which must be sorted ascending.

    Equals ``numpy.percentile(sorted_values, q)``. Sorting is the caller's, so a
    caller that reports several percentiles of one sample sorts it once.

    Raises:
        ValueError: for no values, or ``q`` outside [0, 100] (as numpy does).
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is outside [0, 100]")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)
