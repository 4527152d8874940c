"""The simulator's performance model: memory at start-up, time per scheduler step.

Not a faithful GPU model, a plausible one whose trade-offs match what a tuner
meets on real engines, scaled so a benchmark of a few dozen requests takes
seconds:

* Model size is read from the model name (``...-7B...`` -> 7 billion
  parameters; 7 when the name says nothing). Weights take a share of each
  simulated GPU's memory, divided by the tensor-parallel size.
* KV-cache capacity (tokens) = (gpu_memory_utilization - weight share) x
  ``kv_tokens_per_gpu`` x tp, doubled with an fp8 KV cache. A request reserves
  prompt + max_tokens slots when admitted, so a low memory fraction caps the
  number of running sequences below ``max_num_seqs``.
* A step costs ``d0 x (1 + 0.02 n + 0.5 (n / 96)^2)`` for ``n`` decoding
  sequences (``d0`` = 4 ms + 0.3 ms per billion parameters): throughput rises
  with the batch, then flattens and falls past ~150 sequences, while TPOT rises
  steadily. Prefill adds ``0.004 d0`` per prompt token, plus a fixed cost.
* Tensor parallelism divides the compute by ``tp^0.85`` and adds 0.3 ms of
  communication per extra GPU and step.
* ``gpu_memory_utilization`` above 0.95 (or weights that do not fit) fails at
  start-up with CUDA out of memory, like a real engine leaving no head room.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from autotuner.sim.config import SimConfig

MAX_SAFE_MEMORY_FRACTION = 0.95
_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*[bB](?![a-zA-Z])")


class StartupError(Exception):
    """The engine cannot start; ``str()`` is what a real engine would print."""


def model_size_billions(model: str) -> float:
    """Billions of parameters named in a model id (``Qwen2.5-0.5B`` -> 0.5), default 7."""
    sizes = [float(m.group(1)) for m in _SIZE.finditer(model.rsplit("/", 1)[-1])]
    sizes = [s for s in sizes if 0.01 <= s <= 2000]
    return sizes[-1] if sizes else 7.0


@dataclass(frozen=True)
class StepCost:
    """What one scheduler step does."""

    decode_seqs: int
    prefill_tokens: int
    prefill_seqs: int
    context_tokens: int


class PerformanceModel:
    """Derived capacities and step times for one configuration."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.params_b = model_size_billions(config.model)
        self.tp = max(1, config.tensor_parallel_size)
        quant = (config.quantization or "").lower()
        weight_bytes = 2.0
        speed = 1.0
        if quant in {"fp8", "int8", "w8a8_int8", "w8a8_fp8", "fbgemm_fp8"}:
            weight_bytes, speed = 1.0, 0.8
        elif quant in {"awq", "gptq", "awq_marlin", "gptq_marlin", "bitsandbytes", "gguf"}:
            weight_bytes, speed = 0.5, 0.85
        self.weight_gib = self.params_b * weight_bytes / self.tp
        self.weight_share = self.weight_gib / config.gpu_memory_gib + 0.02
        kv_factor = 2.0 if config.kv_cache_dtype.startswith("fp8") else 1.0
        free_share = config.gpu_memory_utilization - self.weight_share
        self.kv_tokens = int(max(0.0, free_share) * config.kv_tokens_per_gpu * self.tp * kv_factor)
        eager = 1.3 if config.enforce_eager else 1.0
        # Milliseconds; the time scale stretches or squeezes the whole simulation.
        self.d0 = (4.0 + 0.3 * self.params_b) * speed * eager * config.time_scale
        self.tp_speedup = self.tp**0.85
        self.tp_comm = 0.3 * (self.tp - 1) * config.time_scale
        self._rng = random.Random(config.seed)

    def check_startup(self) -> None:
        """Raise ``StartupError`` when a real engine would refuse to start."""
        cfg = self.config
        if self.tp > cfg.num_gpus:
            raise StartupError(
                f"ValueError: The number of required GPUs exceeds the total number of "
                f"available GPUs in the placement group (requested {self.tp}, "
                f"available {cfg.num_gpus})."
            )
        if not 0 < cfg.gpu_memory_utilization <= 1:
            raise StartupError(
                "ValueError: GPU memory utilization must be within (0, 1]. "
                f"Got {cfg.gpu_memory_utilization}."
            )
        total = cfg.gpu_memory_gib
        if cfg.gpu_memory_utilization > MAX_SAFE_MEMORY_FRACTION or (
            self.weight_gib + 1.0 > total * cfg.gpu_memory_utilization
        ):
            wanted = max(self.weight_gib, total * cfg.gpu_memory_utilization) + 1.0
            free = max(0.0, total - wanted + 1.0)
            raise StartupError(
                _OOM.format(
                    alloc=min(wanted, 2.0) if self.weight_gib < total else self.weight_gib,
                    total=total - 0.85,
                    free=min(free, 0.41),
                    used=total - 0.85 - min(free, 0.41),
                    torch=min(wanted, total - 1.3),
                )
            )
        if self.kv_tokens < 1:
            raise StartupError(
                "ValueError: No available memory for the cache blocks. "
                "Try increasing `gpu_memory_utilization` when initializing the engine."
            )
        if self.kv_tokens < cfg.max_model_len:
            raise StartupError(
                f"ValueError: The model's max seq len ({cfg.max_model_len}) is larger than "
                f"the maximum number of tokens that can be stored in KV cache "
                f"({self.kv_tokens}). Try increasing `gpu_memory_utilization` or "
                "decreasing `max_model_len` when initializing the engine."
            )

    def step_seconds(self, step: StepCost) -> float:
        """Wall time of one scheduler step (deterministic given the seed and steps)."""
        jitter = 1.0 + max(-0.06, min(0.06, self._rng.gauss(0.0, 0.02)))
        return self._step_ms(step) * jitter / 1000.0

    def _step_ms(self, step: StepCost) -> float:
        n = step.decode_seqs
        ms = 0.0
        if n:
            ms += self.d0 * (1.0 + 0.02 * n + 0.5 * (n / 96.0) ** 2)
            ms += self.d0 * step.context_tokens / 400_000.0
        if step.prefill_tokens:
            ms += self.d0 * (0.4 + 0.004 * step.prefill_tokens + 0.05 * step.prefill_seqs)
        return float(ms / self.tp_speedup + self.tp_comm)

    def describe(self) -> dict[str, float | int | str]:
        """Derived figures, logged at start-up and served at ``/sim/info``."""
        per_seq = max(1, self.config.max_model_len)
        return {
            "model_params_billions": self.params_b,
            "weight_gib_per_gpu": round(self.weight_gib, 2),
            "kv_cache_tokens": self.kv_tokens,
            "max_concurrency_at_max_model_len": round(self.kv_tokens / per_seq, 2),
            "decode_step_ms_batch1": round(self._step_ms(StepCost(1, 0, 0, 0)), 3),
            "decode_step_ms_batch32": round(self._step_ms(StepCost(32, 0, 0, 32 * 200)), 3),
        }


_OOM = """\
Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/vllm/worker/gpu_worker.py", line 231, in profile
    self.model_runner.profile_run()
  File "/usr/lib/python3/dist-packages/torch/utils/_contextlib.py", line 116, in decorate_context
    return func(*args, **kwargs)
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {alloc:.2f} GiB. GPU 0 has a total \
capacity of {total:.2f} GiB of which {free:.2f} GiB is free. Including non-PyTorch memory, this \
process has {used:.2f} GiB memory in use. Of the allocated memory {torch:.2f} GiB is allocated by \
PyTorch, and 112.06 MiB is reserved by PyTorch but unallocated. If reserved but unallocated memory \
is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See \
documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"""
