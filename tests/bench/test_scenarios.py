from __future__ import annotations

import random

import pytest

from autotuner.bench import parse_scenario, synthetic_prompt


def test_deterministic_scenario() -> None:
    scenario = parse_scenario("D(100,50)")
    assert scenario.kind == "D" and scenario.input == (100, 0) and scenario.output == (50, 0)
    rng = random.Random(0)
    assert {scenario.sample(rng) for _ in range(20)} == {(100, 50)}


def test_normal_scenario_is_seeded_and_positive() -> None:
    scenario = parse_scenario(" N(480, 240)/(300,150) ")
    assert scenario.input == (480, 240) and scenario.output == (300, 150)
    draws = [scenario.sample(random.Random(7)) for _ in range(3)]
    assert draws[0] == draws[1] == draws[2]
    many = [scenario.sample(random.Random(i)) for i in range(500)]
    assert all(i >= 1 and o >= 1 for i, o in many)
    mean_in = sum(i for i, _ in many) / len(many)
    assert 430 < mean_in < 530


def test_uniform_scenario_stays_in_bounds() -> None:
    scenario = parse_scenario("U(10,20)/(1,3)")
    rng = random.Random(1)
    draws = [scenario.sample(rng) for _ in range(300)]
    assert {i for i, _ in draws} == set(range(10, 21))
    assert {o for _, o in draws} == {1, 2, 3}


@pytest.mark.parametrize(
    "text", ["X(1,2)", "D(1)", "D(1,2,3)", "N(1,2)", "U(5,1)/(1,2)", "D(a,b)", "U(1,2)/(3)"]
)
def test_malformed_scenarios_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="traffic scenario"):
        parse_scenario(text)


def test_synthetic_prompt_has_one_word_per_token() -> None:
    rng = random.Random(0)
    assert len(synthetic_prompt(123, rng).split()) == 123
    assert synthetic_prompt(50, random.Random(1)) != synthetic_prompt(50, random.Random(2))
