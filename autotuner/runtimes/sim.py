"""The ``sim`` runtime: the built-in simulated engine (``python -m autotuner.sim``)."""

from __future__ import annotations

import sys

from autotuner.net import free_port
from autotuner.runtimes._base import DeployRequest, Runtime
from autotuner.runtimes._flags import COMMON_RESERVED
from autotuner.runtimes._process import ProcessDeployment, launch, parameter_args
from autotuner.runtimes.schemas import engine_key, get_schema, schema_args

SIM_ENGINES = ("vllm", "sglang")
"""The engines the simulator imitates."""
SIM_KNOBS = frozenset(
    {
        "sim-time-scale",
        "sim-load-time",
        "sim-gpu-memory-gib",
        "sim-num-gpus",
        "sim-kv-tokens-per-gpu",
    }
)
"""The simulator's own flags (``autotuner.sim.config``), tunable besides the engine's."""


def sim_engine(base_runtime: str) -> str | None:
    """The engine the simulator imitates for ``base_runtime`` (None: neither)."""
    key = engine_key(base_runtime)
    return key if key in SIM_ENGINES else None


class SimRuntime(Runtime):
    """Runs ``autotuner.sim`` in a subprocess with the experiment's parameters as flags.

    The simulator imitates the engine ``base_runtime`` names (vLLM or SGLang,
    ``--sim-engine``) and takes that engine's flags only, rendered as that engine
    would get them (``schemas``). ``request.extra`` may hold ``host`` (default
    127.0.0.1), ``port`` (default: a free one), ``args`` (extra flags, a list),
    and ``env``.
    """

    name = "sim"
    reserved = COMMON_RESERVED | {"sim-engine"}
    """Flags ``build_command`` sets (the simulator also reads --model-path and
    --served-model-name; ``--sim-engine`` follows ``base_runtime``): never task
    parameters. The other ``--sim-*`` knobs may be tuned."""

    def build_command(self, request: DeployRequest, host: str, port: int) -> list[str]:
        command = [sys.executable, "-m", "autotuner.sim", "--host", host, "--port", str(port)]
        command += ["--model", request.model]
        engine = sim_engine(request.base_runtime)
        if engine is None:
            command += parameter_args(request.parameters)
        else:
            command += ["--sim-engine", engine]
            command += schema_args(get_schema(engine), request.parameters)
        command += [str(a) for a in request.extra.get("args", [])]
        return command

    async def deploy(self, request: DeployRequest) -> ProcessDeployment:
        host = str(request.extra.get("host", "127.0.0.1"))
        port = int(request.extra.get("port") or free_port(host))
        return await launch(
            self.build_command(request, host, port),
            request=request,
            runtime=f"sim-{request.base_runtime}",
            base_url=f"http://{host}:{port}",
            health_path="/health",
            model_name=request.model,
            env=request.extra.get("env"),
        )
