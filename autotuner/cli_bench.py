"""``autotuner bench``: benchmark a running OpenAI-compatible endpoint, no task needed.

The options build a :class:`~autotuner.domain.BenchmarkSpec`, the very object a
task file's ``benchmark`` section becomes, so a bad value is refused with the
message ``POST /api/tasks`` gives (exit code 2, no traceback). The benchmark is
:func:`autotuner.bench.run_benchmark`, the code the worker runs for each
experiment. Progress goes to standard error (one rewritten line on a terminal,
a line every few seconds otherwise); the per-level table to standard output;
``--json FILE`` writes :meth:`BenchmarkResult.to_dict`.

Exit codes: 0 the benchmark ran (failed requests are figures, shown as such),
1 the endpoint could not be reached or no request succeeded, 2 bad input.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from autotuner.cli_levels import level_table, safe, summary_line

__all__ = ["bench", "build_spec"]

# Option of each BenchmarkSpec field, to name what the user typed in an error.
_OPTION = {
    "traffic_scenarios": "--scenario",
    "num_concurrency": "--concurrency",
    "request_rate": "--rate",
    "burstiness": "--burstiness",
    "max_concurrency": "--max-concurrency",
    "ramp_up_time": "--ramp-up",
    "warmup_requests": "--warmup",
    "sweep": "--sweep",
    "dataset": "--dataset",
    "max_time_per_iteration": "--max-time",
    "max_requests_per_iteration": "--max-requests",
    "model_name": "--model",
}
_PARAM_OPTION = {
    "endpoint": "--endpoint",
    "seed": "--seed",
    "goodput": "--goodput",
    "api_key": "--api-key",
    "request_timeout": "--request-timeout",
}


class BadInput(Exception):
    """What the user must change, one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _split(values: list[str] | None) -> list[str]:
    """Repeated options and comma lists alike: ``-c 1 -c 4,16`` is ``[1, 4, 16]``."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _number(text: str) -> int | float | str:
    """``text`` as a number if it is one; else as given, for the spec to name the field."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _rates(values: list[str] | None, problems: list[str]) -> list[float | str] | None:
    rates: list[float | str] = []
    for text in _split(values):
        if text.lower() in ("inf", "infinity"):
            rates.append("inf")
            continue
        value = _number(text)
        if isinstance(value, str):
            problems.append(safe(f"--rate {value!r}: give requests per second (e.g. 2.5) or inf"))
        else:
            rates.append(float(value))
    return rates or None


def _goodput(values: list[str] | None, problems: list[str]) -> dict[str, float] | None:
    """``ttft:500,tpot:50`` (ms), as ``vllm bench serve --goodput`` takes them."""
    out: dict[str, float] = {}
    for item in _split([v.replace(" ", ",") for v in values or []]):
        name, sep, ms = item.partition(":")
        value = _number(ms)
        if not sep or name not in ("ttft", "tpot", "e2el") or isinstance(value, str):
            problems.append(
                safe(f"--goodput {item!r}: give METRIC:MS, METRIC ttft, tpot or e2el (ttft:500)")
            )
        else:
            out[name] = float(value)
    return out or None


def build_spec(
    *,
    model: str | None = None,
    scenarios: list[str] | None = None,
    concurrency: list[str] | None = None,
    rates: list[str] | None = None,
    burstiness: float | None = None,
    max_concurrency: int | None = None,
    ramp_up: float | None = None,
    sweep: int | None = None,
    warmup: int | None = None,
    max_requests: int | None = None,
    max_time: float | None = None,
    endpoint: str | None = None,
    dataset: Path | None = None,
    seed: int | None = None,
    goodput: list[str] | None = None,
    api_key: str | None = None,
    request_timeout: float | None = None,
) -> Any:
    """The :class:`BenchmarkSpec` of these options; :class:`BadInput` says what is wrong.

    Options left out are left out of the spec too, so its defaults apply as in
    a task file without them.
    """
    from pydantic import ValidationError

    from autotuner.domain import BenchmarkSpec

    problems: list[str] = []
    raw: dict[str, Any] = {}
    if model is not None:
        raw["model_name"] = model
    if scenarios:
        raw["traffic_scenarios"] = scenarios
    if concurrency:
        raw["num_concurrency"] = [_number(c) for c in _split(concurrency)]
    if (request_rate := _rates(rates, problems)) is not None:
        raw["request_rate"] = request_rate
    for key, value in (
        ("burstiness", burstiness),
        ("max_concurrency", max_concurrency),
        ("ramp_up_time", ramp_up),
        ("warmup_requests", warmup),
        ("max_requests_per_iteration", max_requests),
        ("max_time_per_iteration", max_time),
    ):
        if value is not None:
            raw[key] = value
    if sweep is not None:
        raw["sweep"] = {"rates": sweep}
    if dataset is not None:
        if dataset.is_file():
            raw["dataset"] = {"path": str(dataset.resolve())}
        else:
            problems.append(safe(f"--dataset {dataset}: no such file"))
    params: dict[str, Any] = {}
    for key, param in (
        ("endpoint", endpoint),
        ("seed", seed),
        ("goodput", _goodput(goodput, problems)),
        ("api_key", api_key),
        ("request_timeout", request_timeout),
    ):
        if param is not None:
            params[key] = param
    if params:
        raw["additional_params"] = params
    try:
        spec = BenchmarkSpec.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problems(exc))
    if problems:
        raise BadInput(problems)
    return spec


def _problems(exc: Any) -> list[str]:
    """``--concurrency (benchmark.num_concurrency.0): Input should be ...`` per field,
    the field path being the one a 422 of ``POST /api/tasks`` names."""
    found: dict[tuple[str, str], list[str]] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        # Union members (``request_rate.0.float``) are pydantic's, not the user's.
        loc = [p for p in loc if not (p in ("float", "int", "str") or "[" in p)]
        option = _OPTION.get(loc[0], "") if loc else ""
        if loc[:1] == ["additional_params"] and len(loc) > 1:
            option = _PARAM_OPTION.get(loc[1], "")
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if option == "" and "additional_params." in message:
            key = message.split("additional_params.", 1)[1].split(" ", 1)[0]
            option = _PARAM_OPTION.get(key, "")
        messages = found.setdefault((option, ".".join(["benchmark", *loc])), [])
        if message not in messages:
            messages.append(message)
    problems = []
    for (option, field), messages in found.items():
        # A union's members fail one by one: "a finite number or 'inf'".
        text = " or ".join(messages)
        problems.append(safe(f"{option} ({field}): {text}" if option else f"{field}: {text}"))
    return problems


def _base_url(url: str) -> str:
    """The endpoint's base URL (``/v1`` is added by the load generator)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadInput([f"--url {safe(url)!r}: give an http(s) URL, e.g. http://127.0.0.1:8000"])
    path = parts.path.rstrip("/")
    for suffix in ("/v1/completions", "/v1/chat/completions", "/v1"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return f"{parts.scheme}://{parts.netloc}{path}"


def _served_model(base_url: str, api_key: str | None) -> str:
    """The first model ``GET /v1/models`` lists (what ``vllm bench serve`` does too)."""
    import httpx

    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(f"{base_url}/v1/models", headers=headers, timeout=10, trust_env=False)
        response.raise_for_status()
        models = response.json().get("data") or []
        return str(models[0]["id"])
    except httpx.HTTPError as exc:
        raise ConnectionError(f"cannot list the models of {base_url}: {safe(exc)}") from exc
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ConnectionError(
            f"{base_url}/v1/models lists no model: give one with --model"
        ) from exc


class _ProgressView:
    """The running level and its live figures on standard error.

    On a terminal one line is rewritten in place (at most every ``interval``
    s, default 0.1); otherwise a line is printed when a level starts and every
    ``interval`` s (default 2). Either way a level's last figures stay on
    screen when the next level starts.
    """

    def __init__(self, stream: Any = None, interval: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.1 if self.tty else 2.0)
        self.last_print = 0.0
        self.level: tuple[Any, ...] | None = None
        self.latest: Any = None
        self.shown = True
        """Whether ``latest`` is what the screen shows."""

    def __call__(self, p: Any) -> None:
        level = (getattr(p, "run_index", None), getattr(p, "label", None))
        now = time.monotonic()
        if level != self.level:
            if self.latest is not None:
                if not self.shown:
                    self._show(self.latest)
                if self.tty:
                    self.stream.write("\n")  # keep the finished level's last figures
            self.level = level
        elif now - self.last_print < self.interval:
            self.latest, self.shown = p, False
            return
        self.latest = p
        self._show(p)
        self.last_print = now
        self.stream.flush()

    def _show(self, p: Any) -> None:
        line = self._line(p)
        self.stream.write("\r\x1b[2K" + line[:200] if self.tty else line + "\n")
        self.shown = True

    def close(self) -> None:
        if self.latest is None:
            return
        if not self.shown:
            self._show(self.latest)
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()

    @staticmethod
    def _line(p: Any) -> str:
        label = getattr(p, "label", None)
        if not label:
            rate = getattr(p, "request_rate", None)
            load = f"c={getattr(p, 'concurrency', '?')}"
            if rate is not None:
                load = "inf req/s" if math.isinf(float(rate)) else f"{float(rate):g} req/s"
            label = f"{getattr(p, 'scenario', '?')} @ {load}"
        index, runs = getattr(p, "run_index", 0), getattr(p, "num_runs", 1)
        parts = [
            f"level {index + 1}/{runs} {safe(label)}",
            f"{getattr(p, 'completed', 0)}/{getattr(p, 'total', '?')} requests",
            f"{getattr(p, 'failed', 0)} failed",
            f"{100 * getattr(p, 'fraction', 0.0):.0f}%",
        ]
        for attr, unit in (
            ("request_throughput", "req/s"),
            ("output_throughput", "tok/s"),
            ("mean_ttft_ms", "ms TTFT"),
            ("mean_tpot_ms", "ms TPOT"),
        ):
            value = getattr(p, attr, None)
            if isinstance(value, (int, float)) and math.isfinite(value):
                parts.append(f"{value:.1f} {unit}")
        parts.append(f"{getattr(p, 'elapsed', 0.0):.0f}s")
        return "  ".join(parts)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, default=str, allow_nan=True)
    if str(path) == "-":
        sys.stdout.write(text + "\n")
        return
    path.write_text(text + "\n", encoding="utf-8")


ListOption = list[str] | None


def bench(
    url: Annotated[str, typer.Option(help="base URL of the OpenAI-compatible server")],
    model: Annotated[
        str | None, typer.Option(help="model name to send (default: the first /v1/models lists)")
    ] = None,
    scenario: Annotated[
        ListOption,
        typer.Option(help="traffic scenario, e.g. D(100,100) or N(480,240)/(300,150); repeatable"),
    ] = None,
    concurrency: Annotated[
        ListOption,
        typer.Option("--concurrency", "-c", help="closed-loop level(s): repeatable or 1,4,16"),
    ] = None,
    rate: Annotated[
        ListOption,
        typer.Option(help="open-loop level(s) in requests/s (inf: all at once); repeatable"),
    ] = None,
    burstiness: Annotated[
        float | None, typer.Option(help="gamma shape of arrivals: 1 Poisson, <1 burstier")
    ] = None,
    max_concurrency: Annotated[
        int | None, typer.Option(help="cap on requests in flight at a --rate level")
    ] = None,
    ramp_up: Annotated[
        float | None, typer.Option(help="seconds over which each level climbs to its load")
    ] = None,
    sweep: Annotated[
        int | None,
        typer.Option(help="GuideLLM sweep: synchronous, throughput, then N rates in between"),
    ] = None,
    warmup: Annotated[
        int | None, typer.Option(help="requests per level sent first and not measured")
    ] = None,
    max_requests: Annotated[
        int | None, typer.Option(help="measured requests per load level (default 50)")
    ] = None,
    max_time: Annotated[
        float | None, typer.Option(help="seconds of measurement per load level (default 10)")
    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="completions (default) or chat")] = None,
    dataset: Annotated[
        Path | None, typer.Option(help="prompts from a JSONL or CSV file (field 'prompt')")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="seed of prompts, lengths and arrivals")] = None,
    goodput: Annotated[
        ListOption, typer.Option(help="request SLO for goodput, ms: ttft:500,tpot:50")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="OPENAI_API_KEY", help="sent as a Bearer token")
    ] = None,
    request_timeout: Annotated[
        float | None, typer.Option(help="seconds per request before it counts as failed")
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option("--json", help="write the result (levels and pooled summary) here; - stdout"),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="no progress, only the table")] = False,
) -> None:
    """Benchmark a running OpenAI-compatible endpoint: per-level figures, no task needed."""
    try:
        base = _base_url(url)
        spec = build_spec(
            model=model,
            scenarios=scenario,
            concurrency=concurrency,
            rates=rate,
            burstiness=burstiness,
            max_concurrency=max_concurrency,
            ramp_up=ramp_up,
            sweep=sweep,
            warmup=warmup,
            max_requests=max_requests,
            max_time=max_time,
            endpoint=endpoint,
            dataset=dataset,
            seed=seed,
            goodput=goodput,
            api_key=api_key,
            request_timeout=request_timeout,
        )
    except BadInput as exc:
        for problem in exc.problems:
            typer.echo(f"invalid option: {problem}", err=True)
        raise typer.Exit(2) from None
    try:
        name = model or _served_model(base, api_key)
    except ConnectionError as exc:
        typer.echo(f"{exc}. Is the server running?", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(_run(base, name, spec, json_file=json_file, quiet=quiet))


def _run(base: str, model: str, spec: Any, *, json_file: Path | None, quiet: bool) -> int:
    from autotuner.bench import run_benchmark

    view = None if quiet else _ProgressView()
    print(f"benchmarking {safe(model)} at {safe(base)}", file=sys.stderr, flush=True)
    try:
        result = asyncio.run(run_benchmark(base, model, spec, on_progress=view))
    except KeyboardInterrupt:
        print("\nbenchmark interrupted: no figures", file=sys.stderr)
        return 130
    finally:
        if view is not None:
            view.close()
    data = result.to_dict()
    if json_file is not None:
        try:
            _write_json(json_file, data)
        except OSError as exc:
            print(f"cannot write {safe(json_file)}: {safe(exc)}", file=sys.stderr)
            return 1
    if str(json_file) != "-":
        for line in level_table(data["levels"], data["summary"]):
            print(line)
        print(summary_line(data["summary"]))
    if not data["summary"].get("completed"):
        errors = [e for level in data["levels"] for e in level.get("errors", [])]
        detail = f": {safe(errors[0])}" if errors else ""
        print(f"no request succeeded against {safe(base)}{detail}", file=sys.stderr)
        return 1
    return 0
