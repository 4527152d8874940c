"""Per-level results as the terminal shows them: ``autotuner bench``, ``watch`` and ``run``.

Input is the stored form of a load level (:meth:`LevelResult.to_dict`, the
``levels`` of an experiment's metrics) and of pooled metrics (``pool``): flat
dicts whose keys may be missing (older experiments, other producers), so every
figure is looked up leniently and shown as ``-`` when absent. Text that came
from a server is escaped (:func:`safe`) before it is printed.

Each level is one row: its label, completed/failed requests, request and
output-token throughput, and mean/p50/p99 of TTFT, TPOT, ITL and E2EL in
milliseconds. A mark column says what else is known of the level:

* ``!``: UNTRUSTED: the load generator itself was the bottleneck (client CPU,
  event-loop lag, asked load not reached); the reasons follow the table;
* ``x``: the level violates an SLO (each violation follows the table);
* ``*``: the level is one the score was computed from.

This module imports nothing heavy, so ``autotuner --help`` stays fast.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["level_label", "level_lines", "level_table", "safe", "summary_line"]

# Control characters, lone surrogates, line and bidi separators: server-provided text
# is printed with these escaped, so it cannot move the cursor, recolour or forge lines.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def safe(value: Any) -> str:
    """``value`` as text a terminal shows as written (escapes are JSON-style ``\\u001b``)."""
    return _UNSAFE.sub(lambda m: _ESCAPES.get(m[0]) or f"\\u{ord(m[0]):04x}", str(value))


LATENCIES = (("ttft", "TTFT"), ("tpot", "TPOT"), ("itl", "ITL"), ("e2el", "E2EL"))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _ms(value: Any) -> str:
    """Milliseconds with three significant figures or so: 0.42, 8.31, 41.2, 1234."""
    v = _number(value)
    if v is None:
        return "-"
    if abs(v) < 10:
        return f"{v:.2f}"
    if abs(v) < 100:
        return f"{v:.1f}"
    return f"{v:.0f}"


def _rate(value: Any) -> str:
    v = _number(value)
    if v is None:
        return "-"
    if abs(v) < 100:
        return f"{v:.2f}"
    return f"{v:,.0f}"


def _count(value: Any) -> str:
    v = _number(value)
    return "-" if v is None else f"{int(v)}"


def _latency_cell(metrics: Mapping[str, Any], name: str) -> str:
    p50 = metrics.get(f"p50_{name}_ms", metrics.get(f"median_{name}_ms"))
    cells = (metrics.get(f"mean_{name}_ms"), p50, metrics.get(f"p99_{name}_ms"))
    return "/".join(_ms(v) for v in cells)


def level_label(level: Mapping[str, Any]) -> str:
    """The level's ``label``, else one made as :attr:`LevelResult.label` makes it."""
    label = level.get("label")
    if isinstance(label, str) and label:
        return safe(label)
    scenario = safe(level.get("scenario", "?"))
    rate = level.get("request_rate")
    if rate is None:
        return f"{scenario} @ c={safe(level.get('concurrency', '?'))}"
    if isinstance(rate, float) and math.isinf(rate):
        rate = "inf"
    return f"{scenario} @ {safe(rate if isinstance(rate, str) else f'{rate:g}')} req/s"


def _untrusted(level: Mapping[str, Any]) -> list[str]:
    reasons = level.get("untrusted_reasons")
    if isinstance(reasons, list) and reasons:
        return [safe(r) for r in reasons]
    flag = level.get("untrusted")
    if isinstance(flag, list) and flag:  # LevelResult.untrusted itself
        return [safe(r) for r in flag]
    if flag is True:
        return ["(no reason given)"]
    return []


def _violations(level: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = level.get("slo_violations")
    if not isinstance(found, list):
        return []
    return [v for v in found if isinstance(v, Mapping)]


def _marks(level: Mapping[str, Any]) -> str:
    marks = ""
    if _untrusted(level):
        marks += "!"
    if _violations(level) or level.get("compliant") is False:
        marks += "x"
    if level.get("used_for_score") is True:
        marks += "*"
    return marks


def _value(value: Any) -> str:
    v = _number(value)
    return safe(value) if v is None else f"{v:.4g}"


def _figure(value: Any, unit: Any) -> str:
    v = _number(value)
    if v is None:
        return safe(value)
    if unit == "s":
        return f"{v:.4g}s"
    if unit in ("", "ratio", "fraction", "share"):  # a share of requests (the error rate)
        return f"{v:.1%}"
    return f"{v:.4g}" + (safe(unit) if isinstance(unit, str) and unit else "")


def describe_violation(violation: Mapping[str, Any]) -> str:
    """``latency.p90: 1.5s > 1s (+50%, hard)``, from whichever keys the violation carries
    (``slo``, ``metric``, ``actual``, ``threshold``, ``unit``, ``margin_ratio``, ``hard``)."""
    name = violation.get("slo") or violation.get("metric") or "slo"
    text = safe(name)
    unit = violation.get("unit")
    actual, threshold = violation.get("actual"), violation.get("threshold")
    if actual is not None or threshold is not None:
        text += f": {_figure(actual, unit)} > {_figure(threshold, unit)}"
    details = []
    ratio = _number(violation.get("margin_ratio"))
    if ratio is not None and unit == "s":
        details.append(f"+{ratio:.0%}")
    elif ratio is None and _number(violation.get("margin")) is not None:
        details.append(f"margin {_figure(violation['margin'], unit)}")
    hard = violation.get("hard", violation.get("hard_fail"))
    if isinstance(hard, bool):
        details.append("hard" if hard else "soft")
    if details:
        text += f" ({', '.join(details)})"
    return text


_HEADERS = (
    "",
    "level",
    "ok/failed",
    "req/s",
    "out tok/s",
    *(f"{title} ms mean/p50/p99" for _, title in LATENCIES),
)


def _row(marks: str, label: str, metrics: Mapping[str, Any]) -> list[str]:
    return [
        marks,
        label,
        f"{_count(metrics.get('completed'))}/{_count(metrics.get('failed'))}",
        _rate(metrics.get("request_throughput")),
        _rate(metrics.get("output_throughput")),
        *(_latency_cell(metrics, name) for name, _ in LATENCIES),
    ]


def _render(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            # The mark and the label read left to right; figures line up on the right.
            cells.append(cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]))
        lines.append("  ".join(cells).rstrip())
    return lines


def level_table(
    levels: Iterable[Mapping[str, Any]], summary: Mapping[str, Any] | None = None
) -> list[str]:
    """The table of ``levels`` (one row each, in order), a pooled row when
    ``summary`` is given, and after it a line per untrusted level and per SLO
    violation, plus a legend of the marks used."""
    levels = [lv for lv in levels if isinstance(lv, Mapping)]
    rows: list[list[str]] = [list(_HEADERS)]
    for level in levels:
        rows.append(_row(_marks(level), level_label(level), level))
    if summary is not None:
        count = summary.get("num_levels", len(levels))
        rows.append(_row("", f"pooled ({_count(count)} levels)", summary))
    lines = _render(rows)
    notes: list[str] = []
    for level in levels:
        label = level_label(level)
        for reason in _untrusted(level):
            notes.append(f"! {label}: UNTRUSTED: {reason}")
        for violation in _violations(level):
            notes.append(f"x {label}: violates {describe_violation(violation)}")
        excluded = level.get("excluded_reason")
        if excluded and not _violations(level) and not _untrusted(level):
            notes.append(f"  {label}: not scored: {safe(excluded)}")
        elif level.get("compliant") is False and not _violations(level):
            notes.append(f"x {label}: not compliant with the SLOs")
        errors = level.get("errors")
        if isinstance(errors, list) and errors and _number(level.get("failed")):
            notes.append(f"  {label}: errors: " + "; ".join(safe(e) for e in errors[:3]))
    legend = [
        text
        for mark, text in (
            ("!", "! untrusted (the load generator was the bottleneck)"),
            ("x", "x violates an SLO"),
            ("*", "* used for the score"),
        )
        if any(mark in row[0] for row in rows[1:])
    ]
    if legend:
        notes.append("marks: " + ", ".join(legend))
    return lines + notes


def summary_line(summary: Mapping[str, Any]) -> str:
    """One line of pooled figures: requests, throughputs, TTFT/TPOT/E2EL p50 and p99."""
    parts = [
        f"{_count(summary.get('completed'))} ok, {_count(summary.get('failed'))} failed",
        f"{_rate(summary.get('request_throughput'))} req/s",
        f"{_rate(summary.get('output_throughput'))} out tok/s",
    ]
    for name, title in LATENCIES:
        if name == "itl":
            continue
        p50 = summary.get(f"p50_{name}_ms", summary.get(f"median_{name}_ms"))
        parts.append(f"{title} p50 {_ms(p50)} p99 {_ms(summary.get(f'p99_{name}_ms'))} ms")
    goodput = _number(summary.get("request_goodput"))
    if goodput is not None:
        parts.append(f"goodput {_rate(goodput)} req/s")
    return "pooled: " + ", ".join(parts)


def level_lines(metrics: Mapping[str, Any] | None, indent: str = "    ") -> list[str]:
    """What ``watch`` prints under a finished experiment: its level table, with
    a pooled row over every level (``pooled_all``, else the top-level figures of
    older experiments, which were pooled), and which levels the score came from;
    nothing without levels."""
    if not isinstance(metrics, Mapping):
        return []
    levels = metrics.get("levels")
    if not isinstance(levels, list) or not levels:
        return []
    pooled = metrics.get("pooled_all")
    if not isinstance(pooled, Mapping):
        pooled = metrics if metrics.get("completed") is not None else None
    lines = level_table(levels, pooled)
    scoring = metrics.get("scoring")
    if isinstance(scoring, Mapping):
        used = scoring.get("levels_used")
        if isinstance(used, list) and used:
            objective = scoring.get("objective")
            lines.append(
                "scored on: "
                + ", ".join(safe(u) for u in used)
                + (f" ({safe(objective)})" if objective else "")
            )
        if scoring.get("note"):
            lines.append(f"note: {safe(scoring['note'])}")
    return [indent + line for line in lines]
