"""The same setting under each engine's name, for "did you mean" answers.

A task written for SGLang names ``mem-fraction-static``; on vLLM the setting is
``gpu-memory-utilization``. Each row is one setting; a name prefixed ``!`` is the
same setting inverted (SGLang's ``disable-radix-cache: true`` is vLLM's
``enable-prefix-caching: false``). The settings are close, not identical
(vLLM's ``max-num-batched-tokens`` bounds every step, SGLang's
``chunked-prefill-size`` a prefill chunk), which the message says.
"""

from __future__ import annotations

from dataclasses import dataclass

from autotuner.runtimes._flags import normalize_flag

SAME_SETTING: tuple[dict[str, tuple[str, ...]], ...] = (
    {"vllm": ("gpu-memory-utilization",), "sglang": ("mem-fraction-static",)},
    {"vllm": ("tensor-parallel-size", "tp"), "sglang": ("tp-size", "tp")},
    {"vllm": ("data-parallel-size", "dp"), "sglang": ("dp-size", "dp")},
    {"vllm": ("pipeline-parallel-size", "pp"), "sglang": ("pp-size", "pp")},
    {"vllm": ("max-num-seqs",), "sglang": ("max-running-requests",)},
    {
        "vllm": ("max-num-batched-tokens",),
        "sglang": ("chunked-prefill-size", "max-prefill-tokens"),
        "llama.cpp": ("n_batch",),
    },
    {"vllm": ("max-model-len",), "sglang": ("context-length",), "llama.cpp": ("n_ctx",)},
    {"vllm": ("seed",), "sglang": ("random-seed",), "llama.cpp": ("seed",)},
    {"vllm": ("scheduling-policy",), "sglang": ("schedule-policy",)},
    {"vllm": ("enforce-eager",), "sglang": ("disable-cuda-graph",)},
    {"vllm": ("enable-prefix-caching",), "sglang": ("!disable-radix-cache",)},
)


@dataclass(frozen=True)
class Spelling:
    """An engine's name for a setting a task named otherwise."""

    name: str
    inverted: bool = False
    """True: the engine's flag means the opposite (give the negated boolean)."""

    def hint(self) -> str:
        if self.inverted:
            return f"{self.name!r} (inverted: give the opposite true/false)"
        return repr(self.name)


def engine_spelling(name: str, engine: str) -> Spelling | None:
    """``engine``'s spelling of the setting ``name`` means on another engine, if any."""
    key = normalize_flag(name)
    for row in SAME_SETTING:
        for other, names in row.items():
            for written in names:
                inverted = written.startswith("!")
                if normalize_flag(written.lstrip("!")) != key or other == engine:
                    continue
                mine = row.get(engine)
                if not mine:
                    return None
                target = mine[0]
                flipped = inverted != target.startswith("!")
                return Spelling(target.lstrip("!"), inverted=flipped)
    return None
