"""The one percentile rule: numpy's default (linear), as ``vllm bench serve`` reports."""

from __future__ import annotations

import random

import pytest

from autotuner.events.hub import _latency_ms
from autotuner.stats import percentile


def test_no_values_is_an_error_not_a_number() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


@pytest.mark.parametrize("q", [-1, 100.5, 1000])
def test_a_percentile_outside_0_100_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0, 2.0], q)


@pytest.mark.parametrize("q", [0, 37.5, 50, 99, 100])
def test_one_value_is_every_percentile(q: float) -> None:
    assert percentile([7.25], q) == 7.25


def test_0_and_100_are_the_minimum_and_the_maximum() -> None:
    values = [-3.0, 0.5, 2.0, 10.0, 11.0]
    assert percentile(values, 0) == -3.0
    assert percentile(values, 100) == 11.0


def test_interpolates_linearly_between_neighbours() -> None:
    # n = 5: the rank of q is 4 * q / 100.
    values = [10.0, 20.0, 30.0, 40.0, 100.0]
    assert percentile(values, 50) == 30.0  # rank 2: a sample itself
    assert percentile(values, 10) == pytest.approx(14.0)  # rank 0.4: 10 + 0.4 * 10
    assert percentile(values, 90) == pytest.approx(76.0)  # rank 3.6: 40 + 0.6 * 60
    assert percentile(values, 99) == pytest.approx(97.6)  # rank 3.96: 40 + 0.96 * 60
    # n = 2: the median is the midpoint, not either sample (nearest-rank rules differ here).
    assert percentile([1.0, 2.0], 50) == 1.5


def test_p99_of_100_samples_is_not_the_maximum() -> None:
    # rank 98.01 of 0..99: the rule the stats endpoint used before picked index 99.
    values = [float(v) for v in range(100)]
    assert percentile(values, 99) == pytest.approx(98.01)


def test_equals_numpy_percentile() -> None:
    np = pytest.importorskip("numpy")
    rng = random.Random(7)
    for n in (1, 2, 3, 10, 101, 1000):
        values = sorted(rng.lognormvariate(0, 1) for _ in range(n))
        for q in (0, 1, 25, 50, 90, 95, 99, 99.9, 100):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_the_stats_endpoint_latency_uses_the_same_rule() -> None:
    samples = [0.004, 0.001, 0.003, 0.002]  # seconds, unsorted as the hub keeps them
    assert _latency_ms(samples) == {
        "event_latency_p50_ms": 2.5,
        "event_latency_p99_ms": pytest.approx(3.97),
    }
    assert _latency_ms([]) == {"event_latency_p50_ms": None, "event_latency_p99_ms": None}
