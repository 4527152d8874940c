"""The ``engine`` section of a task spec: environment and extra arguments for the engine.

```yaml
engine:
  env: {VLLM_CPU_KVCACHE_SPACE: "1"}     # added to the engine process's environment
  args: ["--dtype", "bfloat16"]          # appended to its command line, after the parameters
  command: "{python} -m my_server ..."   # a command template of the task's own (operator-gated)
```

Checked here: the shape (names, lengths, text a process can take) and the
variables the worker itself sets (``CUDA_VISIBLE_DEVICES`` and its kin: the
worker gives each experiment its devices). Checked when the task is created,
with the engine known (``autotuner.runtimes``): flags in ``args`` (the
product's own, unknown to the engine, or tuned in ``parameters``), and the
operator's consent (``AUTOTUNER_ALLOW_CUSTOM_ENGINES``) for ``command`` and for
variables that make the engine load code of the task's choosing
(``LD_PRELOAD``, ``PYTHONPATH``, ...).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from autotuner.domain._checks import MAX_TEXT, text_problem

MAX_ENV = 64
MAX_ARGS = 128
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

DEVICE_ENV = frozenset(
    {
        "CUDA_VISIBLE_DEVICES",
        "NVIDIA_VISIBLE_DEVICES",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
    }
)
"""Set by the worker from the experiment's resource slot: never by a task."""
CODE_ENV = frozenset(
    {
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "PATH",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONUSERBASE",
        "PYTHONEXECUTABLE",
        "PYTHONINSPECT",
        "PYTHONBREAKPOINT",
        "BASH_ENV",
        "ENV",
    }
)
"""Variables that make a process load or run code of the task's choosing: allowed
only where the operator allows custom engines, like ``command``."""


class EngineSpec(BaseModel):
    """What a task adds to its engine's process besides the tuned parameters."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    env: dict[str, str] = Field(default_factory=dict, max_length=MAX_ENV)
    """Environment variables added to the engine's (numbers are written as text)."""
    args: list[str] = Field(default_factory=list, max_length=MAX_ARGS)
    """Extra command-line arguments, appended after the parameters' flags."""
    command: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT)
    """A command template of the task's own instead of the engine preset's, with
    ``{model}``, ``{name}``, ``{host}``, ``{port}``, ``{python}``; runs only where the
    operator sets ``AUTOTUNER_ALLOW_CUSTOM_ENGINES``."""

    @field_validator("env", mode="before")
    @classmethod
    def _env_text(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(item, bool) or item is None:
                raise ValueError(f"engine.env.{key} must be text (quote it), not {item!r}")
            # YAML reads VLLM_CPU_KVCACHE_SPACE: 1 as a number; the process gets text.
            out[key] = str(item) if isinstance(item, (int, float)) else item
        return out

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not _ENV_NAME.match(key) or len(key) > 200:
                raise ValueError(
                    f"engine.env: {key!r} is not an environment variable name "
                    "(letters, digits and '_', not starting with a digit)"
                )
            if key.upper() in DEVICE_ENV:
                raise ValueError(
                    f"engine.env.{key}: the worker sets it from the experiment's resource "
                    "slot (its GPUs); remove it"
                )
            if key.upper().startswith("AUTOTUNER_"):
                raise ValueError(f"engine.env.{key}: AUTOTUNER_* variables are the product's")
            problem = _arg_problem(item)
            if problem is not None:
                raise ValueError(f"engine.env.{key} {problem}")
        return value

    @field_validator("args")
    @classmethod
    def _args(cls, value: list[str]) -> list[str]:
        for i, arg in enumerate(value):
            problem = _arg_problem(arg)
            if problem is not None:
                raise ValueError(f"engine.args[{i}] {problem}")
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: str | None) -> str | None:
        if value is not None:
            problem = _arg_problem(value)
            if problem is not None:
                raise ValueError(f"engine.command {problem}")
        return value

    def code_env(self) -> list[str]:
        """The variables in ``env`` that need the operator's consent (``CODE_ENV``)."""
        return [key for key in self.env if key.upper() in CODE_ENV]


def _arg_problem(text: str) -> str | None:
    problem = text_problem(text)
    if problem is not None:
        return problem
    if len(text) > 4096:
        return "is longer than 4096 characters"
    if "\n" in text or "\r" in text:
        return "must be one line"
    return None
