"""Domain schemas shared by every layer: task spec, task, experiment, event.

This module imports nothing of ours. Wire names are those of the REST API
(``/docs`` of a running server) and of ``docs/websocket.md``; task files are
accepted in the format the README describes (``examples/`` holds some).
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

# Ids are INTEGER columns (32-bit on PostgreSQL): a larger one names nothing.
MAX_ID = 2**31 - 1


class TaskStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


class ExperimentStatus(StrEnum):
    PENDING = "pending"
    DEPLOYING = "deploying"
    BENCHMARKING = "benchmarking"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (
            ExperimentStatus.SUCCESS,
            ExperimentStatus.FAILED,
            ExperimentStatus.CANCELLED,
        )


class EventType(StrEnum):
    TASK_STARTED = "task_started"
    TASK_PROGRESS = "task_progress"
    TASK_COMPLETED = "task_completed"
    TASK_FAILED = "task_failed"
    TASK_CANCELLED = "task_cancelled"
    EXPERIMENT_STARTED = "experiment_started"
    EXPERIMENT_PROGRESS = "experiment_progress"
    EXPERIMENT_COMPLETED = "experiment_completed"
    EXPERIMENT_FAILED = "experiment_failed"
    BENCHMARK_STARTED = "benchmark_started"
    BENCHMARK_PROGRESS = "benchmark_progress"
    LOG_MESSAGE = "log_message"

    @property
    def is_task_level(self) -> bool:
        return self.value.startswith("task_")


# --------------------------------------------------------------------------- spec

Objective = Literal["minimize_latency", "maximize_throughput", "minimize_ttft", "minimize_tpot"]
StrategyName = Literal["grid_search", "random", "bayesian"]
DeploymentMode = Literal["sim", "local", "docker", "ome"]

_SCENARIO = re.compile(r"^\s*(D|N|U)\(\s*\d+(\s*,\s*\d+)*\s*\)(/\(\s*\d+(\s*,\s*\d+)*\s*\))?\s*$")

# Bounds of a task spec. Whatever passes them can be stored on SQLite and
# PostgreSQL, serialized into every event that carries the task, and run.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32  # nesting of free-form values (extra fields, additional_params)
MAX_TEXT = 1_000  # characters of a string value, name or path
MAX_DESCRIPTION = 10_000
MAX_PARAMETERS = 64
MAX_VALUES = 1_000  # per parameter
MAX_NAME = 100  # characters of a parameter name
MAX_LIST = 100  # traffic scenarios, concurrency levels
MAX_TOKENS = 1_000_000  # per request, in a traffic scenario
MAX_CONCURRENCY = 10_000
MAX_SECONDS = 7 * 24 * 3600.0
MAX_SPEC_BYTES = 256 * 1024  # the spec as stored (JSON), events carry it again

# task_name appears in logs, terminals and file names: one line of visible text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_FLAG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_RUNTIME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored everywhere (None if it can)."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which PostgreSQL cannot store"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"contains a lone UTF-16 surrogate ({value[exc.start]!r}), which is not valid "
            "Unicode text"
        )
    return None


def _text(value: str) -> str:
    problem = _text_problem(value)
    if problem is not None:
        raise ValueError(f"text {problem}")
    return value


def _int_problem(value: int) -> str | None:
    if not INT64_MIN <= value <= INT64_MAX:
        return f"integer {value} is outside the 64-bit range (-2^63 to 2^63-1)"
    return None


def _float_problem(value: float) -> str | None:
    if not math.isfinite(value):
        return f"{value} is not a number a task can use; give a finite number"
    return None


def _free_json(value: Any) -> Any:
    """Check a free-form value (an extra field) in one linear, non-recursive walk."""
    # Paths are linked (parent, step) pairs, spelled out only for the error.
    stack: list[tuple[Any, int, tuple[Any, ...] | None]] = [(value, 1, None)]
    while stack:
        item, depth, where = stack.pop()
        problem: str | None = None
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int):
            problem = _int_problem(item)
        elif isinstance(item, float):
            problem = _float_problem(item)
        elif isinstance(item, str):
            problem = _text_problem(item)
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                problem = f"nests deeper than {MAX_DEPTH} levels"
            elif isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        problem = f"key {key!r} is not a string"
                    elif (key_problem := _text_problem(key)) is not None:
                        problem = f"a key {key_problem}"
                    if problem is not None:
                        break
                    stack.append((child, depth + 1, (where, f".{key}")))
            else:
                stack.extend((child, depth + 1, (where, f"[{i}]")) for i, child in enumerate(item))
        else:
            problem = f"{type(item).__name__} is not a JSON value"
        if problem is not None:
            raise ValueError(f"{_spell(where)}: {problem}" if where else problem)
    return value


def _spell(where: tuple[Any, ...] | None) -> str:
    steps: list[str] = []
    while where is not None:
        where, step = where
        steps.append(step)
    path = "".join(reversed(steps)).lstrip(".")
    return path if len(path) <= 200 else path[:97] + "..." + path[-100:]


def _scalar(value: Any) -> Any:
    """A parameter value as given: refuse what no engine flag can carry, before the
    union could turn it into something else (2^64 into a float, say)."""
    problem: str | None = None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        problem = _int_problem(value)
    elif isinstance(value, float):
        problem = _float_problem(value)
    elif isinstance(value, str):
        problem = _text_problem(value)
        if problem is None and len(value) > MAX_TEXT:
            problem = f"is longer than {MAX_TEXT} characters"
    else:
        problem = "a parameter value must be a string, a number or a boolean"
    if problem is not None:
        raise ValueError(problem)
    return value


def _parameter_name(name: str) -> str:
    """An engine flag name as a task gives it: ``tp-size``, ``n_ctx`` (no dashes)."""
    problem = _text_problem(name)
    if problem is not None:
        raise ValueError(f"parameter name {problem}")
    if not name.strip():
        raise ValueError("parameter names must not be blank")
    if name.startswith("-"):
        bare = name.lstrip("-")
        raise ValueError(
            f"parameter {name!r}: write engine flags without their leading dashes "
            f"({bare!r}); autotuner adds them"
        )
    if "=" in name:
        raise ValueError(f"parameter {name!r}: a name cannot hold '='; put the values in the list")
    if len(name) > MAX_NAME:
        raise ValueError(f"parameter names are at most {MAX_NAME} characters")
    if not _FLAG_NAME.match(name):
        raise ValueError(
            f"parameter {name!r} is not an engine flag name: use letters, digits, '-' and '_' only"
        )
    return name


def _runtime_name(value: str) -> str:
    if not _RUNTIME_NAME.match(value):
        raise ValueError(
            f"base_runtime {value!r} is not an engine name (e.g. vllm, sglang, llama.cpp): "
            "use letters, digits, '.', '-' and '_' only"
        )
    return value


Text = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_text)]
FreeJson = Annotated[Any, AfterValidator(_free_json)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Scalar = Annotated[
    Annotated[str, Field(max_length=MAX_TEXT)] | Int64 | FiniteFloat | bool,
    Field(union_mode="smart"),
    BeforeValidator(_scalar),
]
ParameterName = Annotated[str, AfterValidator(_parameter_name)]
Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]


class _Spec(BaseModel):
    # Task files written for other deployments carry fields we do not use
    # (namespace, runtime_image_tag, ...):
    # keep them so a task round-trips unchanged, as long as they can be stored.
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    __pydantic_extra__: dict[str, FreeJson] = Field(init=False)

    @model_validator(mode="after")
    def _extra_keys(self) -> _Spec:
        for key in self.__pydantic_extra__ or {}:
            problem = _text_problem(key)
            if problem is None and len(key) > MAX_NAME:
                problem = f"is longer than {MAX_NAME} characters"
            if problem is not None:
                raise ValueError(f"field name {key!r} {problem}")
        return self


class ModelSpec(_Spec):
    id_or_path: Text = Field(min_length=1)
    namespace: Text | None = None


class OptimizationSpec(_Spec):
    strategy: StrategyName = "grid_search"
    objective: Objective = "minimize_latency"
    max_iterations: int = Field(default=10, ge=1, le=10_000)
    timeout_per_iteration: Seconds = 600


class SLOThreshold(_Spec):
    threshold: float = Field(gt=0)
    weight: float = Field(default=1.0, ge=0)
    hard_fail: bool = False
    fail_ratio: float = Field(default=0.0, ge=0)


class SLOSpec(_Spec):
    latency: dict[Literal["p50", "p90", "p95", "p99"], SLOThreshold] | None = None
    ttft: SLOThreshold | None = None
    tpot: SLOThreshold | None = None
    steepness: float = Field(default=0.1, gt=0)


class BenchmarkSpec(_Spec):
    task: Text = "text-to-text"
    model_name: Text | None = None
    model_tokenizer: Text | None = None
    traffic_scenarios: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=lambda: ["D(100,100)"], min_length=1, max_length=MAX_LIST
    )
    num_concurrency: list[int] = Field(
        default_factory=lambda: [1], min_length=1, max_length=MAX_LIST
    )
    max_time_per_iteration: Seconds = 10
    max_requests_per_iteration: int = Field(default=50, ge=1, le=1_000_000)
    additional_params: dict[Annotated[str, Field(max_length=MAX_NAME)], FreeJson] = Field(
        default_factory=dict
    )

    @field_validator("traffic_scenarios")
    @classmethod
    def _scenarios(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _SCENARIO.match(item):
                raise ValueError(
                    f"traffic scenario {item!r} is not of the form D(input,output), "
                    "N(mean_in,sd_in)/(mean_out,sd_out) or U(min_in,max_in)/(min_out,max_out)"
                )
            kind = item.strip()[0]
            groups = [
                [int(n) for n in group.split(",")] for group in re.findall(r"\(([^()]*)\)", item)
            ]
            counts = [len(g) for g in groups]
            if counts != ([2] if kind == "D" else [2, 2]):
                raise ValueError(
                    f"traffic scenario {item!r}: D takes (input,output); N and U take "
                    "(a,b)/(c,d) for the input and the output tokens"
                )
            if any(n > MAX_TOKENS for g in groups for n in g):
                raise ValueError(
                    f"traffic scenario {item!r}: token counts are at most {MAX_TOKENS:,}"
                )
            if kind == "U" and any(g[0] > g[1] for g in groups):
                raise ValueError(f"traffic scenario {item!r}: U ranges are (min,max)")
        return value

    @field_validator("additional_params")
    @classmethod
    def _known_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        # The keys the load generator reads (autotuner.bench.loadgen), checked here so
        # a wrong type is a 422 now rather than a failed experiment later.
        def number(v: Any, high: float) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= high

        checks: dict[str, tuple[Any, str]] = {
            "endpoint": (
                lambda v: (
                    isinstance(v, str) and v.lower() in ("completions", "chat", "chat/completions")
                ),
                "'completions' or 'chat'",
            ),
            "request_timeout": (
                lambda v: v is None or (number(v, MAX_SECONDS) and v > 0),
                f"a number of seconds, more than 0 and at most {MAX_SECONDS:g}",
            ),
            "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
            "temperature": (lambda v: number(v, 100), "a number from 0 to 100"),
            "api_key": (lambda v: v is None or isinstance(v, str), "a string"),
            "extra_body": (lambda v: v is None or isinstance(v, dict), "an object"),
            "goodput": (
                lambda v: (
                    v is None
                    or (
                        isinstance(v, dict)
                        and all(number(x, MAX_SECONDS * 1000) for x in v.values())
                    )
                ),
                'an object of millisecond thresholds, e.g. {"ttft": 500, "tpot": 50}',
            ),
        }
        for key, (ok, what) in checks.items():
            if key in value and not ok(value[key]):
                raise ValueError(f"additional_params.{key} must be {what}, not {value[key]!r}")
        return value

    @field_validator("num_concurrency")
    @classmethod
    def _concurrency(cls, value: list[int]) -> list[int]:
        if any(v < 1 for v in value):
            raise ValueError("every concurrency level must be at least 1")
        if any(v > MAX_CONCURRENCY for v in value):
            raise ValueError(f"concurrency levels are at most {MAX_CONCURRENCY:,}")
        return value


class TaskSpec(_Spec):
    """A task file (JSON or YAML), in the format the README describes."""

    task_name: str = Field(min_length=1, max_length=200)
    description: Annotated[str, AfterValidator(_text)] = Field(
        default="", max_length=MAX_DESCRIPTION
    )
    deployment_mode: DeploymentMode = "docker"
    model: ModelSpec
    base_runtime: Annotated[str, AfterValidator(_runtime_name)] = Field(
        default="sglang", min_length=1, max_length=50
    )
    parameters: dict[
        ParameterName, Annotated[list[Scalar], Field(min_length=1, max_length=MAX_VALUES)]
    ] = Field(min_length=1, max_length=MAX_PARAMETERS)
    optimization: OptimizationSpec = Field(default_factory=OptimizationSpec)
    slo: SLOSpec | None = None
    benchmark: BenchmarkSpec = Field(default_factory=BenchmarkSpec)

    @field_validator("task_name")
    @classmethod
    def _name(cls, value: str) -> str:
        problem = _text_problem(value)
        if problem is not None:
            raise ValueError(f"task_name {problem}")
        found = _CONTROL.search(value)
        if found:
            raise ValueError(f"task_name must be one line of visible text; it holds {found[0]!r}")
        if not value.strip():
            raise ValueError("task_name must not be blank")
        return value.strip()

    @model_validator(mode="after")
    def _fill_benchmark_model(self) -> TaskSpec:
        if self.benchmark.model_name is None:
            self.benchmark.model_name = self.model.id_or_path
        return self

    @model_validator(mode="after")
    def _storable(self) -> TaskSpec:
        # The last word: the spec is stored as JSON and serialized (orjson) into
        # every event that carries the task; what fails here would fail there.
        try:
            size = len(orjson.dumps(self.model_dump(mode="json")))
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise ValueError(f"the task spec cannot be serialized: {exc}") from None
        if size > MAX_SPEC_BYTES:
            raise ValueError(
                f"the task spec takes {size:,} bytes as JSON; at most {MAX_SPEC_BYTES:,} "
                "are accepted (shorten the description or the parameter lists)"
            )
        return self


# ----------------------------------------------------------------------- entities


class _Entity(BaseModel):
    """Timestamps are UTC; a naive one (SQLite keeps no zone) is read as UTC."""

    @field_validator("created_at", "started_at", "completed_at", mode="after", check_fields=False)
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class TaskPublic(_Entity):
    id: int
    task_name: str
    description: str
    status: TaskStatus
    spec: dict[str, Any]
    deployment_mode: str
    base_runtime: str
    total_experiments: int
    successful_experiments: int
    failed_experiments: int
    best_experiment_id: int | None
    best_score: float | None
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    elapsed_time: float | None
    last_event_id: int


class ExperimentPublic(_Entity):
    id: int
    task_id: int
    experiment_id: int
    parameters: dict[str, Any]
    status: ExperimentStatus
    metrics: dict[str, Any] | None
    objective_score: float | None
    slo_violations: list[dict[str, Any]] | None
    error_message: str | None
    engine_command: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    elapsed_time: float | None


class Event(BaseModel):
    """One event as clients receive it; ``id`` is per task, 1, 2, 3 ... without gaps."""

    id: int | None = None
    type: EventType
    task_id: int
    experiment_id: int | None = None
    timestamp: float = Field(default_factory=time.time)
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


def create_event(
    event_type: EventType,
    task_id: int,
    *,
    experiment_id: int | None = None,
    message: str = "",
    data: dict[str, Any] | None = None,
) -> Event:
    """An event of ``event_type`` for ``task_id``, stamped now (see ``events/payloads.py``
    for the payloads of task and experiment events)."""
    return Event(
        type=event_type,
        task_id=task_id,
        experiment_id=experiment_id,
        message=message,
        data=data or {},
    )
