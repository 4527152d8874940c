"""The task spec: a task file (JSON or YAML) in the format the README describes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    RootModel,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError

from autotuner.domain._checks import (
    CONTROL,
    MAX_CONCURRENCY,
    MAX_DESCRIPTION,
    MAX_LIST,
    MAX_NAME,
    MAX_PARAMETERS,
    MAX_SECONDS,
    MAX_SPEC_BYTES,
    MAX_VALUES,
    FreeJson,
    ParameterName,
    Scalar,
    Seconds,
    Text,
    clean_text,
    runtime_name,
    text_problem,
)
from autotuner.domain.engine import EngineSpec
from autotuner.domain.scenarios import check_scenario
from autotuner.domain.traffic import request_rate_value, task_warnings, traffic_problems

Objective = Literal[
    "minimize_latency",
    "maximize_throughput",
    "maximize_goodput",
    "minimize_ttft",
    "minimize_tpot",
]
StrategyName = Literal["grid_search", "random", "bayesian"]
DeploymentMode = Literal["sim", "local", "docker", "ome"]


class _Spec(BaseModel):
    # Task files written for other deployments carry fields we do not use
    # (namespace, runtime_image_tag, ...):
    # keep them so a task round-trips unchanged, as long as they can be stored.
    model_config = ConfigDict(extra="allow", allow_inf_nan=False, use_attribute_docstrings=True)
    __pydantic_extra__: dict[str, FreeJson] = Field(init=False)

    @model_validator(mode="after")
    def _extra_keys(self) -> _Spec:
        for key in self.__pydantic_extra__ or {}:
            problem = text_problem(key)
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


SLOStat = Literal["mean", "p50", "p90", "p95", "p99"]
"""Which figure of a latency an SLO bounds: its mean or a percentile over the level's requests."""
SLO_STATS: tuple[SLOStat, ...] = ("mean", "p50", "p90", "p95", "p99")
_THRESHOLD_KEYS = ("threshold", "weight", "hard_fail", "fail_ratio")


class SLOThreshold(BaseModel):
    """One bound: ``threshold`` seconds; above it by ``excess = (actual - threshold) /
    threshold`` a level violates it, hard when ``hard_fail`` and ``excess > fail_ratio``
    (the level is excluded from the score), else soft (a penalty of weight ``weight``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    threshold: float = Field(gt=0)
    weight: float = Field(default=1.0, ge=0)
    hard_fail: bool = False
    fail_ratio: float = Field(default=0.0, ge=0)


class MetricSLO(RootModel[dict[SLOStat, SLOThreshold]]):
    """The SLOs of one latency metric, by statistic: ``{"p90": {...}, "mean": {...}}``.

    The seed project's flat form ``{"threshold": ..., "weight": ...}`` bounds the
    mean and is read as ``{"mean": {...}}``.
    """

    @model_validator(mode="before")
    @classmethod
    def _flat_is_mean(cls, value: Any) -> Any:
        if isinstance(value, dict) and any(k in value for k in _THRESHOLD_KEYS):
            stats = [k for k in value if k in SLO_STATS]
            if stats:
                raise ValueError(
                    "give either {threshold, weight, hard_fail, fail_ratio} (bounds the mean) or "
                    f"{{mean|p50|p90|p95|p99: {{threshold, ...}}}}, not both (found {stats[0]!r})"
                )
            try:
                return {"mean": SLOThreshold.model_validate(value)}
            except ValidationError as exc:
                # Errors at the fields as written (slo.ttft.threshold), not under "mean".
                raise ValidationError.from_exception_data(
                    cls.__name__,
                    [
                        InitErrorDetails(
                            type=e["type"], loc=e["loc"], input=e["input"], ctx=e.get("ctx", {})
                        )
                        for e in exc.errors()
                    ],
                ) from None
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Both forms, as a task file may hold them (the flat one is turned into the other).
        by_stat = handler(core_schema)
        flat = handler(SLOThreshold.__pydantic_core_schema__)
        return {"anyOf": [flat, by_stat]}

    @model_validator(mode="after")
    def _not_empty(self) -> MetricSLO:
        if not self.root:
            raise ValueError("name at least one of mean, p50, p90, p95, p99")
        return self

    def items(self) -> list[tuple[str, SLOThreshold]]:
        """``(stat, bound)`` in the order mean, p50, p90, p95, p99."""
        return [(stat, bound) for stat in SLO_STATS if (bound := self.root.get(stat))]

    @property
    def per_request(self) -> SLOThreshold:
        """The bound a single request is held to (goodput): the highest percentile's,
        else the mean's."""
        return self.items()[-1][1]

    @property
    def threshold(self) -> float:
        """Seconds of :attr:`per_request` (what the seed's mean-only form exposed)."""
        return self.per_request.threshold


class SLOSpec(BaseModel):
    """Service-level objectives, checked at every load level (``autotuner.tuning.slo``).

    ``latency`` bounds end-to-end latency percentiles (the seed's form, p50..p99);
    ``ttft``, ``tpot`` and ``itl`` take the flat form (the mean) or percentiles;
    ``max_error_rate`` is the highest share of failed requests a level may have (a
    hard bound); ``steepness`` shapes the soft penalty.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    latency: dict[Literal["p50", "p90", "p95", "p99"], SLOThreshold] | None = None
    ttft: MetricSLO | None = None
    tpot: MetricSLO | None = None
    itl: MetricSLO | None = None
    max_error_rate: float = Field(default=0.05, ge=0, le=1)
    steepness: float = Field(default=0.1, gt=0)

    def bounds(self) -> list[tuple[str, str, str, SLOThreshold]]:
        """Every bound as ``(name, metric, stat, bound)``: ``("latency.p90", "e2el",
        "p90", ...)``, ``("ttft.mean", "ttft", "mean", ...)``; latency first."""
        out: list[tuple[str, str, str, SLOThreshold]] = [
            (f"latency.{stat}", "e2el", str(stat), bound)
            for stat, bound in sorted((self.latency or {}).items(), key=lambda kv: int(kv[0][1:]))
        ]
        for metric in ("ttft", "tpot", "itl"):
            spec: MetricSLO | None = getattr(self, metric)
            if spec is not None:
                out += [(f"{metric}.{stat}", metric, stat, bound) for stat, bound in spec.items()]
        return out

    def goodput_ms(self) -> dict[str, float]:
        """Per-request thresholds (ms) for goodput, as ``vllm bench serve --goodput``
        takes them: ``ttft``, ``tpot`` and ``e2el`` (ITL is not a per-request figure).
        Each is the highest percentile's threshold given, else the mean's."""
        out: dict[str, float] = {}
        if self.ttft is not None:
            out["ttft"] = self.ttft.threshold * 1000.0
        if self.tpot is not None:
            out["tpot"] = self.tpot.threshold * 1000.0
        if self.latency:
            top = max(self.latency, key=lambda p: int(p[1:]))
            out["e2el"] = self.latency[top].threshold * 1000.0
        return out


class SweepSpec(_Spec):
    """A GuideLLM-style sweep of one traffic scenario: a ``synchronous`` level (one
    request at a time), a ``throughput`` level (all requests at once), then
    ``rates`` open-loop levels at request rates evenly spaced between the two
    measured rates."""

    rates: int = Field(default=8, ge=1, le=100)
    """Open-loop rates between the synchronous and the throughput rate, evenly spaced
    (the sweep runs rates + 2 load levels)."""


class DatasetSpec(_Spec):
    """Prompts from a file instead of synthetic text: exactly one of ``path`` and
    ``url`` (or the seed's ``benchmark.dataset_url``)."""

    path: Text | None = None
    """A local JSONL, JSON or CSV file, read by the worker (a path on the worker's machine)."""
    url: Text | None = None
    """An http(s) URL of such a file, downloaded once by the worker and cached."""
    format: Literal["jsonl", "json", "csv"] | None = None
    """jsonl (one object per line), json (an array of objects) or csv (a header row);
    by the file name's suffix (.jsonl/.ndjson, .json, .csv) when not given."""
    prompt_field: Text = "prompt"
    """The field (CSV column) holding each prompt. A list of chat turns (ShareGPT
    ``conversations``, OpenAI ``messages``) gives its first user turn; rows without
    ``prompt`` are read from their ``conversations`` or ``messages``."""
    output_tokens_field: Text | None = None
    """A field with each prompt's output length; rows without one (and every row when
    not given) take the traffic scenario's output tokens."""
    deduplicate: bool = True
    """Use each distinct prompt text once."""


RequestRate = Annotated[float | Literal["inf"], BeforeValidator(request_rate_value)]
ScenarioText = Annotated[str, Field(max_length=200), AfterValidator(check_scenario)]


class BenchmarkSpec(_Spec):
    """How each experiment is measured: its load levels and the limits of each.

    Load levels, per traffic scenario: one closed-loop level per
    ``num_concurrency`` value (the default when neither ``request_rate`` nor
    ``sweep`` is given, or when ``num_concurrency`` is written), then one
    open-loop level per ``request_rate`` value, then the ``sweep`` levels. At
    most 200 load levels per experiment.
    """

    task: Text = "text-to-text"
    model_name: Text | None = None
    model_tokenizer: Text | None = None
    traffic_scenarios: list[ScenarioText] = Field(
        default_factory=lambda: ["D(100,100)"], min_length=1, max_length=MAX_LIST
    )
    """Token-count distributions of the requests, genai-bench's grammar: D(in,out),
    N(mean_in,sd_in)/(mean_out,sd_out), U(min_in,max_in)/(min_out,max_out) or
    U(max_in,max_out) (minimum 1). Each scenario runs every load level."""
    num_concurrency: list[int] = Field(default_factory=lambda: [1], max_length=MAX_LIST)
    """Closed-loop levels: that many requests in flight, each sent when the previous
    one ends. Left out with request_rate or sweep, no closed-loop level runs (the
    stored spec then holds [])."""
    request_rate: list[RequestRate] | None = Field(default=None, min_length=1, max_length=MAX_LIST)
    """Open-loop levels: requests/s ("inf": all requests at once), arrival gaps drawn
    with the burstiness factor. Not together with sweep."""
    burstiness: float = Field(default=1.0, gt=0, le=1000)
    """Gamma shape of inter-arrival times at open-loop levels: 1 = Poisson, < 1
    burstier, > 1 more regular."""
    max_concurrency: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)
    """Cap on requests in flight at an open-loop level (request_rate or sweep)."""
    ramp_up_time: float = Field(default=0.0, ge=0, le=MAX_SECONDS)
    """Seconds over which each level's load climbs linearly to its value (not measured)."""
    warmup_requests: int = Field(default=0, ge=0, le=100_000)
    """Requests sent at each load level before its measurement starts, left out of
    its figures."""
    sweep: SweepSpec | None = None
    """GuideLLM-style sweep: synchronous, throughput, then sweep.rates rates in between.
    Not together with request_rate."""
    dataset: DatasetSpec | None = None
    """Prompts from a JSONL, JSON or CSV file instead of synthetic text."""
    dataset_url: Text | None = None
    """The seed project's form of dataset.url (an http(s) URL of a prompts file)."""
    max_time_per_iteration: Seconds = 10
    """Seconds of measurement per load level (after its warm-up), not per experiment:
    an experiment of N load levels measures for up to N times this."""
    max_requests_per_iteration: int = Field(default=50, ge=1, le=1_000_000)
    """Measured requests per load level (warm-up not counted); a level ends at this
    count or at max_time_per_iteration, whichever comes first."""
    additional_params: dict[Annotated[str, Field(max_length=MAX_NAME)], FreeJson] = Field(
        default_factory=dict
    )

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

    @field_validator("request_rate", mode="before")
    @classmethod
    def _one_rate(cls, value: Any) -> Any:
        # `request_rate: 10` (one level, as vllm bench serve takes it) is a list of one.
        return [value] if isinstance(value, (int, float, str)) else value

    @model_validator(mode="after")
    def _traffic(self) -> BenchmarkSpec:
        # The rule "closed-loop levels only when num_concurrency is written or nothing
        # else is" is resolved here, so the stored spec (every field written) keeps it.
        if "num_concurrency" not in self.model_fields_set and (self.request_rate or self.sweep):
            self.num_concurrency = []
        problems = traffic_problems(self, self.model_fields_set)
        if problems:
            raise ValidationError.from_exception_data(
                "BenchmarkSpec",
                [
                    InitErrorDetails(
                        type=PydanticCustomError("value_error", message),
                        loc=loc,
                        input=self._input_at(loc),
                    )
                    for loc, message in problems
                ],
            )
        return self

    def _input_at(self, loc: tuple[str | int, ...]) -> Any:
        node: Any = self
        for step in loc:
            node = getattr(node, str(step), None)
        return node.model_dump(mode="json") if isinstance(node, BaseModel) else node


class SpecWarning(BaseModel):
    """Something a task spec holds that is accepted but will not do what it says."""

    field: str
    """The field, dotted: ``benchmark.burstiness``."""
    message: str


class TaskSpec(_Spec):
    """A task file (JSON or YAML), in the format the README describes."""

    task_name: str = Field(min_length=1, max_length=200)
    description: Annotated[str, AfterValidator(clean_text)] = Field(
        default="", max_length=MAX_DESCRIPTION
    )
    deployment_mode: DeploymentMode = "docker"
    model: ModelSpec
    base_runtime: Annotated[str, AfterValidator(runtime_name)] = Field(
        default="sglang", min_length=1, max_length=50
    )
    parameters: dict[
        ParameterName, Annotated[list[Scalar], Field(min_length=1, max_length=MAX_VALUES)]
    ] = Field(min_length=1, max_length=MAX_PARAMETERS)
    optimization: OptimizationSpec = Field(default_factory=OptimizationSpec)
    slo: SLOSpec | None = None
    benchmark: BenchmarkSpec = Field(default_factory=BenchmarkSpec)
    engine: EngineSpec = Field(default_factory=EngineSpec)
    """Environment, extra arguments and (operator-gated) command template of the engine."""

    @field_validator("task_name")
    @classmethod
    def _name(cls, value: str) -> str:
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(f"task_name {problem}")
        found = CONTROL.search(value)
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
    def _goodput_thresholds(self) -> TaskSpec:
        if self.optimization.objective != "maximize_goodput":
            return self
        if self.benchmark.additional_params.get("goodput"):
            return self
        if self.slo is None or not self.slo.goodput_ms():
            raise ValueError(
                "optimization.objective maximize_goodput counts the requests that meet every "
                "per-request SLO: set slo.ttft, slo.tpot or slo.latency (or "
                "benchmark.additional_params.goodput in milliseconds)"
            )
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

    def warnings(self) -> list[SpecWarning]:
        """What is written but has no effect (or may not fit the time limit).

        ``POST /api/tasks`` answers them with the created task; they never refuse it.
        """
        found = [SpecWarning(field=f, message=m) for f, m in task_warnings(self)]
        for where, model in (
            ("", self),
            ("model.", self.model),
            ("optimization.", self.optimization),
            ("benchmark.", self.benchmark),
            ("benchmark.sweep.", self.benchmark.sweep),
            ("benchmark.dataset.", self.benchmark.dataset),
        ):
            for key in (model.__pydantic_extra__ or {}) if model is not None else {}:
                found.append(
                    SpecWarning(
                        field=f"{where}{key}",
                        message=f"{where}{key} is not a field this autotuner reads; "
                        "it is stored with the task and has no effect",
                    )
                )
        return found
