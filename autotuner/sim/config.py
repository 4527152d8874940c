"""Command line of the simulated engine: vLLM and SGLang flag names for the same knobs.

The simulator is started with the flags a real engine would get, so one task
file works against the simulator and against vLLM or SGLang. Unknown flags are
accepted and ignored (with a log line), as a tuned parameter may mean nothing
to the simulator.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", "none"}


def _bool(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {value!r}")


@dataclass
class SimConfig:
    """Everything the simulated engine needs, after alias resolution."""

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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autotuner sim",
        description="autotuner simulator: a simulated OpenAI-compatible LLM engine "
        "(no GPU, no model; latency follows a model of the engine flags).",
        allow_abbrev=False,
    )
    add = p.add_argument
    add("--model", "--model-path", dest="model", default=SimConfig.model)
    add("--served-model-name", dest="served_model_name", default=None)
    add("--host", default=SimConfig.host)
    add("--port", type=int, default=SimConfig.port)
    add("--seed", "--random-seed", dest="seed", type=int, default=0)
    add("--max-num-seqs", "--max-running-requests", dest="max_num_seqs", type=int, default=256)
    add(
        "--gpu-memory-utilization",
        "--mem-fraction-static",
        dest="gpu_memory_utilization",
        type=float,
        default=0.9,
    )
    add("--tensor-parallel-size", "--tp-size", "--tp", dest="tensor_parallel_size", type=int)
    add(
        "--max-num-batched-tokens",
        "--chunked-prefill-size",
        "--max-prefill-tokens",
        dest="max_num_batched_tokens",
        type=int,
        default=None,
    )
    add(
        "--enable-chunked-prefill",
        dest="enable_chunked_prefill",
        type=_bool,
        nargs="?",
        const=True,
        default=None,
    )
    add("--no-enable-chunked-prefill", dest="enable_chunked_prefill", action="store_false")
    add("--disable-chunked-prefill", dest="enable_chunked_prefill", action="store_false")
    add("--schedule-policy", "--scheduling-policy", dest="schedule_policy", default="fcfs")
    add("--max-model-len", "--context-length", dest="max_model_len", type=int, default=4096)
    add("--kv-cache-dtype", dest="kv_cache_dtype", default="auto")
    add("--quantization", "-q", dest="quantization", default=None)
    add(
        "--enforce-eager",
        "--disable-cuda-graph",
        dest="enforce_eager",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
    )
    add("--log-level", dest="log_level", default="info")
    add("--sim-time-scale", dest="time_scale", type=float, default=1.0)
    add("--sim-load-time", dest="load_time", type=float, default=0.0)
    add("--sim-gpu-memory-gib", dest="gpu_memory_gib", type=float, default=80.0)
    add("--sim-num-gpus", dest="num_gpus", type=int, default=8)
    add("--sim-kv-tokens-per-gpu", dest="kv_tokens_per_gpu", type=int, default=40_000)
    return p


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
    """Parse engine flags; unknown ones are recorded in ``ignored_flags``, never fatal.

    Raises ``SystemExit`` (argparse) when a known flag has a malformed value.
    """
    ns, unknown = _parser().parse_known_args(_normalize(argv))
    cfg = SimConfig(
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
