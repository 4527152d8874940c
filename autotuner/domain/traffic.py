"""The load levels a benchmark spec asks for, and what is wrong or unused in its traffic.

Level plan, per traffic scenario in spec order:

1. closed-loop levels, one per ``num_concurrency`` value (``num_concurrency``
   is emptied at validation when ``request_rate`` or ``sweep`` is given and
   ``num_concurrency`` was not written, so a stored spec keeps the rule);
2. open-loop levels, one per ``request_rate`` value (``"inf"``: all requests
   at once), capped by ``max_concurrency`` requests in flight;
3. a sweep: ``synchronous`` (one request at a time), ``throughput`` (all at
   once), then ``sweep.rates`` open-loop rates evenly spaced between the two
   measured request rates.

Every level runs until ``max_requests_per_iteration`` requests were measured or
``max_time_per_iteration`` seconds passed, after its ``warmup_requests``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from autotuner.domain._checks import MAX_LEVELS, MAX_RATE

if TYPE_CHECKING:
    from autotuner.domain.spec import BenchmarkSpec, TaskSpec

DatasetFormat = Literal["jsonl", "json", "csv"]
_SUFFIXES: dict[str, DatasetFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
}
_INF = {"inf", "+inf", "infinity", "+infinity", ".inf"}

Problem = tuple[tuple[str | int, ...], str]
"""Where in ``benchmark`` (a pydantic location) and what is wrong."""


def request_rate_value(value: Any) -> float | str:
    """One ``request_rate`` item: requests/s more than 0, or ``"inf"`` (also read from
    ``"Infinity"``, ``".inf"`` or a float infinity, and stored as ``"inf"``)."""
    if isinstance(value, bool):
        raise ValueError(f"a request rate is a number of requests/s or 'inf', not {value!r}")
    if isinstance(value, str):
        if value.strip().lower() in _INF:
            return "inf"
        try:
            value = float(value)
        except ValueError:
            raise ValueError(
                f"a request rate is a number of requests/s or 'inf', not {value!r}"
            ) from None
    if not isinstance(value, (int, float)):
        raise ValueError(f"a request rate is a number of requests/s or 'inf', not {value!r}")
    if math.isnan(value):
        raise ValueError("a request rate cannot be NaN; give requests/s or 'inf'")
    if math.isinf(value) and value > 0:
        return "inf"
    if not value > 0:
        raise ValueError(f"request rates must be more than 0 requests/s, not {value:g}")
    if value > MAX_RATE:
        raise ValueError(
            f"request rates are at most {MAX_RATE:,.0f} requests/s; "
            "write 'inf' for as fast as possible"
        )
    return float(value)


@dataclass(frozen=True)
class PlannedLevel:
    """One load level of an experiment, before it runs.

    ``kind`` is ``"concurrency"`` (closed loop: ``concurrency`` workers, one
    request each at a time), ``"rate"`` (open loop: ``request_rate`` requests/s,
    ``math.inf`` for all at once, at most ``concurrency`` = ``max_concurrency``
    in flight) or ``"sweep"`` (``sweep_step`` is ``"synchronous"``,
    ``"throughput"`` or ``"rate-<i>"`` for the i-th of ``sweep.rates`` rates,
    whose value is known only once the first two ran).
    """

    scenario: str
    kind: Literal["concurrency", "rate", "sweep"]
    concurrency: int | None
    request_rate: float | None
    sweep_step: str | None = None


def plan_levels(spec: BenchmarkSpec) -> list[PlannedLevel]:
    """The experiment's load levels in the order they run (see the module docstring)."""
    levels: list[PlannedLevel] = []
    for scenario in spec.traffic_scenarios:
        for c in spec.num_concurrency:
            levels.append(PlannedLevel(scenario, "concurrency", c, None))
        for rate in spec.request_rate or []:
            value = math.inf if rate == "inf" else float(rate)
            levels.append(PlannedLevel(scenario, "rate", spec.max_concurrency, value))
        if spec.sweep is not None:
            levels.append(PlannedLevel(scenario, "sweep", 1, None, "synchronous"))
            levels.append(PlannedLevel(scenario, "sweep", spec.max_concurrency, None, "throughput"))
            levels.extend(
                PlannedLevel(scenario, "sweep", spec.max_concurrency, None, f"rate-{i}")
                for i in range(1, spec.sweep.rates + 1)
            )
    return levels


def level_count(spec: BenchmarkSpec) -> int:
    """How many load levels :func:`plan_levels` gives, without building them."""
    per_scenario = len(spec.num_concurrency) + len(spec.request_rate or [])
    if spec.sweep is not None:
        per_scenario += 2 + spec.sweep.rates
    return len(spec.traffic_scenarios) * per_scenario


def open_loop(spec: BenchmarkSpec) -> bool:
    return bool(spec.request_rate) or spec.sweep is not None


def dataset_location(spec: BenchmarkSpec) -> tuple[str, str] | None:
    """``("path", p)`` or ``("url", u)`` of the spec's prompts file; None for synthetic."""
    if spec.dataset is not None and spec.dataset.path:
        return "path", spec.dataset.path
    url = (spec.dataset.url if spec.dataset is not None else None) or spec.dataset_url
    return ("url", url) if url else None


def dataset_format(spec: BenchmarkSpec) -> DatasetFormat | None:
    """The dataset's format as given, else by its file name's suffix (None: cannot tell)."""
    if spec.dataset is not None and spec.dataset.format is not None:
        return spec.dataset.format
    where = dataset_location(spec)
    if where is None:
        return None
    name = urlsplit(where[1]).path if where[0] == "url" else where[1]
    suffixes = PurePosixPath(name.replace("\\", "/")).suffixes
    # data.jsonl.gz is not read; data.v2.jsonl is.
    return _SUFFIXES.get(suffixes[-1].lower()) if suffixes else None


def traffic_problems(spec: BenchmarkSpec, fields_set: set[str]) -> list[Problem]:
    """What cannot run as written, each at the field to change."""
    problems: list[Problem] = []
    if spec.sweep is not None and spec.request_rate:
        problems.append(
            (
                ("sweep",),
                "give benchmark.sweep or benchmark.request_rate, not both: "
                "a sweep chooses its own rates",
            )
        )
    if not spec.num_concurrency and not open_loop(spec):
        where = "num_concurrency" if "num_concurrency" in fields_set else "request_rate"
        problems.append(
            (
                (where,),
                "no load level to run: give concurrency levels (num_concurrency), "
                "request_rate levels or a sweep",
            )
        )
    problems.extend(_dataset_problems(spec))
    count = level_count(spec)
    if count > MAX_LEVELS:
        problems.append(
            (
                (),
                f"{count:,} load levels per experiment ({len(spec.traffic_scenarios)} traffic "
                "scenarios x their concurrency, request-rate and sweep levels); at most "
                f"{MAX_LEVELS} are accepted: use fewer scenarios or levels",
            )
        )
    return problems


def _dataset_problems(spec: BenchmarkSpec) -> list[Problem]:
    problems: list[Problem] = []
    ds = spec.dataset
    if ds is not None:
        if ds.path and (ds.url or spec.dataset_url):
            other = "dataset.url" if ds.url else "dataset_url"
            problems.append(
                (("dataset",), f"give dataset.path or {other}, not both: one file of prompts")
            )
        elif ds.url and spec.dataset_url:
            problems.append(
                (("dataset_url",), "give dataset.url or dataset_url (its older name), not both")
            )
        elif not (ds.path or ds.url or spec.dataset_url):
            problems.append(
                (("dataset",), "give dataset.path (a local file) or dataset.url (http or https)")
            )
        if ds.path is not None and not ds.path.strip():
            problems.append((("dataset", "path"), "dataset.path must not be blank"))
    for loc, url in (
        (("dataset", "url"), ds.url if ds else None),
        (("dataset_url",), spec.dataset_url),
    ):
        if url is None:
            continue
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            problems.append((loc, f"{url!r} is not an http(s) URL; a local file is dataset.path"))
    if problems or dataset_location(spec) is None:
        return problems
    if dataset_format(spec) is None:
        loc = ("dataset", "format") if ds is not None else ("dataset_url",)
        name = dataset_location(spec)
        assert name is not None
        problems.append(
            (
                loc,
                f"cannot tell the format of {name[1]!r} from its name: give dataset.format "
                "(jsonl, json or csv) or name the file .jsonl, .json or .csv",
            )
        )
    return problems


def task_warnings(task: TaskSpec) -> list[tuple[str, str]]:
    """(field, message) for what was written but will have no effect, or may not run."""
    spec = task.benchmark
    warnings: list[tuple[str, str]] = []
    if not open_loop(spec):
        if spec.burstiness != 1.0:
            warnings.append(
                (
                    "benchmark.burstiness",
                    "burstiness shapes open-loop arrivals only (request_rate or sweep levels); "
                    "with concurrency levels only it has no effect",
                )
            )
        if spec.max_concurrency is not None:
            warnings.append(
                (
                    "benchmark.max_concurrency",
                    "max_concurrency caps open-loop levels only (request_rate or sweep); "
                    "closed-loop levels run num_concurrency workers",
                )
            )
    if dataset_location(spec) is not None:
        field = "benchmark.dataset" if spec.dataset is not None else "benchmark.dataset_url"
        what = (
            "output lengths come from the file's "
            f"{spec.dataset.output_tokens_field!r} column where a row has one, else from the "
            "scenario"
            if spec.dataset is not None and spec.dataset.output_tokens_field
            else "output lengths come from the scenarios"
        )
        warnings.append(
            (
                field,
                "prompts come from the dataset, so the traffic scenarios' input token counts "
                f"are not used; {what}",
            )
        )
    levels = level_count(spec)
    budget = levels * spec.max_time_per_iteration
    timeout = task.optimization.timeout_per_iteration
    if budget >= timeout:
        warnings.append(
            (
                "optimization.timeout_per_iteration",
                f"{levels} load levels of up to {spec.max_time_per_iteration:g} s each "
                f"(max_time_per_iteration) may take {budget:g} s, not counting warm-up and "
                f"engine start; an experiment is stopped after {timeout:g} s",
            )
        )
    return warnings
