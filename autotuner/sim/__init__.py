"""autotuner simulator: a simulated OpenAI-compatible LLM engine, run as a subprocess.

``python -m autotuner.sim --port 8000 --model Qwen2.5-7B --max-num-seqs 64`` (or
``autotuner sim ...``) serves ``/v1/completions`` and ``/v1/chat/completions``
with latencies from :mod:`autotuner.sim.model`. It imitates vLLM, or SGLang with
``--sim-engine sglang``, and takes that engine's flags only (``config``). It is
labelled as a simulator in its model card, ``server`` header and logs.
"""

from __future__ import annotations

from autotuner.sim.cli import main

__all__ = ["main"]
