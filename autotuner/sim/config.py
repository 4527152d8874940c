"""Command line of the simulated engine: the flags of the engine it imitates.

The simulator is started with the flags a real engine would get, so one task
file works against the simulator and against vLLM or SGLang. It imitates one
engine at a time (``--sim-engine vllm|sglang``) and takes that engine's
spellings only: ``--mem-fraction-static`` is refused when imitating vLLM, as
vLLM refuses it. The engine's other flags are accepted and ignored (with a log
line), as a tuned parameter may mean nothing to the simulator.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass
class SimConfig:
    """Everything the simulated engine needs, after alias resolution."""

    engine: str = "vllm"
    """The engine imitated, whose flag names the simulator takes (``--sim-engine``)."""
    model: str = "autotuner-sim-model"
    served_model_name: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    seed: int = 0
    max_num_seqs: int = 256
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    max_num_batched_tokens: int = 2048
    enable_chunked_prefill: bool = True
    schedule_policy: str = "fcfs"
    max_model_len: int = 4096
    kv_cache_dtype: str = "auto"
    quantization: str | None = None
    enforce_eager: bool = False
    # Simulator-only knobs (prefixed --sim- so no real engine flag collides).
    time_scale: float = 1.0
    load_time: float = 0.0
    gpu_memory_gib: float = 80.0
    num_gpus: int = 8
    kv_tokens_per_gpu: int = 40_000
    log_level: str = "info"
    ignored_flags: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The model name clients must send (``--served-model-name`` or ``--model``)."""
        return self.served_model_name or self.model


ENGINES = ("vllm", "sglang")
"""The engines the simulator imitates (``--sim-engine``): it takes that engine's flags only."""


def _parser(engine: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autotuner sim",
        description="autotuner simulator: a simulated OpenAI-compatible LLM engine "
        "(no GPU, no model; latency follows a model of the engine flags). It takes the "
        "flags of the engine it imitates (--sim-engine vllm|sglang), as that engine spells them.",
        allow_abbrev=False,
    )
    add = p.add_argument
    add("--sim-engine", dest="engine", choices=ENGINES, default=engine)
    add("--served-model-name", dest="served_model_name", default=None)
    add("--host", default=SimConfig.host)
    add("--port", type=int, default=SimConfig.port)
    add("--log-level", dest="log_level", default="info")
    add("--sim-time-scale", dest="time_scale", type=float, default=1.0)
    add("--sim-load-time", dest="load_time", type=float, default=0.0)
    add("--sim-gpu-memory-gib", dest="gpu_memory_gib", type=float, default=80.0)
    add("--sim-num-gpus", dest="num_gpus", type=int, default=8)
    add("--sim-kv-tokens-per-gpu", dest="kv_tokens_per_gpu", type=int, default=40_000)
    add("--kv-cache-dtype", dest="kv_cache_dtype", default="auto")
    if engine == "sglang":
        add("--model-path", "--model", dest="model", default=SimConfig.model)
        add("--random-seed", dest="seed", type=int, default=0)
        add("--max-running-requests", dest="max_num_seqs", type=int, default=256)
        add("--mem-fraction-static", dest="gpu_memory_utilization", type=float, default=0.9)
        add("--tp-size", "--tensor-parallel-size", dest="tensor_parallel_size", type=int)
        add(
            "--chunked-prefill-size",
            "--max-prefill-tokens",
            dest="max_num_batched_tokens",
            type=int,
            default=None,
        )
        add("--schedule-policy", dest="schedule_policy", default="fcfs")
        add("--context-length", dest="max_model_len", type=int, default=4096)
        add("--quantization", dest="quantization", default=None)
        add("--disable-cuda-graph", dest="enforce_eager", action="store_true")
        p.set_defaults(enable_chunked_prefill=None)
    else:
        add("--model", dest="model", default=SimConfig.model)
        add("--seed", dest="seed", type=int, default=0)
        add("--max-num-seqs", dest="max_num_seqs", type=int, default=256)
        add(
            "--gpu-memory-utilization",
            "--device-memory-utilization",
            dest="gpu_memory_utilization",
            type=float,
            default=0.9,
        )
        add("--tensor-parallel-size", "-tp", dest="tensor_parallel_size", type=int)
        add("--max-num-batched-tokens", dest="max_num_batched_tokens", type=int, default=None)
        add(
            "--enable-chunked-prefill",
            dest="enable_chunked_prefill",
            action=argparse.BooleanOptionalAction,
            default=None,
        )
        add("--scheduling-policy", dest="schedule_policy", default="fcfs")
        add("--max-model-len", dest="max_model_len", type=int, default=4096)
        add("--quantization", "-q", dest="quantization", default=None)
        add(
            "--enforce-eager",
            dest="enforce_eager",
            action=argparse.BooleanOptionalAction,
            default=False,
        )
    return p


def _engine(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg == "--sim-engine" and i + 1 < len(argv):
            return argv[i + 1] if argv[i + 1] in ENGINES else "vllm"
        if arg.startswith("--sim-engine="):
            value = arg.partition("=")[2]
            return value if value in ENGINES else "vllm"
    return "vllm"


def _unknown_to_engine(engine: str, unknown: list[str]) -> list[str]:
    """Flags among ``unknown`` that the imitated engine itself would refuse."""
    from autotuner.runtimes._flags import flag_of
    from autotuner.runtimes.schemas import get_schema

    schema = get_schema(engine)
    refused = []
    for arg in unknown:
        name = flag_of(arg)
        if name is not None and schema.lookup(name) is None:
            refused.append(name)
    return refused


def _normalize(argv: list[str]) -> list[str]:
    """``--max_num_seqs`` -> ``--max-num-seqs``: engines accept both spellings."""
    out = []
    for arg in argv:
        if arg.startswith("--"):
            name, sep, value = arg[2:].partition("=")
            arg = "--" + name.replace("_", "-") + sep + value
        out.append(arg)
    return out


def parse_args(argv: list[str]) -> SimConfig:
    """Parse the imitated engine's flags (``--sim-engine``, default vllm).

    Flags of that engine the simulator does not model are recorded in
    ``ignored_flags``; a flag the engine does not have (another engine's
    spelling, say ``--mem-fraction-static`` for vLLM) is refused as the engine
    would refuse it. Raises ``SystemExit`` (argparse, code 2) then and when a
    known flag has a malformed value.
    """
    argv = _normalize(argv)
    engine = _engine(argv)
    parser = _parser(engine)
    ns, unknown = parser.parse_known_args(argv)
    refused = _unknown_to_engine(engine, unknown)
    if refused:
        parser.error(
            f"unrecognized arguments: {' '.join(refused)} (not flags of {engine}, "
            "which the simulator imitates)"
        )
    cfg = SimConfig(
        engine=ns.engine,
        model=ns.model,
        served_model_name=ns.served_model_name,
        host=ns.host,
        port=ns.port,
        seed=ns.seed,
        max_num_seqs=ns.max_num_seqs,
        gpu_memory_utilization=ns.gpu_memory_utilization,
        tensor_parallel_size=ns.tensor_parallel_size or 1,
        schedule_policy=str(ns.schedule_policy).lower(),
        max_model_len=ns.max_model_len,
        kv_cache_dtype=str(ns.kv_cache_dtype).lower(),
        quantization=ns.quantization,
        enforce_eager=bool(ns.enforce_eager),
        time_scale=ns.time_scale,
        load_time=ns.load_time,
        gpu_memory_gib=ns.gpu_memory_gib,
        num_gpus=ns.num_gpus,
        kv_tokens_per_gpu=ns.kv_tokens_per_gpu,
        log_level=str(ns.log_level).lower(),
        ignored_flags=[a for a in unknown if a.startswith("-")],
    )
    chunked = ns.enable_chunked_prefill
    batched = ns.max_num_batched_tokens
    # SGLang disables chunked prefill with --chunked-prefill-size -1.
    if batched is not None and batched <= 0:
        chunked, batched = False, None
    cfg.enable_chunked_prefill = True if chunked is None else bool(chunked)
    cfg.max_num_batched_tokens = batched or 2048
    return cfg
