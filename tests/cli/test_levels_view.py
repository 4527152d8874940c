"""The per-level table of ``autotuner bench``, ``watch`` and ``run`` (autotuner.cli_levels)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from autotuner.bench import LevelResult, RequestResult, pool, run_metrics
from autotuner.cli import _print_event
from autotuner.cli_levels import level_lines, level_table, summary_line


def _level(ttfts: list[float], **kw: Any) -> LevelResult:
    results = [
        RequestResult(success=True, output_tokens=4, ttft=t, e2el=t + 0.03, itls=[0.01] * 3)
        for t in ttfts
    ]
    return LevelResult(
        scenario=kw.pop("scenario", "D(10,4)"),
        kind=kw.pop("kind", "concurrency"),
        concurrency=kw.pop("concurrency", 4),
        request_rate=kw.pop("request_rate", None),
        results=results,
        duration=2.0,
        metrics=run_metrics(results, 2.0),
        **kw,
    )


def test_rows_carry_the_stored_figures_and_the_pooled_row_the_pool() -> None:
    fast, slow = _level([0.010] * 10), _level([1.0] * 10, concurrency=64)
    stored = [fast.to_dict(), slow.to_dict()]
    lines = level_table(stored, pool([fast, slow]))
    assert lines[1].split()[:7] == [
        "D(10,4)",
        "@",
        "c=4",
        "10/0",
        "5.00",
        "20.00",
        "10.0/10.0/10.0",
    ]
    assert lines[2].split()[2:4] == ["c=64", "10/0"]
    # Pooled p99 is over the 20 requests (numpy's rule: 1000 ms), not the mean of 10 and 1000.
    pooled = lines[3].split()
    assert pooled[:4] == ["pooled", "(2", "levels)", "20/0"]
    assert pooled[6] == "505/505/1000"
    assert len(lines) == 4  # no marks, so no notes and no legend


def test_untrusted_levels_and_violations_are_marked_and_explained() -> None:
    level = _level([0.02] * 5, untrusted=["client CPU 98% of a core", "event-loop lag p99 41 ms"])
    stored = level.to_dict()
    stored |= {
        "compliant": False,
        "slo_violations": [
            # The scoring's form (autotuner.tuning.slo): seconds, a margin ratio, hard.
            {
                "slo": "ttft.p90",
                "metric": "p90_ttft_ms",
                "threshold": 0.01,
                "actual": 0.02,
                "unit": "s",
                "margin": 0.01,
                "margin_ratio": 1.0,
                "hard": True,
                "level": stored["label"],
            },
            {
                "slo": "max_error_rate",
                "threshold": 0.05,
                "actual": 0.9,
                "unit": "",
                "margin": 0.85,
                "margin_ratio": 17.0,
                "hard": False,
            },
        ],
    }
    ok = _level([0.005] * 5, concurrency=1).to_dict() | {"compliant": True, "used_for_score": True}
    lines = level_table([ok, stored])
    assert lines[1].startswith("*  ") and lines[2].startswith("!x ")
    notes = "\n".join(lines[3:])
    assert "! D(10,4) @ c=4: UNTRUSTED: client CPU 98% of a core" in notes
    assert "! D(10,4) @ c=4: UNTRUSTED: event-loop lag p99 41 ms" in notes
    assert "x D(10,4) @ c=4: violates ttft.p90: 0.02s > 0.01s (+100%, hard)" in notes
    assert "x D(10,4) @ c=4: violates max_error_rate: 90.0% > 5.0% (soft)" in notes
    assert "marks: ! untrusted" in notes and "x violates an SLO" in notes
    assert "* used for the score" in notes


def test_missing_keys_and_odd_values_are_tolerated() -> None:
    lines = level_table(
        [
            {},
            {"scenario": "D(1,1)", "request_rate": "inf", "completed": 3, "untrusted": True},
            {"scenario": "D(1,1)", "request_rate": 2.5, "mean_ttft_ms": math.nan},
            "not a level",  # type: ignore[list-item]
        ]
    )
    assert lines[1].split()[:4] == ["?", "@", "c=?", "-/-"]
    assert "D(1,1) @ inf req/s" in lines[2] and lines[2].startswith("!")
    assert "D(1,1) @ 2.5 req/s" in lines[3] and "-/-/-" in lines[3]
    assert "UNTRUSTED: (no reason given)" in "\n".join(lines)
    assert level_lines(None) == [] and level_lines({"levels": []}) == []
    assert level_lines({"completed": 1}) == []
    assert summary_line({}).startswith("pooled: - ok, - failed")


def test_server_text_is_escaped() -> None:
    evil = {
        "label": "D(1,1) @ c=1\x1b[2J",
        "untrusted_reasons": ["x\nforged line"],
        "slo_violations": [{"slo": "\x1b]0;title\x07"}],
    }
    text = "\n".join(level_table([evil]))
    assert "\x1b" not in text and "\x07" not in text
    assert "\\u001b[2J" in text and "x\\nforged line" in text


@pytest.mark.parametrize("kind", ["experiment_completed", "experiment_failed"])
def test_watch_prints_the_levels_under_a_finished_experiment(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    level = _level([0.05] * 8, untrusted=["asked 64 in flight, reached 12"]).to_dict()
    metrics = {**pool([_level([0.05] * 8)]), "levels": [level]}
    event = {
        "id": 9,
        "type": kind,
        "message": "Experiment 2 done",
        "data": {"metrics": metrics, "objective_score": 1.5},
    }
    _print_event(event)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[9] " + kind)
    assert out[2].startswith("    !") and "D(10,4) @ c=4" in out[2]
    assert out[3].split()[:4] == ["pooled", "(1", "levels)", "8/0"]
    assert "UNTRUSTED: asked 64 in flight, reached 12" in out[4]
    # An experiment that failed before any figure (its engine did not start) has no table.
    _print_event({"id": 10, "type": kind, "message": "m", "data": {"metrics": None}})
    assert capsys.readouterr().out.splitlines() == ["[10] " + kind + ": m"]


def test_watch_pools_every_level_and_names_the_scored_ones() -> None:
    """The scoring's stored form: top-level figures are the scored level's, the pooled
    row comes from ``pooled_all``, and the levels the score used are named."""
    low, high = _level([0.01] * 4, concurrency=1), _level([0.5] * 4, concurrency=64)
    levels = [
        low.to_dict() | {"compliant": True, "used_for_score": True},
        high.to_dict() | {"compliant": False, "excluded_reason": "violates latency.p90"},
    ]
    metrics = {
        **low.metrics,
        "levels": levels,
        "pooled_all": pool([low, high]),
        "scoring": {"objective": "maximize_throughput", "levels_used": [low.label]},
    }
    lines = [line.strip() for line in level_lines(metrics)]
    assert lines[3].split()[:4] == ["pooled", "(2", "levels)", "8/0"]
    assert "x D(10,4) @ c=64: not compliant with the SLOs" not in lines
    assert "D(10,4) @ c=64: not scored: violates latency.p90" in lines
    assert lines[-1] == "scored on: D(10,4) @ c=1 (maximize_throughput)"
