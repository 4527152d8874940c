"""autotuner: an LLM inference autotuner with lossless live monitoring."""

__version__ = "0.1.0"
