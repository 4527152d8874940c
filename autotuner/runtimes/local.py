"""The ``local`` runtime: a real OpenAI-compatible engine started from a command template.

Presets (``base_runtime``):

* ``vllm``: ``vllm serve {model} --host {host} --port {port}``
* ``sglang``: ``{python} -m sglang.launch_server --model-path {model} --host {host} --port {port}``
* ``llama.cpp`` (also ``llama_cpp``, ``llamacpp``, ``llama-cpp``), via
  llama-cpp-python: ``{python} -m llama_cpp.server --model {model} --host {host} --port {port}``

The experiment's parameters are appended as ``--name value`` flags. A custom
template can be given as ``request.extra["command"]`` (a string, formatted with
``{model}``, ``{host}``, ``{port}``, ``{python}`` and split like a shell would).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass

from autotuner.runtimes._base import DeployRequest, Runtime
from autotuner.runtimes._process import ProcessDeployment, free_port, launch, parameter_args


@dataclass(frozen=True)
class EnginePreset:
    """How to start one engine and how to tell it is ready."""

    name: str
    template: str
    health_path: str = "/health"
    bool_style: str = "flag"
    """``flag``: True -> bare ``--x``, False omitted; ``value``: ``--x true|false``."""


PRESETS: dict[str, EnginePreset] = {
    "vllm": EnginePreset("vllm", "vllm serve {model} --host {host} --port {port}"),
    "sglang": EnginePreset(
        "sglang",
        "{python} -m sglang.launch_server --model-path {model} --host {host} --port {port}",
    ),
    "llama.cpp": EnginePreset(
        "llama.cpp",
        "{python} -m llama_cpp.server --model {model} --host {host} --port {port}",
        health_path="/v1/models",
        bool_style="value",
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

    def build_command(self, request: DeployRequest, host: str, port: int) -> list[str]:
        template = str(request.extra.get("command") or self.preset.template)
        fields = {"model": request.model, "host": host, "port": port, "python": sys.executable}
        # Split first, then format each word: a model path with spaces stays one argument.
        command = [word.format(**fields) for word in shlex.split(template)]
        command += parameter_args(request.parameters, bool_style=self.preset.bool_style)
        command += [str(a) for a in request.extra.get("args", [])]
        return command

    async def deploy(self, request: DeployRequest) -> ProcessDeployment:
        host = str(request.extra.get("host", "127.0.0.1"))
        port = int(request.extra.get("port") or free_port(host))
        return await launch(
            self.build_command(request, host, port),
            request=request,
            runtime=self.preset.name,
            base_url=f"http://{host}:{port}",
            health_path=str(request.extra.get("health_path") or self.preset.health_path),
            model_name=request.model,
            env=request.extra.get("env"),
            discover_model=True,
        )
