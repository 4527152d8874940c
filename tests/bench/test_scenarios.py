"""The traffic-scenario grammar (genai-bench's text-to-text forms) and synthetic prompts."""

from __future__ import annotations

import random

import pytest

from autotuner.bench import parse_scenario, synthetic_prompt
from autotuner.domain import MAX_TOKENS
from autotuner.domain.scenarios import parse_scenario as domain_parse


def test_the_load_generator_and_the_spec_share_one_parser() -> None:
    assert parse_scenario is domain_parse


def test_deterministic_scenario() -> None:
    scenario = parse_scenario("D(100,50)")
    assert scenario.kind == "D" and scenario.input == (100, 0) and scenario.output == (50, 0)
    rng = random.Random(0)
    assert {scenario.sample(rng) for _ in range(20)} == {(100, 50)}


def test_normal_scenario_is_seeded_and_positive() -> None:
    scenario = parse_scenario(" N(480, 240)/(300,150) ")
    assert scenario.input == (480, 240) and scenario.output == (300, 150)
    assert scenario.text == "N(480,240)/(300,150)"
    draws = [scenario.sample(random.Random(7)) for _ in range(3)]
    assert draws[0] == draws[1] == draws[2]
    many = [scenario.sample(random.Random(i)) for i in range(500)]
    assert all(i >= 1 and o >= 1 for i, o in many)
    mean_in = sum(i for i, _ in many) / len(many)
    assert 430 < mean_in < 530


def test_normal_scenario_with_no_spread_is_constant() -> None:
    scenario = parse_scenario("N(64,0)/(32,0)")
    rng = random.Random(3)
    assert {scenario.sample(rng) for _ in range(50)} == {(64, 32)}


def test_uniform_scenario_stays_in_bounds() -> None:
    scenario = parse_scenario("U(10,20)/(1,3)")
    rng = random.Random(1)
    draws = [scenario.sample(rng) for _ in range(300)]
    assert {i for i, _ in draws} == set(range(10, 21))
    assert {o for _, o in draws} == {1, 2, 3}


def test_genai_bench_short_uniform_form_samples_from_one() -> None:
    # genai-bench: U(max_in,max_out) samples from 1 up to each maximum.
    scenario = parse_scenario("U(6,4)")
    assert scenario.input == (1, 6) and scenario.output == (1, 4)
    rng = random.Random(2)
    draws = [scenario.sample(rng) for _ in range(400)]
    assert {i for i, _ in draws} == set(range(1, 7))
    assert {o for _, o in draws} == set(range(1, 5))
    assert {scenario.sample_output(rng) for _ in range(200)} == set(range(1, 5))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("X(1,2)", "unknown kind 'X'"),
        ("D(100)", "D takes (input,output)"),
        ("D(1,2,3)", "D takes (input,output)"),
        ("D(1,2)/(3,4)", "D takes (input,output)"),
        ("N(1,2)", "N takes (mean_in,sd_in)/(mean_out,sd_out)"),
        ("U(5,1)/(1,2)", "(min,max)"),
        ("U(1,2,3)", "U takes"),
        ("U(1,2)/(3)", "U takes"),
        ("D(a,b)", "'a' is not a token count"),
        ("D(1.5,2)", "'1.5' is not a token count"),
        ("D(-1,2)", "'-1' is not a token count"),
        ("D(1,)", "'nothing' is not a token count"),
        ("D(0,100)", "at least 1"),
        ("D(100,0)", "at least 1"),
        ("U(0,10)/(1,2)", "at least 1"),
        ("U(0,10)", "at least 1"),
        ("N(0,5)/(10,1)", "at least 1"),
        (f"D({MAX_TOKENS + 1},1)", "at most 1,000,000"),
        ("d(1,2)", "upper case (D(1,2))"),
        ("D(1,2", "expected D(input,output)"),
        ("D[1,2]", "expected D(input,output)"),
        ("", "is empty"),
        ("100,100", "expected D(input,output)"),
    ],
)
def test_malformed_scenarios_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(ValueError, match="traffic scenario") as caught:
        parse_scenario(text)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("E(1024)", "embedding"),
        ("R(1024,100)", "re-rank"),
        ("I(512,512)", "image"),
        ("I(2048,2048,2)", "image"),
        ("V(10)", "video"),
        ("A(3)", "audio"),
    ],
)
def test_genai_bench_non_text_scenarios_are_refused_as_such(text: str, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_scenario(text)
    message = str(caught.value)
    assert words in message and "text-to-text" in message


def test_prefix_and_file_scenarios_point_elsewhere() -> None:
    with pytest.raises(ValueError, match="prefix-repetition"):
        parse_scenario("P(2000,500)/200")
    with pytest.raises(ValueError, match=r"benchmark\.dataset"):
        parse_scenario("F")


def test_synthetic_prompt_has_one_word_per_token() -> None:
    rng = random.Random(0)
    assert len(synthetic_prompt(123, rng).split()) == 123
    assert synthetic_prompt(50, random.Random(1)) != synthetic_prompt(50, random.Random(2))
